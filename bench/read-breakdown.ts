import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { buildSchema, defaultFieldResolver, execute, parse, type GraphQLFieldResolver } from 'graphql';
import { Client } from 'pg';
import { MEMBERSHIP_PAGE } from '../src/memberships/membership.loader';
import { SESSIONS_BY_USER } from '../src/sessions/session.loader';
import { floorMemberList } from './floor';
import {
  backendCpu,
  backendCpuSince,
  cannon,
  gql,
  machine,
  median,
  round,
  runMain,
  startChildServer,
  startCountingServer,
  startDatabase,
  type LoadResult,
} from './harness';
import { resetData, seedOrganizationCase, settle } from './seed';

/**
 * `node dist/bench/read-breakdown.js [seconds] [rounds]`: where the member-list read's CPU
 * goes (issue 13, "each miss accompanied by the profile that shows where the remaining time
 * goes"), by subtraction rather than by sampling. One server, case 5's data (a 1,000-member
 * organization, 3 sessions a member), one client, and requests that stop at successive
 * depths of the read:
 *
 *   1. `{ __typename }`: HTTP, Apollo's pipeline, the context; no SQL.
 *   2. `organization(id) { id }`: + the read snapshot (BEGIN, COMMIT) and one statement.
 *   3. `… memberships(first: 100) { nodes { id } }`: + the page statement (101 rows, users joined).
 *   4. `… nodes { user { id email } }`: + 200 fields.
 *   5. the bench's read, `… user { id email sessions { id } }`: + the sessions statement (300 rows) and 400 fields.
 *
 * Each is run `rounds` times for `seconds`, interleaved, and the medians reported: server CPU
 * per request (utime + stime of the server process from /proc) and PostgreSQL CPU per request
 * (the bench database's backends). Beside them, from this process, with nothing else around
 * them: pg's own client CPU for the read's two row statements, graphql-js executing the
 * read's shape over plain objects (no I/O, no type-graphql, no Apollo) with JSON.stringify,
 * and the floor (bench/floor.ts's one json_agg statement). Writes
 * bench/results/read-breakdown.node<major>.md, one file per Node.js major version.
 * Run it under another Node.js (`/path/to/node dist/bench/read-breakdown.js`) to measure the
 * server on that runtime: the server is started with the same binary.
 */

const ORGANIZATION = 'query($id: ID!) { organization(id: $id) {';
const DEPTHS: ReadonlyArray<{ name: string; query: string }> = [
  { name: '1. `{ __typename }`', query: '{ __typename }' },
  { name: '2. organization { id }', query: `${ORGANIZATION} id } }` },
  { name: '3. + memberships(first: 100) { nodes { id } }', query: `${ORGANIZATION} memberships(first: 100) { nodes { id } } } }` },
  { name: '4. + nodes { user { id email } }', query: `${ORGANIZATION} memberships(first: 100) { nodes { user { id email } } } } }` },
  {
    name: '5. + user { sessions { id } } (the bench read)',
    query: `${ORGANIZATION} memberships(first: 100) { nodes { user { id email sessions { id } } } } } }`,
  },
];

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** This process's CPU and the backends' per call of `operation`, over `count` calls after a warm-up. */
async function inProcess(control: Client, count: number, operation: () => Promise<unknown>) {
  for (let i = 0; i < Math.min(200, count); i += 1) await operation();
  const pgBefore = await backendCpu(control);
  const start = cpuMs();
  for (let i = 0; i < count; i += 1) await operation();
  const clientMs = (cpuMs() - start) / count;
  return { clientMs: round(clientMs, 3), pgMs: round(backendCpuSince(pgBefore, await backendCpu(control)) / count, 3) };
}

