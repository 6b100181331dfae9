import { ReleaseSample } from '../analysis/window.ts';
import { LatencyHistogram } from './latency-histogram.ts';

/** Window over which live rates and p99 are shown: the current slice plus the previous one. */
const sliceMs = 5_000;

export interface ReleaseStatsView {
  release: number;
  requests: number;
  errors: number;
  connectionErrors: number;
  /** Of `requests`, those a trusted tester forced onto this release (never part of canary analysis). */
  forced: number;
  inFlight: number;
  /** Over the last 5–10 s. */
  requestsPerSecond: number;
  errorRate: number | null;
  p99Ms: number | null;
}

/**
 * What the proxy saw of one release: totals since it started serving and a sliding view of the last
 * seconds. Recording is O(1): it runs on every request.
 */
export class ReleaseStats {
  readonly release: number;
  requests = 0;
  errors = 0;
  connectionErrors = 0;
  forced = 0;
  /** Answers by status class: `byClass[2]` counts 2xx (index 1–5; a connection error has no status and counts in none). */
  readonly byClass = new Float64Array(6);
  /** Attempts on this release that failed and were sent again (to another instance, or to the stable release). */
  retries = 0;
  /** Every attempt's latency, cumulative (Prometheus' histogram). */
  readonly latency = new LatencyHistogram();
  #current = new ReleaseSample();
  #previous = new ReleaseSample();
  #sliceStart: number;
  #previousStart: number;

  constructor(release: number, now = Date.now()) {
    this.release = release;
    this.#sliceStart = now;
    this.#previousStart = now;
  }

  /** An attempt on this release failed and is sent again. */
  countRetry(): void {
    this.retries++;
  }

  record(status: number, latencyMs: number, connectionError: boolean, forced = false): void {
    const ok = !connectionError && status < 500;
    this.requests++;
    if (forced) this.forced++;
    if (!ok) this.errors++;
    if (connectionError) this.connectionErrors++;
    else if (status >= 100 && status < 600) this.byClass[(status / 100) | 0]!++;
    this.latency.record(latencyMs);
    this.#rotate(Date.now());
    this.#current.record(ok, latencyMs);
  }

  view(inFlight: number, now = Date.now()): ReleaseStatsView {
    this.#rotate(now);
    const requests = this.#current.requests + this.#previous.requests;
    const errors = this.#current.errors + this.#previous.errors;
    const seconds = Math.max(1, now - this.#previousStart) / 1000;
    const p99 = Math.max(this.#current.quantile(0.99) ?? 0, this.#previous.quantile(0.99) ?? 0);
    return {
      release: this.release,
      requests: this.requests,
      errors: this.errors,
      connectionErrors: this.connectionErrors,
      forced: this.forced,
      inFlight,
      requestsPerSecond: requests / seconds,
      errorRate: requests > 0 ? errors / requests : null,
      p99Ms: requests > 0 ? p99 : null,
    };
  }

  #rotate(now: number): void {
    if (now - this.#sliceStart < sliceMs) return;
    const idle = now - this.#sliceStart >= 2 * sliceMs;
    this.#previous = idle ? new ReleaseSample() : this.#current;
    this.#previousStart = idle ? now - sliceMs : this.#sliceStart;
    this.#current = new ReleaseSample();
    this.#sliceStart = now;
  }
}

/** A service's numbers, one ReleaseStats per release, made when first asked for. */
export class StatsByRelease {
  readonly #byRelease = new Map<number, ReleaseStats>();

  get(release: number): ReleaseStats {
    let s = this.#byRelease.get(release);
    if (!s) this.#byRelease.set(release, (s = new ReleaseStats(release)));
    return s;
  }

  forget(release: number): void {
    this.#byRelease.delete(release);
  }
}
