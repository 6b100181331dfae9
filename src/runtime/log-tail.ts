/** The last lines a process wrote, kept so a failed start can be explained without opening log files. */
export class LogTail {
  readonly #lines: string[] = [];
  readonly #max: number;
  #partial = '';

  constructor(max = 20) {
    this.#max = max;
  }

  push(chunk: string): void {
    const parts = (this.#partial + chunk).split('\n');
    this.#partial = parts.pop()!;
    if (this.#partial.length > 4096) this.#partial = this.#partial.slice(-4096);
    for (const line of parts) this.#add(line);
  }

  lines(n = this.#max): string[] {
    const all = this.#partial ? [...this.#lines, this.#partial] : this.#lines;
    return all.slice(-n);
  }

  #add(line: string): void {
    this.#lines.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
    if (this.#lines.length > this.#max) this.#lines.shift();
  }
}
