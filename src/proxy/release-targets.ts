import type { SlotKind, Target } from './target.ts';

/** What a request waiting for a connection learns: a target with room, its release gone, or nothing in time. */
export type WaitOutcome = Target | 'gone' | 'timeout';

export interface Waiter {
  cancel(): void;
}

interface Waiting {
  exclude: ReadonlySet<Target>;
  kind: SlotKind;
  timer: NodeJS.Timeout;
  done: (outcome: WaitOutcome) => void;
}

/** The instances of one release; picks the least busy healthy one, and queues requests when all are full. */
export class ReleaseTargets {
  readonly release: number;
  readonly targets: Target[] = [];
  #next = 0;
  readonly #waiting: Waiting[] = [];
  readonly #wake = () => this.#serveWaiting();
  readonly #watchers = new Set<() => void>();
  readonly #changed = () => {
    this.#serveWaiting();
    for (const fn of this.#watchers) fn();
  };

  constructor(release: number) {
    this.release = release;
  }

  add(target: Target): void {
    this.targets.push(target);
    if (this.#waiting.length > 0) target.on('room', this.#wake);
    target.on('state', this.#changed);
  }

  remove(target: Target): void {
    const i = this.targets.indexOf(target);
    if (i >= 0) this.targets.splice(i, 1);
    target.off('room', this.#wake);
    target.off('state', this.#changed);
    this.#changed();
  }

  /** `fn` runs whenever a target changes state or leaves (what requests held for a routable instance wait for); returns its removal. */
  watch(fn: () => void): () => void {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }

  get healthyCount(): number {
    let n = 0;
    for (const t of this.targets) if (t.state === 'healthy') n++;
    return n;
  }

  /** Requests waiting for a free connection. */
  get queued(): number {
    return this.#waiting.length;
  }

  /**
   * Least in-flight among healthy targets with a free connection, starting the scan at a rotating index
   * so ties spread evenly. With nothing healthy, an unhealthy-but-running target beats refusing the request.
   */
  pick(exclude?: ReadonlySet<Target>, kind: SlotKind = 'request'): Target | undefined {
    const list = this.targets;
    const n = list.length;
    if (n === 0) return undefined;
    const start = this.#next++ % n;
    let best: Target | undefined;
    let fallback: Target | undefined;
    for (let k = 0; k < n; k++) {
      const t = list[(start + k) % n]!;
      if (exclude?.has(t) || !t.hasRoom(kind)) continue;
      if (t.state === 'healthy') {
        if (!best || t.inFlight < best.inFlight) best = t;
      } else if (t.state === 'unhealthy' && (!fallback || t.inFlight < fallback.inFlight)) {
        fallback = t;
      }
    }
    return best ?? fallback;
  }

  /** Some target could take the request if it had room (pick found none only because all are full). */
  hasCandidates(exclude?: ReadonlySet<Target>): boolean {
    return this.targets.some((t) => t.routable && !exclude?.has(t));
  }

  /**
   * Wait up to `timeoutMs` for a target with room. `done` gets the target (whose connection the caller
   * must occupy at once), 'gone' when no target of this release can take it any more, or 'timeout'.
   */
  wait(exclude: ReadonlySet<Target>, kind: SlotKind, timeoutMs: number, done: (outcome: WaitOutcome) => void): Waiter {
    const w: Waiting = {
      exclude,
      kind,
      done,
      timer: setTimeout(() => this.#settle(w, 'timeout'), timeoutMs),
    };
    if (this.#waiting.length === 0) for (const t of this.targets) t.on('room', this.#wake);
    this.#waiting.push(w);
    return { cancel: () => this.#drop(w) };
  }

  #serveWaiting(): void {
    // First come, first served; a waiter that cannot use the room left (a stream at its cap) lets the next one by.
    for (let i = 0; i < this.#waiting.length; ) {
      const w = this.#waiting[i]!;
      if (!this.hasCandidates(w.exclude)) {
        this.#settle(w, 'gone');
        continue;
      }
      const t = this.pick(w.exclude, w.kind);
      if (!t) {
        i++;
        continue;
      }
      this.#settle(w, t);
    }
  }

  #settle(w: Waiting, outcome: WaitOutcome): void {
    if (!this.#drop(w)) return;
    w.done(outcome);
  }

  #drop(w: Waiting): boolean {
    const i = this.#waiting.indexOf(w);
    if (i < 0) return false;
    this.#waiting.splice(i, 1);
    if (this.#waiting.length === 0) for (const t of this.targets) t.off('room', this.#wake);
    clearTimeout(w.timer);
    return true;
  }
}
