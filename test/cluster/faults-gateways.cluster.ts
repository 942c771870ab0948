import http from 'node:http';
import { Client } from 'pg';
import { start, type Cluster, type ServiceName } from '../../ops/cluster';
import { seedMemberships, seedOrganizations, seedSessions, seedUsers } from '../support/deletion-seed';
import {
  codeOf,
  gatewayStats,
  gql,
  gqlVia,
  INVARIANT_VIOLATIONS,
  logOf,
  occurrences,
  Primary,
  summary,
  until,
  untilGatewayStatus,
  type Exchange,
} from './faults-support';

/**
 * Issue 14, "Faults, tested by npm run test:cluster": a gateway killed (SIGKILL) in the
 * middle of a burst of deletions, and a rolling restart (SIGTERM, one gateway at a time,
 * drained in HAProxy first) under a steady stream of mixed traffic. Everything goes
 * through HAProxy as a client's requests would; the database is checked directly on the
 * primary afterwards.
 */

const DELETE_USER = 'mutation FaultDeleteUser($id: ID!) { deleteUser(id: $id) { deletedUserId receipt { id subjectId } } }';
const DELETE_ORGANIZATION =
  'mutation FaultDeleteOrganization($id: ID!) { deleteOrganization(id: $id) { deletedOrganizationId receipt { id subjectId } } }';
const RECEIPT = 'query FaultReceipt($subjectId: ID!) { deletionReceipt(subjectId: $subjectId) { id kind subjectId } }';

let cluster: Cluster;
let primary: Primary;

beforeAll(async () => {
  cluster = await start({
    gatewayEnv: {
      // Stated, not left to the defaults: the kill test counts the deletions that reach
      // PostgreSQL (3 gateways x 5 slots) while a table lock holds them.
      DB_POOL_SIZE: '10',
      DB_DELETION_CONCURRENCY: '5',
      // The table lock is held for a moment only; never let a loaded machine turn that into CONFLICT.
      DB_LOCK_TIMEOUT_MS: '30000',
    },
  });
  primary = new Primary(cluster);
}, 300_000);

afterAll(async () => {
  await primary?.end().catch(() => undefined);
  await cluster?.stop();
}, 120_000);

/** A `pending` invitation to `organizationId` for each email (IDs in the application's shape). */
async function invite(organizationId: string, emails: string[]): Promise<void> {
  await primary.sql(
    `INSERT INTO invitations (id, organization_id, email, email_key, role, invited_by, expires_at)
     SELECT 'inv_' || upper(substr(md5(e || random()::text), 1, 26)), $1, e, lower(e), 'MEMBER', 'admin', now() + interval '7 days'
       FROM unnest($2::text[]) AS e`,
    [organizationId, emails],
  );
}

/** Everything of each user that deleteUser removes, plus its receipt's id (null while none). */
async function userStates(users: Array<{ id: string; emailKey: string }>): Promise<Map<string, any>> {
  const rows = await primary.sql<{ subject: string; state: any }>(
    `SELECT u.id AS subject, json_build_object(
        'user', (SELECT row_to_json(x) FROM users x WHERE x.id = u.id),
        'sessions', (SELECT json_agg(row_to_json(s) ORDER BY s.id) FROM sessions s WHERE s.user_id = u.id),
        'memberships', (SELECT json_agg(row_to_json(m) ORDER BY m.id) FROM memberships m WHERE m.user_id = u.id),
        'invitations', (SELECT json_agg(row_to_json(i) ORDER BY i.id) FROM invitations i WHERE i.email_key = u.email_key),
        'receipt', (SELECT r.id FROM deletion_receipts r WHERE r.subject_id = u.id)) AS state
       FROM unnest($1::text[], $2::text[]) AS u(id, email_key)`,
    [users.map((user) => user.id), users.map((user) => user.emailKey)],
  );
  return new Map(rows.map((row) => [row.subject, row.state]));
}

