import { DATABASE_UNREACHABLE, SERVER_BUSY } from '../../src/errors';
import { start, type Cluster } from '../../ops/cluster';
import { codeOf, gql, Primary, summary, until, untilGatewayStatus, type Exchange } from './faults-support';

/**
 * Issue 14, "PgBouncer restarted, and the primary restarted": while the database path is
 * down, every request is answered at once, and in bounded time, with HTTP 503
 * SERVICE_UNAVAILABLE and Retry-After, whether it goes through HAProxy or straight to a
 * gateway; nothing is half-applied; once the part is back every gateway serves again by
 * itself, without being restarted.
 */

/**
 * The longest a refused request may take: PgBouncer's query_wait_timeout (5 s,
 * ops/pgbouncer.ini), the longest any step waits for the database, plus 2 s. Most answers
 * take milliseconds (the test prints the slowest); a query PgBouncer had queued for a
 * server at the moment the primary went away is the one that waits out the 5 s.
 */
const FAIL_FAST_MS = 7_000;
/** HAProxy's own answer while it has no gateway in rotation (ops/haproxy.cfg, http-error 503). */
const NO_GATEWAY = 'No gateway is available; try again shortly';

const CREATE_USER = 'mutation FaultCreateUser($input: CreateUserInput!) { createUser(input: $input) { id } }';
const CREATE_SESSION = 'mutation FaultSession($input: CreateSessionInput!) { createSession(input: $input) { token } }';
const DELETE_USER = 'mutation FaultDeleteUser($id: ID!) { deleteUser(id: $id) { deletedUserId receipt { id } } }';
const READ_USER = 'query FaultReadUser($id: ID!) { user(id: $id) { id email } }';
const VIEWER = '{ viewer { user { id } } }';

let cluster: Cluster;
let primary: Primary;
/** Starts the stopped part again when a test failed before it did. */
let restore: (() => Promise<void>) | undefined;

afterEach(async () => {
  if (!restore) return;
  await restore();
  restore = undefined;
  for (const gateway of cluster.gateways) await untilGatewayStatus(cluster, gateway.name, 'UP');
}, 60_000);

beforeAll(async () => {
  cluster = await start();
  primary = new Primary(cluster);
}, 300_000);

afterAll(async () => {
  await primary?.end().catch(() => undefined);
  await cluster?.stop();
}, 120_000);

function ok(answer: Exchange): Record<string, any> {
  if (answer.status !== 200 || answer.body?.errors || !answer.body?.data) throw new Error(`expected success: ${summary(answer)}`);
  return answer.body.data;
}

/** Refused as "try again": 503, SERVICE_UNAVAILABLE, Retry-After, one of the known messages, no data (a query's fields null). */
function refusedAsUnavailable(answer: Exchange): boolean {
  return (
    answer.status === 503 &&
    codeOf(answer) === 'SERVICE_UNAVAILABLE' &&
    answer.headers?.get('retry-after') === '2' &&
    Object.values(answer.body?.data ?? {}).every((value) => value === null) &&
    [DATABASE_UNREACHABLE, SERVER_BUSY, NO_GATEWAY].includes(answer.body?.errors?.[0]?.message ?? '')
  );
}

