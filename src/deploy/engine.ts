import { formatDuration } from '../config/duration.ts';
import type { Config, ServiceConfig } from '../config/load.ts';
import { ZddError } from '../errors.ts';
import type { Deployment, DeploymentKind, Release, ReleaseSpec } from '../store/store.ts';
import { DeployContext, type EngineParts } from './context.ts';
import type { DeployEvent, DeployListener } from './events.ts';
import type { ActiveDeployment, ServiceState } from './service-state.ts';
import type { Strategy, StrategyResult } from './strategy.ts';
import { initial } from './strategies/initial.ts';
import { rollbackStrategy, strategyFor } from './strategies/index.ts';

export interface DeployRequest {
  version?: string;
  env?: Record<string, string>;
  command?: string | string[];
  /** Absolute. */
  cwd?: string;
}

export interface Started {
  deployment: Deployment;
  /** Resolves when the deployment has finished, whatever the outcome. */
  done: Promise<Extract<DeployEvent, { type: 'finished' }>>;
}

/** Runs deployments: one at a time per service, each a strategy over a DeployContext, all recorded. */
export class DeployEngine {
  readonly services: Map<string, ServiceState>;
  readonly #parts: EngineParts;
  readonly #loadConfig: () => Config;
  /** Why deployments are refused right now (shutting down, restarting), if they are. */
  #refusing: string | undefined;

  constructor(parts: EngineParts, services: Map<string, ServiceState>, loadConfig: () => Config) {
    this.#parts = parts;
    this.services = services;
    this.#loadConfig = loadConfig;
  }

  /** A new release from the service's config (read again now) with the request's overrides. */
  deploy(name: string, req: DeployRequest, listener?: DeployListener): Started {
    const service = this.#service(name);
    this.#refuseIfBusy(service);
    const config = this.#freshConfig(service);
    const spec: ReleaseSpec = {
      ...withoutName(config),
      command: req.command ?? config.command,
      cwd: req.cwd ?? config.cwd,
      env: { ...config.env, ...req.env },
    };
    const release = this.#parts.store.createRelease(name, req.version, spec);
    const strategy = service.live ? strategyFor(config.strategy) : initial;
    return this.#run(service, 'deploy', strategy, release, listener);
  }

  /**
   * Back to the previous release: a switch when it is still warm, otherwise a blue-green deploy of it.
   * `to` names a release number instead.
   */
  rollback(name: string, to: number | undefined, listener?: DeployListener): Started {
    const service = this.#service(name);
    this.#refuseIfBusy(service);
    const { store } = this.#parts;
    const live = service.live?.release;
    const standby = service.standby;
    if (standby && (to === undefined || standby.set.release.number === to)) {
      const instant: Strategy = {
        name: 'instant',
        async run(ctx) {
          service.unpark();
          ctx.report('switch', 'started', `release ${standby.set.release.number} is warm: switching back`);
          ctx.goLive(standby.set, 0);
          return { status: 'succeeded' };
        },
      };
      return this.#run(service, 'rollback', instant, standby.set.release, listener);
    }
    let target: Release | undefined;
    if (to !== undefined) {
      target = store.releaseByNumber(name, to);
      if (!target) throw new ZddError('RELEASE_UNKNOWN', `${name} has no release ${to}`, `see the releases with: zdd history ${name}`);
    } else {
      const last = store.deployments(name, 50).find((d) => d.status === 'succeeded' && d.releaseId === live?.id);
      target = last?.fromReleaseId ? store.release(last.fromReleaseId) : undefined;
      if (!target) throw new ZddError('NOTHING_TO_ROLL_BACK', `${name} has no previous release to roll back to`, `deploy a release with: zdd deploy ${name}`);
    }
    if (target.id === live?.id) throw new ZddError('NOTHING_TO_ROLL_BACK', `release ${target.number} of ${name} is already live`);
    return this.#run(service, 'rollback', service.live ? rollbackStrategy(service.config.strategy) : initial, target, listener);
  }

  /** Start the release that was live when the daemon last stopped. */
  restore(name: string, release: Release, listener?: DeployListener): Started {
    return this.#run(this.#service(name), 'restore', initial, release, listener);
  }

  promote(name: string, full: boolean): string {
    const active = this.#service(name).active;
    if (!active) throw new ZddError('NO_DEPLOYMENT', `no deployment of ${name} is in progress`);
    if (!active.promote?.(full)) {
      throw new ZddError('NOT_WAITING', `deployment #${active.deployment.id} of ${name} is not waiting for promotion (step: ${active.step})`);
    }
    return `deployment #${active.deployment.id} promoted${full ? ' to 100%' : ''}`;
  }

  abort(name: string, reason = 'aborted by user'): Promise<Extract<DeployEvent, { type: 'finished' }>> {
    const active = this.#service(name).active;
    if (!active) throw new ZddError('NO_DEPLOYMENT', `no deployment of ${name} is in progress`);
    active.abort.abort(new ZddError('DEPLOY_ABORTED', reason));
    return active.done;
  }

