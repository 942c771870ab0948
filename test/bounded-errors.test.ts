import { startTestApp, type TestApp } from './support/app';
import { factory, tableCounts } from './support/factory';
import { postJson, type RawResponse } from './support/protocol';
import { MAX_ERRORS } from '../src/http/bounded-errors';

/**
 * Issue 11, bounded errors: at most MAX_ERRORS errors plus one saying how many more were
 * cut, and no error echoes an input value back.
 */
describe('bounded errors', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app?.close());

  /** Sends a body and returns the response with the SQL statements it cost. */
  async function measured(body: unknown): Promise<{ response: RawResponse; statements: number }> {
    const before = app.queries.count;
    const response = await postJson(app.url, body, app.adminKey);
    return { response, statements: app.queries.count - before };
  }

  const CREATE_USER = 'mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }';

  it('literals written in the document come back cut, never whole: a long string literal, long unknown field names', async () => {
    const literal = 'S'.repeat(500_000);
    const longLiteral = await measured({ query: `{ users(first: "${literal}") { nodes { id } } }` });
    expect(longLiteral.response.status).toBe(400);
    expect(longLiteral.response.text.length).toBeLessThan(16_384);
    expect(longLiteral.response.text).not.toContain('S'.repeat(65));
    expect(longLiteral.statements).toBe(0);

    const names = Array.from({ length: 15 }, (_, i) => `${'x'.repeat(10_000)}${i}`);
    const unknownFields = await measured({ query: `{ viewer { ${names.join(' ')} } }` });
    expect(unknownFields.response.status).toBe(400);
    expect(unknownFields.response.text.length).toBeLessThan(16_384);
    expect(unknownFields.response.text).not.toContain('x'.repeat(65));
  });

  it('case 3: an input object with 50,000 unknown fields gets one small 400, and nothing runs', async () => {
    const input: Record<string, string> = { email: 'amplified@example.com' };
    for (let i = 0; i < 50_000; i += 1) input[`f${i}`] = 'x';
    const body = JSON.stringify({ query: CREATE_USER, variables: { input } });
    expect(body.length).toBeGreaterThan(600_000);
    const before = await tableCounts(app);

    const started = process.hrtime.bigint();
    const { response, statements } = await measured(body);
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    // Reported, not asserted (no timing assertions): the issue asks for under 100 ms.
    const again = process.hrtime.bigint();
    await measured(body);
    const warmMs = Number(process.hrtime.bigint() - again) / 1e6;
    console.info(`case 3: ${response.text.length} bytes in ${elapsedMs.toFixed(1)} ms (${warmMs.toFixed(1)} ms warm)`);

    expect(response.status).toBe(400);
    expect(response.text.length).toBeLessThan(16 * 1024);
    expect(response.body?.errors).toHaveLength(1);
    expect(response.body?.errors?.[0]).toEqual({
      message: 'Variable "$input" got an invalid value at "input": an object with more fields than any input type has',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(response.text).not.toContain('amplified@example.com');
    expect(response.text).not.toContain('f49999');
    expect(statements).toBe(0);
    expect(await tableCounts(app)).toEqual(before);
  });

  it('finds a wide object however deep it sits in a variable, also in a list', async () => {
    const wide = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'secret-value']));
    const { response, statements } = await measured({
      query: 'query ($types: [String!]) { events(first: 1, types: $types) { totalCount } }',
      variables: { types: ['DELETION', { nested: [wide] }] },
    });
    expect(response.status).toBe(400);
    expect(response.body?.errors?.[0]?.message).toBe(
      'Variable "$types" got an invalid value at "types[1].nested[0]": an object with more fields than any input type has',
    );
    expect(response.text).not.toContain('secret-value');
    expect(statements).toBe(0);
  });

  it('a list of 100,000 values of the wrong type gets a bounded 400, and nothing runs', async () => {
    // Each item is an error of its own: every coercion of the variables (execution's, the
    // cost analysis's) must stop early rather than build one error per item.
    const started = process.hrtime.bigint();
    const { response, statements } = await measured({
      query: 'query ($types: [String!]) { events(first: 1, types: $types) { totalCount } }',
      variables: { types: Array.from({ length: 100_000 }, () => 4242) },
    });
    console.info(`100,000 wrong items: ${response.text.length} bytes in ${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(1)} ms`);
    expect(response.status).toBe(400);
    expect(response.text.length).toBeLessThan(16 * 1024);
    expect(response.body?.errors?.length).toBeLessThanOrEqual(MAX_ERRORS + 1);
    expect(response.body?.errors?.[0]).toMatchObject({
      message: 'Variable "$types" got an invalid value at "types[0]"; Expected a value of type "String".',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(response.text).not.toContain('4242');
    expect(statements).toBe(0);
  });

  it('names the variable, the path and the reason of a coercion error, never the value', async () => {
    const before = await tableCounts(app);
    const { response, statements } = await measured({
      query: CREATE_USER,
      // No wider than CreateUserInput, so graphql's own coercion reports each problem.
      variables: { input: { email: 987654321, unknownOne: 'secret-1', unknownTwo: 'secret-2' } },
    });
    expect(response.status).toBe(400);
    const messages = response.body?.errors?.map((error) => error.message);
    expect(messages).toEqual([
      'Variable "$input" got an invalid value at "input.email"; Expected a value of type "String".',
      'Variable "$input" got an invalid value; Field "unknownOne" is not defined by type "CreateUserInput".',
      'Variable "$input" got an invalid value; Field "unknownTwo" is not defined by type "CreateUserInput".',
    ]);
    expect(response.body?.errors?.every((error) => error.extensions?.code === 'BAD_USER_INPUT')).toBe(true);
    for (const value of ['987654321', 'secret-1', 'secret-2']) expect(response.text).not.toContain(value);
    expect(statements).toBe(0);
    expect(await tableCounts(app)).toEqual(before);
  });

  it('names the enum, not the value, for an enum value that does not exist', async () => {
    const { response } = await measured({
      query: 'mutation ($input: AddMemberInput!) { addMember(input: $input) { id } }',
      variables: { input: { organizationId: 'org_x', userId: 'usr_x', role: 'SECRET_ROLE_VALUE' } },
    });
    expect(response.status).toBe(400);
    expect(response.body?.errors?.[0]?.message).toBe(
      'Variable "$input" got an invalid value at "input.role"; Expected a value of the enum "MembershipRole".',
    );
    expect(response.text).not.toContain('SECRET_ROLE_VALUE');
  });

  it(`cuts a response to ${MAX_ERRORS} errors plus one saying how many more there were`, async () => {
    const fields = Array.from({ length: 30 }, (_, i) => `missing${i}`).join(' ');
    const { response, statements } = await measured({ query: `{ ${fields} }` });
    expect(response.status).toBe(400);
    const errors = response.body?.errors ?? [];
    expect(errors).toHaveLength(MAX_ERRORS + 1);
    expect(errors.slice(0, MAX_ERRORS).every((error) => error.extensions?.code === 'GRAPHQL_VALIDATION_FAILED')).toBe(true);
    expect(errors[MAX_ERRORS]).toEqual({
      message: `10 more errors were cut from this response (at most ${MAX_ERRORS} are sent)`,
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED', omittedErrors: 10 },
    });
    expect(statements).toBe(0);
  });

  it('leaves a response with up to the cap untouched', async () => {
    const fields = Array.from({ length: MAX_ERRORS }, (_, i) => `missing${i}`).join(' ');
    const { response } = await measured({ query: `{ ${fields} }` });
    expect(response.body?.errors).toHaveLength(MAX_ERRORS);
    expect(response.body?.errors?.some((error) => 'omittedErrors' in (error.extensions ?? {}))).toBe(false);
  });
});

describe('events cursor out of range (issue 11)', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app?.close());

  const cursor = (txid: string, position: string) => Buffer.from(`e1:${txid}:${position}`, 'utf8').toString('base64url');
  const EVENTS = 'query ($after: String) { events(first: 10, after: $after) { nodes { id } } }';

  it.each([
    ['a 20-digit position', cursor('1', '99999999999999999999')],
    ['a position just above the bigint range', cursor('1', '9223372036854775808')],
    ['a txid above the xid8 range', cursor('18446744073709551616', '1')],
  ])('refuses %s as BAD_USER_INPUT', async (_what, after) => {
    const response = await app.gql<unknown, { after: string }>(EVENTS, { after });
    expect(response.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(response.errors?.[0]?.message).toBe('after is not a cursor this API issued');
  });

  it('still accepts the largest numbers each column holds', async () => {
    await factory(app).user();
    const response = await app.gql<{ events: { nodes: unknown[] } }, { after: string }>(EVENTS, {
      after: cursor('18446744073709551615', '9223372036854775807'),
    });
    expect(response.errors).toBeUndefined();
    expect(response.data?.events.nodes).toEqual([]);
  });
});
