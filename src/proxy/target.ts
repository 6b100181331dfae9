import { EventEmitter } from 'node:events';
import { Pool } from 'undici';

/**
 * adding → healthy ⇄ unhealthy → draining → removed. Only healthy targets get new requests (unhealthy ones
 * too, as a last resort, when a release has nothing healthy); a draining target finishes what it has.
 */
export type TargetState = 'adding' | 'healthy' | 'unhealthy' | 'draining' | 'removed';

const allowed: Record<TargetState, TargetState[]> = {
  adding: ['healthy', 'unhealthy', 'draining', 'removed'],
  healthy: ['unhealthy', 'draining', 'removed'],
  unhealthy: ['healthy', 'draining', 'removed'],
  draining: ['removed'],
  removed: [],
};

/** What a request needs of a target: a pool connection, one for a streamed upload, or none (a tunnel opens its own). */
export type SlotKind = 'request' | 'stream' | 'tunnel';

/** Something in flight on a target that a drain deadline must be able to end: a request or a tunnel. */
export interface Cancellable {
  cancel(): void;
}

export interface TargetOptions {
  id: string;
  release: number;
  host: string;
  port: number;
  connections: number;
  timeoutMs: number;
}

/**
 * A target whose requests run in data-plane worker processes (src/proxy/workers): they drain and drop
 * their own copies, and a drain here waits for theirs.
 */
export interface RemoteWork {
  /** Resolves with the requests and tunnels the workers cut off at the deadline. */
  drain(timeoutMs: number): Promise<number>;
  destroy(): void;
}

export interface DrainResult {
  /** Requests and tunnels still open at the deadline, cut off. */
  cancelled: number;
}

/** One upstream instance as the proxy sees it: its address, its connection pool and what is in flight. */
export class Target extends EventEmitter<{ idle: []; state: [TargetState]; 'connect-failure': []; room: [] }> {
  readonly id: string;
  readonly release: number;
  readonly host: string;
  readonly port: number;
  readonly pool: Pool;
  state: TargetState = 'adding';
  /** Requests and tunnels in flight (what a drain waits for). */
  inFlight = 0;
  /** Requests holding one of the pool's connections; the pool has `capacity`. */
  busy = 0;
  /** Of those, requests streaming a large body, which may hold at most half of them. */
  streaming = 0;
  readonly capacity: number;
  /** Upper bound on waiting for the instance's response headers (proxy.timeout). */
  readonly timeoutMs: number;
  readonly #active = new Set<Cancellable>();
  /** Set when worker processes carry this target's requests (then `inFlight` is theirs, as last reported). */
  remote: RemoteWork | undefined;

  constructor(o: TargetOptions) {
    super();
    this.id = o.id;
    this.release = o.release;
    this.host = o.host;
    this.port = o.port;
    this.capacity = o.connections;
    this.timeoutMs = o.timeoutMs;
    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    this.pool = new Pool(`http://${host}:${o.port}`, {
      connections: o.connections,
      pipelining: 1,
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      keepAliveTimeout: 4_000,
      connect: { timeout: 5_000 },
    });
  }

  /** The single place where a target changes state. Returns false for a move the machine does not allow. */
  transition(to: TargetState): boolean {
    if (to === this.state) return true;
    if (!allowed[this.state].includes(to)) return false;
    this.state = to;
    this.emit('state', to);
    return true;
  }

  get routable(): boolean {
    return this.state === 'healthy' || this.state === 'unhealthy';
  }

  /**
   * A free connection for one more request. Streamed uploads (slow by nature, or by malice) may hold at
   * most half of them, so ordinary requests always find room.
   */
  hasRoom(kind: SlotKind): boolean {
    if (kind === 'tunnel') return true;
    return this.busy < this.capacity && (kind === 'request' || this.streaming < Math.max(1, this.capacity >> 1));
  }

  occupy(streamed: boolean): void {
    this.busy++;
    if (streamed) this.streaming++;
  }

  vacate(streamed: boolean): void {
    this.busy--;
    if (streamed) this.streaming--;
    this.emit('room');
  }

  track(work: Cancellable): void {
    this.inFlight++;
    this.#active.add(work);
  }

  untrack(work: Cancellable): void {
    if (!this.#active.delete(work)) return;
    this.inFlight--;
    if (this.inFlight === 0) this.emit('idle');
  }

  /**
   * Stop new work, let what is in flight finish until the deadline, then cancel the rest and close the
   * pool. Idempotent: a second call waits for the first.
   */
  drain(timeoutMs: number): Promise<DrainResult> {
    this.#drained ??= this.#drain(timeoutMs);
    return this.#drained;
  }

  #drained: Promise<DrainResult> | undefined;

  async #drain(timeoutMs: number): Promise<DrainResult> {
    this.transition('draining');
    let cancelled = 0;
    // Read after the transition: whoever routes this target hears of the drain through it.
    if (this.remote) {
      cancelled = await this.remote.drain(timeoutMs);
      this.inFlight = 0;
    } else if (this.inFlight > 0) {
      const idle = new Promise<void>((resolve) => this.once('idle', resolve));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([idle, deadline]);
      clearTimeout(timer);
      cancelled = this.#active.size;
      for (const work of [...this.#active]) work.cancel();
    }
    await this.pool.close().catch(() => undefined);
    this.transition('removed');
    return { cancelled };
  }

  /**
   * Immediate removal, for an instance that died: requests still in flight fail as broken connections,
   * so the idempotent ones are sent again to another instance.
   */
  async destroy(): Promise<void> {
    this.transition('removed');
    this.remote?.destroy();
    await this.pool.destroy().catch(() => undefined);
  }
}
