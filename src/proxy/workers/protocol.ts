import type { ListenAddress } from '../../config/listen.ts';
import type { ServiceSpec } from '../../config/schema.ts';
import type { TargetOptions, TargetState } from '../target.ts';

// What the daemon and its data-plane worker processes say to each other over the IPC channel
// (child_process, advanced serialization). The daemon owns the listening sockets, the instances, their
// health and the deploys; a worker owns the client connections the daemon hands it and proxies their
// requests. Everything a worker knows it was told here, so a replacement worker can be told it again.

type ProxyConfig = ServiceSpec['proxy'];

/** One service on the worker's address, as its front door routes to it. */
export interface WorkerService {
  name: string;
  listen: ListenAddress;
  hosts: string[];
  paths: string[];
  stripPrefix: boolean;
  proxy: ProxyConfig;
}

/** An instance as the worker's proxy needs it: where it is, how many connections (this worker's share), and its state. */
export interface TargetSpec extends TargetOptions {
  state: TargetState;
}

export interface RouteSpec {
  release: number;
  weight: number;
  targets: TargetSpec[];
}

export type ToWorker =
  | { type: 'init'; index: number; count: number; services: WorkerService[]; secret: Uint8Array; holdCap?: number }
  /** A client connection for this worker (the socket travels with the message). */
  | { type: 'connection'; id: number }
  /** The service's split, or a change of its instances: the whole table, newest release first. */
  | { type: 'routes'; service: string; routes: RouteSpec[]; retryOnOlder: boolean }
  | { type: 'drain'; seq: number; service: string; target: string; timeoutMs: number }
  | { type: 'destroy'; service: string; target: string }
  | { type: 'forget-stats'; service: string; release: number }
  | { type: 'configure'; service: string; proxy: ProxyConfig }
  | { type: 'pause'; service: string; maintenance?: string }
  | { type: 'resume'; service: string }
  /** Handing over to the next daemon: each connection closes after its next response. */
  | { type: 'stop-accepting' }
  | { type: 'connections-closed'; seq: number; deadlineMs: number }
  /** Stopping: idle keep-alive connections close now, busy ones after their response. */
  | { type: 'close-idle' }
  | { type: 'close-all' }
  /** Send what is recorded now, then answer. */
  | { type: 'flush'; seq: number };

/** Attempts recorded, flattened: `recordFields` numbers each (see AttemptFlags). */
export const recordFields = 6;

/** Bits of a record's flags field. */
export const AttemptFlags = {
  connectionError: 1,
  forced: 2,
  /** A re-send of a request another attempt failed. */
  retry: 8,
  /** Routed by a sticky bucket drawn just now. */
  fresh: 16,
  /** Not an attempt: a retry counted against the release (status and latency unused). */
  retryCount: 32,
} as const;

export interface WorkerReport {
  type: 'report';
  /** Per service, in the order of init's services: [serviceIndex, release, status, latencyMs, flags, bucket (−1: none)] × n. */
  records: number[];
  /** Requests the worker's proxies answered themselves, per service and status. */
  rejections: [service: string, status: number, count: number][];
  /** In flight per instance, per service: [service, target id, count]. */
  inFlight: [string, string, number][];
  /** Event-loop delay since the last report (ms): mean, p99, max; absent when too few samples. */
  loop?: { mean: number; p99: number; max: number };
  /** Its resident memory (bytes), in the periodic report. */
  rss?: number;
}

export type FromWorker =
  | { type: 'ready' }
  | WorkerReport
  /** The connection arrived (the daemon sends the next one only then). */
  | { type: 'took'; id: number }
  | { type: 'closed'; id: number }
  | { type: 'held'; service: string; count: number }
  | { type: 'connect-failure'; service: string; target: string }
  | { type: 'drained'; seq: number; cancelled: number }
  | { type: 'connections-closed'; seq: number }
  | { type: 'flushed'; seq: number }
  | { type: 'log'; line: string };
