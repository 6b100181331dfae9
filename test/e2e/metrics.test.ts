// Issue 10: Prometheus metrics on the control listener. A real daemon, traffic through its proxy (some
// 4xx and 5xx), a blue-green and a canary deploy; GET /metrics with a read token, parsed by Python's
// prometheus_client and checked against the text format, its values against what was sent; the old
// release's series kept for the retention after it stopped, then gone.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { socketPathFor } from '../../src/daemon/paths.ts';
import { zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';
import { checkExposition, parseWithPython, valueOf, type Sample } from '../helpers/prometheus.ts';

const retentionMs = 3_000;

describe('Prometheus metrics', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let control: string;
  let port: number;
  let token: string;
  let yaml: (strategy?: string) => string;

  const scrape = async (): Promise<Sample[]> => {
    const r = await request(`${control}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, r.body);
    assert.ok(checkExposition(r.body) > 0);
    return parseWithPython(r.body);
  };
  const release = (n: number) => ({ service: 'web', release: String(n) });

  before(async () => {
    port = await freePort();
    const controlPort = await freePort();
    control = `http://127.0.0.1:${controlPort}`;
    yaml = (strategy) => `control: { listen: "127.0.0.1:${controlPort}" }\n` + serviceYaml({ port, replicas: 2, strategy, drainTimeout: '2s' });
    project = makeProject(yaml('{ type: blue-green, rollbackWindow: 0s }'));
    daemon = await startDaemon(project.dir, [], { ZDD_METRICS_RETENTION_MS: String(retentionMs) });
    const first = await zdd(project.dir, ['deploy', 'web', '--version', 'v1']);
    assert.equal(first.code, 0, first.stderr);
    const created = await zdd(project.dir, ['token', 'create', '--name', 'prom', '--role', 'read']);
    assert.equal(created.code, 0, created.stderr);
    token = created.stdout.trim().split('\n').at(-1)!;
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  it('answers 401 without a token and the text format with a read token', { timeout: 20_000 }, async () => {
    const none = await request(`${control}/metrics`);
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="zdd"');
    assert.equal((await request(`${control}/metrics`, { headers: { authorization: `Bearer ${token}x` } })).status, 401);
    const r = await request(`${control}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
    const samples = await parseWithPython(r.body);
    assert.ok(valueOf(samples, 'process_cpu_seconds_total')! > 0, 'process metrics');
    assert.ok(valueOf(samples, 'process_resident_memory_bytes')! > 0);
    assert.ok(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds'));
    // The same on the daemon's Unix socket, without a token.
    const local = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ socketPath: socketPathFor(path.join(project.dir, '.zdd')), path: '/metrics' }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        })
        .on('error', reject);
    });
    assert.equal(local.status, 200);
    assert.ok(checkExposition(local.body) > 0);
  });

  it('counts what the live release answered by status class and shows its instances and weight', { timeout: 30_000 }, async () => {
    const paths = [...Array<string>(30).fill('/'), ...Array<string>(5).fill('/status/503'), ...Array<string>(4).fill('/status/404')];
    const statuses = await Promise.all(paths.map((p) => request(`http://127.0.0.1:${port}${p}`).then((r) => r.status)));
    assert.deepEqual([statuses.filter((s) => s === 200).length, statuses.filter((s) => s === 503).length, statuses.filter((s) => s === 404).length], [30, 5, 4]);
    // A request the proxy refuses itself counts against no release.
    assert.equal((await request(`http://127.0.0.1:${port}/`, { method: 'TRACE' })).status, 405);
    const s = await scrape();
    const r1 = release(1);
    assert.equal(valueOf(s, 'zdd_requests_total', { ...r1, code_class: '2xx' }), 30);
    assert.equal(valueOf(s, 'zdd_requests_total', { ...r1, code_class: '5xx' }), 5);
    assert.equal(valueOf(s, 'zdd_requests_total', { ...r1, code_class: '4xx' }), 4);
    assert.equal(valueOf(s, 'zdd_requests_total', { ...r1, code_class: '3xx' }), 0);
    assert.equal(valueOf(s, 'zdd_request_duration_seconds_count', r1), 39);
    assert.equal(valueOf(s, 'zdd_upstream_errors_total', r1), 0);
    assert.equal(valueOf(s, 'zdd_retries_total', r1), 0);
    assert.equal(valueOf(s, 'zdd_requests_in_flight', r1), 0);
    assert.equal(valueOf(s, 'zdd_instances', r1), 2);
    assert.equal(valueOf(s, 'zdd_instances_healthy', r1), 2);
    assert.equal(valueOf(s, 'zdd_traffic_weight', r1), 1);
    assert.equal(valueOf(s, 'zdd_release_info', { ...r1, version: 'v1', state: 'live' }), 1);
    assert.equal(valueOf(s, 'zdd_instance_restarts_total', r1), 0);
    assert.equal(valueOf(s, 'zdd_proxy_refused_total', { service: 'web', status: '405' }), 1);
    assert.equal(valueOf(s, 'zdd_deployments_total', { service: 'web', strategy: 'initial', outcome: 'succeeded' }), 1);
  });

  it('after a blue-green deploy under load, keeps the old release until the retention has passed since it stopped', { timeout: 60_000 }, async () => {
    const load = startLoad({ url: `http://127.0.0.1:${port}`, connections: 4, rate: 200 });
    const deployed = await zdd(project.dir, ['deploy', 'web', '--version', 'v2', '--env', 'APP_VERSION=v2']);
    const traffic = await load.stop();
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.equal(traffic.errors + traffic.timeouts + traffic.non2xx, 0, JSON.stringify(traffic));
    await daemon.waitForLog((l) => l.release === 1 && /release drained and stopped/.test(l.msg));
    assert.equal((await request(`http://127.0.0.1:${port}/`)).status, 200, 'one answer of release 2 for sure');
    const t0 = Date.now();
    const s = await scrape();
    const [r1, r2] = [release(1), release(2)];
    const served1 = valueOf(s, 'zdd_requests_total', { ...r1, code_class: '2xx' })!;
    const served2 = valueOf(s, 'zdd_requests_total', { ...r2, code_class: '2xx' })!;
    // Every answer the load got counted once, on the release that gave it (plus at most one per connection
    // answered as the load stopped, before it read the answer).
    const answered = Object.values(traffic.statusCodes).reduce((a, b) => a + b, 0);
    assert.ok(served1 + served2 >= 31 + answered && served1 + served2 <= 31 + answered + 4, `${served1} + ${served2} for ${answered} answers`);
    assert.ok(served1 > 30 && served2 > 0, `${served1} and ${served2}`);
    assert.equal(valueOf(s, 'zdd_release_info', { ...r1, state: 'stopped' }), 1);
    assert.equal(valueOf(s, 'zdd_instances', r1), 0);
    assert.equal(valueOf(s, 'zdd_traffic_weight', r1), 0);
    assert.equal(valueOf(s, 'zdd_traffic_weight', r2), 1);
    assert.equal(valueOf(s, 'zdd_instances_healthy', r2), 2);
    assert.equal(valueOf(s, 'zdd_deployments_total', { service: 'web', strategy: 'blue-green', outcome: 'succeeded' }), 1);
    // Gone once the retention has passed (there is no event for that: scrape until it is).
    let gone: Sample[] | undefined;
    while (!gone) {
      const now = await scrape();
      if (valueOf(now, 'zdd_requests_total', { ...r1, code_class: '2xx' }) === undefined) gone = now;
      else await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(Date.now() - t0 >= retentionMs, 'not before the retention');
    assert.equal(gone.filter((x) => x.labels.release === '1').length, 0, 'every series of release 1 went');
    assert.ok(valueOf(gone, 'zdd_requests_total', { ...r2, code_class: '2xx' })! >= served2, 'release 2 counts on');
  });

  it('counts a canary deploy and its analysis verdicts', { timeout: 60_000 }, async () => {
    project.write(yaml('{ type: canary, steps: [{ weight: 20, pause: 1s }, { weight: 50, pause: 1s }], analysis: { minRequests: 50 } }'));
    const load = startLoad({ url: `http://127.0.0.1:${port}`, connections: 4, rate: 300 });
    const deployed = await zdd(project.dir, ['deploy', 'web', '--version', 'v3', '--env', 'APP_VERSION=v3']);
    await load.stop();
    assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
    const s = await scrape();
    assert.equal(valueOf(s, 'zdd_canary_verdicts_total', { service: 'web', verdict: 'pass' }), 2, 'one per step');
    assert.equal(valueOf(s, 'zdd_canary_verdicts_total', { service: 'web', verdict: 'fail' }), undefined);
    assert.equal(valueOf(s, 'zdd_deployments_total', { service: 'web', strategy: 'canary', outcome: 'succeeded' }), 1);
    assert.equal(valueOf(s, 'zdd_traffic_weight', release(3)), 1);
    assert.ok(valueOf(s, 'zdd_requests_total', { ...release(3), code_class: '2xx' })! > 0);
    assert.ok(valueOf(s, 'zdd_request_duration_seconds_bucket', { ...release(3), le: '+Inf' })! > 0);
  });

  it('counts a failing canary: its 5xx, the retries on stable, the fail verdict and the rollback', { timeout: 60_000 }, async () => {
    const load = startLoad({ url: `http://127.0.0.1:${port}`, connections: 4, rate: 300 });
    const deployed = await zdd(project.dir, ['deploy', 'web', '--version', 'v4', '--env', 'APP_VERSION=v4', '--env', 'ERROR_RATE=0.5']);
    const traffic = await load.stop();
    assert.equal(deployed.code, 1, deployed.stdout + deployed.stderr);
    assert.equal(traffic.non2xx, 0, 'users were shielded: stable answered what the canary failed');
    const s = await scrape();
    const r4 = release(4);
    assert.equal(valueOf(s, 'zdd_canary_verdicts_total', { service: 'web', verdict: 'fail' }), 1);
    assert.equal(valueOf(s, 'zdd_deployments_total', { service: 'web', strategy: 'canary', outcome: 'rolled-back' }), 1);
    const failed = valueOf(s, 'zdd_requests_total', { ...r4, code_class: '5xx' })!;
    assert.ok(failed > 0);
    assert.equal(valueOf(s, 'zdd_retries_total', r4), failed, 'each 5xx of the canary was sent again to stable');
    assert.equal(valueOf(s, 'zdd_traffic_weight', r4), 0);
    assert.equal(valueOf(s, 'zdd_traffic_weight', release(3)), 1);
  });
});
