import type { Logger } from 'pino';
import { formatDuration } from '../config/duration.ts';
import type { ServiceConfig } from '../config/load.ts';
import { ReleaseSet, type ReleaseSetContext } from '../release/release-set.ts';
import type { Deployment, Release, StepStatus, Store } from '../store/store.ts';
import type { CanaryVerdict, DeployObserver } from './events.ts';
import { smokeTest } from './prepare.ts';
import type { ActiveDeployment, ServiceState } from './service-state.ts';

export interface EngineParts {
  store: Store;
  log: Logger;
  dataDir: string;
  /** Each deploy first reads TLS certificate files again (a renewed certificate is served from then on). */
  beforeDeploy?: (() => Promise<void>) | undefined;
  /** Hears every deployment and release set (notifications); never awaited. */
  observer?: DeployObserver | undefined;
}

/** The shared steps every strategy is written with; each records itself in the store and reports progress. */
export class DeployContext {
  readonly service: ServiceState;
  readonly active: ActiveDeployment;
  readonly #parts: EngineParts;

  constructor(o: { service: ServiceState; active: ActiveDeployment; parts: EngineParts }) {
    this.service = o.service;
    this.active = o.active;
    this.#parts = o.parts;
  }

  get deployment(): Deployment {
    return this.active.deployment;
  }

  get release(): Release {
    return this.active.release;
  }

  /** The deployment's release as recorded again (it got its folder). */
  setRelease(release: Release): void {
    this.active.release = release;
  }

  get dataDir(): string {
    return this.#parts.dataDir;
  }

  get signal(): AbortSignal {
    return this.active.abort.signal;
  }

  /** The service's current config: replicas, strategy and timeouts come from here, the process from the release. */
  get config(): ServiceConfig {
    return this.service.config;
  }

  get log(): Logger {
    return this.#parts.log;
  }

  get store(): Store {
    return this.#parts.store;
  }

  /**
   * Steps are a journal, not a gate. A step the store cannot write (a full disk) is logged and counted
   * and the deployment carries on: stopping a rollout midway over its paperwork would leave traffic
   * half-moved. What must outlast a restart (the live release, release states, the outcome) the store
   * keeps writing until it lands; what else goes missing is the history of this deployment.
   */
  report(step: string, status: StepStatus, detail?: string): void {
    const s = this.#parts.store.addStep(this.deployment.id, step, status, detail);
    if (status === 'started') this.active.step = step;
    const log = this.#parts.log;
    (status === 'failed' ? log.warn : log.info).call(log, { service: this.service.name, deployment: this.deployment.id, step, status }, detail ?? step);
    for (const l of this.active.listeners) l({ type: 'step', ...s });
  }

  /** The deployment waits for a person: recorded (an event a notifier can pick up) and told to whoever watches. */
  pauseDeployment(reason: string): void {
    this.active.paused = reason;
    this.report('paused', 'info', `${reason}; finish it with zdd promote ${this.service.name} or zdd abort ${this.service.name}`);
    this.#parts.store.addEvent({ service: this.service.name, deploymentId: this.deployment.id, type: 'paused', message: reason });
    for (const l of this.active.listeners) l({ type: 'paused', at: Date.now(), reason });
  }

  resumeDeployment(): void {
    this.active.paused = undefined;
  }

  /** A canary step's analysis decided: counted (metrics), never awaited. */
  verdict(verdict: CanaryVerdict): void {
    this.#parts.observer?.verdict?.(this.service.name, verdict);
  }

  /** Live numbers for whoever watches; not recorded (the step's outcome is). */
  progress(text: string): void {
    for (const l of this.active.listeners) l({ type: 'progress', at: Date.now(), text });
  }

  /** Send traffic to these releases, newest first, weights in percent. */
  split(routes: { set: ReleaseSet; weight: number }[], retryOnOlder = false): void {
    this.service.plane.setSplit(
      routes.map((r) => ({ targets: r.set.targets, weight: r.weight })),
      retryOnOlder,
    );
  }