/** Everything of each organization that deleteOrganization touches: its rows, its members' rows, its receipt's id. */
async function organizationStates(organizations: Array<{ id: string; members: string[] }>): Promise<Map<string, any>> {
  const rows = await primary.sql<{ subject: string; state: any }>(
    `SELECT o.id AS subject, json_build_object(
        'organization', (SELECT row_to_json(x) FROM organizations x WHERE x.id = o.id),
        'settings', (SELECT row_to_json(x) FROM organization_settings x WHERE x.organization_id = o.id),
        'memberships', (SELECT json_agg(row_to_json(m) ORDER BY m.id) FROM memberships m WHERE m.organization_id = o.id),
        'invitations', (SELECT json_agg(row_to_json(i) ORDER BY i.id) FROM invitations i WHERE i.organization_id = o.id),
        'organizationSessions', (SELECT json_agg(s.id ORDER BY s.id) FROM sessions s WHERE s.organization_id = o.id),
        'users', (SELECT json_agg(x.id ORDER BY x.id) FROM users x WHERE x.id = ANY (o.members)),
        'userSessions', (SELECT json_agg(row_to_json(s) ORDER BY s.id) FROM sessions s WHERE s.user_id = ANY (o.members)),
        'userMemberships', (SELECT json_agg(row_to_json(m) ORDER BY m.id) FROM memberships m WHERE m.user_id = ANY (o.members)),
        'receipt', (SELECT r.id FROM deletion_receipts r WHERE r.subject_id = o.id)) AS state
       FROM json_to_recordset($1::json) AS o(id text, members text[])`,
    [JSON.stringify(organizations)],
  );
  return new Map(rows.map((row) => [row.subject, row.state]));
}

