import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { buildAppSchema, printAppSchema } from '../src/http/schema';

/** Writes schema/schema.graphql from the code (`npm run schema`); the suite fails when it is stale. */
async function main(): Promise<void> {
  const file = path.join(__dirname, '..', 'schema', 'schema.graphql');
  fs.writeFileSync(file, printAppSchema(await buildAppSchema()));
  process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
}

void main();
