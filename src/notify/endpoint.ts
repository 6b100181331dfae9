import { randomUUID } from 'node:crypto';
import { version } from '../version.ts';
import { post, signature, type Attempt } from './send.ts';

export interface DeliveryOptions {
  /** One attempt's time limit, connection to answer. */
  timeoutMs: number;
  /** Attempts in all, the first included. */
  attempts: number;
  /** The pause before the first retry; each next one doubles (with ±25% jitter). */
  baseDelayMs: number;
  /** Notifications waiting per endpoint; past it the oldest is dropped. */
  maxQueue: number;
}

export const deliveryDefaults: DeliveryOptions = { timeoutMs: 10_000, attempts: 5, baseDelayMs: 1_000, maxQueue: 1_000 };

/** One notification on its way: the body is fixed, so every attempt carries the same signature. */
export interface Delivery {
  id: string;
  event: string;
  service: string;
  deployment: number | null;
  body: string;
}

export interface DeliveryOutcome {
  ok: boolean;
  attempts: number;
  status: number | null;
  detail: string;
}

export function newDeliveryId(): string {
  return randomUUID();
}

/** The pause before retry `n` (1-based): base, 2×base, 4×base… ±25%, or longer when the endpoint asked (Retry-After). */
export function backoffMs(n: number, baseMs: number, asked?: number, random: () => number = Math.random): number {
  const wait = baseMs * 2 ** (n - 1) * (0.75 + random() / 2);
  return Math.round(Math.max(wait, asked ?? 0));
}

/**
 * One URL (and secret): its notifications go out one at a time, in order, each tried up to `attempts`
 * times. Nothing here is ever awaited by a deployment: enqueue returns at once.
 */
export class Endpoint {
  readonly url: string;
  readonly #secret: string | undefined;
  readonly #o: DeliveryOptions;
  readonly #done: (d: Delivery, outcome: DeliveryOutcome) => void;
  readonly #warn: (message: string) => void;
  readonly #queue: Delivery[] = [];
  readonly #stop = new AbortController();
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(o: { url: string; secret: string | undefined; options: DeliveryOptions; done: (d: Delivery, outcome: DeliveryOutcome) => void; warn: (message: string) => void }) {
    this.url = o.url;
    this.#secret = o.secret;
    this.#o = o.options;
    this.#done = o.done;
    this.#warn = o.warn;
  }

  enqueue(d: Delivery): void {
    if (this.#closed) {
      this.#done(d, { ok: false, attempts: 0, status: null, detail: 'dropped: zdd was stopping' });
      return;
    }
    if (this.#queue.length >= this.#o.maxQueue) {
      const dropped = this.#queue.shift()!;
      this.#warn(`${this.#o.maxQueue} notifications wait for ${redactUrl(this.url)}: dropped the oldest (${dropped.event} of ${dropped.service})`);
      this.#done(dropped, { ok: false, attempts: 0, status: null, detail: `dropped: ${this.#o.maxQueue} notifications were waiting for this endpoint` });
    }
    this.#queue.push(d);
    this.#kick();
  }

  /** Start sending unless already sending; one queued between the end of a run and its cleanup starts the next. */
  #kick(): void {
    if (this.#running) return;
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#queue.length > 0) this.#kick();
    });
  }

  /** Resolves once nothing waits (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Stop: what is under way gets up to `graceMs`, then it and everything still waiting is dropped. */
  async close(graceMs: number): Promise<void> {
    this.#closed = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    this.#stop.abort();
    await this.idle();
  }

  async #drain(): Promise<void> {
    for (let d = this.#queue.shift(); d; d = this.#queue.shift()) {
      if (this.#stop.signal.aborted) this.#done(d, { ok: false, attempts: 0, status: null, detail: 'dropped: zdd stopped before it was sent' });
      else this.#done(d, await this.#deliver(d));
    }
  }

  async #deliver(d: Delivery): Promise<DeliveryOutcome> {
    const signed: Record<string, string> = this.#secret === undefined ? {} : { 'x-zdd-signature-256': signature(this.#secret, d.body) };
    let made = 0;
    let last: Attempt | undefined;
    while (made < this.#o.attempts) {
      if (last && !last.ok && !(await sleep(backoffMs(made, this.#o.baseDelayMs, last.retryAfterMs), this.#stop.signal))) break;
      made++;
      const headers = {
        'content-type': 'application/json',
        'user-agent': `zdd/${version}`,
        'x-zdd-event': d.event,
        'x-zdd-delivery': d.id,
        'x-zdd-attempt': String(made),
        'x-zdd-timestamp': String(Math.floor(Date.now() / 1000)),
        ...signed,
      };
      last = await post(this.url, d.body, headers, this.#o.timeoutMs, this.#stop.signal);
      const tries = `${made} attempt${made === 1 ? '' : 's'}`;
      if (last.ok) return { ok: true, attempts: made, status: last.status, detail: `delivered (HTTP ${last.status}) after ${tries}` };
      if (!last.retry || made === this.#o.attempts) return { ok: false, attempts: made, status: last.status, detail: `failed after ${tries}: ${last.error}` };
    }
    // zdd stopped while it waited to try again.
    const error = last && !last.ok ? last.error : 'none';
    return { ok: false, attempts: made, status: last && !last.ok ? last.status : null, detail: `dropped: zdd stopped before attempt ${made + 1} (the last one: ${error})` };
  }
}

/** Waits `ms`; false when `signal` ended the wait first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** An endpoint as shown in history and logs: scheme, host and port only (a webhook's path is often its token). */
export function redactUrl(url: string): string {
  const u = URL.parse(url);
  if (!u) return '[invalid url]';
  return `${u.origin}${u.pathname === '/' && !u.search ? '' : '/…'}`;
}
