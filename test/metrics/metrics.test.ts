// DaemonMetrics over a real ServiceProxy, real upstreams, a real store and release sets: what the proxy
// answered shows per release, by class and in the latency histogram; the engine's hook counts
// deployments and verdicts; stopped releases go after the retention; the whole output parses.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { loadConfig, type ServiceConfig } from '../../src/config/load.ts';
import type { DeployEvent } from '../../src/deploy/events.ts';
import { ServiceState } from '../../src/deploy/service-state.ts';
import { DaemonMetrics, retentionFromEnv } from '../../src/metrics/metrics.ts';
import { ReleaseSet } from '../../src/release/release-set.ts';
import { Store } from '../../src/store/store.ts';
import { checkExposition, parseWithPython, valueOf, type Sample } from '../helpers/prometheus.ts';
import { makeTarget, refusedPort, send, startProxy, startUpstream, type RunningProxy, type Upstream } from '../helpers/upstream.ts';

const log = pino({ level: 'silent' });

describe('DaemonMetrics', () => {
  let dir: string;
  let store: Store;
  let config: ServiceConfig;
  let upstream: Upstream;
  let running: RunningProxy;
  let service: ServiceState;
  let metrics: DaemonMetrics;
  const retentionMs = 60_000;

  /** A release set of a new release of web, known to metrics as the engine makes it known, admitted, routed to `port`. */
  const releaseSet = (version: string, port: number): ReleaseSet => {
    const { name: _name, ...spec } = config;
    const release = store.createRelease('web', version, spec);
    const set = new ReleaseSet(release, { service: 'web', dataDir: dir, store, log });
    metrics.observer.releaseSet('web', set);
    service.admit(set);
    set.targets.add(makeTarget(port, { release: release.number }));
    return set;
  };

  const scrape = async (now?: number): Promise<Sample[]> => {
    const text = await metrics.render(now);
    assert.ok(checkExposition(text) > 0);
    return parseWithPython(text);
  };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'zdd-metrics-'));
    writeFileSync(path.join(dir, 'zdd.yaml'), 'services:\n  web:\n    listen: 127.0.0.1:1\n    command: node app.js\n');
    config = loadConfig(path.join(dir, 'zdd.yaml')).services.get('web')!;
    store = new Store(path.join(dir, 'zdd.db'), { log });
    store.ensureService('web');
    upstream = await startUpstream((req, res) => {
      const status = Number(/^\/status\/(\d{3})$/.exec(req.url ?? '')?.[1] ?? 200);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end('hi');
    });
    running = await startProxy('web');
    service = new ServiceState(config, running.proxy);
    metrics = new DaemonMetrics({ services: new Map([['web', service]]), retentionMs });
  });

  after(async () => {
    await running?.close();
    await upstream?.close();
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows what a release answered by status class, its latency histogram, weight and state, with process metrics', { timeout: 20_000 }, async () => {
    const set = releaseSet('v1', upstream.port);
    running.proxy.setSplit([{ targets: set.targets, weight: 100 }]);
    const sent = [...Array<string>(6).fill('/'), '/status/503', '/status/503', '/status/404', '/status/302'];
    for (const p of sent) await send(running.url, { path: p });
    const s = await scrape();
    const r = { service: 'web', release: '1' };
    assert.equal(valueOf(s, 'zdd_requests_total', { ...r, code_class: '2xx' }), 6);
    assert.equal(valueOf(s, 'zdd_requests_total', { ...r, code_class: '3xx' }), 1);
    assert.equal(valueOf(s, 'zdd_requests_total', { ...r, code_class: '4xx' }), 1);
    assert.equal(valueOf(s, 'zdd_requests_total', { ...r, code_class: '5xx' }), 2);
    assert.equal(valueOf(s, 'zdd_requests_total', { ...r, code_class: '1xx' }), undefined, '1xx only once there is one');
    assert.equal(valueOf(s, 'zdd_request_duration_seconds_count', r), 10);
    assert.equal(valueOf(s, 'zdd_request_duration_seconds_bucket', { ...r, le: '+Inf' }), 10);
    assert.ok(valueOf(s, 'zdd_request_duration_seconds_sum', r)! > 0);
    assert.equal(valueOf(s, 'zdd_traffic_weight', r), 1);
    assert.equal(valueOf(s, 'zdd_requests_in_flight', r), 0);
    assert.equal(valueOf(s, 'zdd_upstream_errors_total', r), 0);
    assert.equal(valueOf(s, 'zdd_release_info', { ...r, version: 'v1', state: 'incoming' }), 1);
    assert.ok(valueOf(s, 'process_cpu_seconds_total')! > 0, 'prom-client process metrics');
    assert.ok(valueOf(s, 'nodejs_heap_size_used_bytes')! > 0);
    assert.equal(s.find((x) => x.name === 'zdd_requests_total')!.type, 'counter');
    assert.equal(s.find((x) => x.name === 'zdd_request_duration_seconds_count')!.type, 'histogram');
  });

  it('counts retries and upstream errors against the release whose attempt failed, and refusals by status', { timeout: 20_000 }, async () => {
    const set = releaseSet('v2', await refusedPort());
    running.proxy.setSplit([{ targets: set.targets, weight: 100 }]);
    assert.equal((await send(running.url)).status, 502);
    assert.equal((await send(running.url, { method: 'TRACE' })).status, 405);
    const s = await scrape();
    const r = { service: 'web', release: String(set.release.number) };
    assert.equal(valueOf(s, 'zdd_upstream_errors_total', r), 1);
    assert.equal(valueOf(s, 'zdd_retries_total', r), 1, 'a refused connection is sent again (here to nothing: 502)');
    assert.equal(valueOf(s, 'zdd_requests_total', { ...r, code_class: '5xx' }), 0, "the 502 is zdd's own answer, not the release's");
    assert.equal(valueOf(s, 'zdd_proxy_refused_total', { service: 'web', status: '405' }), 1);
    assert.equal(valueOf(s, 'zdd_traffic_weight', { service: 'web', release: '1' }), 0, 'release 1 runs, without traffic');
  });

  it('keeps counting when a release serves again, and drops a stopped release only after the retention', { timeout: 20_000 }, async () => {
    const r = { service: 'web', release: '1' };
    const before = valueOf(await scrape(), 'zdd_requests_total', { ...r, code_class: '2xx' })!;
    // Release 1 stops: the proxy forgets its numbers, as DeployContext.retire does.
    const first = service.sets.find((x) => x.release.number === 1)!;
    service.dismiss(first);
    running.proxy.forgetStats(1);
    const t0 = Date.now();
    const stopped = await scrape(t0);
    assert.equal(valueOf(stopped, 'zdd_requests_total', { ...r, code_class: '2xx' }), before, 'still there, unchanged');
    assert.equal(valueOf(stopped, 'zdd_release_info', { ...r, state: 'stopped' }), 1);
    assert.equal(valueOf(stopped, 'zdd_instances', r), 0);
    // A rollback to release 1 within the retention: a new set, new proxy numbers, the same series going up.
    const again = new ReleaseSet(first.release, { service: 'web', dataDir: dir, store, log });
    metrics.observer.releaseSet('web', again);
    service.admit(again);
    again.targets.add(makeTarget(upstream.port, { release: 1 }));
    running.proxy.setSplit([{ targets: again.targets, weight: 100 }]);
    await send(running.url);
    const back = await scrape(t0 + 1);
    assert.equal(valueOf(back, 'zdd_requests_total', { ...r, code_class: '2xx' }), before + 1);
    assert.equal(valueOf(back, 'zdd_release_info', { ...r, state: 'incoming' }), 1);
    // Stopped for good: there until the retention has passed since a scrape found it stopped, then gone.
    service.dismiss(again);
    running.proxy.forgetStats(1);
    await scrape(t0 + 2);
    assert.equal(valueOf(await scrape(t0 + 2 + retentionMs), 'zdd_requests_total', { ...r, code_class: '2xx' }), before + 1);
    const gone = await scrape(t0 + 3 + retentionMs);
    assert.equal(gone.filter((x) => x.labels.release === '1').length, 0, 'no series of release 1 is left');
    assert.ok(gone.some((x) => x.labels.release === '2'), 'release 2 still runs');
  });

  it('counts deployments by strategy and outcome (not restores) and canary verdicts, from the engine hook', { timeout: 20_000 }, async () => {
    const run = (kind: 'deploy' | 'rollback' | 'restore', strategy: string, status: 'succeeded' | 'failed' | 'rolled-back') => {
      const listener = metrics.observer.deployment();
      const events: DeployEvent[] = [
        { type: 'started', service: 'web', deployment: 1, kind, strategy, release: { number: 9, version: 'v9' }, from: null },
        { type: 'step', at: 0, step: 'start', status: 'started', detail: null },
        { type: 'finished', deployment: 1, status, reason: null, release: 9 },
      ];
      for (const e of events) listener(e);
    };
    run('deploy', 'canary', 'succeeded');
    run('deploy', 'canary', 'rolled-back');
    run('deploy', 'canary', 'succeeded');
    run('rollback', 'instant', 'succeeded');
    run('restore', 'initial', 'succeeded');
    metrics.observer.verdict?.('web', 'pass');
    metrics.observer.verdict?.('web', 'pass');
    metrics.observer.verdict?.('web', 'fail');
    const s = await scrape();
    assert.equal(valueOf(s, 'zdd_deployments_total', { service: 'web', strategy: 'canary', outcome: 'succeeded' }), 2);
    assert.equal(valueOf(s, 'zdd_deployments_total', { service: 'web', strategy: 'canary', outcome: 'rolled-back' }), 1);
    assert.equal(valueOf(s, 'zdd_deployments_total', { service: 'web', strategy: 'instant', outcome: 'succeeded' }), 1);
    assert.equal(valueOf(s, 'zdd_deployments_total', { strategy: 'initial' }), undefined, 'a restore at start is not counted');
    assert.equal(valueOf(s, 'zdd_canary_verdicts_total', { service: 'web', verdict: 'pass' }), 2);
    assert.equal(valueOf(s, 'zdd_canary_verdicts_total', { service: 'web', verdict: 'fail' }), 1);
  });

  it('takes its retention from ZDD_METRICS_RETENTION_MS, else 10 minutes', { timeout: 5_000 }, () => {
    assert.equal(retentionFromEnv({}), 600_000);
    assert.equal(retentionFromEnv({ ZDD_METRICS_RETENTION_MS: '1500' }), 1500);
    assert.equal(retentionFromEnv({ ZDD_METRICS_RETENTION_MS: 'soon' }), 600_000);
  });
});
