import type { ListenAddress } from '../config/listen.ts';
import type { ServiceConfig } from '../config/load.ts';
import type { DataPlane } from '../proxy/data-plane.ts';
import type { ReleaseSet } from '../release/release-set.ts';
import type { Deployment, Release } from '../store/store.ts';
import type { DeployEvent, DeployListener } from './events.ts';
import type { CertificateStatus } from '../tls/index.ts';

/** Config keys the front door reads when the daemon starts. */
const frontDoorKeys = ['hosts', 'paths', 'stripPrefix', 'tls', 'redirectHttp', 'hsts'] as const;

/** A deployment in progress: at most one per service. */
export interface ActiveDeployment {
  deployment: Deployment;
  release: Release;
  abort: AbortController;
  listeners: Set<DeployListener>;
  /** Set by strategies that wait for a person (a canary step without pause). */
  promote: ((full: boolean) => boolean) | undefined;
  /** Name of the step running now, for status. */
  step: string;
  /** The canary analysis as last evaluated. */
  analysis: AnalysisSnapshot | undefined;
  /** Why the deployment waits for a person (zdd promote / zdd abort), when it does. */
  paused: string | undefined;
  done: Promise<Extract<DeployEvent, { type: 'finished' }>>;
}

export interface AnalysisSnapshot {
  at: number;
  outcome: string;
  reason: string;
  canaryWeight: number;
  canary: { requests: number; errorRate: number | null; p99Ms: number | null };
  stable: { requests: number; errorRate: number | null; p99Ms: number | null };
  /** Analysis units (clients) in the current step. */
  units: { canary: number; stable: number };
  /** What the data can tell apart so far ("errors within +8 points"). */
  detectable: string;
  heavyHitter: string | null;
  /**
   * The margins drawn against stable's numbers now, for charts: the error rate and p99 a canary may reach
   * before it counts as worse (stable's + maxErrorRateIncrease, at most maxErrorRate; latencyRatio ×
   * stable's p99 and at least latencyMinIncrease more, at most maxP99). The tests decide on clients, not
   * on these lines; null before stable has answered.
   */
  bounds: { errorRate: number | null; p99Ms: number | null };
}

/** The previous release, kept running without traffic so a rollback is a switch, not a start. */
export interface Standby {
  set: ReleaseSet;
  until: number;
}

/**
 * Everything zdd holds about one service while the daemon runs, and the one place its release sets
 * change roles: admitted (starting, not yet serving all traffic) → live → parked (warm standby) →
 * retiring (draining) → gone. Readers get read-only views; every change is a named transition.
 */
export class ServiceState {
  readonly name: string;
  readonly plane: DataPlane;
  #config: ServiceConfig;
  #live: ReleaseSet | undefined;
  #standby: (Standby & { timer: NodeJS.Timeout }) | undefined;
  readonly #retiring = new Set<ReleaseSet>();
  readonly #incoming = new Set<ReleaseSet>();
  #active: ActiveDeployment | undefined;
  #pendingListen: ListenAddress | undefined;
  #pendingFrontDoor: readonly string[] | undefined;
  /** The certificate served for this service's hosts, when it has tls (the daemon's certificate store). */
  certificate: (() => CertificateStatus | undefined) | undefined;

  constructor(config: ServiceConfig, plane: DataPlane) {
    this.name = config.name;
    this.#config = config;
    this.plane = plane;
  }

  get config(): ServiceConfig {
    return this.#config;
  }

  /** The release serving all traffic (outside a rollout), if any. */
  get live(): ReleaseSet | undefined {
    return this.#live;
  }

  get standby(): Standby | undefined {
    return this.#standby && { set: this.#standby.set, until: this.#standby.until };
  }

  /** Sets started by the deployment in progress that do not serve all traffic yet (canary, rolling). */
  get incoming(): ReadonlySet<ReleaseSet> {
    return this.#incoming;
  }