describe.each([
  { part: 'pgbouncer' as const, what: 'PgBouncer stopped (SIGTERM) and started again' },
  { part: 'primary' as const, what: 'the primary stopped (pg_ctl stop -m fast) and started again' },
])('$what', ({ part }) => {
  it('refuses fast with SERVICE_UNAVAILABLE while it is down, changes nothing, and every gateway recovers without a restart', async () => {
    const admin = cluster.adminApiKey;
    const stamp = `${part}-${Date.now()}`;
    const user = ok(await gql(cluster.url, admin, CREATE_USER, { input: { email: `signed-in-${stamp}@example.com`, name: 'Signed In' } })).createUser;
    const victim = ok(await gql(cluster.url, admin, CREATE_USER, { input: { email: `victim-${stamp}@example.com`, name: 'Victim' } })).createUser;
    const { token } = ok(await gql(cluster.url, admin, CREATE_SESSION, { input: { userId: user.id } })).createSession;
    const pids = cluster.gateways.map((gateway) => cluster.pid(gateway.name as 'gw1'));

    await cluster.stopService(part);
    // Whatever the assertions below find, the part is started again before the next test.
    restore = () => cluster.startService(part);
    const down = Date.now();
    const targets = [{ name: 'haproxy', url: cluster.url }, ...cluster.gateways.map((gateway) => ({ name: gateway.name, url: gateway.url }))];
    const refused: Array<{ target: string; op: string; answer: Exchange }> = [];
    const reads: Array<{ target: string; answer: Exchange }> = [];
    const attemptedEmails: string[] = [];
    // Rounds for at least 4 s, and until HAProxy has answered for a gateway-less backend
    // (every /readyz failing; out after 2 failed checks, 1 s apart), at most 20 s.
    const noGateway = () => refused.some(({ target, answer }) => target === 'haproxy' && answer.body?.errors?.[0]?.message === NO_GATEWAY);
    for (let round = 0; Date.now() - down < 4_000 || (!noGateway() && Date.now() - down < 20_000); round += 1) {
      await Promise.all(
        targets.map(async (target) => {
          const email = `attempt-${stamp}-${target.name}-${round}@example.com`;
          attemptedEmails.push(email);
          const [created, deleted, viewer, read] = await Promise.all([
            gql(target.url, admin, CREATE_USER, { input: { email, name: 'Never' } }, 30_000),
            gql(target.url, admin, DELETE_USER, { id: victim.id }, 30_000),
            gql(target.url, token, VIEWER, {}, 30_000),
            gql(target.url, admin, READ_USER, { id: victim.id }, 30_000),
          ]);
          refused.push({ target: target.name, op: 'createUser', answer: created });
          refused.push({ target: target.name, op: 'deleteUser', answer: deleted });
          refused.push({ target: target.name, op: 'viewer (session token)', answer: viewer });
          reads.push({ target: target.name, answer: read });
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const all = [...refused, ...reads.map((read) => ({ ...read, op: 'read' }))].sort((a, b) => b.answer.ms - a.answer.ms);
    process.stdout.write(
      `[faults-database] ${part} down: ${all.length} requests, slowest answers: ` +
        `${all.slice(0, 3).map(({ target, op, answer }) => `${target} ${op}: ${summary(answer)}`).join(' | ')}\n`,
    );

    // Mutations and anything authenticated by a session need the primary: refused as "try again".
    // Except deleteUser's one autocommit statement: when the primary stops, PgBouncer may pass
    // it to a server connection that is going away and answer "server conn crashed?", and a
    // connection lost after the statement was sent is OUTCOME_UNKNOWN (never a 503 that a
    // proxy would replay). The database check below shows that nothing was applied, which is
    // what deletionReceipt(subjectId) = null tells such a client.
    const lostAnswer = (op: string, answer: Exchange) =>
      op === 'deleteUser' && answer.status === 200 && codeOf(answer) === 'OUTCOME_UNKNOWN' && answer.body?.data === null;
    const wrong = refused.filter(
      ({ op, answer }) => !(refusedAsUnavailable(answer) || lostAnswer(op, answer)) || answer.ms > FAIL_FAST_MS,
    );
    expect(wrong.map(({ target, op, answer }) => `${target} ${op}: ${summary(answer)}`)).toEqual([]);
    // A plain read with the admin key may be served by the replica; otherwise it is refused the same way.
    const wrongReads = reads.filter(
      ({ answer }) => answer.ms > FAIL_FAST_MS || !(refusedAsUnavailable(answer) || (answer.status === 200 && answer.body?.data?.user?.id === victim.id)),
    );
    expect(wrongReads.map(({ target, answer }) => `${target} read: ${summary(answer)}`)).toEqual([]);
    // Once HAProxy had no gateway in rotation it answered by itself, in the same shape.
    expect(noGateway()).toBe(true);

    restore = undefined;
    await cluster.startService(part);
    const back = Date.now();
    // Every gateway serves again by itself: a write and a session-authenticated read through each one directly…
    for (const gateway of cluster.gateways) {
      await until(`${gateway.name} to write again after ${part} came back`, 30_000, async () => {
        const answer = await gql(gateway.url, admin, CREATE_USER, { input: { email: `after-${stamp}-${gateway.name}@example.com`, name: 'After' } });
        return answer.status === 200 && !answer.body?.errors;
      }, 200);
      expect(ok(await gql(gateway.url, token, VIEWER)).viewer.user.id).toBe(user.id);
    }
    // …and HAProxy has all of them back in rotation.
    for (const gateway of cluster.gateways) await untilGatewayStatus(cluster, gateway.name, 'UP');
    process.stdout.write(`[faults-database] ${part} back: every gateway served again after ${Date.now() - back} ms\n`);
    expect(cluster.gateways.map((gateway) => cluster.pid(gateway.name as 'gw1'))).toEqual(pids);

    // Nothing of the refused requests was applied.
    const [state] = await primary.sql<{ created: number; victim: number; receipts: number }>(
      `SELECT (SELECT count(*)::int FROM users WHERE email = ANY ($1)) AS created,
              (SELECT count(*)::int FROM users WHERE id = $2) AS victim,
              (SELECT count(*)::int FROM deletion_receipts WHERE subject_id = $2) AS receipts`,
      [attemptedEmails, victim.id],
    );
    expect(state).toEqual({ created: 0, victim: 1, receipts: 0 });
    // The deletion the outage refused goes through now.
    expect(ok(await gql(cluster.url, admin, DELETE_USER, { id: victim.id })).deleteUser.deletedUserId).toBe(victim.id);
  });
});
