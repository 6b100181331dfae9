import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { ServiceConfig } from '../config/load.ts';
import { openDatabase } from './db.ts';
import { StoreOpenError, Writes, type StoreHealth, type WritesOptions } from './writes.ts';

/** What a release runs: the service's config at deploy time with the deploy's overrides applied. */
export type ReleaseSpec = Omit<ServiceConfig, 'name'>;

export type ReleaseState = 'pending' | 'live' | 'canary' | 'standby' | 'retired' | 'failed';
export type DeploymentKind = 'deploy' | 'rollback' | 'restore';
export type DeploymentStatus = 'running' | 'succeeded' | 'failed' | 'aborted' | 'rolled-back';
export type StepStatus = 'started' | 'done' | 'failed' | 'info';

/** What a release's code was made from (a snapshot of `source`): shown by history and status. */
export interface ReleaseSource {
  /** The folder snapshotted (absolute). */
  dir: string;
  commit: string | null;
  /** Uncommitted changes went into the snapshot; null when the folder is not a git work tree. */
  dirty: boolean | null;
  /** The ref deployed with --git-ref, if any. */
  ref: string | null;
  /** `sha256:<hex>` of the snapshot's content (same tree, same hash). */
  hash: string;
  files: number;
  bytes: number;
}

/** One run of a release's hook (build, release, smoke). */
export interface HookRecord {
  hook: string;
  deployment: number;
  at: number;
  ok: boolean;
  /** "exit 0", "exit 1", "timed out", "cancelled", "skipped (build cache)". */
  outcome: string;
  ms: number;
}

export interface Release {
  id: number;
  service: string;
  number: number;
  version: string;
  spec: ReleaseSpec;
  state: ReleaseState;
  createdAt: number;
  /** The release's own folder (its snapshot): null without `source`. */
  folder: string | null;
  source: ReleaseSource | null;
  hooks: HookRecord[];
  /** The build cache key its build ran with. */
  buildKey: string | null;
  /** When its folder was deleted (keepReleases). */
  prunedAt: number | null;
  /** What it showed while live, recorded when it stopped being live. */
  metrics: ReleaseMetrics | null;
}

export interface ReleaseMetrics {
  requests: number;
  errorRate: number;
  p99Ms: number;
}

export interface Deployment {
  id: number;
  service: string;
  kind: DeploymentKind;
  strategy: string;
  releaseId: number;
  fromReleaseId: number | null;
  status: DeploymentStatus;
  reason: string | null;
  startedAt: number;
  finishedAt: number | null;
}

export interface DeploymentStep {
  at: number;
  step: string;
  status: StepStatus;
  detail: string | null;
}

export interface StoredEvent {
  id: number;
  at: number;
  service: string | null;
  deploymentId: number | null;
  type: string;
  message: string;
}

type Row = Record<string, unknown>;

/** An instance the store says runs (no stop recorded). */
export interface RunningInstance {
  id: string;
  service: string;
  releaseId: number;
  pid: number | null;
  port: number;
  startedAt: number;
  /** Its process's start time (clock ticks since boot, /proc/<pid>/stat), when it was read at spawn. */
  startTime: number | null;
}

