import { latencyBoundsMs } from '../proxy/latency-histogram.ts';
import type { ReleaseStats } from '../proxy/release-stats.ts';

/** A release's counters since this daemon first saw it, summed over every time it served. */
export interface ReleaseTotals {
  /** Answers by status class, index 1–5 (1xx–5xx). */
  byClass: number[];
  upstreamErrors: number;
  retries: number;
  restarts: number;
  /** Latency bucket counts (not cumulative), the last one above every bound; with their sum (ms) and count. */
  latency: { counts: number[]; sumMs: number; count: number };
}

/**
 * One release of one service as /metrics shows it. The proxy keeps one ReleaseStats per release while it
 * serves and forgets it when the release stops; a release that serves again (a rollback to it) gets a
 * new one. The series holds each of them, so its counters only ever grow for as long as it exists.
 */
export class ReleaseSeries {
  readonly service: string;
  readonly release: number;
  version: string;
  /** Instances that exited while serving (each is replaced). */
  restarts = 0;
  /** When a scrape first found the release no longer running; undefined while it runs. */
  stoppedAt: number | undefined;
  readonly #stats = new Set<ReleaseStats>();

  constructor(service: string, release: number, version: string) {
    this.service = service;
    this.release = release;
    this.version = version;
  }

  /** The proxy's numbers for this release; the same object twice counts once. */
  attach(stats: ReleaseStats): void {
    this.#stats.add(stats);
  }

  totals(): ReleaseTotals {
    const byClass = [0, 0, 0, 0, 0, 0];
    const counts: number[] = new Array<number>(latencyBoundsMs.length + 1).fill(0);
    const t: ReleaseTotals = { byClass, upstreamErrors: 0, retries: 0, restarts: this.restarts, latency: { counts, sumMs: 0, count: 0 } };
    for (const s of this.#stats) {
      for (let i = 0; i < byClass.length; i++) byClass[i]! += s.byClass[i]!;
      t.upstreamErrors += s.connectionErrors;
      t.retries += s.retries;
      for (let i = 0; i < counts.length; i++) counts[i]! += s.latency.counts[i]!;
      t.latency.sumMs += s.latency.sumMs;
      t.latency.count += s.latency.count;
    }
    return t;
  }
}

/**
 * Every release series of the daemon, and how long they outlive their release: a release that stopped
 * stays in the output for `retentionMs` (so the last increments are scraped and graphs end cleanly),
 * then goes, which keeps label cardinality bounded by the releases of the last `retentionMs`.
 */
export class SeriesTable {
  readonly retentionMs: number;
  readonly #series = new Map<string, ReleaseSeries>();

  constructor(retentionMs: number) {
    this.retentionMs = retentionMs;
  }

  /** The series of a release, made when first asked for; a release that runs again is no longer stopped. */
  series(service: string, release: number, version: string): ReleaseSeries {
    const key = `${service}\u0000${release}`;
    let s = this.#series.get(key);
    if (!s) this.#series.set(key, (s = new ReleaseSeries(service, release, version)));
    s.version = version;
    return s;
  }

  /**
   * At a scrape: `running(service, release)` tells whether the release runs now. A release found
   * stopped is marked so; one stopped for longer than the retention is dropped. Returns what remains.
   */
  refresh(running: (service: string, release: number) => boolean, now: number): ReleaseSeries[] {
    for (const [key, s] of this.#series) {
      if (running(s.service, s.release)) s.stoppedAt = undefined;
      else if (s.stoppedAt === undefined) s.stoppedAt = now;
      else if (now - s.stoppedAt > this.retentionMs) this.#series.delete(key);
    }
    return [...this.#series.values()];
  }
}
