import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { NetworkSet } from '../../config/networks.ts';
import type { ServiceSpec } from '../../config/schema.ts';
import { writeHead, type ClientRequest, type ClientResponse } from '../client-exchange.ts';
import type { DataPlane, DataPlaneWorker } from '../data-plane.ts';
import type { ServiceSite } from '../front-door.ts';
import type { Pause } from '../hold.ts';
import { listenerSettingsOf, type ListenerSettings } from '../listener.ts';
import { endWithStatus } from '../raw-response.ts';
import { StatsByRelease, type ReleaseStats } from '../release-stats.ts';
import { emptyTable, type Route, type RouteTable } from '../route-table.ts';
import type { Target } from '../target.ts';
import { AttemptFlags, type RouteSpec, type TargetSpec, type ToWorker } from './protocol.ts';

type ProxyConfig = ServiceSpec['proxy'];
type Observer = DataPlane['observer'];

/** What a service's stand-in needs of its worker group. */
export interface WorkerChannel {
  /** Worker processes in the group (each holds its share of an instance's connections). */
  readonly size: number;
  broadcast(m: ToWorker): void;
  processes(): DataPlaneWorker[];
  sync(): Promise<void>;
  drain(service: string, target: string, timeoutMs: number): Promise<number>;
}

/**
 * A service whose requests run in data-plane worker processes, as the deploy engine, status and
 * metrics see it: the split it sets is told to every worker, and the workers' records come back here
 * and are merged into one set of numbers per release (what canary analysis reads).
 */
export class RemotePlane implements DataPlane, ServiceSite {
  readonly service: string;
  table: RouteTable = emptyTable;
  observer: Observer;
  readonly rejections: Record<number, number> = {};
  onListenerSettings: (() => void) | undefined;
  readonly #channel: WorkerChannel;
  readonly #stats = new StatsByRelease();
  readonly #targets = new Map<string, Target>();
  #config: ProxyConfig;
  #trusted: NetworkSet;
  #pause: Pause | undefined;
  /** Held requests, by worker. */
  readonly #held = new Map<number, number>();
  #unwatch: (() => void)[] = [];

  constructor(service: string, channel: WorkerChannel, config: ProxyConfig) {
    this.service = service;
    this.#channel = channel;
    this.#config = config;
    this.#trusted = new NetworkSet(config.trustedNetworks);
  }