/** Deletions still running in PostgreSQL (a killed gateway's backend finishes on its own). */
async function deletionsInDatabase(): Promise<number> {
  const [{ n }] = await primary.sql<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = 'gateway' AND backend_type = 'client backend' AND state <> 'idle' AND pid <> pg_backend_pid()
        AND (query ILIKE '%delete_user_v%' OR query ILIKE '%FOR UPDATE OF u%' OR query ILIKE '%deleted_invitations%')`,
  );
  return n;
}

describe('a gateway killed (SIGKILL) during a burst of deletions', () => {
  afterEach(async () => {
    // Whatever happened, the next test gets all three gateways in rotation.
    if (cluster.pid('gw2') === undefined) await cluster.startService('gw2');
    await untilGatewayStatus(cluster, 'gw2', 'UP');
  }, 60_000);

  it('leaves every deletion complete or untouched; the client gets 502 OUTCOME_UNKNOWN, its kept-alive connection closed, or a retry, and deletionReceipt says which', async () => {
    const app = primary.asApp();
    // A keeper organization the deleted users and the shared members also belong to (its OWNER stays).
    const [keeper] = await seedOrganizations(app, 1);
    const [keeperOwner] = await seedUsers(app, 1);
    await seedMemberships(app, [[keeper, keeperOwner]], 'OWNER');
    // 24 users, each a member of the keeper with 2 sessions and a pending invitation to their email.
    const userIds = await seedUsers(app, 24);
    await seedMemberships(app, userIds.map((id): [string, string] => [keeper, id]));
    await seedSessions(app, userIds, 2, keeper);
    const emailRows = await primary.sql<{ id: string; email_key: string; email: string }>(
      'SELECT id, email_key, email FROM users WHERE id = ANY ($1) ORDER BY id',
      [userIds],
    );
    const users = emailRows.map((row) => ({ id: row.id, emailKey: row.email_key }));
    await invite(keeper, emailRows.map((row) => row.email));
    // 12 organizations: an OWNER and two members who belong nowhere else (deleted with it),
    // one shared member who is also in the keeper (kept, sessions terminated), 2 sessions each,
    // and a pending invitation.
    const organizationIds = await seedOrganizations(app, 12);
    const memberIds = await seedUsers(app, 48);
    const organizations = organizationIds.map((id, index) => ({ id, members: memberIds.slice(index * 4, index * 4 + 4) }));
    for (const { id, members } of organizations) {
      await seedMemberships(app, [[id, members[0]]], 'OWNER');
      await seedMemberships(app, [[id, members[1]], [id, members[2]], [id, members[3]], [keeper, members[3]]]);
      await seedSessions(app, members, 2, id);
      await invite(id, [`invitee-${id.toLowerCase()}@example.com`]);
    }
    // A few more users to delete right after the kill, while HAProxy still has the dead gateway in rotation.
    const lateUserIds = await seedUsers(app, 6);

    const usersBefore = await userStates(users);
    const organizationsBefore = await organizationStates(organizations);
    for (const state of [...usersBefore.values(), ...organizationsBefore.values()]) expect(state.receipt).toBeNull();

    // Every deletion writes to sessions; a SHARE lock on the table (from outside the
    // gateways) holds them all in flight: 5 per gateway inside PostgreSQL, the rest queued
    // in each gateway's deletion bulkhead.
    const locker = new Client({ connectionString: primary.url, application_name: 'faults-locker' });
    await locker.connect();
    let answers: Array<{ kind: 'user' | 'organization'; id: string; via: 'new' | 'kept-alive'; answer: Exchange }>;
    let late: Exchange[];
    let victimWasUp: boolean;
    let victimRetriesBefore: number;
    const victim: ServiceName = 'gw2';
    // Two kinds of client connection: a new one for each request (its first), and kept-alive
    // ones that already carried a request. HAProxy answers a lost first request with 502;
    // a lost later one it answers by closing the connection, as a kept-alive connection
    // that dies may (HAProxy's http_wait_for_response, "abort_keep_alive").
    const fresh = new http.Agent({ keepAlive: false });
    const kept = new http.Agent({ keepAlive: true, maxSockets: 64 });
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE sessions IN SHARE MODE');

      const burst = [
        ...users.map(({ id }) => ({ kind: 'user' as const, id })),
        ...organizations.map(({ id }) => ({ kind: 'organization' as const, id })),
      ].sort(() => Math.random() - 0.5);
      // Half of them go on kept-alive connections, opened by a request each just before.
      const warm = await Promise.all(Array.from({ length: burst.length / 2 }, () => gqlVia(kept, cluster.url, cluster.adminApiKey, '{ viewer { kind } }')));
      expect(warm.map((answer) => answer.status)).toEqual(warm.map(() => 200));
      const pending = burst.map(async ({ kind, id }, index) => {
        const via = index % 2 === 0 ? ('new' as const) : ('kept-alive' as const);
        const query = kind === 'user' ? DELETE_USER : DELETE_ORGANIZATION;
        return { kind, id, via, answer: await gqlVia(via === 'new' ? fresh : kept, cluster.url, cluster.adminApiKey, query, { id }) };
      });

      const waiting = await until('15 deletions waiting for the lock in PostgreSQL', 30_000, async () => {
        const [{ n }] = await primary.sql<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = 'gateway' AND backend_type = 'client backend' AND wait_event_type = 'Lock'`,
        );
        const stats = await gatewayStats(cluster);
        const inFlight = Object.values(stats).reduce((sum, server) => sum + server.scur, 0);
        return n >= 15 && inFlight >= burst.length ? { n, stats } : undefined;
      });
      expect(waiting.n).toBe(15);
      // The victim has requests in flight: some inside PostgreSQL, some queued.
      expect(waiting.stats[victim].scur).toBeGreaterThanOrEqual(6);

      await cluster.stopService(victim, 'SIGKILL');
      const afterKill = (await gatewayStats(cluster))[victim];
      victimWasUp = afterKill.status === 'UP';
      victimRetriesBefore = afterKill.wretr + afterKill.wredis;
      // Sent while HAProxy may still count the dead gateway in: its share fails to connect and is retried on another.
      const latePending = lateUserIds.map((id) => gql(cluster.url, cluster.adminApiKey, DELETE_USER, { id }));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await locker.query('COMMIT');

      answers = await Promise.all(pending);
      late = await Promise.all(latePending);
    } finally {
      await locker.end().catch(() => undefined);
      fresh.destroy();
      kept.destroy();
    }

    // The burst: each answer is the deletion's payload, or, for a request the killed
    // gateway held, HAProxy's 502 OUTCOME_UNKNOWN (on a new connection) or the connection
    // closed without an answer (on a kept-alive one).
    const isLost = ({ via, answer }: (typeof answers)[number]) =>
      via === 'new' ? answer.status === 502 && codeOf(answer) === 'OUTCOME_UNKNOWN' : answer.status === 0 && /ECONNRESET|socket hang up/.test(answer.failure ?? '');
    const unexpected = answers.filter((entry) => !isLost(entry) && (entry.answer.status !== 200 || entry.answer.body?.errors !== undefined));
    expect(unexpected.map(({ kind, id, via, answer }) => `${kind} ${id} (${via} connection): ${summary(answer)}`)).toEqual([]);
    const lost = answers.filter(isLost);
    expect(lost.length).toBeGreaterThanOrEqual(6);
    // Both kinds happened, and the 502 says what to do.
    expect(new Set(lost.map(({ via }) => via))).toEqual(new Set(['new', 'kept-alive']));
    for (const { answer } of lost.filter(({ via }) => via === 'new')) {
      expect(answer.headers?.get('content-type')).toMatch(/^application\/json/);
      expect(answer.body?.errors?.[0]?.message).toMatch(/deletionReceipt\(subjectId\)/);
    }
    for (const { kind, id, answer } of answers.filter(({ answer }) => answer.status === 200)) {
      const payload = answer.body!.data![kind === 'user' ? 'deleteUser' : 'deleteOrganization'];
      expect(payload.receipt.subjectId).toBe(id);
    }
    // The late ones all went through, some of them by HAProxy's retry on another gateway.
    expect(late.map(summary)).toEqual(late.map(() => expect.stringMatching(/^HTTP 200 /)));
    expect(late.map((answer) => answer.body?.errors)).toEqual(late.map(() => undefined));
    if (victimWasUp) {
      const stats = (await gatewayStats(cluster))[victim];
      expect(stats.wretr + stats.wredis).toBeGreaterThan(victimRetriesBefore);
    }

    // A killed gateway's statement may still be running in PostgreSQL: wait until it ended (committed or rolled back).
    await until('the killed gateway\'s deletions to end in PostgreSQL', 30_000, async () => (await deletionsInDatabase()) === 0);

    const usersAfter = await userStates(users);
    const organizationsAfter = await organizationStates(organizations);
    const outcomes = { complete: 0, untouched: 0 };
    for (const { kind, id, answer } of answers) {
      const before = kind === 'user' ? usersBefore.get(id) : organizationsBefore.get(id);
      const after = kind === 'user' ? usersAfter.get(id) : organizationsAfter.get(id);
      // What the client asks to learn the outcome.
      const receipt = await gql(cluster.url, cluster.adminApiKey, RECEIPT, { subjectId: id });
      expect(summary(receipt)).toMatch(/^HTTP 200 /);
      const told = receipt.body!.data!.deletionReceipt as { id: string; subjectId: string } | null;
      if (after.receipt === null) {
        // Untouched: every row exactly as before, and no receipt.
        expect({ id, state: after }).toEqual({ id, state: before });
        expect(told).toBeNull();
        expect(lost.map((entry) => entry.id)).toContain(id);
        outcomes.untouched += 1;
      } else {
        // Complete: the receipt, and nothing of the subject left.
        expect(told).toEqual({ id: after.receipt, kind: kind === 'user' ? 'USER' : 'ORGANIZATION', subjectId: id });
        if (kind === 'user') {
          expect({ id, ...after, receipt: 'x' }).toEqual({ id, user: null, sessions: null, memberships: null, invitations: null, receipt: 'x' });
        } else {
          const shared = organizations.find((organization) => organization.id === id)!.members[3];
          expect({ id, ...after, userSessions: undefined, userMemberships: undefined, receipt: 'x' }).toEqual({
            id,
            organization: null,
            settings: null,
            memberships: null,
            invitations: null,
            organizationSessions: null,
            users: [shared],
            userSessions: undefined,
            userMemberships: undefined,
            receipt: 'x',
          });
          // The shared member keeps the account and the keeper membership; every session of theirs is terminated.
          expect(after.userMemberships.map((m: any) => [m.user_id, m.organization_id])).toEqual([[shared, keeper]]);
          expect(after.userSessions.length).toBe(2);
          expect(after.userSessions.every((s: any) => s.user_id === shared && s.terminated_at !== null && s.organization_id === null)).toBe(true);
        }
        if (answer.status === 200) {
          const payload = answer.body!.data![kind === 'user' ? 'deleteUser' : 'deleteOrganization'];
          expect(payload.receipt.id).toBe(after.receipt);
        }
        outcomes.complete += 1;
      }
    }
    process.stdout.write(
      `[faults-gateways] burst of ${answers.length}: ${answers.length - lost.length} answered, ` +
        `${lost.filter(({ via }) => via === 'new').length} 502 OUTCOME_UNKNOWN, ${lost.filter(({ via }) => via === 'kept-alive').length} connections closed unanswered; ` +
        `${outcomes.complete} complete, ${outcomes.untouched} untouched; ${late.length} sent after the kill all answered` +
        `${victimWasUp ? ' (HAProxy retried the share that went to the dead gateway)' : ''}\n`,
    );
    // Requests the killed gateway had queued never reached PostgreSQL: some are untouched.
    expect(outcomes.untouched).toBeGreaterThan(0);
    expect(outcomes.complete).toBeGreaterThanOrEqual(answers.length - lost.length);
    expect(await primary.sql(INVARIANT_VIOLATIONS)).toEqual([]);

    // What a client does with OUTCOME_UNKNOWN: a receipt means done (sending it again answers
    // NOT_FOUND); none means nothing happened, and sending it again completes it.
    for (const { kind, id } of lost) {
      const done = (kind === 'user' ? usersAfter : organizationsAfter).get(id).receipt !== null;
      const again = await gql(cluster.url, cluster.adminApiKey, kind === 'user' ? DELETE_USER : DELETE_ORGANIZATION, { id });
      if (done) {
        expect(codeOf(again)).toBe('NOT_FOUND');
      } else {
        expect(summary(again)).toMatch(/^HTTP 200 /);
        expect(again.body!.data![kind === 'user' ? 'deleteUser' : 'deleteOrganization'].receipt.subjectId).toBe(id);
      }
    }
    const [{ left }] = await primary.sql<{ left: number }>(
      `SELECT (SELECT count(*) FROM users WHERE id = ANY ($1)) + (SELECT count(*) FROM organizations WHERE id = ANY ($2))
              + (SELECT count(*) FROM invitations WHERE email_key = ANY ($3)) AS left`,
      [[...userIds, ...lateUserIds], organizationIds, users.map((user) => user.emailKey)],
    );
    expect(Number(left)).toBe(0);
  });
});

