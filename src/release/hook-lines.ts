/** Longest line passed on whole: a progress bar that never prints a newline still shows, in pieces. */
const maxLineChars = 4096;

/**
 * A hook's output cut into whole lines for a live view (the CLI showing a build as it runs): a chunk may
 * end mid-line, and the rest of that line comes with the next one.
 */
export class LineSplitter {
  readonly #emit: (line: string) => void;
  #partial = '';

  constructor(emit: (line: string) => void) {
    this.#emit = emit;
  }

  push(chunk: string): void {
    const parts = (this.#partial + chunk).split('\n');
    this.#partial = parts.pop()!;
    for (const line of parts) this.#send(line);
    while (this.#partial.length > maxLineChars) {
      this.#send(this.#partial.slice(0, maxLineChars));
      this.#partial = this.#partial.slice(maxLineChars);
    }
  }

  /** The output is over: an unfinished last line is still a line. */
  end(): void {
    if (this.#partial) this.#send(this.#partial);
    this.#partial = '';
  }

  #send(line: string): void {
    // CRLF output (and tools that end lines so) should not carry the \r into a terminal.
    this.#emit(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
}
