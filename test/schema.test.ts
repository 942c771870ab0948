import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildAppSchema, printAppSchema } from '../src/http/schema';
import { CreateOrganizationDocument, CreateUserDocument, ListOrganizationsDocument } from '../src/generated/graphql';
import { CreateSessionDocument } from './generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { errorCode, factory, tableCounts } from './support/factory';

const root = path.join(__dirname, '..');

/**
 * Runs GraphQL Code Generator's `generate` with codegen.yml and returns the files it
 * would write, without writing them. It runs in a child Node process because the CLI
 * package loads ES modules (yargs, chalk) that jest's CommonJS runtime cannot require.
 */
function runCodegenInMemory(): Array<{ filename: string; content: string }> {
  const script = `
    const { generate, loadCodegenConfig } = require('@graphql-codegen/cli');
    loadCodegenConfig({ configFilePath: 'codegen.yml' })
      .then(({ config }) => generate({ ...config, cwd: process.cwd(), silent: true }, false))
      .then(
      (files) => process.stdout.write(JSON.stringify(files.map(({ filename, content }) => ({ filename, content })))),
      (error) => { process.stderr.write(String(error && error.stack || error)); process.exit(1); },
    );`;
  const stdout = execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as Array<{ filename: string; content: string }>;
}

describe('schema/schema.graphql', () => {
  it('is what the code emits (run `npm run schema` when this fails)', async () => {
    const committed = fs.readFileSync(path.join(root, 'schema', 'schema.graphql'), 'utf8');
    const emitted = printAppSchema(await buildAppSchema());
    if (committed !== emitted) {
      throw new Error('schema/schema.graphql is stale: run `npm run schema && npm run codegen` and commit the result');
    }
    expect(committed).toBe(emitted);
  });
});

describe('GraphQL Code Generator output (src/generated)', () => {
  it('is what codegen.yml produces from the committed schema and operations (run `npm run codegen` when this fails)', () => {
    const outputs = runCodegenInMemory();
    expect(outputs.length).toBeGreaterThan(0);
    const expected = Object.fromEntries(
      outputs.map((output) => [path.relative(root, path.resolve(root, output.filename)), output.content]),
    );
    // Every file codegen would write, plus any file left over in the directories it writes to.
    const directories = [...new Set(Object.keys(expected).map((file) => path.dirname(file)))];
    const onDisk = [
      ...new Set([
        ...Object.keys(expected),
        ...directories.flatMap((dir) =>
          fs.existsSync(path.join(root, dir)) ? fs.readdirSync(path.join(root, dir)).map((name) => path.join(dir, name)) : [],
        ),
      ]),
    ];
    const committed = Object.fromEntries(
      onDisk.map((file) => [file, fs.existsSync(path.join(root, file)) ? fs.readFileSync(path.join(root, file), 'utf8') : null]),
    );
    const stale = onDisk.filter((file) => expected[file] !== committed[file]);
    if (stale.length > 0) {
      throw new Error(`generated files are stale (${stale.join(', ')}): run \`npm run codegen\` and commit the result`);
    }
    expect(stale).toEqual([]);
  });
});

describe('type-graphql validation', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.close());

  it('is switched on: a value that breaks a class-validator rule is BAD_USER_INPUT and writes nothing', async () => {
    const before = await tableCounts(app);
    // @MaxLength(320) on CreateUserInput.email: GraphQL itself only knows it is a String.
    const response = await app.gql(CreateUserDocument, { input: { email: `${'a'.repeat(320)}@example.com` } });
    expect(response.data).toBeNull();
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(response.errors?.[0]?.extensions?.fields).toEqual([expect.objectContaining({ field: 'email' })]);
    expect(await tableCounts(app)).toEqual(before);
  });

  it('validates nested list items (@Length each) and Int bounds (@Min/@Max) as well', async () => {
    const user = await factory(app).user();
    const before = await tableCounts(app);
    const domain = await app.gql(CreateOrganizationDocument, { input: { name: 'Acme', domains: ['ok.example', ''] } });
    expect(errorCode(domain)).toBe('BAD_USER_INPUT');
    expect(domain.errors?.[0]?.extensions?.fields).toEqual([expect.objectContaining({ field: 'domains' })]);
    const ttl = await app.gql(CreateSessionDocument, { input: { userId: user.id, ttlSeconds: 59 } });
    expect(errorCode(ttl)).toBe('BAD_USER_INPUT');
    expect(ttl.errors?.[0]?.extensions?.fields).toEqual([expect.objectContaining({ field: 'ttlSeconds' })]);
    const page = await app.gql(ListOrganizationsDocument, { first: 101 });
    expect(errorCode(page)).toBe('BAD_USER_INPUT');
    expect(await tableCounts(app)).toEqual(before);
  });
});