  newSet(release: Release = this.release): ReleaseSet {
    const ctx: ReleaseSetContext = { service: this.service.name, dataDir: this.#parts.dataDir, store: this.#parts.store, log: this.#parts.log };
    const set = new ReleaseSet(release, ctx);
    set.on('message', (m) => this.report('instance', 'info', m));
    this.#parts.observer?.releaseSet(this.service.name, set);
    return set;
  }

  /** Start `count` instances of the release and wait until all are healthy; nothing gets traffic yet. */
  async startSet(count: number, release: Release = this.release): Promise<ReleaseSet> {
    const set = this.newSet(release);
    this.service.admit(set);
    const t0 = Date.now();
    this.report('start', 'started', `starting ${count} instance(s) of release ${release.number} (${release.version})`);
    try {
      await set.grow(count, this.signal);
    } catch (err) {
      this.service.dismiss(set);
      await set.stop(0);
      this.report('start', 'failed', (err as Error).message);
      throw err;
    }
    this.report('start', 'done', `${count} instance(s) healthy in ${formatDuration(Date.now() - t0)}`);
    try {
      // A new release proves itself before any traffic: its smoke test, once per deploy.
      if (release === this.release) await this.smoke(set);
    } catch (err) {
      this.service.dismiss(set);
      await set.stop(0);
      throw err;
    }
    return set;
  }

  /** The deploy's smoke test against a healthy instance of `set`, before it gets traffic (deploys only, once). */
  async smoke(set: ReleaseSet): Promise<void> {
    if (this.deployment.kind !== 'deploy' || this.#smoked || !this.config.smoke) return;
    this.#smoked = true;
    const member = [...set.members].find((m) => m.target.state === 'healthy');
    if (member) await smokeTest(this, member.target.port);
  }

  #smoked = false;

  /** All traffic to `set` at once and make it the live release; the previous one is kept warm or retired. */
  goLive(set: ReleaseSet, keepPreviousWarmMs: number): void {
    const { service } = this;
    const before = service.live;
    // What the outgoing release showed while live: the reference the next canaries' guard rails use.
    if (before && before !== set) this.#recordMetrics(before);
    this.split([{ set, weight: 100 }]);
    const previous = service.goLive(set);
    this.#parts.store.setLiveRelease(service.name, set.release.id);
    this.#parts.store.setReleaseState(set.release.id, 'live');
    this.report('switch', 'done', `release ${set.release.number} serves all traffic`);
    if (previous) {
      if (keepPreviousWarmMs > 0) this.keepWarm(previous, keepPreviousWarmMs);
      else void this.retire(previous);
    }
  }

  #recordMetrics(set: ReleaseSet): void {
    const v = this.service.plane.stats(set.release.number).view(0);
    if (v.requests === 0 || v.p99Ms === null) return;
    this.#parts.store.setReleaseMetrics(set.release.id, { requests: v.requests, errorRate: v.errors / v.requests, p99Ms: v.p99Ms });
  }

  /** Keep a release running without traffic for `ms`, as the instant-rollback target; then retire it. */
  keepWarm(set: ReleaseSet, ms: number): void {
    const replaced = this.service.park(set, ms, (expired) => void this.retire(expired));
    if (replaced) void this.retire(replaced);
    this.#parts.store.setReleaseState(set.release.id, 'standby');
    this.report('standby', 'info', `release ${set.release.number} stays warm for ${formatDuration(ms)} for an instant rollback`);
  }

  /** Drain (in-flight requests finish, up to drainTimeout) and stop a release that no longer gets traffic. */
  async retire(set: ReleaseSet): Promise<void> {
    const { service } = this;
    if (!service.startRetiring(set)) return;
    const t0 = Date.now();
    await set.stop(this.config.drainTimeout);
    service.retired(set);
    service.plane.forgetStats(set.release.number);
    // Retiring the release this deployment brought means it was rolled back; any other had served its time.
    this.#parts.store.setReleaseState(set.release.id, set.release.id === this.release.id ? 'failed' : 'retired');
    this.#parts.log.info({ service: service.name, release: set.release.number }, `release drained and stopped in ${formatDuration(Date.now() - t0)}`);
  }
}