describe('a rolling restart under load', () => {
  it('SIGTERM one gateway at a time, drained in HAProxy first: zero failed requests in a steady stream of reads, sessions and deletions', async () => {
    const app = primary.asApp();
    const [keeper] = await seedOrganizations(app, 1);
    const readers = await seedUsers(app, 3);
    await seedMemberships(app, [[keeper, readers[0]]], 'OWNER');
    await seedMemberships(app, readers.slice(1).map((id): [string, string] => [keeper, id]));
    const deletableUsers = await seedUsers(app, 1500);
    await seedSessions(app, deletableUsers, 1);
    const deletableOrganizations = await seedOrganizations(app, 600);
    const owners = await seedUsers(app, 600);
    await seedMemberships(app, deletableOrganizations.map((id, index): [string, string] => [id, owners[index]]), 'OWNER');
    await seedSessions(app, owners, 1);

    const load = startLoad({ keeper, readers, deletableUsers, deletableOrganizations });
    const windows: Array<{ name: string; from: number; to: number }> = [];
    const cleanStops = (name: ServiceName) => occurrences(logOf(cluster, name), 'stopped: every in-flight request finished');
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      for (const gateway of cluster.gateways) {
        const name = gateway.name as ServiceName;
        const from = Date.now();
        const pid = cluster.pid(name);
        const stopsBefore = cleanStops(name);
        await cluster.haproxyCommand(`set server gateways/${name} state drain`);
        await until(`${name} drained`, 30_000, async () => {
          const stats = (await gatewayStats(cluster))[name];
          return stats.status === 'DRAIN' && stats.scur === 0;
        }, 50);
        await cluster.stopService(name, 'SIGTERM');
        // It finished what it had and exited cleanly (status 0 is logged as this line).
        expect(cleanStops(name)).toBe(stopsBefore + 1);
        await cluster.startService(name);
        await cluster.haproxyCommand(`set server gateways/${name} state ready`);
        await untilGatewayStatus(cluster, name, 'UP');
        expect(cluster.pid(name)).not.toBe(pid);
        windows.push({ name, from, to: Date.now() });
      }
      await new Promise((resolve) => setTimeout(resolve, 1_500));
    } finally {
      await load.stop();
    }

    const { failures, succeeded } = load;
    const perOp = Object.fromEntries(['read', 'createSession', 'viewer', 'terminateSession', 'deleteUser', 'deleteOrganization'].map((op) => [op, succeeded.filter((entry) => entry.op === op).length]));
    process.stdout.write(`[faults-gateways] rolling restart: ${succeeded.length} requests succeeded, ${failures.length} failed ${JSON.stringify(perOp)}\n`);
    expect(failures).toEqual([]);
    // A steady stream: every kind of request ran, and requests kept succeeding during each gateway's restart.
    for (const op of ['read', 'createSession', 'viewer', 'terminateSession', 'deleteUser', 'deleteOrganization']) {
      expect({ op, atLeast10: succeeded.filter((entry) => entry.op === op).length >= 10 }).toEqual({ op, atLeast10: true });
    }
    for (const window of windows) {
      const during = succeeded.filter((entry) => entry.at >= window.from && entry.at <= window.to).length;
      expect({ gateway: window.name, during: during >= 20 }).toEqual({ gateway: window.name, during: true });
    }
    // Each restarted gateway serves again.
    const before = await gatewayStats(cluster);
    await Promise.all(Array.from({ length: 6 }, () => gql(cluster.url, cluster.adminApiKey, '{ viewer { kind } }')));
    const after = await gatewayStats(cluster);
    for (const gateway of cluster.gateways) expect(after[gateway.name].stot).toBeGreaterThan(before[gateway.name].stot);

    // In the database: what was deleted is gone with its receipt, and nothing is inconsistent.
    const deletedUsers = succeeded.filter((entry) => entry.op === 'deleteUser').map((entry) => entry.id!);
    const deletedOrganizations = succeeded.filter((entry) => entry.op === 'deleteOrganization').map((entry) => entry.id!);
    const [counts] = await primary.sql<{ users: number; organizations: number; receipts: number }>(
      `SELECT (SELECT count(*)::int FROM users WHERE id = ANY ($1)) AS users,
              (SELECT count(*)::int FROM organizations WHERE id = ANY ($2)) AS organizations,
              (SELECT count(*)::int FROM deletion_receipts WHERE subject_id = ANY ($1) OR subject_id = ANY ($2)) AS receipts`,
      [deletedUsers, deletedOrganizations],
    );
    expect(counts).toEqual({ users: 0, organizations: 0, receipts: deletedUsers.length + deletedOrganizations.length });
    expect(await primary.sql(INVARIANT_VIOLATIONS)).toEqual([]);
  });
});

