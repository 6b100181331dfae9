import { formatListen } from '../config/listen.ts';
import type { CertificateStatus } from '../tls/index.ts';
import type { AnalysisSnapshot, ServiceState } from '../deploy/service-state.ts';
import type { DataPlaneWorker } from '../proxy/data-plane.ts';
import type { ReleaseStatsView } from '../proxy/release-stats.ts';
import type { LogDrops } from '../runtime/log-file.ts';
import type { ReleaseSet } from '../release/release-set.ts';
import type { HookRecord, ReleaseSource } from '../store/store.ts';
import type { StoreHealth } from '../store/writes.ts';

export interface InstanceStatus {
  id: string;
  pid: number | undefined;
  port: number;
  health: string;
  inFlight: number;
  startedAt: number;
  restarts: number;
  /** Output its log file lost (a full disk). */
  logDrops: LogDrops;
}

export interface ReleaseStatus {
  number: number;
  version: string;
  createdAt: number;
  instances: InstanceStatus[];
  traffic: ReleaseStatsView;
  /** What its code was made from (with a source folder), and its hooks' outcomes. */
  source: ReleaseSource | null;
  hooks: HookRecord[];
}

export interface ServiceStatus {
  name: string;
  listen: string;
  strategy: string;
  replicas: number;
  live: ReleaseStatus | null;
  standby: (ReleaseStatus & { until: number }) | null;
  /** Releases started by the deployment in progress that do not yet serve all traffic. */
  incoming: ReleaseStatus[];
  retiring: ReleaseStatus[];
  /** Traffic split, newest release first. */
  split: { release: number; weight: number }[];
  deployment: {
    id: number;
    kind: string;
    strategy: string;
    release: number;
    step: string;
    startedAt: number;
    analysis: AnalysisSnapshot | null;
    /** Why it waits for a person (zdd promote / zdd abort), when it does. */
    paused: string | null;
  } | null;
  /** Log output lost by the instances shown here, together. */
  logDrops: { lines: number; bytes: number };
  /** The data-plane worker processes serving its address (proxy.workers), or null when the daemon serves it itself. */
  workers: DataPlaneWorker[] | null;
  /** Requests the proxy refused itself since zdd started (malformed, too slow, over a limit), by status. */
  rejected: Record<string, number>;
  /** The listen address zdd.yaml names when the proxy does not listen there yet (zdd restart moves it). */
  pendingListen: string | null;
  /** Front-door keys (hosts, paths, tls…) changed in zdd.yaml since the daemon started. */
  pendingFrontDoor: string[] | null;
  /** How the front door routes to it: host names (none: the address's default) and path prefixes. */
  hosts: string[];
  paths: string[];
  /** The certificate served for its hosts (files, ACME, or a self-signed stand-in until ACME succeeds). */
  tls: CertificateStatus | null;
  /** The plain-HTTP listener that redirects to https and answers ACME HTTP-01. */
  redirectHttp: string | null;
  /** zdd pause: since when, and the maintenance text answered with 503 (null: requests are held). */
  paused: { since: number; maintenance: string | null } | null;
  /** Requests waiting for a routable instance or for the end of the pause. */
  held: number;
}

/** What the daemon could not write: behind the warnings of `zdd status`. */
export interface DaemonHealth {
  store: StoreHealth;
  /** Lines of the daemon's own log that could not be written to its stdout. */
  droppedLogLines: number;
}

export function serviceStatus(s: ServiceState): ServiceStatus {
  const release = (set: ReleaseSet): ReleaseStatus => {
    let inFlight = 0;
    const instances = [...set.members].map((m) => {
      inFlight += m.target.inFlight;
      return {
        id: m.instance.id,
        pid: m.instance.pid,
        port: m.target.port,
        health: m.target.state,
        inFlight: m.target.inFlight,
        startedAt: m.instance.startedAt,
        restarts: m.restarts,
        logDrops: m.instance.logFile.drops,
      };
    });
    const r = set.release;
    return { number: r.number, version: r.version, createdAt: r.createdAt, instances, traffic: s.plane.stats(r.number).view(inFlight), source: r.source, hooks: r.hooks };
  };
  const a = s.active;
  const logDrops = { lines: 0, bytes: 0 };
  for (const m of s.sets.flatMap((set) => [...set.members])) {
    const d = m.instance.logFile.drops;
    logDrops.lines += d.lines;
    logDrops.bytes += d.bytes;
  }
  return {
    name: s.name,
    listen: formatListen(s.config.listen),
    rejected: { ...s.plane.rejections },
    workers: s.plane.workers?.() ?? null,
    pendingListen: s.pendingListen ? formatListen(s.pendingListen) : null,
    pendingFrontDoor: s.pendingFrontDoor ? [...s.pendingFrontDoor] : null,
    hosts: [...(s.config.hosts ?? [])],
    paths: [...(s.config.paths ?? [])],
    tls: s.certificate?.() ?? null,
    redirectHttp: s.config.redirectHttp ? formatListen(s.config.redirectHttp) : null,
    paused: s.plane.paused ? { since: s.plane.paused.since, maintenance: s.plane.paused.maintenance ?? null } : null,
    held: s.plane.held,
    strategy: s.config.strategy.type,
    replicas: s.config.replicas,
    live: s.live ? release(s.live) : null,
    standby: s.standby ? { ...release(s.standby.set), until: s.standby.until } : null,
    incoming: [...s.incoming].map(release),
    retiring: [...s.retiring].map(release),
    split: s.plane.table.routes.map((r) => ({ release: r.targets.release, weight: r.weight })),
    deployment: a
      ? {
          id: a.deployment.id,
          kind: a.deployment.kind,
          strategy: a.deployment.strategy,
          release: a.release.number,
          step: a.step,
          startedAt: a.deployment.startedAt,
          analysis: a.analysis ?? null,
          paused: a.paused ?? null,
        }
      : null,
    logDrops,
  };
}
