import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import type { DeployObserver } from '../deploy/events.ts';
import type { ServiceState } from '../deploy/service-state.ts';
import { latencyBoundsMs } from '../proxy/latency-histogram.ts';
import { histogramText } from './histogram-text.ts';
import { MetricsObserver } from './observer.ts';
import { releaseGauges, type ReleaseGauges } from './release-gauges.ts';
import { SeriesTable, type ReleaseSeries, type ReleaseTotals } from './release-series.ts';

/** How long a release that stopped keeps its series in /metrics. */
export const defaultRetentionMs = 10 * 60_000;

export interface MetricsOptions {
  /** The daemon's services (the engine's map): read at each scrape. */
  services: ReadonlyMap<string, ServiceState>;
  retentionMs?: number;
}

/** The retention: ZDD_METRICS_RETENTION_MS (for tests, which cannot wait 10 minutes), else 10 minutes. */
export function retentionFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.ZDD_METRICS_RETENTION_MS);
  return env.ZDD_METRICS_RETENTION_MS !== undefined && Number.isFinite(v) && v >= 0 ? v : defaultRetentionMs;
}

/** One release at one scrape: its counters, and its gauges when it runs. */
export interface Row {
  series: ReleaseSeries;
  totals: ReleaseTotals;
  gauges: ReleaseGauges | undefined;
}

/**
 * The daemon's Prometheus metrics (GET /metrics): prom-client's process and Node.js metrics, and zdd's
 * own per service and release. Everything is read at scrape time from numbers the proxy and the engine
 * keep anyway; the data plane's only extra work is the status-class and latency-bucket counts.
 */
export class DaemonMetrics {
  /** prom-client's Registry.PROMETHEUS_CONTENT_TYPE. */
  readonly contentType: string = 'text/plain; version=0.0.4; charset=utf-8';
  /** Hand to the deploy engine (with the other observers). */
  readonly observer: DeployObserver;
  readonly #observer: MetricsObserver;
  readonly #services: ReadonlyMap<string, ServiceState>;
  readonly #table: SeriesTable;
  #registry: Promise<Registry> | undefined;
  #rows: Row[] = [];

  constructor(o: MetricsOptions) {
    this.#services = o.services;
    this.#table = new SeriesTable(o.retentionMs ?? defaultRetentionMs);
    this.#observer = new MetricsObserver(this.#table, o.services);
    this.observer = this.#observer;
  }

  /** The text exposition of everything, as of now. */
  async render(now = Date.now()): Promise<string> {
    // prom-client (and the process and Node.js metrics it samples) is loaded at the first scrape: a
    // daemon nobody scrapes does without it. zdd's own counts (deployments, verdicts, the proxy's
    // numbers) are kept from the start all the same.
    this.#registry ??= import('./registry.ts').then(
      async ({ zddRegistry }) => {
        const registry = zddRegistry({ rows: () => this.#rows, services: this.#services, observer: this.#observer });
        // The event-loop delay is sampled from now on, every millisecond: a few samples, or the first
        // scrape would say NaN.
        await sleep(5);
        return registry;
      },
      (err: unknown) => {
        this.#registry = undefined;
        throw err;
      },
    );
    const registry = await this.#registry;
    this.#rows = this.#scrape(now);
    // Every collect() runs synchronously inside metrics(), on the rows just taken.
    const text = await registry.metrics();
    const latency = histogramText(
      'zdd_request_duration_seconds',
      'Time from sending a request to a release to the end of its response (per upstream attempt).',
      this.#rows.map((r) => ({
        labels: { service: r.series.service, release: String(r.series.release) },
        bounds: latencySeconds,
        counts: r.totals.latency.counts,
        sum: r.totals.latency.sumMs / 1000,
      })),
    );
    // prom-client writes NaN as "Nan" (before the event loop monitor has a sample): Go and Python read it, stricter parsers do not.
    return `${text.replace(/ Nan$/gm, ' NaN')}\n${latency}`;
  }

  #scrape(now: number): Row[] {
    const gauges = new Map<string, Map<number, ReleaseGauges>>();
    for (const s of this.#services.values()) {
      const g = releaseGauges(s);
      gauges.set(s.name, g);
      // The proxy starts a fresh ReleaseStats when a release that stopped serves again: keep counting on it.
      for (const [n, v] of g) this.#table.series(s.name, n, v.version).attach(s.plane.stats(n));
    }
    const series = this.#table.refresh((service, release) => gauges.get(service)?.has(release) === true, now);
    return series
      .map((series) => ({ series, totals: series.totals(), gauges: gauges.get(series.service)?.get(series.release) }))
      .sort((a, b) => a.series.service.localeCompare(b.series.service) || a.series.release - b.series.release);
  }
}

const latencySeconds = latencyBoundsMs.map((ms) => ms / 1000);
