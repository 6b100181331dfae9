import type { CanaryVerdict, DeployListener, DeployObserver } from '../deploy/events.ts';
import type { ServiceState } from '../deploy/service-state.ts';
import type { ReleaseSet } from '../release/release-set.ts';
import type { SeriesTable } from './release-series.ts';

/** Counts under a fixed set of label values (a few per service: strategies × outcomes, verdicts). */
export class LabelledCounts<L extends string> {
  readonly #counts = new Map<string, { labels: Record<L, string>; value: number }>();

  inc(labels: Record<L, string>): void {
    const key = JSON.stringify(labels);
    const c = this.#counts.get(key);
    if (c) c.value++;
    else this.#counts.set(key, { labels, value: 1 });
  }

  entries(): { labels: Record<L, string>; value: number }[] {
    return [...this.#counts.values()];
  }
}

/**
 * The engine's side of /metrics, heard through its DeployObserver hook: deployments by strategy and
 * outcome, canary verdicts, and for every release set it makes, the proxy's numbers (taken now, so a
 * release that serves and stops between two scrapes still shows) and its instances' restarts.
 */
export class MetricsObserver implements DeployObserver {
  readonly deployments = new LabelledCounts<'service' | 'strategy' | 'outcome'>();
  readonly verdicts = new LabelledCounts<'service' | 'verdict'>();
  readonly #table: SeriesTable;
  readonly #services: ReadonlyMap<string, ServiceState>;

  constructor(table: SeriesTable, services: ReadonlyMap<string, ServiceState>) {
    this.#table = table;
    this.#services = services;
  }

  deployment(): DeployListener {
    let started: { service: string; strategy: string; restore: boolean } | undefined;
    return (e) => {
      if (e.type === 'started') started = { service: e.service, strategy: e.strategy, restore: e.kind === 'restore' };
      // A restore (the daemon bringing back what was live) is not a deployment anyone asked for.
      else if (e.type === 'finished' && started && !started.restore) this.deployments.inc({ service: started.service, strategy: started.strategy, outcome: e.status });
    };
  }

  releaseSet(service: string, set: ReleaseSet): void {
    const series = this.#table.series(service, set.release.number, set.release.version);
    const plane = this.#services.get(service)?.plane;
    if (plane) series.attach(plane.stats(set.release.number));
    set.on('crash', () => void series.restarts++);
  }

  verdict(service: string, verdict: CanaryVerdict): void {
    this.verdicts.inc({ service, verdict });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