function statements(db: DatabaseSync) {
  const p = (sql: string): StatementSync => db.prepare(sql);
  return {
    upsertService: p('INSERT INTO services (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'),
    savePause: p('INSERT INTO pauses (service, since, maintenance) VALUES (?, ?, ?) ON CONFLICT (service) DO UPDATE SET since = excluded.since, maintenance = excluded.maintenance'),
    clearPause: p('DELETE FROM pauses WHERE service = ?'),
    pauses: p('SELECT * FROM pauses'),
    liveRelease: p('SELECT r.* FROM services s JOIN releases r ON r.id = s.live_release_id WHERE s.name = ?'),
    setLive: p('UPDATE services SET live_release_id = ? WHERE name = ?'),
    nextNumber: p('SELECT COALESCE(MAX(number), 0) + 1 AS n FROM releases WHERE service = ?'),
    insertRelease: p('INSERT INTO releases (service, number, version, spec, state, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
    releaseById: p('SELECT * FROM releases WHERE id = ?'),
    releaseByNumber: p('SELECT * FROM releases WHERE service = ? AND number = ?'),
    releases: p('SELECT * FROM releases WHERE service = ? ORDER BY number DESC LIMIT ?'),
    setReleaseState: p('UPDATE releases SET state = ? WHERE id = ?'),
    setReleaseCode: p('UPDATE releases SET folder = ?, source = ?, spec = ? WHERE id = ?'),
    setReleaseHooks: p('UPDATE releases SET hooks = ? WHERE id = ?'),
    setBuildKey: p('UPDATE releases SET build_key = ? WHERE id = ?'),
    setPruned: p('UPDATE releases SET pruned_at = ? WHERE id = ?'),
    setMetrics: p('UPDATE releases SET metrics = ? WHERE id = ?'),
    insertDeployment: p(
      'INSERT INTO deployments (service, kind, strategy, release_id, from_release_id, status, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    finishDeployment: p('UPDATE deployments SET status = ?, reason = ?, finished_at = ? WHERE id = ?'),
    deploymentById: p('SELECT * FROM deployments WHERE id = ?'),
    deployments: p('SELECT * FROM deployments WHERE service = ? ORDER BY id DESC LIMIT ?'),
    unfinished: p("SELECT * FROM deployments WHERE status = 'running'"),
    insertStep: p('INSERT INTO deployment_steps (deployment_id, at, step, status, detail) VALUES (?, ?, ?, ?, ?)'),
    steps: p('SELECT * FROM deployment_steps WHERE deployment_id = ? ORDER BY id'),
    insertEvent: p('INSERT INTO events (at, service, deployment_id, type, message, data) VALUES (?, ?, ?, ?, ?, ?)'),
    events: p('SELECT * FROM events WHERE service = ? ORDER BY id DESC LIMIT ?'),
    insertInstance: p('INSERT INTO instances (id, service, release_id, pid, port, started_at, start_time) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    stopInstance: p('UPDATE instances SET stopped_at = ?, exit = ? WHERE id = ?'),
    runningInstances: p('SELECT * FROM instances WHERE stopped_at IS NULL'),
    instanceCount: p('SELECT COUNT(*) AS n FROM instances WHERE release_id = ?'),
  };
}

/**
 * The daemon's record of services, releases, deployments and events, in one SQLite file. What a failed
 * write means (throw, keep and retry, or drop and count) depends on the write: see Writes.
 */
export class Store {
  readonly db: DatabaseSync;
  readonly file: string;
  readonly #q: ReturnType<typeof statements>;
  readonly #writes: Writes;

  constructor(file: string, o: WritesOptions = {}) {
    this.file = file;
    try {
      this.db = openDatabase(file);
    } catch (err) {
      throw new StoreOpenError(file, err);
    }
    this.#q = statements(this.db);
    this.#writes = new Writes(file, o);
  }

  /** Closes the database, after one last try at the changes not yet written. */
  close(): void {
    this.#writes.close();
    this.db.close();
  }

  health(): StoreHealth {
    return this.#writes.health();
  }

  ensureService(name: string): void {
    this.#writes.need(`service ${name}`, () => this.#q.upsertService.run(name, Date.now()));
  }

  liveRelease(service: string): Release | undefined {
    const row = this.#q.liveRelease.get(service) as Row | undefined;
    return row && toRelease(row);
  }

  /** Never throws: kept and written again until it lands. */
  setLiveRelease(service: string, releaseId: number): void {
    this.#writes.keep(`live:${service}`, `the live release of ${service}`, () => this.#q.setLive.run(releaseId, service));
  }

  createRelease(service: string, version: string | undefined, spec: ReleaseSpec): Release {
    const id = this.#writes.need(`the new release of ${service}`, () => {
      this.#q.upsertService.run(service, Date.now());
      const { n } = this.#q.nextNumber.get(service) as { n: number };
      const label = version ?? `r${n}`;
      return this.#q.insertRelease.run(service, n, label, JSON.stringify(spec), 'pending', Date.now()).lastInsertRowid;
    });
    return this.release(Number(id))!;
  }

  release(id: number): Release | undefined {
    const row = this.#q.releaseById.get(id) as Row | undefined;
    return row && toRelease(row);
  }

  releaseByNumber(service: string, number: number): Release | undefined {
    const row = this.#q.releaseByNumber.get(service, number) as Row | undefined;
    return row && toRelease(row);
  }

  releases(service: string, limit = 50): Release[] {
    return (this.#q.releases.all(service, limit) as Row[]).map(toRelease);
  }

  /** Never throws: kept and written again until it lands. */
  setReleaseState(id: number, state: ReleaseState): void {
    this.#writes.keep(`state:${id}`, `the state (${state}) of release id ${id}`, () => this.#q.setReleaseState.run(state, id));
  }

  /** The release's folder and what it was made from (its spec's cwd points into the folder): needed before it runs. */
  setReleaseCode(id: number, folder: string, source: ReleaseSource, spec: ReleaseSpec): Release {
    this.#writes.need(`the code of release id ${id}`, () => this.#q.setReleaseCode.run(folder, JSON.stringify(source), JSON.stringify(spec), id));
    return this.release(id)!;
  }

  /** Journal: a hook's outcome, for history and status. */
  addReleaseHook(id: number, record: HookRecord): void {
    this.#writes.journal(`the ${record.hook} outcome of release id ${id}`, () => {
      const row = this.#q.releaseById.get(id) as Row | undefined;
      const hooks = row ? parseHooks(row.hooks) : [];
      this.#q.setReleaseHooks.run(JSON.stringify([...hooks, record]), id);
    });
  }

  /** Journal: the cache key a release's build ran with (a later release may reuse its output). */
  setBuildKey(id: number, key: string): void {
    this.#writes.journal(`the build cache key of release id ${id}`, () => this.#q.setBuildKey.run(key, id));
  }

  /** Journal: what a release showed while live. */
  setReleaseMetrics(id: number, metrics: ReleaseMetrics): void {
    this.#writes.journal(`the metrics of release id ${id}`, () => this.#q.setMetrics.run(JSON.stringify(metrics), id));
  }

  /** Never throws: kept until it lands (a pruned folder must not look present). */
  markPruned(id: number): void {
    const at = Date.now();
    this.#writes.keep(`pruned:${id}`, `the deletion of release id ${id}'s folder`, () => this.#q.setPruned.run(at, id));
  }

  startDeployment(d: { service: string; kind: DeploymentKind; strategy: string; releaseId: number; fromReleaseId: number | null }): Deployment {
    const { lastInsertRowid } = this.#writes.need(`the ${d.kind} of ${d.service}`, () =>
      this.#q.insertDeployment.run(d.service, d.kind, d.strategy, d.releaseId, d.fromReleaseId, 'running', Date.now()),
    );
    return this.deployment(Number(lastInsertRowid))!;
  }

  /** Never throws: kept and written again until it lands. */
  finishDeployment(id: number, status: DeploymentStatus, reason: string | null): void {
    const at = Date.now();
    this.#writes.keep(`deployment:${id}`, `the outcome (${status}) of deployment #${id}`, () => this.#q.finishDeployment.run(status, reason, at, id));
  }

  deployment(id: number): Deployment | undefined {
    const row = this.#q.deploymentById.get(id) as Row | undefined;
    return row && toDeployment(row);
  }

  deployments(service: string, limit = 20): Deployment[] {
    return (this.#q.deployments.all(service, limit) as Row[]).map(toDeployment);
  }

  /** Deployments a previous daemon left running when it stopped. */
  unfinishedDeployments(): Deployment[] {
    return (this.#q.unfinished.all() as Row[]).map(toDeployment);
  }

  /** Journal: never throws; returns the step whether or not it could be written. */
  addStep(deploymentId: number, step: string, status: StepStatus, detail?: string): DeploymentStep {
    const at = Date.now();
    this.#writes.journal(`step "${step}" (${status}) of deployment #${deploymentId}`, () => this.#q.insertStep.run(deploymentId, at, step, status, detail ?? null));
    return { at, step, status, detail: detail ?? null };
  }

  steps(deploymentId: number): DeploymentStep[] {
    return (this.#q.steps.all(deploymentId) as Row[]).map((r) => ({
      at: r.at as number,
      step: r.step as string,
      status: r.status as StepStatus,
      detail: r.detail as string | null,
    }));
  }

  /** A service's pause (zdd pause), kept so that a restarted zdd pauses it again. Journal: never throws (the pause holds in memory anyway). */
  savePause(service: string, since: number, maintenance: string | undefined): void {
    this.#writes.journal(`the pause of ${service}`, () => this.#q.savePause.run(service, since, maintenance ?? null));
  }

  /** Journal: never throws. */
  clearPause(service: string): void {
    this.#writes.journal(`the end of the pause of ${service}`, () => this.#q.clearPause.run(service));
  }

  pauses(): { service: string; since: number; maintenance: string | undefined }[] {
    return (this.#q.pauses.all() as Row[]).map((r) => ({ service: r.service as string, since: r.since as number, maintenance: (r.maintenance as string | null) ?? undefined }));
  }

  /** Journal: never throws. */
  addEvent(e: { service?: string; deploymentId?: number; type: string; message: string; data?: unknown }): void {
    this.#writes.journal(`event "${e.message}"`, () =>
      this.#q.insertEvent.run(Date.now(), e.service ?? null, e.deploymentId ?? null, e.type, e.message, e.data === undefined ? null : JSON.stringify(e.data)),
    );
  }

  events(service: string, limit = 50): StoredEvent[] {
    return (this.#q.events.all(service, limit) as Row[]).map((r) => ({
      id: r.id as number,
      at: r.at as number,
      service: r.service as string | null,
      deploymentId: r.deployment_id as number | null,
      type: r.type as string,
      message: r.message as string,
    }));
  }

  /** Journal: never throws. */
  recordInstanceStart(i: { id: string; service: string; releaseId: number; pid: number | undefined; port: number; startTime?: number | undefined }): void {
    this.#writes.journal(`the start of instance ${i.id}`, () => this.#q.insertInstance.run(i.id, i.service, i.releaseId, i.pid ?? null, i.port, Date.now(), i.startTime ?? null));
  }

  /** Journal: never throws. */
  recordInstanceStop(id: string, exit: string): void {
    this.#writes.journal(`the stop of instance ${id}`, () => this.#q.stopInstance.run(Date.now(), exit, id));
  }

  /** Instances ever started for a release: new instance ids continue the count. */
  instanceCount(releaseId: number): number {
    return (this.#q.instanceCount.get(releaseId) as { n: number }).n;
  }

  /** Instances recorded as running: after a crash of the daemon, these are to re-adopt or to reap. */
  runningInstances(): RunningInstance[] {
    return (this.#q.runningInstances.all() as Row[]).map((r) => ({
      id: r.id as string,
      service: r.service as string,
      releaseId: r.release_id as number,
      pid: r.pid as number | null,
      port: r.port as number,
      startedAt: r.started_at as number,
      startTime: (r.start_time as number | null) ?? null,
    }));
  }
}

