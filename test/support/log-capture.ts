/** A pino destination that keeps every line, to scan what the server logged. */
export class LogCapture {
  readonly lines: string[] = [];

  write(chunk: string): void {
    for (const line of chunk.split('\n')) if (line) this.lines.push(line);
  }

  /** Every line parsed as JSON (throws on a line that is not). */
  entries(): Array<Record<string, any>> {
    return this.lines.map((line) => JSON.parse(line));
  }

  text(): string {
    return this.lines.join('\n');
  }

  clear(): void {
    this.lines.length = 0;
  }
}
