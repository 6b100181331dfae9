import type { ServiceSpec } from '../config/schema.ts';
import type { Pause } from './hold.ts';
import type { ReleaseStats } from './release-stats.ts';
import type { Route, RouteTable } from './route-table.ts';

/**
 * Called for every attempt an upstream answered or failed: what canary analysis is fed. Requests a tester
 * forced onto a release, and failures that were the client's, are not reported.
 */
export type RequestObserver = (o: ObservedRequest) => void;

/**
 * Every request that starts and every attempt and retry a ServiceProxy records, as plain numbers: how a
 * data-plane worker tells the daemon (which merges them into its stats and its observer) without an
 * object per request.
 */
export interface AttemptRecorder {
  started(): void;
  /** `bucket`: the sticky bucket it was routed by during a split (`fresh`: drawn just now), if any. */
  attempt(release: number, status: number, latencyMs: number, connectionError: boolean, forced: boolean, retry: boolean, bucket: number | undefined, fresh: boolean): void;
  /** An attempt on this release failed and is sent again. */
  retry(release: number): void;
}

export interface ObservedRequest {
  release: number;
  /** The upstream's status; 0 when the connection failed. */
  status: number;
  latencyMs: number;
  /** A re-send of a request another attempt failed (a canary failure answered by stable). */
  retry: boolean;
  /** How the request was routed during a split (its bucket, and whether it was drawn just now). */
  routing: { bucket: number; fresh: boolean } | undefined;
}

/** Requests the proxy answered itself (client errors and limits), by status: they count against no release. */
export type Rejections = Record<number, number>;

export type ProxyConfig = ServiceSpec['proxy'];

/**
 * What the deploy engine needs from the proxy of one service, and nothing more: set the traffic split,
 * read per-release numbers, and watch every request (for canary analysis).
 */
export interface DataPlane {
  readonly table: RouteTable;
  /** Newest release first; weights in percent adding up to 100. Atomic for every request. */
  setSplit(routes: Route[], retryOnOlder?: boolean): void;
  stats(release: number): ReleaseStats;
  forgetStats(release: number): void;
  observer: RequestObserver | undefined;
  /** Requests the proxy answered itself (client errors and limits), by status: they count against no release. */
  readonly rejections: Rejections;
  /** Limits, timeouts and trusted networks for new requests (the service's `proxy` settings). */
  configure(config: ProxyConfig): void;
  /** zdd pause: new requests wait (or, in maintenance, get 503 with the text) until resume(). The store keeps it across restarts. */
  readonly paused: Pause | undefined;
  /** `since`: when it began (a pause restored after a restart of zdd); default now, or the pause's own if already paused. */
  pause(maintenance?: string, since?: number): Pause;
  /** False when it was not paused. */
  resume(): boolean;
  /** Requests waiting for a routable instance or for the end of a pause. */
  readonly held: number;
  /** Data-plane worker processes carrying the requests (proxy.workers); absent when the daemon serves them itself. */
  readonly workers?: () => DataPlaneWorker[];
  /** Resolves once the workers' records so far have arrived (a reading that must count every answered request). */
  readonly sync?: () => Promise<void>;
}

/** One data-plane worker process, as status shows it. */
export interface DataPlaneWorker {
  worker: number;
  pid: number | null;
  /** Client connections it serves now. */
  connections: number;
  /** Its event loop's delay over the last second (ms), once it has reported. */
  loopDelayMs: { mean: number; p99: number; max: number } | null;
  /** Its resident memory (RSS, bytes), once it has reported. */
  rssBytes: number | null;
}