function toRelease(r: Row): Release {
  return {
    id: r.id as number,
    service: r.service as string,
    number: r.number as number,
    version: r.version as string,
    spec: JSON.parse(r.spec as string) as ReleaseSpec,
    state: r.state as ReleaseState,
    createdAt: r.created_at as number,
    folder: (r.folder as string | null) ?? null,
    source: typeof r.source === 'string' ? (JSON.parse(r.source) as ReleaseSource) : null,
    hooks: parseHooks(r.hooks),
    buildKey: (r.build_key as string | null) ?? null,
    prunedAt: (r.pruned_at as number | null) ?? null,
    metrics: typeof r.metrics === 'string' ? (JSON.parse(r.metrics) as ReleaseMetrics) : null,
  };
}

function parseHooks(v: unknown): HookRecord[] {
  return typeof v === 'string' ? (JSON.parse(v) as HookRecord[]) : [];
}

function toDeployment(r: Row): Deployment {
  return {
    id: r.id as number,
    service: r.service as string,
    kind: r.kind as DeploymentKind,
    strategy: r.strategy as string,
    releaseId: r.release_id as number,
    fromReleaseId: r.from_release_id as number | null,
    status: r.status as DeploymentStatus,
    reason: r.reason as string | null,
    startedAt: r.started_at as number,
    finishedAt: r.finished_at as number | null,
  };
}
