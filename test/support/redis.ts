import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';

/** Whether something at host:port answers a Redis PING with +PONG. */
export function redisAnswers(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let reply = '';
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/** A TCP port nothing listens on (bound and released at once). */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface TestRedis {
  url: string;
  stop(): Promise<void>;
}

/**
 * A Redis for the APQ tests: TEST_REDIS_URL, else the CI machine's 127.0.0.1:6379;
 * when nothing answers there but a redis-server binary exists, one started here on a
 * free port without persistence (and stopped by stop()). Neither: a clear failure,
 * never a skip.
 */
export async function useRedis(): Promise<TestRedis> {
  const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const parsed = new URL(url);
  if (await redisAnswers(parsed.hostname, Number(parsed.port || 6379))) {
    return { url, stop: async () => undefined };
  }
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const binary = which.stdout.trim();
  if (which.status !== 0 || !binary) {
    throw new Error(
      `No Redis answers at ${url} and no redis-server binary is installed. Start Redis there, ` +
        'set TEST_REDIS_URL to one, or install redis-server (Debian package redis-server).',
    );
  }
  const port = await closedPort();
  const child: ChildProcess = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  for (let attempt = 0; attempt < 50; attempt += 1) {
    if (await redisAnswers('127.0.0.1', port, 200)) return { url: `redis://127.0.0.1:${port}`, stop };
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  throw new Error(`redis-server (${binary}) did not answer on port ${port}`);
}

/** Parses one complete RESP reply (simple string, error, integer, bulk string or array), or undefined if more is to come. */
function parseReply(buffer: string): { value: unknown; rest: string } | undefined {
  const end = buffer.indexOf('\r\n');
  if (end < 0) return undefined;
  const type = buffer[0];
  const line = buffer.slice(1, end);
  const rest = buffer.slice(end + 2);
  if (type === '+' || type === ':') return { value: type === ':' ? Number(line) : line, rest };
  if (type === '-') return { value: new Error(line), rest };
  if (type === '$') {
    const length = Number(line);
    if (length < 0) return { value: null, rest };
    if (Buffer.byteLength(rest) < length + 2) return undefined;
    return { value: rest.slice(0, length), rest: rest.slice(length + 2) };
  }
  if (type === '*') {
    const items: unknown[] = [];
    let remaining = rest;
    for (let i = 0; i < Number(line); i += 1) {
      const item = parseReply(remaining);
      if (!item) return undefined;
      items.push(item.value);
      remaining = item.rest;
    }
    return { value: items, rest: remaining };
  }
  throw new Error(`unexpected Redis reply: ${buffer.slice(0, 40)}`);
}

/** Sends one inline Redis command (arguments without spaces) and returns its parsed reply. */
export function redisCommand(url: string, command: string): Promise<unknown> {
  const parsed = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: parsed.hostname, port: Number(parsed.port || 6379) });
    let reply = '';
    socket.setTimeout(2_000, () => {
      socket.destroy();
      reject(new Error(`Redis did not answer ${command}`));
    });
    socket.on('error', reject);
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      const result = parseReply(reply);
      if (!result) return;
      socket.destroy();
      if (result.value instanceof Error) reject(result.value);
      else resolve(result.value);
    });
  });
}
