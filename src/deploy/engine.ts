import { existsSync } from 'node:fs';
import path from 'node:path';
import { formatDuration } from '../config/duration.ts';
import { formatListen } from '../config/listen.ts';
import type { Config, ServiceConfig } from '../config/load.ts';
import { ZddError } from '../errors.ts';
import type { Deployment, DeploymentKind, Release, ReleaseSpec } from '../store/store.ts';
import { readEnvFile } from '../release/env-file.ts';
import { DeployContext, type EngineParts } from './context.ts';
import { ensureReleaseCode, prepareRelease, pruneReleases, rebuildableFrom, type CodeRequest } from './prepare.ts';
import type { DeployEvent, DeployListener } from './events.ts';
import type { ActiveDeployment, ServiceState } from './service-state.ts';
import type { Strategy, StrategyResult } from './strategy.ts';
import { initial } from './strategies/initial.ts';
import { adoption } from './strategies/adopt.ts';
import type { Adoptee } from '../release/release-set.ts';
import { rollbackStrategy, strategyFor } from './strategies/index.ts';

export interface DeployRequest {
  version?: string;
  env?: Record<string, string>;
  command?: string | string[];
  /** Absolute. Without `source`: where instances run; with it: a folder inside the release. */
  cwd?: string;
  /** Absolute: snapshot this folder instead of the service's `source`. */
  source?: string;
  /** Snapshot this commit of the source instead of its working tree. */
  gitRef?: string;
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
    const sourced = req.source !== undefined || config.source !== undefined;
    if (req.gitRef !== undefined && !sourced) {
      throw new ZddError('BAD_REQUEST', `--git-ref needs a source folder, and ${name} has none`, `set source in zdd.yaml (the folder holding the app's code), or pass --source DIR`);
    }
    const spec: ReleaseSpec = {
      ...withoutName(config),
      command: req.command ?? config.command,
      cwd: releaseCwd(config, req),
      // zdd.yaml's env, then the envFile's values, then --env: recorded with the release.
      env: { ...config.env, ...(config.envFile ? readEnvFile(config.envFile) : {}), ...req.env },
    };
    const release = this.#parts.store.createRelease(name, req.version, spec);
    const strategy = service.live ? strategyFor(config.strategy) : initial;
    const code: CodeRequest = { source: req.source, gitRef: req.gitRef };
    const ready = async (ctx: DeployContext) => {
      if (service.pendingListen) ctx.report('config', 'info', listenNotice(service));
      if (service.pendingFrontDoor) ctx.report('config', 'info', frontDoorNotice(service));
      await this.#parts.beforeDeploy?.().catch((err: unknown) => this.#parts.log.warn({ err }, 'reading TLS certificate files again failed'));
      await prepareRelease(ctx, code);
    };
    return this.#run(service, 'deploy', withCode(strategy, ready), release, listener);
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
    refuseIfCodeGone(target, service.config.keepReleases);
    const strategy = service.live ? rollbackStrategy(service.config.strategy) : initial;
    return this.#run(service, 'rollback', withCode(strategy, ensureReleaseCode), target, listener);
  }

  /** Start the release that was live when the daemon last stopped. */
  restore(name: string, release: Release, listener?: DeployListener): Started {
    return this.#run(this.#service(name), 'restore', withCode(initial, ensureReleaseCode), release, listener);
  }

  /** After a crash of the daemon: serve through the live release's instances that still run, without restarting them. */
  adopt(name: string, release: Release, adoptees: readonly Adoptee[]): Started {
    return this.#run(this.#service(name), 'restore', adoption(adoptees), release);
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
    await Promise.all([
      ...[...this.services.values()].map(async (s) => {
        const sets = s.sets;
        s.unpark();
        s.plane.setSplit([]);
        await Promise.all(sets.map((set) => set.stop(s.config.drainTimeout)));
      }),
      // Notifications of the aborts above get a short grace while releases drain.
      this.#parts.observer?.close(),
    ]);
  }

  #service(name: string): ServiceState {
    const s = this.services.get(name);
    if (!s) throw this.unknownService(name);
    return s;
  }

  /** Why a service name is not one the daemon runs: not in zdd.yaml at all, or added since it started. */
  unknownService(name: string): ZddError {
    const known = [...this.services.keys()].join(', ') || 'none';
    let inFile = false;
    try {
      inFile = this.#loadConfig().services.has(name);
    } catch {
      // A broken zdd.yaml says nothing about it.
    }
    if (inFile) {
      return new ZddError(
        'SERVICE_NOT_RUNNING',
        `${name} is in zdd.yaml but was added after zdd serve started (running: ${known})`,
        'run zdd restart to start it; the services that run now keep serving through the restart',
      );
    }
    return new ZddError('SERVICE_UNKNOWN', `no service named "${name}" in zdd.yaml (services: ${known})`);
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
    service.reconfigure(config);
    if (service.pendingListen) this.#parts.log.warn({ service: service.name }, listenNotice(service));
    if (service.pendingFrontDoor) this.#parts.log.warn({ service: service.name }, frontDoorNotice(service));
    return service.config;
  }

  #run(service: ServiceState, kind: DeploymentKind, strategy: Strategy, release: Release, listener?: DeployListener): Started {
    const { store, log } = this.#parts;
    const from = service.live?.release;
    const deployment = store.startDeployment({ service: service.name, kind, strategy: strategy.name, releaseId: release.id, fromReleaseId: from?.id ?? null });
    const observer = this.#parts.observer?.deployment();
    const listeners = new Set<DeployListener>([observer, listener].filter((l) => l !== undefined));
    const abort = new AbortController();
    const active: ActiveDeployment = { deployment, release, abort, listeners, promote: undefined, step: 'start', analysis: undefined, paused: undefined, done: undefined! };
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
      if (result.status === 'succeeded') pruneReleases(ctx);
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

