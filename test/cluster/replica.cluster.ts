import { Client } from 'pg';
import { start, type Cluster } from '../../ops/cluster';

/**
 * Issue 14, "Optional read replica": the gateways of `npm run cluster` get
 * DATABASE_REPLICA_URL (the hot standby). With replay paused on the replica
 * (`pg_wal_replay_pause()`), so that it is stale by as much as we like:
 * - a terminated session, and a deleted user's token, are refused on the very next
 *   request (authentication reads the primary), although the replica still has them;
 * - a mutation's payload shows its own writes (it reads the primary);
 * - a plain query DOES read the stale replica (a user created after the pause is not
 *   there), `viewer` and `deletionReceipt` read the primary, and everything converges
 *   once replay resumes;
 * - a member removed from an organization a moment ago reads nothing more of it (the
 *   caller's own memberships, which decide what Access shows, are read from the primary);
 * - a replica that goes away sends plain queries to the primary, the gateways stay ready,
 *   and reads return to the replica when it is back.
 * Requests go through HAProxy (round robin over the 3 gateways) unless a gateway is named;
 * each check that matters is repeated three times, so every gateway answers it.
 */

interface Answer {
  status: number;
  body: { data?: Record<string, any> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

async function post(url: string, token: string, query: string, variables: Record<string, unknown> = {}): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

async function sql<T = Record<string, any>>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

async function eventually<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const CREATE_USER = 'mutation RCreateUser($input: CreateUserInput!) { createUser(input: $input) { id email name } }';
const CREATE_SESSION = `mutation RCreateSession($userId: ID!) {
  createSession(input: { userId: $userId }) { token session { id status user { id email } } }
}`;
const CREATE_ORG = 'mutation RCreateOrg($name: String!) { createOrganization(input: { name: $name }) { id name } }';
const USER = 'query RUser($id: ID!) { user(id: $id) { id email name } }';
const ORG_MEMBERS = 'query ROrgMembers($id: ID!) { organization(id: $id) { id memberships { totalCount nodes { user { id } } } } }';
const VIEWER = 'query RViewer { viewer { kind user { id email } session { id status } } }';

describe('the read replica (issue 14)', () => {
  let cluster: Cluster;
  const stamp = Date.now();
  let alice: { id: string; token: string; sessionId: string };
  let bob: { id: string; token: string; sessionId: string };
  let carol: { id: string; email: string; token?: string };
  let organizationId: string;

  const admin = (query: string, variables?: Record<string, unknown>, url = cluster.url) => post(url, cluster.adminApiKey, query, variables);
  const ok = (answer: Answer) => {
    expect({ status: answer.status, errors: answer.body.errors }).toEqual({ status: 200, errors: undefined });
    return answer.body.data!;
  };
  const replicaSql = <T = Record<string, any>>(text: string, values: unknown[] = []) => sql<T>(cluster.replica.appUrl, text, values);
  const primarySql = <T = Record<string, any>>(text: string, values: unknown[] = []) => sql<T>(cluster.primary.appUrl, text, values);
  const replayState = async () => (await sql(cluster.replica.url, 'SELECT pg_get_wal_replay_pause_state() AS state'))[0].state as string;
  const pauseReplay = async () => {
    await sql(cluster.replica.url, 'SELECT pg_wal_replay_pause()');
    await eventually('replay to pause', replayState, (state) => state === 'paused');
  };
  const resumeReplay = () => sql(cluster.replica.url, 'SELECT pg_wal_replay_resume()');
  const readyz = async (port: number) => {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  async function userWithSession(name: string) {
    const created = ok(await admin(CREATE_USER, { input: { email: `${name}-${stamp}@example.com`, name } })).createUser;
    const session = ok(await admin(CREATE_SESSION, { userId: created.id })).createSession;
    return { id: created.id as string, token: session.token as string, sessionId: session.session.id as string };
  }

  beforeAll(async () => {
    cluster = await start();
    alice = await userWithSession('alice');
    bob = await userWithSession('bob');
    organizationId = ok(await admin(CREATE_ORG, { name: `Replica ${stamp}` })).createOrganization.id;
    // The replica has everything so far; then it is frozen.
    await eventually(
      'the replica to have both sessions and the organization',
      async () =>
        (await replicaSql('SELECT (SELECT count(*) FROM sessions WHERE id = ANY($1)) + (SELECT count(*) FROM organizations WHERE id = $2) AS n', [
          [alice.sessionId, bob.sessionId],
          organizationId,
        ]))[0].n,
      (n) => Number(n) === 3,
    );
    await pauseReplay();
  }, 300_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  it('every gateway is ready and reads plain queries from the replica', async () => {
    for (const gateway of cluster.gateways) {
      expect(await readyz(gateway.port)).toEqual({ status: 200, body: { status: 'ready', replica: 'in use' } });
      expect(ok(await admin(USER, { id: alice.id }, gateway.url)).user.id).toBe(alice.id);
    }
    // The gateways' replica pools are connected to the replica, under their own name.
    const [{ n }] = await sql(cluster.replica.url, "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'identity-gateway-replica-reads'");
    expect(Number(n)).toBeGreaterThanOrEqual(cluster.gateways.length);
  });

  it('a terminated session is refused on the very next request, although the paused replica still has it active', async () => {
    const terminated = ok(await admin('mutation RTerminate($id: ID!) { terminateSession(id: $id) { id terminatedAt } }', { id: alice.sessionId }));
    expect(terminated.terminateSession.id).toBe(alice.sessionId);
    for (let i = 0; i < 3; i += 1) {
      // A plain query (whose data would come from the replica) and viewer: both refused.
      for (const query of [USER, VIEWER]) {
        const answer = await post(cluster.url, alice.token, query, { id: alice.id });
        expect(answer.status).toBe(401);
        expect(answer.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
        expect(answer.body.data ?? null).toBeNull();
      }
    }
    // The replica would have accepted it: there the session is still active.
    expect(await replicaSql('SELECT terminated_at FROM sessions WHERE id = $1', [alice.sessionId])).toEqual([{ terminated_at: null }]);
    expect(await replayState()).toBe('paused');
  });

  it("a deleted user's token is refused on the very next request; a plain query still reads the user from the replica", async () => {
    const deleted = ok(await admin('mutation RDelete($id: ID!) { deleteUser(id: $id) { deletedUserId } }', { id: bob.id }));
    expect(deleted.deleteUser.deletedUserId).toBe(bob.id);
    for (let i = 0; i < 3; i += 1) {
      const answer = await post(cluster.url, bob.token, VIEWER);
      expect(answer.status).toBe(401);
      expect(answer.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
    expect(await primarySql('SELECT id FROM users WHERE id = $1', [bob.id])).toEqual([]);
    // The staleness the README states: the just-deleted user is still readable for the replica's lag.
    for (let i = 0; i < 3; i += 1) {
      expect(ok(await admin(USER, { id: bob.id })).user).toEqual({ id: bob.id, email: `bob-${stamp}@example.com`, name: 'bob' });
    }
    // deletionReceipt reads the primary: the client learns the deletion happened, though the replica has no receipt.
    expect(await replicaSql('SELECT id FROM deletion_receipts WHERE subject_id = $1', [bob.id])).toEqual([]);
    for (let i = 0; i < 3; i += 1) {
      const receipt = ok(await admin('query RReceipt($id: ID!) { deletionReceipt(subjectId: $id) { subjectId kind } }', { id: bob.id }));
      expect(receipt.deletionReceipt).toEqual({ subjectId: bob.id, kind: 'USER' });
    }
  });

  it("a mutation's payload shows its own writes, the replica being stale", async () => {
    const email = `carol-${stamp}@example.com`;
    const created = ok(await admin(CREATE_USER, { input: { email, name: 'carol' } })).createUser;
    expect(created).toEqual({ id: expect.any(String), email, name: 'carol' });
    carol = { id: created.id, email };
    // Nested reads of the payload: the new user, the organization's memberships (now one).
    const added = ok(
      await admin(
        `mutation RAdd($input: AddMemberInput!) {
          addMember(input: $input) {
            role
            user { id email memberships { organization { id } } }
            organization { id memberships { totalCount nodes { user { id email } } } }
          }
        }`,
        { input: { organizationId, userId: carol.id } },
      ),
    ).addMember;
    expect(added).toEqual({
      role: 'MEMBER',
      user: { id: carol.id, email, memberships: [{ organization: { id: organizationId } }] },
      organization: { id: organizationId, memberships: { totalCount: 1, nodes: [{ user: { id: carol.id, email } }] } },
    });
    const renamed = ok(await admin('mutation RRename($input: UpdateUserInput!) { updateUser(input: $input) { id name } }', { input: { id: carol.id, name: 'Carol' } }));
    expect(renamed.updateUser).toEqual({ id: carol.id, name: 'Carol' });
    const session = ok(await admin(CREATE_SESSION, { userId: carol.id })).createSession;
    expect(session.session).toEqual({ id: expect.any(String), status: 'ACTIVE', user: { id: carol.id, email } });
    carol.token = session.token;
    // None of it is on the replica.
    expect(await replicaSql('SELECT id FROM users WHERE id = $1', [carol.id])).toEqual([]);
  });

  it('a plain query reads the stale replica; viewer reads the primary', async () => {
    expect(await primarySql('SELECT name FROM users WHERE id = $1', [carol.id])).toEqual([{ name: 'Carol' }]);
    for (let i = 0; i < 3; i += 1) {
      expect(ok(await admin(USER, { id: carol.id })).user).toBeNull();
      expect(ok(await admin(ORG_MEMBERS, { id: organizationId })).organization.memberships).toEqual({ totalCount: 0, nodes: [] });
      // Carol's new session is accepted (authentication reads the primary), and viewer shows it.
      const viewer = ok(await post(cluster.url, carol.token!, VIEWER)).viewer;
      expect(viewer).toEqual({ kind: 'SESSION', user: { id: carol.id, email: carol.email }, session: { id: expect.any(String), status: 'ACTIVE' } });
      // Her own plain query: authenticated on the primary, answered from the replica, which does not have her yet.
      expect(ok(await post(cluster.url, carol.token!, USER, { id: carol.id })).user).toBeNull();
    }
  });

  it('once replay resumes, plain queries converge with the primary', async () => {
    await resumeReplay();
    for (let i = 0; i < 3; i += 1) {
      await eventually('carol on the replica', async () => ok(await admin(USER, { id: carol.id })).user, (user) => user?.name === 'Carol');
      await eventually('bob gone from the replica', async () => ok(await admin(USER, { id: bob.id })).user, (user) => user === null);
      const members = ok(await admin(ORG_MEMBERS, { id: organizationId })).organization.memberships;
      expect(members).toEqual({ totalCount: 1, nodes: [{ user: { id: carol.id } }] });
    }
    expect(await replicaSql('SELECT terminated_at IS NOT NULL AS terminated FROM sessions WHERE id = $1', [alice.sessionId])).toEqual([{ terminated: true }]);
  });

  it("a member removed a moment ago reads nothing more of the organization: the caller's memberships are read from the primary", async () => {
    const ORG_EMAILS = 'query ROrgEmails($id: ID!) { organization(id: $id) { id memberships { nodes { user { email } } } } }';
    // A member, on the primary and on the replica: she reads the organization and its members' emails.
    await eventually('carol\'s membership on the replica', async () => (await replicaSql('SELECT id FROM memberships WHERE user_id = $1', [carol.id])).length, (n) => n === 1);
    for (let i = 0; i < 3; i += 1) {
      expect(ok(await post(cluster.url, carol.token!, ORG_EMAILS, { id: organizationId })).organization).toEqual({
        id: organizationId,
        memberships: { nodes: [{ user: { email: carol.email } }] },
      });
    }
    await pauseReplay();
    const removed = ok(await admin('mutation RRemove($o: ID!, $u: ID!) { removeMember(organizationId: $o, userId: $u) { userId } }', { o: organizationId, u: carol.id }));
    expect(removed.removeMember.userId).toBe(carol.id);
    // Her session still stands (removeMember ends none), and the paused replica still has her membership.
    expect(await replicaSql('SELECT organization_id FROM memberships WHERE user_id = $1', [carol.id])).toEqual([{ organization_id: organizationId }]);
    for (let i = 0; i < 3; i += 1) {
      const answer = await post(cluster.url, carol.token!, ORG_EMAILS, { id: organizationId });
      // As for any organization she may not read: null, nothing of its members.
      expect(answer.status).toBe(200);
      expect(answer.body.errors).toBeUndefined();
      expect(answer.body.data).toEqual({ organization: null });
    }
    expect(await replayState()).toBe('paused');
    await resumeReplay();
    await eventually('carol\'s membership gone from the replica', async () => (await replicaSql('SELECT id FROM memberships WHERE user_id = $1', [carol.id])).length, (n) => n === 0);
  });

  it('an unreachable replica sends plain queries to the primary, the gateways stay ready, and reads come back to the replica', async () => {
    await cluster.stopService('replica');
    for (const gateway of cluster.gateways) {
      for (let i = 0; i < 3; i += 1) {
        expect(ok(await admin(USER, { id: carol.id }, gateway.url)).user).toEqual({ id: carol.id, email: carol.email, name: 'Carol' });
      }
      expect(await readyz(gateway.port)).toEqual({ status: 200, body: { status: 'ready', replica: 'unreachable' } });
    }
    // Mutations never needed it.
    const dave = ok(await admin(CREATE_USER, { input: { email: `dave-${stamp}@example.com`, name: 'dave' } })).createUser;
    // Read from the primary meanwhile: dave is there at once.
    expect(ok(await admin(USER, { id: dave.id })).user?.id).toBe(dave.id);

    await cluster.startService('replica');
    for (const gateway of cluster.gateways) {
      await eventually(`${gateway.name} to use the replica again`, () => readyz(gateway.port), (answer) => answer.body.replica === 'in use');
    }
    // Proof that reads are on the replica again: frozen, it does not get erin.
    await eventually('dave on the replica', async () => (await replicaSql('SELECT id FROM users WHERE id = $1', [dave.id])).length, (n) => n === 1);
    await pauseReplay();
    const erin = ok(await admin(CREATE_USER, { input: { email: `erin-${stamp}@example.com`, name: 'erin' } })).createUser;
    for (const gateway of cluster.gateways) {
      expect(ok(await admin(USER, { id: erin.id }, gateway.url)).user).toBeNull();
      expect(ok(await admin(USER, { id: dave.id }, gateway.url)).user?.id).toBe(dave.id);
    }
    await resumeReplay();
    await eventually('erin on the replica', async () => ok(await admin(USER, { id: erin.id })).user, (user) => user?.id === erin.id);
  });
});