/** graphql-js alone: the read's shape over plain objects, executed and stringified; ms of CPU per execution. */
async function graphqlAlone(executions: number, asyncUserAndSessions: boolean): Promise<number> {
  const schema = buildSchema(`
    type Query { organization(id: ID!): Organization }
    type Organization { id: ID! memberships(first: Int): MembershipConnection! }
    type MembershipConnection { nodes: [Membership!]! }
    type Membership { id: ID! user: User! }
    type User { id: ID! email: String! sessions(status: String): [Session!]! }
    type Session { id: ID! }`);
  const id = (prefix: string, n: number) => `${prefix}_${String(n).padStart(26, '0')}`;
  const organization = {
    id: id('org', 1),
    memberships: {
      nodes: Array.from({ length: 100 }, (_, i) => ({
        id: id('mem', i),
        user: { id: id('usr', i), email: `member-${i}@example.com`, sessions: [0, 1, 2].map((j) => ({ id: id('ses', i * 3 + j) })) },
      })),
    },
  };
  const document = parse(DEPTHS[DEPTHS.length - 1]!.query);
  const fieldResolver: GraphQLFieldResolver<unknown, unknown> = asyncUserAndSessions
    ? (source, args, context, info) => {
        const value: unknown = defaultFieldResolver(source, args, context, info);
        return info.fieldName === 'user' || info.fieldName === 'sessions' ? Promise.resolve(value) : value;
      }
    : defaultFieldResolver;
  const once = async () =>
    JSON.stringify(await execute({ schema, document, rootValue: { organization: () => organization }, variableValues: { id: organization.id }, fieldResolver }));
  for (let i = 0; i < 300; i += 1) await once();
  const start = cpuMs();
  for (let i = 0; i < executions; i += 1) await once();
  return round((cpuMs() - start) / executions, 3);
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const rounds = Number(process.argv[3] ?? 3);
  const database = await startDatabase();
  const client = new Client({ connectionString: database.url });
  await client.connect();
  await resetData(client);
  const seeded = await seedOrganizationCase(client, 'c5', 1_000, 1_000);
  await settle(client);
  const variables = { id: seeded.organizationId };

  // Statements per request, counted at the driver by an in-process server on the same data.
  const counting = await startCountingServer(database.url);
  const statements: number[] = [];
  for (const { query } of DEPTHS) {
    const before = counting.queries.count;
    const response = await gql(counting.url, counting.adminKey, query, variables);
    if (response.body.errors) throw new Error(`${query}: ${JSON.stringify(response.body.errors)}`);
    statements.push(counting.queries.count - before);
  }
  await counting.stop();

  const server = await startChildServer(database.url);
  const runs: LoadResult[][] = DEPTHS.map(() => []);
  for (let r = 0; r < rounds; r += 1) {
    for (const [i, { name, query }] of DEPTHS.entries()) {
      const body = () => JSON.stringify({ query, variables });
      if (r === 0) await cannon(server.url, server.adminKey, 1, 2, body);
      const result = await cannon(server.url, server.adminKey, 1, seconds, body, { pid: server.pid, control: client });
      if (result.errors > 0) throw new Error(`${name}: ${result.errors} errors`);
      runs[i]!.push(result);
      console.log(`round ${r + 1}: ${name}: ${result.rps} req/s, server ${result.serverCpuMsPerRequest} ms, PG ${result.pgCpuMsPerRequest} ms`);
    }
  }
  await server.stop();

  // pg's client CPU for the read's row statements, as the loaders send them (unnamed).
  const { rows: userRows } = await client.query<{ ids: string[] }>(
    `SELECT array_agg(user_id ORDER BY id) AS ids FROM (SELECT id, user_id FROM memberships WHERE organization_id = $1 ORDER BY id LIMIT 100) m`,
    [seeded.organizationId],
  );
  const driver = new Client({ connectionString: database.url });
  await driver.connect();
  const page = await inProcess(client, 2_000, () => driver.query(MEMBERSHIP_PAGE.text, [[seeded.organizationId], null, 101]));
  const sessions = await inProcess(client, 2_000, () => driver.query(SESSIONS_BY_USER.text, [userRows[0]!.ids]));
  const trivial = await inProcess(client, 2_000, () => driver.query('SELECT $1::int AS one', [1]));
  const floor = await inProcess(client, 2_000, () => floorMemberList(driver, seeded.organizationId, 100));
  await driver.end();
  const graphqlSync = await graphqlAlone(2_000, false);
  const graphqlAsync = await graphqlAlone(2_000, true);

  const pg = await client.query<{ server_version: string }>('SHOW server_version');
  const m = machine(pg.rows[0]!.server_version, database.embedded);
  await client.end();

  const medianOf = (results: LoadResult[], key: 'rps' | 'serverCpuMsPerRequest' | 'pgCpuMsPerRequest') =>
    round(median(results.map((result) => result[key] ?? NaN)), 3);
  const rows = DEPTHS.map(({ name }, i) => {
    const server = medianOf(runs[i]!, 'serverCpuMsPerRequest');
    const previous = i > 0 ? medianOf(runs[i - 1]!, 'serverCpuMsPerRequest') : 0;
    return `| ${name} | ${statements[i]} | ${medianOf(runs[i]!, 'rps')} | ${server} ms | +${round(server - previous, 3)} ms | ${medianOf(runs[i]!, 'pgCpuMsPerRequest')} ms |`;
  });
  const markdown = [
    `# The member-list read, depth by depth (bench/read-breakdown.ts)`,
    '',
    `**Machine:** ${m.cpu}, ${m.cores} cores; Node.js ${m.node} (server and this process); PostgreSQL ${m.postgres} (${m.postgresSource}). Measured ${new Date().toISOString().slice(0, 16)}Z; ${rounds} interleaved rounds of ${seconds} s at 1 connection, medians.`,
    '',
    '| request | SQL statements | req/s | server CPU/req | added by this depth | PG CPU/req |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    'From this process alone, per call (client CPU / PostgreSQL CPU):',
    '',
    '| what | client CPU | PG CPU |',
    '| --- | --- | --- |',
    `| pg: \`SELECT $1::int\` (one round trip, nothing to parse) | ${trivial.clientMs} ms | ${trivial.pgMs} ms |`,
    `| pg: the membership page statement (101 rows × 11 columns) | ${page.clientMs} ms | ${page.pgMs} ms |`,
    `| pg: the sessions statement (300 rows × 7 columns) | ${sessions.clientMs} ms | ${sessions.pgMs} ms |`,
    `| graphql-js alone: the read's shape over plain objects, every field synchronous, + JSON.stringify | ${graphqlSync} ms | |`,
    `| graphql-js alone: the same, user and sessions through a promise each | ${graphqlAsync} ms | |`,
    `| the floor: one json_agg statement (bench/floor.ts), the text received | ${floor.clientMs} ms | ${floor.pgMs} ms |`,
    '',
  ].join('\n');
  const file = path.resolve(__dirname, `../../bench/results/read-breakdown.node${process.versions.node.split('.')[0]}.md`);
  fs.writeFileSync(file, markdown);
  console.log(`\n${markdown}\nwritten to ${path.relative(process.cwd(), file)}`);
}

runMain('read-breakdown', main);