  /** Sets being drained and stopped. */
  get retiring(): ReadonlySet<ReleaseSet> {
    return this.#retiring;
  }

  get active(): ActiveDeployment | undefined {
    return this.#active;
  }

  /** Every release set the service holds, whatever its role. */
  get sets(): ReleaseSet[] {
    const all = new Set([this.#live, this.#standby?.set, ...this.#incoming, ...this.#retiring]);
    return [...all].filter((s) => s !== undefined);
  }

  /** zdd.yaml as read again for a deploy (listen stays what the daemon bound); proxy limits apply at once. */
  reconfigure(config: ServiceConfig): void {
    const bound = this.#config;
    this.#pendingListen = config.listen.host !== bound.listen.host || config.listen.port !== bound.listen.port ? config.listen : undefined;
    // How the front door routes to the service is set when the daemon starts, like listen.
    const changed: string[] = frontDoorKeys.filter((k) => JSON.stringify(config[k]) !== JSON.stringify(bound[k]));
    // So are the data-plane processes that serve it.
    if (config.proxy.workers !== bound.proxy.workers) changed.push('proxy.workers');
    this.#pendingFrontDoor = changed.length > 0 ? changed : undefined;
    const kept = Object.fromEntries(frontDoorKeys.map((k) => [k, bound[k]]));
    const proxy = { ...config.proxy, workers: bound.proxy.workers };
    this.#config = { ...config, ...kept, listen: bound.listen, proxy };
    this.plane.configure(proxy);
  }

  /** Front-door keys (hosts, paths, tls…) that zdd.yaml changed since the daemon started: they need zdd restart. */
  get pendingFrontDoor(): readonly string[] | undefined {
    return this.#pendingFrontDoor;
  }

  /** A listen address zdd.yaml names now but the proxy does not listen on yet (it needs zdd restart). */
  get pendingListen(): ListenAddress | undefined {
    return this.#pendingListen;
  }

  begin(active: ActiveDeployment): void {
    this.#active = active;
  }

  end(active: ActiveDeployment): void {
    if (this.#active === active) this.#active = undefined;
  }

  /** A set the deployment starts: it gets traffic only through the split. */
  admit(set: ReleaseSet): void {
    this.#incoming.add(set);
  }

  /** A set that failed to start, or was never used: no role any more. */
  dismiss(set: ReleaseSet): void {
    this.#incoming.delete(set);
  }

  /** `set` is now the live release; returns the one it replaces. */
  goLive(set: ReleaseSet): ReleaseSet | undefined {
    const previous = this.#live;
    this.#incoming.delete(set);
    this.#live = set;
    return previous === set ? undefined : previous;
  }

  /**
   * Keep `set` warm for `ms` as the instant-rollback target, then hand it to `expire`. Returns the
   * standby it replaces (to be retired by the caller).
   */
  park(set: ReleaseSet, ms: number, expire: (set: ReleaseSet) => void): ReleaseSet | undefined {
    const replaced = this.#takeStandby();
    const timer = setTimeout(() => {
      if (this.#standby?.set !== set) return;
      this.#standby = undefined;
      expire(set);
    }, ms);
    timer.unref();
    this.#standby = { set, until: Date.now() + ms, timer };
    return replaced;
  }

  /** The warm standby, no longer parked (an instant rollback makes it live again). */
  unpark(): ReleaseSet | undefined {
    return this.#takeStandby();
  }

  /** `set` starts draining; false when it already is. */
  startRetiring(set: ReleaseSet): boolean {
    if (this.#retiring.has(set)) return false;
    this.#retiring.add(set);
    this.#incoming.delete(set);
    return true;
  }

  retired(set: ReleaseSet): void {
    this.#retiring.delete(set);
  }

  #takeStandby(): ReleaseSet | undefined {
    const s = this.#standby;
    if (!s) return undefined;
    clearTimeout(s.timer);
    this.#standby = undefined;
    return s.set;
  }
}
