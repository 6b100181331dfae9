import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { formatDuration } from '../config/duration.ts';
import type { Choice } from './affinity.ts';
import { writeHead, type ClientResponse } from './client-exchange.ts';
import { Hold, maintenanceRetryAfter, type Pause } from './hold.ts';
import { endWithStatus } from './raw-response.ts';
import type { Route, RouteTable } from './route-table.ts';

/** A request that cannot go on now (nothing can serve it, or the service is paused). */
export interface HoldRequest {
  /** The client's response or socket: when it closes, the request leaves the list. */
  closer: ClientResponse | Duplex;
  /** When its wait ends at the latest: undefined the first time, then kept across every look again. */
  deadline: number | undefined;
  /** proxy.holdTimeout; 0 refuses at once. */
  timeoutMs: number;
  /** Why it waits: the start of the 503's text if it never goes on. */
  why: string;
  /** Something may serve it now: route it anew (it may be held again, until `deadline`). */
  again: (deadline: number) => void;
  /** Answer 503 with `message`. */
  refuse: (message: string) => void;
}

/**
 * Whether a request of one service may go on now: a pause holds every request (maintenance answers
 * them), and a request nothing can serve waits, bounded, until something can. Routing is not its concern:
 * it only learns, through `table`, whether any route could serve.
 */
export class Admission {
  readonly #service: string;
  readonly #log: Logger;
  readonly #table: () => RouteTable;
  readonly #hold: Hold;
  #pause: Pause | undefined;
  #unwatch: (() => void)[] = [];
  /** Told when a request starts or stops waiting, with how many wait now. */
  onChange: ((held: number) => void) | undefined;
  readonly #wake = () => {
    if (this.#hold.size > 0 && this.#ready()) this.#hold.release();
  };

  /** `table`: the service's current route table, read whenever held requests might go on. */
  constructor(service: string, log: Logger, table: () => RouteTable, holdCap?: number) {
    this.#service = service;
    this.#log = log;
    this.#table = table;
    this.#hold = new Hold(holdCap);
    this.#hold.onChange = (n) => this.onChange?.(n);
  }

  /** A new split: held requests look again whenever one of its releases changes, and once now. */
  follow(routes: readonly Route[]): void {
    for (const off of this.#unwatch) off();
    this.#unwatch = routes.map((r) => r.targets.watch(this.#wake));
    this.#wake();
  }

  get paused(): Pause | undefined {
    return this.#pause;
  }

  /** New requests are held until resume() or their timeout; with `maintenance`, answered 503 with that text. */
  pause(maintenance?: string, since?: number): Pause {
    this.#pause = { since: since ?? this.#pause?.since ?? Date.now(), maintenance };
    this.#wake();
    return this.#pause;
  }

  /** Held requests go on; false when the service was not paused. */
  resume(): boolean {
    const was = this.#pause !== undefined;
    this.#pause = undefined;
    this.#wake();
    return was;
  }

  /** Requests waiting for an instance or for the end of a pause. */
  get held(): number {
    return this.#hold.size;
  }

  /**
   * Nothing can serve the request now (or the service is paused): it waits until something can or until
   * its deadline. Bounded by Hold.cap: beyond it, refused at once rather than piling up memory.
   */
  hold(w: HoldRequest): void {
    const until = w.deadline ?? Date.now() + w.timeoutMs;
    const left = until - Date.now();
    if (w.timeoutMs <= 0) return w.refuse(w.why);
    if (left <= 0) return w.refuse(`${w.why} (waited ${formatDuration(w.timeoutMs)})`);
    const onClose = () => held?.cancel();
    const held = this.#hold.add(left, (outcome) => {
      w.closer.off('close', onClose);
      if (outcome === 'ready') return w.again(until);
      this.#log.debug({ service: this.#service }, 'held request timed out');
      w.refuse(`${w.why} (waited ${formatDuration(w.timeoutMs)})`);
    });
    if (!held) return w.refuse(`${w.why}, and ${this.#hold.cap} requests already wait`);
    w.closer.once('close', onClose);
  }

  /** Held requests may look again: the pause became maintenance (they are answered), or some route can serve. */
  #ready(): boolean {
    if (this.#pause) return this.#pause.maintenance !== undefined;
    return this.#table().routes.some((r) => r.weight > 0 && r.targets.hasCandidates());
  }
}

/** Something can take a request routed by `choice` now: its release, or the stable one a canary falls back to. */
export function canServe(choice: Choice, table: RouteTable): boolean {
  if (choice.route.targets.hasCandidates()) return true;
  const { routes } = table;
  const older = routes[routes.length - 1]!;
  return choice.forced === undefined && routes[0] === choice.route && older.targets.hasCandidates();
}

/** A service in maintenance: 503 with its text as the whole body. */
export function answerMaintenance(res: ClientResponse, text: string, requestId: string): void {
  writeHead(res, 503, undefined, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'x-request-id': requestId,
    'retry-after': String(maintenanceRetryAfter),
  });
  res.end(text);
}

/** The same for an upgrade, written straight to its socket. */
export function refuseUpgradeInMaintenance(socket: Duplex, text: string, requestId: string): void {
  endWithStatus(socket, 503, text, { 'retry-after': String(maintenanceRetryAfter), 'x-request-id': requestId });
}
