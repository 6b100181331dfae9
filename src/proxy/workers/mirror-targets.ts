import { ReleaseTargets } from '../release-targets.ts';
import type { ServiceProxy } from '../service-proxy.ts';
import { Target, type TargetState } from '../target.ts';
import type { RouteSpec, TargetSpec } from './protocol.ts';

/** What the worker reports of one service's instances. */
export interface MirrorSink {
  /** Passive health: a connection to the instance was refused. */
  connectFailure(target: string): void;
}

/**
 * A worker's copy of one service's instances, as the daemon describes them: each instance its own
 * connection pool here, its state as the daemon's health checks decide. Drains and removals come as
 * their own messages, so a request in flight here is finished (or cut off at the deadline) here.
 */
export class MirrorTargets {
  readonly #service: string;
  readonly #proxy: ServiceProxy;
  readonly #sink: MirrorSink;
  readonly #targets = new Map<string, Target>();
  readonly #releases = new Map<number, ReleaseTargets>();

  constructor(service: string, proxy: ServiceProxy, sink: MirrorSink) {
    this.#service = service;
    this.#proxy = proxy;
    this.#sink = sink;
  }

  setRoutes(routes: RouteSpec[], retryOnOlder: boolean): void {
    const split = routes.map((r) => {
      const set = this.#releaseTargets(r.release);
      this.#reconcile(set, r.targets);
      return { targets: set, weight: r.weight };
    });
    this.#proxy.setSplit(split, retryOnOlder);
  }

  /** Finish what is in flight on the instance, up to the deadline; resolves with what was cut off. */
  async drain(id: string, timeoutMs: number): Promise<number> {
    const target = this.#targets.get(id);
    if (!target) return 0;
    const { cancelled } = await target.drain(timeoutMs);
    this.#forget(target);
    return cancelled;
  }

  destroy(id: string): void {
    const target = this.#targets.get(id);
    if (!target) return;
    void target.destroy();
    this.#forget(target);
  }

  inFlight(): [string, number][] {
    return [...this.#targets.values()].map((t) => [t.id, t.inFlight]);
  }

  #releaseTargets(release: number): ReleaseTargets {
    let set = this.#releases.get(release);
    if (!set) this.#releases.set(release, (set = new ReleaseTargets(release)));
    return set;
  }

  #reconcile(set: ReleaseTargets, specs: TargetSpec[]): void {
    const wanted = new Set(specs.map((s) => s.id));
    for (const t of [...set.targets]) {
      if (wanted.has(t.id)) continue;
      // Gone from the daemon's list without a drain here (it died): what is in flight fails over.
      if (t.state !== 'draining') void t.destroy();
      if (t.state === 'removed') this.#forget(t);
    }
    for (const spec of specs) {
      let target = this.#targets.get(spec.id);
      if (!target) {
        target = new Target(spec);
        const id = spec.id;
        target.on('connect-failure', () => this.#sink.connectFailure(id));
        this.#targets.set(id, target);
        set.add(target);
      }
      follow(target, spec.state);
    }
  }

  #forget(target: Target): void {
    this.#targets.delete(target.id);
    const set = this.#releases.get(target.release);
    if (!set) return;
    set.remove(target);
    if (set.targets.length === 0 && !this.#proxy.table.routes.some((r) => r.targets === set)) this.#releases.delete(target.release);
  }
}

/** The daemon's health checks decide; draining and removal come as drain and destroy. */
function follow(target: Target, state: TargetState): void {
  if (state === 'healthy' || state === 'unhealthy' || state === 'draining') target.transition(state);
}