  /** Follow the deployment in progress (for a second client). */
  follow(name: string, listener: DeployListener): ActiveDeployment | undefined {
    const active = this.#service(name).active;
    active?.listeners.add(listener);
    return active;
  }

  /** Daemon shutdown: abort what runs, then drain and stop every release of every service. */
  /** Refuse new deployments for now (a restart hands over to the next daemon). */
  pause(reason: string): void {
    this.#refusing = reason;
  }

  resume(): void {
    this.#refusing = undefined;
  }

  async shutdown(): Promise<void> {
    this.#refusing = 'zdd is shutting down';
    const running = [...this.services.values()].flatMap((s) => (s.active ? [this.abort(s.name, 'zdd is shutting down')] : []));
    await Promise.allSettled(running);
    await Promise.all(
      [...this.services.values()].map(async (s) => {
        const sets = s.sets;
        s.unpark();
        s.plane.setSplit([]);
        await Promise.all(sets.map((set) => set.stop(s.config.drainTimeout)));
      }),
    );
  }

  #service(name: string): ServiceState {
    const s = this.services.get(name);
    if (!s) {
      const known = [...this.services.keys()].join(', ') || 'none';
      throw new ZddError('SERVICE_UNKNOWN', `no service named "${name}" in zdd.yaml (services: ${known})`);
    }
    return s;
  }

  #refuseIfBusy(service: ServiceState): void {
    if (this.#refusing) throw new ZddError('DAEMON_STOPPING', this.#refusing, 'try again in a moment');
    const a = service.active;
    if (!a) return;
    const age = formatDuration(Date.now() - a.deployment.startedAt);
    throw new ZddError(
      'DEPLOY_IN_PROGRESS',
      `${service.name} is busy: deployment #${a.deployment.id} (${a.deployment.kind} of release ${a.release.number}, ${a.deployment.strategy}) started ${age} ago and is at step "${a.step}"`,
      `wait for it (zdd status ${service.name}) or stop it with: zdd abort ${service.name}`,
    );
  }

  /** The service's config as zdd.yaml says now; listen changes need a restart of the daemon. */
  #freshConfig(service: ServiceState): ServiceConfig {
    const config = this.#loadConfig().services.get(service.name);
    if (!config) throw new ZddError('SERVICE_UNKNOWN', `service "${service.name}" is no longer in zdd.yaml`);
    if (config.listen.host !== service.config.listen.host || config.listen.port !== service.config.listen.port) {
      this.#parts.log.warn({ service: service.name }, 'listen changed in zdd.yaml: restart zdd serve to apply it');
    }
    service.reconfigure(config);
    return service.config;
  }

  #run(service: ServiceState, kind: DeploymentKind, strategy: Strategy, release: Release, listener?: DeployListener): Started {
    const { store, log } = this.#parts;
    const from = service.live?.release;
    const deployment = store.startDeployment({ service: service.name, kind, strategy: strategy.name, releaseId: release.id, fromReleaseId: from?.id ?? null });
    const listeners = new Set<DeployListener>(listener ? [listener] : []);
    const abort = new AbortController();
    const active: ActiveDeployment = { deployment, release, abort, listeners, promote: undefined, step: 'start', analysis: undefined, done: undefined! };
    service.begin(active);
    const started: DeployEvent = {
      type: 'started',
      service: service.name,
      deployment: deployment.id,
      kind,
      strategy: strategy.name,
      release: { number: release.number, version: release.version },
      from: from ? { number: from.number, version: from.version } : null,
    };
    for (const l of listeners) l(started);
    store.addEvent({ service: service.name, deploymentId: deployment.id, type: kind, message: `${kind} of release ${release.number} (${release.version}) started, ${strategy.name}` });
    const ctx = new DeployContext({ service, active, parts: this.#parts });

    active.done = (async () => {
      let result: StrategyResult;
      try {
        result = await strategy.run(ctx);
      } catch (err) {
        const aborted = abort.signal.aborted;
        const reason = aborted ? (abort.signal.reason as Error).message : (err as Error).message;
        result = { status: aborted ? 'aborted' : 'failed', reason };
      }
      const reason = result.status === 'succeeded' ? (result.reason ?? null) : result.reason;
      store.finishDeployment(deployment.id, result.status, reason);
      if (result.status !== 'succeeded' && kind === 'deploy') store.setReleaseState(release.id, 'failed');
      const summary = `${kind} of release ${release.number} ${result.status}${reason ? `: ${reason}` : ''}`;
      store.addEvent({ service: service.name, deploymentId: deployment.id, type: result.status, message: summary });
      (result.status === 'succeeded' ? log.info : log.error).call(log, { service: service.name, deployment: deployment.id }, summary);
      service.end(active);
      const finished = { type: 'finished', deployment: deployment.id, status: result.status, reason, release: release.number } as const;
      for (const l of listeners) l(finished);
      return finished;
    })();
    return { deployment, done: active.done };
  }
}

function withoutName(c: ServiceConfig): Omit<ServiceConfig, 'name'> {
  const { name: _name, ...rest } = c;
  return rest;
}
