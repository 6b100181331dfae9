/** What a held request learns: it may go on (something can serve it, or the pause ended), or its time ran out. */
export type HoldOutcome = 'ready' | 'timeout';

export interface Held {
  /** The client went away: it leaves the list, and nothing is called. */
  cancel(): void;
}

interface Entry {
  timer: NodeJS.Timeout;
  done: (outcome: HoldOutcome) => void;
}

/**
 * Requests of one service waiting for something to serve them: no instance is routable for a moment
 * (the first start, every instance restarting) or the service is paused. First come, first served;
 * bounded, so a long gap cannot pile up unbounded memory.
 */
export class Hold {
  /** Requests held at most (per service); beyond that, a request is refused at once. */
  static readonly defaultCap = 10_000;
  readonly cap: number;
  readonly #entries = new Set<Entry>();
  /** Told when a request joins or leaves the list, with how many wait now. */
  onChange: ((size: number) => void) | undefined;

  constructor(cap = Hold.defaultCap) {
    this.cap = cap;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Hold a request for up to `timeoutMs`; undefined when the list is full (answer at once). */
  add(timeoutMs: number, done: (outcome: HoldOutcome) => void): Held | undefined {
    if (this.#entries.size >= this.cap) return undefined;
    const e: Entry = { done, timer: setTimeout(() => this.#settle(e, 'timeout'), timeoutMs) };
    this.#entries.add(e);
    this.onChange?.(this.#entries.size);
    return { cancel: () => this.#drop(e) };
  }

  /** Something changed (the split, an instance's health, the pause): every held request looks again, oldest first. */
  release(): void {
    for (const e of [...this.#entries]) this.#settle(e, 'ready');
  }

  #settle(e: Entry, outcome: HoldOutcome): void {
    if (this.#drop(e)) e.done(outcome);
  }

  #drop(e: Entry): boolean {
    if (!this.#entries.delete(e)) return false;
    clearTimeout(e.timer);
    this.onChange?.(this.#entries.size);
    return true;
  }
}

/** A paused service: new requests are held until it resumes; in maintenance, answered at once with 503 and this text. */
export interface Pause {
  since: number;
  maintenance: string | undefined;
}

/** Retry-After of a maintenance answer, in seconds. */
export const maintenanceRetryAfter = 5;