function frontDoorNotice(s: ServiceState): string {
  return `${s.pendingFrontDoor!.join(', ')} changed in zdd.yaml; the proxy routes as when zdd started: run zdd restart to apply (no request is lost)`;
}

function listenNotice(s: ServiceState): string {
  return `listen is ${formatListen(s.pendingListen!)} in zdd.yaml, but the proxy still listens on ${formatListen(s.config.listen)}: run zdd restart to move it`;
}

/** The strategy, after the release's code is ready (its folder, build and release phase, or its folder checked). */
function withCode(strategy: Strategy, ready: (ctx: DeployContext) => Promise<void>): Strategy {
  return {
    name: strategy.name,
    async run(ctx) {
      await ready(ctx);
      return strategy.run(ctx);
    },
  };
}

/**
 * Where a new release's instances run. Without a source folder: an absolute folder (--cwd, else zdd.yaml's).
 * With one: a folder inside the release (its absolute path is known once the release's folder exists); a
 * --cwd given as a path inside the source folder means the same place inside the release.
 */
function releaseCwd(config: ServiceConfig, req: DeployRequest): string {
  const sourceDir = req.source ?? config.source;
  if (sourceDir === undefined || req.cwd === undefined) return req.cwd ?? config.cwd;
  const rel = path.isAbsolute(req.cwd) ? path.relative(sourceDir, req.cwd) : path.normalize(req.cwd);
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new ZddError('BAD_REQUEST', `--cwd ${req.cwd} is outside the source folder ${sourceDir}`, 'with a source folder, instances run inside the release: give a folder inside it');
  }
  return rel || '.';
}

/** A rollback to a release whose folder was deleted and cannot be made again is refused before it starts. */
function refuseIfCodeGone(r: Release, keepReleases: number): void {
  if (r.folder === null || rebuildableFrom(r)) return;
  if (r.prunedAt === null && existsSync(r.folder)) return;
  throw new ZddError(
    'RELEASE_FOLDER_GONE',
    `release ${r.number} of ${r.service} cannot run again: its folder ${r.folder} was deleted (keepReleases: ${keepReleases}) and no git commit holds its code (it was deployed with uncommitted changes, or outside git)`,
    `deploy that code again (zdd deploy ${r.service}), or raise keepReleases so rollbacks can reach further back`,
  );
}

function withoutName(c: ServiceConfig): Omit<ServiceConfig, 'name'> {
  const { name: _name, ...rest } = c;
  return rest;
}
