import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

/**
 * A PostgreSQL cluster a test can stop and start (test/support/embedded-child.mjs in a
 * child process), so that an outage disturbs no other test file.
 */
export class OutageCluster {
  private readonly waiters: Array<{ prefix: string; resolve: (line: string) => void }> = [];
  private readonly exited: Promise<void>;
  url = '';

  private constructor(private readonly child: ChildProcess) {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const index = this.waiters.findIndex((w) => line.startsWith(w.prefix));
      if (index >= 0) this.waiters.splice(index, 1)[0].resolve(line);
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(): Promise<OutageCluster> {
    const child = spawn(process.execPath, [path.join(__dirname, 'embedded-child.mjs')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const cluster = new OutageCluster(child);
    cluster.url = (await cluster.next('started ', 120_000)).slice('started '.length);
    return cluster;
  }

  private next(prefix: string, timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`embedded PostgreSQL: no "${prefix}" line`)), timeoutMs);
      this.waiters.push({
        prefix,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      this.exited.then(() => reject(new Error('embedded PostgreSQL child exited')));
    });
  }

  /** Stops the server (fast shutdown: every connection is terminated). */
  async stop(): Promise<void> {
    const done = this.next('stopped');
    this.child.stdin!.write('stop\n');
    await done;
  }

  async restart(): Promise<void> {
    const done = this.next('started ');
    this.child.stdin!.write('start\n');
    await done;
  }

  /** Stops it for good and removes its files. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.stdin!.end('quit\n');
    await this.exited;
  }
}
