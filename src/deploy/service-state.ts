import type { ServiceConfig } from '../config/load.ts';
import type { DataPlane } from '../proxy/data-plane.ts';
import type { ReleaseSet } from '../runtime/release-set.ts';
import type { Deployment, Release } from '../store/store.ts';
import type { DeployEvent, DeployListener } from './events.ts';

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
  done: Promise<Extract<DeployEvent, { type: 'finished' }>>;
}

export interface AnalysisSnapshot {
  at: number;
  outcome: string;
  reason: string;
  canaryWeight: number;
  canary: { requests: number; errorRate: number | null; p99Ms: number | null };
  stable: { requests: number; errorRate: number | null; p99Ms: number | null };
}

/** The previous release, kept running without traffic so a rollback is a switch, not a start. */
export interface Standby {
  set: ReleaseSet;
  until: number;
  timer: NodeJS.Timeout;
}

/** Everything zdd holds about one service while the daemon runs. */
export class ServiceState {
  readonly name: string;
  config: ServiceConfig;
  readonly plane: DataPlane;
  live: ReleaseSet | undefined;
  standby: Standby | undefined;
  /** Releases being drained and stopped. */
  readonly retiring = new Set<ReleaseSet>();
  /** Sets started by the deployment in progress that do not serve all traffic yet (canary, rolling). */
  readonly incoming = new Set<ReleaseSet>();
  active: ActiveDeployment | undefined;

  constructor(config: ServiceConfig, plane: DataPlane) {
    this.name = config.name;
    this.config = config;
    this.plane = plane;
  }
}