/**
 * The steady stream: 3 clients, each in a loop (a pause of 5 ms between requests) over a
 * read of an organization's members, a session's life (createSession, a request with its
 * token, terminateSession), deleteUser and deleteOrganization, all through HAProxy. Any
 * answer that is not HTTP 200 with the expected data is a failure.
 */
function startLoad(fixtures: { keeper: string; readers: string[]; deletableUsers: string[]; deletableOrganizations: string[] }) {
  const failures: string[] = [];
  const succeeded: Array<{ op: string; at: number; id?: string }> = [];
  const users = [...fixtures.deletableUsers];
  const organizations = [...fixtures.deletableOrganizations];
  let running = true;

  const check = (op: string, answer: Exchange, good: (data: Record<string, any>) => boolean, id?: string) => {
    const data = answer.body?.data;
    if (answer.status === 200 && !answer.body?.errors && data && good(data)) {
      succeeded.push({ op, at: Date.now(), id });
      return data;
    }
    failures.push(`${op}${id ? ` ${id}` : ''}: ${summary(answer)}`);
    return undefined;
  };
  const send = (query: string, variables: Record<string, unknown>, token = cluster.adminApiKey) => gql(cluster.url, token, query, variables, 30_000);

  const steps: Array<(client: number) => Promise<void>> = [
    async () => {
      const answer = await send(
        'query FaultRead($id: ID!) { organization(id: $id) { id memberships(first: 5) { totalCount nodes { user { id email } } } } }',
        { id: fixtures.keeper },
      );
      check('read', answer, (data) => data.organization?.id === fixtures.keeper && data.organization.memberships.totalCount === 3);
    },
    async (client) => {
      const userId = fixtures.readers[client % fixtures.readers.length];
      const created = check(
        'createSession',
        await send('mutation FaultSession($input: CreateSessionInput!) { createSession(input: $input) { token session { id } } }', {
          input: { userId, organizationId: fixtures.keeper },
        }),
        (data) => typeof data.createSession?.token === 'string',
      );
      if (!created) return;
      check('viewer', await send('{ viewer { user { id } } }', {}, created.createSession.token), (data) => data.viewer?.user?.id === userId);
      check(
        'terminateSession',
        await send('mutation FaultTerminate($id: ID!) { terminateSession(id: $id) { id terminatedAt } }', { id: created.createSession.session.id }),
        (data) => data.terminateSession?.id === created.createSession.session.id,
      );
    },
    async () => {
      const id = users.shift();
      if (!id) return;
      check('deleteUser', await send(DELETE_USER, { id }), (data) => data.deleteUser?.receipt?.subjectId === id, id);
    },
    async () => {
      const id = organizations.shift();
      if (!id) return;
      check('deleteOrganization', await send(DELETE_ORGANIZATION, { id }), (data) => data.deleteOrganization?.receipt?.subjectId === id, id);
    },
  ];
  const loops = Array.from({ length: 3 }, async (_, client) => {
    for (let step = client; running; step += 1) {
      await steps[step % steps.length](client);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });
  return {
    failures,
    succeeded,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
