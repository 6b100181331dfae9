import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { ServiceConfig } from '../config/load.ts';
import { openDatabase } from './db.ts';

/** What a release runs: the service's config at deploy time with the deploy's overrides applied. */
export type ReleaseSpec = Omit<ServiceConfig, 'name'>;

export type ReleaseState = 'pending' | 'live' | 'canary' | 'standby' | 'retired' | 'failed';
export type DeploymentKind = 'deploy' | 'rollback' | 'restore';
export type DeploymentStatus = 'running' | 'succeeded' | 'failed' | 'aborted' | 'rolled-back';
export type StepStatus = 'started' | 'done' | 'failed' | 'info';

export interface Release {
  id: number;
  service: string;
  number: number;
  version: string;
  spec: ReleaseSpec;
  state: ReleaseState;
  createdAt: number;
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

function statements(db: DatabaseSync) {
  const p = (sql: string): StatementSync => db.prepare(sql);
  return {
    upsertService: p('INSERT INTO services (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'),
    liveRelease: p('SELECT r.* FROM services s JOIN releases r ON r.id = s.live_release_id WHERE s.name = ?'),
    setLive: p('UPDATE services SET live_release_id = ? WHERE name = ?'),
    nextNumber: p('SELECT COALESCE(MAX(number), 0) + 1 AS n FROM releases WHERE service = ?'),
    insertRelease: p('INSERT INTO releases (service, number, version, spec, state, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
    releaseById: p('SELECT * FROM releases WHERE id = ?'),
    releaseByNumber: p('SELECT * FROM releases WHERE service = ? AND number = ?'),
    releases: p('SELECT * FROM releases WHERE service = ? ORDER BY number DESC LIMIT ?'),
    setReleaseState: p('UPDATE releases SET state = ? WHERE id = ?'),
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
    insertInstance: p('INSERT INTO instances (id, service, release_id, pid, port, started_at) VALUES (?, ?, ?, ?, ?, ?)'),
    stopInstance: p('UPDATE instances SET stopped_at = ?, exit = ? WHERE id = ?'),
    runningInstances: p('SELECT * FROM instances WHERE stopped_at IS NULL'),
    instanceCount: p('SELECT COUNT(*) AS n FROM instances WHERE release_id = ?'),
  };
}

/** The daemon's record of services, releases, deployments and events, in one SQLite file. */
export class Store {
  readonly db: DatabaseSync;
  readonly #q: ReturnType<typeof statements>;

  constructor(file: string) {
    this.db = openDatabase(file);
    this.#q = statements(this.db);
  }

  close(): void {
    this.db.close();
  }

  ensureService(name: string): void {
    this.#q.upsertService.run(name, Date.now());
  }

  liveRelease(service: string): Release | undefined {
    const row = this.#q.liveRelease.get(service) as Row | undefined;
    return row && toRelease(row);
  }

  setLiveRelease(service: string, releaseId: number): void {
    this.#q.setLive.run(releaseId, service);
  }

  createRelease(service: string, version: string | undefined, spec: ReleaseSpec): Release {
    this.ensureService(service);
    const { n } = this.#q.nextNumber.get(service) as { n: number };
    const label = version ?? `r${n}`;
    const { lastInsertRowid } = this.#q.insertRelease.run(service, n, label, JSON.stringify(spec), 'pending', Date.now());
    return this.release(Number(lastInsertRowid))!;
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

  setReleaseState(id: number, state: ReleaseState): void {
    this.#q.setReleaseState.run(state, id);
  }

  startDeployment(d: { service: string; kind: DeploymentKind; strategy: string; releaseId: number; fromReleaseId: number | null }): Deployment {
    const { lastInsertRowid } = this.#q.insertDeployment.run(d.service, d.kind, d.strategy, d.releaseId, d.fromReleaseId, 'running', Date.now());
    return this.deployment(Number(lastInsertRowid))!;
  }

  finishDeployment(id: number, status: DeploymentStatus, reason: string | null): void {
    this.#q.finishDeployment.run(status, reason, Date.now(), id);
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

  addStep(deploymentId: number, step: string, status: StepStatus, detail?: string): DeploymentStep {
    const at = Date.now();
    this.#q.insertStep.run(deploymentId, at, step, status, detail ?? null);
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

  addEvent(e: { service?: string; deploymentId?: number; type: string; message: string; data?: unknown }): void {
    this.#q.insertEvent.run(Date.now(), e.service ?? null, e.deploymentId ?? null, e.type, e.message, e.data === undefined ? null : JSON.stringify(e.data));
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

  recordInstanceStart(i: { id: string; service: string; releaseId: number; pid: number | undefined; port: number }): void {
    this.#q.insertInstance.run(i.id, i.service, i.releaseId, i.pid ?? null, i.port, Date.now());
  }

  recordInstanceStop(id: string, exit: string): void {
    this.#q.stopInstance.run(Date.now(), exit, id);
  }

  /** Instances ever started for a release: new instance ids continue the count. */
  instanceCount(releaseId: number): number {
    return (this.#q.instanceCount.get(releaseId) as { n: number }).n;
  }

  /** Instances recorded as running: after a crash of the daemon, these may be orphans to reap. */
  runningInstances(): { id: string; pid: number | null }[] {
    return (this.#q.runningInstances.all() as Row[]).map((r) => ({ id: r.id as string, pid: r.pid as number | null }));
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
  };
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