  get listenerSettings(): ListenerSettings {
    return listenerSettingsOf(this.#config, this.#trusted);
  }

  configure(config: ProxyConfig): void {
    this.#config = config;
    this.#trusted = new NetworkSet(config.trustedNetworks);
    this.#channel.broadcast({ type: 'configure', service: this.service, proxy: config });
    this.onListenerSettings?.();
  }

  setSplit(routes: Route[], retryOnOlder = false): void {
    this.table = { routes, retryOnOlder };
    for (const off of this.#unwatch) off();
    // A change of any routed instance (healthy, unhealthy, added, gone) goes to the workers as a new table.
    this.#unwatch = routes.map((r) => r.targets.watch(() => this.#publish()));
    this.#publish();
  }

  stats(release: number): ReleaseStats {
    return this.#stats.get(release);
  }

  forgetStats(release: number): void {
    this.#stats.forget(release);
    this.#channel.broadcast({ type: 'forget-stats', service: this.service, release });
  }

  get paused(): Pause | undefined {
    return this.#pause;
  }

  pause(maintenance?: string, since?: number): Pause {
    this.#pause = { since: since ?? this.#pause?.since ?? Date.now(), maintenance };
    this.#channel.broadcast({ type: 'pause', service: this.service, ...(maintenance !== undefined ? { maintenance } : {}) });
    return this.#pause;
  }

  resume(): boolean {
    const was = this.#pause !== undefined;
    this.#pause = undefined;
    this.#channel.broadcast({ type: 'resume', service: this.service });
    return was;
  }

  get held(): number {
    let n = 0;
    for (const v of this.#held.values()) n += v;
    return n;
  }

  readonly workers = (): DataPlaneWorker[] => this.#channel.processes();
  readonly sync = (): Promise<void> => this.#channel.sync();

  countRefusal(status: number): void {
    this.rejections[status] = (this.rejections[status] ?? 0) + 1;
  }

  /** Everything a (new) worker must be told of this service to serve it as the others do. */
  replay(): ToWorker[] {
    const out: ToWorker[] = [{ type: 'configure', service: this.service, proxy: this.#config }];
    if (this.#pause) out.push({ type: 'pause', service: this.service, ...(this.#pause.maintenance !== undefined ? { maintenance: this.#pause.maintenance } : {}) });
    out.push(this.#routes());
    return out;
  }

  // What workers report.

  /** One attempt a worker recorded (protocol.ts's record layout). */
  applyRecord(release: number, status: number, latencyMs: number, flags: number, bucket: number): void {
    const stats = this.stats(release);
    if (flags & AttemptFlags.retryCount) return stats.countRetry();
    const connectionError = (flags & AttemptFlags.connectionError) !== 0;
    const forced = (flags & AttemptFlags.forced) !== 0;
    stats.record(status, latencyMs, connectionError, forced);
    // As ServiceProxy does: what a trusted client forced onto a release is not analysed.
    if (!forced) {
      this.observer?.({
        release,
        status: connectionError ? 0 : status,
        latencyMs,
        retry: (flags & AttemptFlags.retry) !== 0,
        routing: bucket >= 0 ? { bucket, fresh: (flags & AttemptFlags.fresh) !== 0 } : undefined,
      });
    }
  }

  addRejections(status: number, count: number): void {
    this.rejections[status] = (this.rejections[status] ?? 0) + count;
  }

  setHeld(worker: number, count: number): void {
    if (count === 0) this.#held.delete(worker);
    else this.#held.set(worker, count);
  }

  /** In-flight counts of the instances, summed over the workers. */
  setInFlight(target: string, count: number): void {
    const t = this.#targets.get(target);
    if (t) t.inFlight = count;
  }

  connectFailure(target: string): void {
    this.#targets.get(target)?.emit('connect-failure');
  }

  /** The front door hands this address's connections to the workers: nothing reaches here. */
  handle(_req: ClientRequest, res: ClientResponse): void {
    writeHead(res, 500, undefined, { 'content-length': 0 });
    res.end();
  }

  upgrade(_req: IncomingMessage, socket: Duplex): void {
    endWithStatus(socket, 500, 'served by the data-plane workers');
  }

  #publish(): void {
    this.#channel.broadcast(this.#routes());
  }

  #routes(): ToWorker {
    const routes: RouteSpec[] = this.table.routes.map((r) => ({ release: r.targets.release, weight: r.weight, targets: r.targets.targets.map((t) => this.#spec(t)) }));
    return { type: 'routes', service: this.service, routes, retryOnOlder: this.table.retryOnOlder };
  }

  #spec(t: Target): TargetSpec {
    if (!this.#targets.has(t.id)) {
      this.#targets.set(t.id, t);
      const service = this.service;
      t.remote = {
        drain: (timeoutMs) => this.#channel.drain(service, t.id, timeoutMs),
        destroy: () => this.#channel.broadcast({ type: 'destroy', service, target: t.id }),
      };
      const forget = (state: string) => {
        if (state !== 'removed') return;
        t.off('state', forget);
        this.#targets.delete(t.id);
      };
      t.on('state', forget);
    }
    // Each worker keeps its own pool: together they hold about `connections` to the instance.
    const connections = Math.max(1, Math.floor(t.capacity / this.#channel.size));
    return { id: t.id, release: t.release, host: t.host, port: t.port, connections, timeoutMs: t.timeoutMs, state: t.state };
  }
}
