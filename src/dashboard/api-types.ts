// The JSON the dashboard's browser code reads: only what it uses, written here without imports so that
// the browser modules (plain JavaScript with JSDoc types) can be type-checked against it with the DOM's
// types (tsc -p src/dashboard). test/dashboard/api-types.test.ts makes the compiler prove that the
// server's own types (src/api/status.ts, the history handler, deploy events) fit these: the page and
// the API cannot drift apart silently.

export type Role = 'read' | 'deploy';

/** GET /v1/whoami. */
export interface WhoAmI {
  name: string | null;
  role: Role;
}

/** The error body of every refused request. */
export interface ApiErrorBody {
  error: { code: string; message: string; hint?: string | undefined };
}

export interface InstanceStatus {
  id: string;
  port: number;
  health: string;
}

export interface TrafficView {
  requestsPerSecond: number;
  errorRate: number | null;
  p99Ms: number | null;
}

export interface ReleaseStatus {
  number: number;
  version: string;
  createdAt: number;
  instances: InstanceStatus[];
  traffic: TrafficView;
}

export interface AnalysisSide {
  requests: number;
  errorRate: number | null;
  p99Ms: number | null;
}

export interface AnalysisStatus {
  at: number;
  outcome: string;
  reason: string;
  canaryWeight: number;
  canary: AnalysisSide;
  stable: AnalysisSide;
  units: { canary: number; stable: number };
  detectable: string;
  heavyHitter: string | null;
  bounds: { errorRate: number | null; p99Ms: number | null };
}

export interface DeploymentStatus {
  id: number;
  kind: string;
  strategy: string;
  release: number;
  step: string;
  startedAt: number;
  analysis: AnalysisStatus | null;
  paused: string | null;
}

export interface ServiceStatus {
  name: string;
  listen: string;
  strategy: string;
  replicas: number;
  live: ReleaseStatus | null;
  standby: ReleaseStatus | null;
  incoming: ReleaseStatus[];
  retiring: ReleaseStatus[];
  split: { release: number; weight: number }[];
  deployment: DeploymentStatus | null;
}

/** GET /v1/status, and each `status` server-sent event. */
export interface StatusJson {
  daemon: { pid: number; startedAt: number; version: string };
  services: ServiceStatus[];
}

export interface DeploymentStep {
  at: number;
  step: string;
  status: string;
  detail: string | null;
}

/** GET /v1/services/:service/history. */
export interface HistoryJson {
  service: string;
  releases: { number: number; version: string; state: string; createdAt: number; command: string; source: { commit: string | null; dirty: boolean | null } | null }[];
  deployments: {
    id: number;
    kind: string;
    strategy: string;
    release: number | null;
    from: number | null;
    status: string;
    reason: string | null;
    startedAt: number;
    finishedAt: number | null;
    steps: DeploymentStep[];
  }[];
}

/** What a deployment reports while it runs (the `event` of a `deployment` server-sent event). */
export type DeployEvent =
  | { type: 'started'; deployment: number }
  | { type: 'step'; at: number; step: string; status: string; detail: string | null }
  | { type: 'progress'; at: number; text: string }
  | { type: 'paused'; at: number; reason: string }
  | { type: 'finished'; deployment: number; status: string; reason: string | null; release: number };

/** A `deployment` server-sent event. */
export interface DeploymentEventJson {
  service: string;
  deployment: number;
  event: DeployEvent;
}
