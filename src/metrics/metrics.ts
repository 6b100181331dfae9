import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
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
interface Row {
  series: ReleaseSeries;
  totals: ReleaseTotals;
  gauges: ReleaseGauges | undefined;
}

const codeClasses = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/**
 * The daemon's Prometheus metrics (GET /metrics): prom-client's process and Node.js metrics, and zdd's
 * own per service and release. Everything is read at scrape time from numbers the proxy and the engine
 * keep anyway; the data plane's only extra work is the status-class and latency-bucket counts.
 */
export class DaemonMetrics {
  readonly contentType: string = Registry.PROMETHEUS_CONTENT_TYPE;
  /** Hand to the deploy engine (with the other observers). */
  readonly observer: DeployObserver;
  readonly #services: ReadonlyMap<string, ServiceState>;
  readonly #table: SeriesTable;
  readonly #registry = new Registry();
  #rows: Row[] = [];

  constructor(o: MetricsOptions) {
    this.#services = o.services;
    this.#table = new SeriesTable(o.retentionMs ?? defaultRetentionMs);
    const observer = new MetricsObserver(this.#table, o.services);
    this.observer = observer;
    collectDefaultMetrics({ register: this.#registry });

    const registers = [this.#registry];
    const perRelease = ['service', 'release'] as const;
    // Each family is filled from the rows of the scrape under way (see render).
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (inc: (labels: Record<L, string>, v: number) => void) => void) => {
      const c: Counter<L> = new Counter<L>({
        name,
        help,
        labelNames,
        registers,
        collect: () => {
          c.reset();
          fill((labels, v) => c.inc(labels, v));
        },
      });
    };
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (set: (labels: Record<L, string>, v: number) => void) => void) => {
      const g: Gauge<L> = new Gauge<L>({
        name,
        help,
        labelNames,
        registers,
        collect: () => {
          g.reset();
          fill((labels, v) => g.set(labels, v));
        },
      });
    };
    const rel = (r: Row) => ({ service: r.series.service, release: String(r.series.release) });

    counter('zdd_requests_total', 'Requests a release answered, by status class (per upstream attempt; connection failures are in zdd_upstream_errors_total).', [...perRelease, 'code_class'], (inc) => {
      for (const r of this.#rows) {
        codeClasses.forEach((code_class, i) => {
          const v = r.totals.byClass[i + 1]!;
          if (v > 0 || code_class !== '1xx') inc({ ...rel(r), code_class }, v);
        });
      }
    });
    counter('zdd_upstream_errors_total', 'Attempts on a release that got no response: connection refused or broken, or timed out.', perRelease, (inc) => {
      for (const r of this.#rows) inc(rel(r), r.totals.upstreamErrors);
    });
    counter('zdd_retries_total', 'Attempts on a release that failed and were sent again (to another instance, or to the stable release).', perRelease, (inc) => {
      for (const r of this.#rows) inc(rel(r), r.totals.retries);
    });
    counter('zdd_instance_restarts_total', 'Instances of a release that exited while serving (each is replaced).', perRelease, (inc) => {
      for (const r of this.#rows) inc(rel(r), r.totals.restarts);
    });
    gauge('zdd_requests_in_flight', 'Requests (and WebSocket tunnels) a release is answering now.', perRelease, (set) => {
      for (const r of this.#rows) set(rel(r), r.gauges?.inFlight ?? 0);
    });
    gauge('zdd_instances', 'Running instances of a release.', perRelease, (set) => {
      for (const r of this.#rows) set(rel(r), r.gauges?.instances ?? 0);
    });
    gauge('zdd_instances_healthy', 'Instances of a release passing their health checks.', perRelease, (set) => {
      for (const r of this.#rows) set(rel(r), r.gauges?.healthy ?? 0);
    });
    gauge('zdd_traffic_weight', "Share of the service's traffic the split sends to a release, from 0 to 1.", perRelease, (set) => {
      for (const r of this.#rows) set(rel(r), r.gauges?.weight ?? 0);
    });
    gauge('zdd_release_info', "A release's version and state (live, incoming, standby, retiring, stopped); always 1.", [...perRelease, 'version', 'state'], (set) => {
      for (const r of this.#rows) set({ ...rel(r), version: r.series.version, state: r.gauges?.role ?? 'stopped' }, 1);
    });
    counter('zdd_deployments_total', 'Deployments (deploys and rollbacks; not restores at start) by strategy and outcome.', ['service', 'strategy', 'outcome'], (inc) => {
      for (const c of observer.deployments.entries()) inc(c.labels, c.value);
    });
    counter('zdd_canary_verdicts_total', 'Canary analysis decisions: pass (the step moves on), fail (rolled back), inconclusive (the deployment paused).', ['service', 'verdict'], (inc) => {
      for (const c of observer.verdicts.entries()) inc(c.labels, c.value);
    });
    counter('zdd_proxy_refused_total', 'Requests the proxy answered itself (malformed, too slow, over a limit, no route), by status: they count against no release.', ['service', 'status'], (inc) => {
      for (const s of this.#services.values()) {
        for (const [status, v] of Object.entries(s.plane.rejections)) inc({ service: s.name, status }, v);
      }
    });
  }

  /** The text exposition of everything, as of now. */
  async render(now = Date.now()): Promise<string> {
    this.#rows = this.#scrape(now);
    // Every collect() runs synchronously inside metrics(), on the rows just taken.
    const text = await this.#registry.metrics();
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
