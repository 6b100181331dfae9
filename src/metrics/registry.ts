import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { ServiceState } from '../deploy/service-state.ts';
import type { DataPlaneWorker } from '../proxy/data-plane.ts';
import type { Row } from './metrics.ts';
import type { MetricsObserver } from './observer.ts';

// The Prometheus families of /metrics (but the latency histogram, see histogram-text.ts): prom-client's
// process and Node.js metrics, and zdd's own per service and release. Loaded by DaemonMetrics at the
// first scrape.

const codeClasses = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

export interface RegistrySource {
  /** The rows of the scrape under way: every collect() reads them. */
  rows: () => readonly Row[];
  services: ReadonlyMap<string, ServiceState>;
  observer: MetricsObserver;
}

export function zddRegistry({ rows, services, observer }: RegistrySource): Registry {
  const registry = new Registry();
  // Event-loop delay sampled every millisecond (prom-client's default is 10 ms, which hides short
  // stalls); each scrape reports the delays since the one before.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1 });
  const registers = [registry];
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
    for (const r of rows()) {
      codeClasses.forEach((code_class, i) => {
        const v = r.totals.byClass[i + 1]!;
        if (v > 0 || code_class !== '1xx') inc({ ...rel(r), code_class }, v);
      });
    }
  });
  counter('zdd_upstream_errors_total', 'Attempts on a release that got no response: connection refused or broken, or timed out.', perRelease, (inc) => {
    for (const r of rows()) inc(rel(r), r.totals.upstreamErrors);
  });
  counter('zdd_retries_total', 'Attempts on a release that failed and were sent again (to another instance, or to the stable release).', perRelease, (inc) => {
    for (const r of rows()) inc(rel(r), r.totals.retries);
  });
  counter('zdd_instance_restarts_total', 'Instances of a release that exited while serving (each is replaced).', perRelease, (inc) => {
    for (const r of rows()) inc(rel(r), r.totals.restarts);
  });
  gauge('zdd_requests_in_flight', 'Requests (and WebSocket tunnels) a release is answering now.', perRelease, (set) => {
    for (const r of rows()) set(rel(r), r.gauges?.inFlight ?? 0);
  });
  gauge('zdd_instances', 'Running instances of a release.', perRelease, (set) => {
    for (const r of rows()) set(rel(r), r.gauges?.instances ?? 0);
  });
  gauge('zdd_instances_healthy', 'Instances of a release passing their health checks.', perRelease, (set) => {
    for (const r of rows()) set(rel(r), r.gauges?.healthy ?? 0);
  });
  gauge('zdd_traffic_weight', "Share of the service's traffic the split sends to a release, from 0 to 1.", perRelease, (set) => {
    for (const r of rows()) set(rel(r), r.gauges?.weight ?? 0);
  });
  gauge('zdd_release_info', "A release's version and state (live, incoming, standby, retiring, stopped); always 1.", [...perRelease, 'version', 'state'], (set) => {
    for (const r of rows()) set({ ...rel(r), version: r.series.version, state: r.gauges?.role ?? 'stopped' }, 1);
  });
  counter('zdd_deployments_total', 'Deployments (deploys and rollbacks; not restores at start) by strategy and outcome.', ['service', 'strategy', 'outcome'], (inc) => {
    for (const c of observer.deployments.entries()) inc(c.labels, c.value);
  });
  counter('zdd_canary_verdicts_total', 'Canary analysis decisions: pass (the step moves on), fail (rolled back), inconclusive (the deployment paused).', ['service', 'verdict'], (inc) => {
    for (const c of observer.verdicts.entries()) inc(c.labels, c.value);
  });
  // Data-plane workers (proxy.workers), per service whose address they serve.
  const workers = (fill: (labels: { service: string; worker: string }, w: DataPlaneWorker) => void) => {
    for (const s of services.values()) for (const w of s.plane.workers?.() ?? []) fill({ service: s.name, worker: String(w.worker) }, w);
  };
  gauge('zdd_proxy_worker_connections', 'Client connections a data-plane worker serves now.', ['service', 'worker'], (set) => workers((l, w) => set(l, w.connections)));
  gauge('zdd_proxy_worker_event_loop_delay_p99_seconds', "A data-plane worker's event-loop delay over its last second, 99th percentile.", ['service', 'worker'], (set) =>
    workers((l, w) => {
      if (w.loopDelayMs) set(l, w.loopDelayMs.p99 / 1000);
    }),
  );
  gauge('zdd_proxy_worker_resident_memory_bytes', "A data-plane worker's resident memory (RSS).", ['service', 'worker'], (set) =>
    workers((l, w) => {
      if (w.rssBytes !== null) set(l, w.rssBytes);
    }),
  );
  counter('zdd_proxy_refused_total', 'Requests the proxy answered itself (malformed, too slow, over a limit, no route), by status: they count against no release.', ['service', 'status'], (inc) => {
    for (const s of services.values()) {
      for (const [status, v] of Object.entries(s.plane.rejections)) inc({ service: s.name, status }, v);
    }
  });
  return registry;
}
