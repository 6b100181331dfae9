// proxy.workers: the data plane in worker processes. Deploys of every strategy and zdd restart under
// load with zero failures; sticky routing that holds whichever worker a connection lands on; canary
// analysis on the merged numbers of all workers (a bad canary is still rolled back); a worker that
// dies is replaced while the service goes on.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { socketPathFor } from '../../src/daemon/paths.ts';
import { zdd, zddJson } from '../helpers/cli.ts';
import { makeCa, makeLeaf } from '../helpers/certs.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startKeepAliveLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { waitForExit } from '../helpers/processes.ts';
import { makeProject, serviceYaml, testAppDir, type Project } from '../helpers/project.ts';
import { apiStatus, isAlive, waitForStatus, type StatusJson } from '../helpers/status.ts';

const strategies = {
  blueGreen: '{ type: blue-green, rollbackWindow: 200ms }',
  canary: '{ type: canary, steps: [{ weight: 20, pause: 1s }, { weight: 50, pause: 1s }], analysis: { minRequests: 100 } }',
  rolling: '{ type: rolling, maxSurge: 1, maxUnavailable: 0 }',
};

describe('proxy.workers: two data-plane processes', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let url: string;
  let port: number;
  const yaml = (strategy: string) => serviceYaml({ port, replicas: 2, strategy, drainTimeout: '3s', extra: '    proxy: { workers: 2 }\n' });

  before(async () => {
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject(yaml(strategies.blueGreen));
    daemon = await startDaemon(project.dir);
    const first = await zdd(project.dir, ['deploy', 'web', '--version', 'v1']);
    assert.equal(first.code, 0, first.stdout + first.stderr);
  });

  after(async () => {
    // The daemon that serves now may be the successor of the zdd restart below.
    if (project) await zdd(project.dir, ['stop']);
    await daemon?.stop();
    project?.remove();
  });

  it('runs two worker processes of the daemon that serve the requests, shown by status', { timeout: 30_000 }, async () => {
    const s = await apiStatus(project.dir);
    assert.equal(s.workers?.length, 2, JSON.stringify(s.workers));
    const { daemon: d } = await zddJson<StatusJson>(project.dir, ['status']);
    for (const w of s.workers!) {
      assert.ok(w.pid && isAlive(w.pid), `worker ${w.worker} runs`);
      // A child of the daemon, not of an app.
      const stat = readFileSync(`/proc/${w.pid}/stat`, 'latin1');
      assert.equal(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), d.pid);
    }
    // Many connections at once: both workers get some, and every request is counted once, in one place.
    const before = (await apiStatus(project.dir)).live!.traffic.requests;
    const replies = await Promise.all(Array.from({ length: 40 }, () => request(`${url}/`, { headers: { connection: 'close' } })));
    assert.ok(replies.every((r) => r.status === 200));
    const counted = await waitForStatus(project.dir, (x) => x.live!.traffic.requests >= before + 40, 'the workers reported every request');
    assert.equal(counted.live!.traffic.requests, before + 40);
    assert.match((await zdd(project.dir, ['status'])).stdout, /workers +pid \d+: \d+ conn/);
  });

  it('reports each worker’s memory and event-loop delay in status and in /metrics', { timeout: 30_000 }, async () => {
    const s = await waitForStatus(project.dir, (x) => (x.workers ?? []).every((w) => w.rssBytes !== null && w.loopDelayMs !== null), 'every worker reported');
    for (const w of s.workers!) {
      // What the worker says of itself agrees with what the kernel says of it (it moves a little meanwhile).
      const kernel = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${w.pid}/status`, 'latin1'))![1]) * 1024;
      assert.ok(Math.abs(w.rssBytes! - kernel) < kernel / 2, `worker ${w.worker}: reported ${w.rssBytes} bytes, the kernel ${kernel}`);
    }
    assert.match((await zdd(project.dir, ['status'])).stdout, /pid \d+: \d+ conn, loop p99 [\d.]+ ms, \d+ MB/);
    const text = await new Promise<string>((resolve, reject) => {
      http
        .get({ socketPath: socketPathFor(path.join(project.dir, '.zdd')), path: '/metrics' }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
    for (const worker of ['0', '1']) {
      for (const name of ['zdd_proxy_worker_resident_memory_bytes', 'zdd_proxy_worker_event_loop_delay_p99_seconds', 'zdd_proxy_worker_connections']) {
        const m = new RegExp(`^${name}\\{service="web",worker="${worker}"\\} (\\S+)$`, 'm').exec(text);
        assert.ok(m, `${name} for worker ${worker} in /metrics`);
        if (name !== 'zdd_proxy_worker_connections') assert.ok(Number(m[1]) > 0, `${name}: ${m[1]}`);
      }
    }
  });

  it('deploys blue-green, canary and rolling under keep-alive load with zero failed requests', { timeout: 120_000 }, async () => {
    const load = startKeepAliveLoad({ url, rate: 400, connections: 8 });
    let n = 2;
    for (const strategy of [strategies.blueGreen, strategies.canary, strategies.rolling]) {
      project.write(yaml(strategy));
      const r = await zdd(project.dir, ['deploy', 'web', '--version', `v${n}`, '--env', `APP_VERSION=v${n}`]);
      assert.equal(r.code, 0, `${strategy}:\n${r.stdout}${r.stderr}`);
      n++;
    }
    const result = await load.stop();
    assert.ok(result.requests > 500, `${result.requests} requests`);
    assert.deepEqual({ errors: result.errors, non2xx: result.non2xx }, { errors: 0, non2xx: 0 }, JSON.stringify(result));
    assert.equal(JSON.parse((await request(`${url}/`)).body).version, `v${n - 1}`);
  });

  it('keeps a client with its cookie on its release whichever worker its new connections reach', { timeout: 90_000 }, async () => {
    project.write(yaml('{ type: canary, steps: [{ weight: 50, pause: 30s }], analysis: { minRequests: 100 } }'));
    const deploying = zdd(project.dir, ['deploy', 'web', '--version', 'sticky', '--env', 'APP_VERSION=sticky']);
    await waitForStatus(project.dir, (s) => s.split.length === 2 && s.split[0]!.weight === 50, 'the canary at 50%');
    const first = await request(`${url}/`, { headers: { connection: 'close' } });
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    const mine = JSON.parse(first.body).version as string;
    // Each request on a new connection: the daemon spreads them over both workers.
    for (let i = 0; i < 30; i++) {
      const r = await request(`${url}/`, { headers: { cookie, connection: 'close' } });
      assert.equal(JSON.parse(r.body).version, mine, `request ${i} stayed on ${mine}`);
    }
    assert.equal((await zdd(project.dir, ['abort', 'web'])).code, 0);
    const r = await deploying;
    assert.notEqual(r.code, 0, 'the aborted deploy fails');
  });

  it('rolls a bad canary back on the merged numbers of both workers', { timeout: 90_000 }, async () => {
    project.write(yaml('{ type: canary, steps: [{ weight: 50, pause: 2s }], analysis: { minRequests: 100 }, retryOnStable: false }'));
    const load = startKeepAliveLoad({ url, rate: 300, connections: 8 });
    const r = await zdd(project.dir, ['deploy', 'web', '--version', 'bad', '--env', 'APP_VERSION=bad', '--env', 'ERROR_RATE=0.3']);
    await load.stop();
    assert.notEqual(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /canary errors/);
    assert.notEqual(JSON.parse((await request(`${url}/`)).body).version, 'bad');
  });

  it('hands both workers’ connections over on zdd restart with zero failed requests', { timeout: 120_000 }, async () => {
    const old = (await apiStatus(project.dir)).workers!.map((w) => w.pid);
    const load = startKeepAliveLoad({ url, rate: 300, connections: 8 });
    await waitForStatus(project.dir, (s) => (s.live?.traffic.requestsPerSecond ?? 0) > 0, 'traffic flowing');
    const r = await zdd(project.dir, ['restart']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const after = await waitForStatus(project.dir, (s) => (s.workers ?? []).every((w) => !old.includes(w.pid)) && s.workers?.length === 2, 'the new daemon’s workers');
    const result = await load.stop();
    assert.ok(result.requests > 100);
    assert.deepEqual({ errors: result.errors, non2xx: result.non2xx }, { errors: 0, non2xx: 0 }, JSON.stringify(result));
    for (const pid of old) await waitForExit(pid!, 20_000);
    assert.equal(after.workers!.length, 2);
  });

  it('keeps its workers when zdd.yaml changes their number, and says the change needs zdd restart', { timeout: 60_000 }, async () => {
    project.write(serviceYaml({ port, replicas: 2, strategy: strategies.blueGreen, drainTimeout: '3s', extra: '    proxy: { workers: 3 }\n' }));
    const r = await zdd(project.dir, ['deploy', 'web', '--version', 'more-workers']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /proxy\.workers/);
    const s = await apiStatus(project.dir);
    assert.equal(s.workers?.length, 2);
    assert.deepEqual(s.pendingFrontDoor, ['proxy.workers']);
    project.write(yaml(strategies.blueGreen));
  });

  it('replaces a worker that dies; requests on new connections keep being served', { timeout: 60_000 }, async () => {
    const [victim] = (await apiStatus(project.dir)).workers!;
    process.kill(victim!.pid!, 'SIGKILL');
    const s = await waitForStatus(project.dir, (x) => x.workers?.length === 2 && x.workers.every((w) => w.pid !== victim!.pid), 'a new worker in its place');
    assert.ok(s.workers!.every((w) => w.pid && isAlive(w.pid)));
    const replies = await Promise.all(Array.from({ length: 20 }, () => request(`${url}/`, { headers: { connection: 'close' } })));
    assert.deepEqual(replies.map((x) => x.status), Array(20).fill(200));
  });
});

describe('proxy.workers auto on an address that also redirects to https', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let httpPort: number;

  before(async () => {
    const port = await freePort();
    httpPort = await freePort();
    project = makeProject();
    const certDir = path.join(project.dir, 'certs');
    mkdirSync(certDir);
    makeLeaf(makeCa(certDir), ['secure.test'], { file: 'site' });
    const common = `    command: node app.js\n    cwd: ${testAppDir}\n    health: { path: /healthz, interval: 50ms, timeout: 1s, startTimeout: 10s }\n`;
    // A plain service and another service's redirect to https share one address: the daemon answers
    // the redirects (and ACME HTTP-01 there), so it serves that address itself.
    project.write(`services:
  secure:
    listen: 127.0.0.1:${port}
    hosts: [secure.test]
    tls: { cert: certs/site.crt, key: certs/site.key }
    redirectHttp: 127.0.0.1:${httpPort}
${common}
  plain:
    listen: 127.0.0.1:${httpPort}
    hosts: [plain.test]
${common}
`);
    daemon = await startDaemon(project.dir);
    for (const name of ['secure', 'plain']) assert.equal((await zdd(project.dir, ['deploy', name])).code, 0);
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  it('serves it in the daemon: the plain service answers, the other host is redirected', { timeout: 30_000 }, async () => {
    assert.equal((await apiStatus(project.dir, 'plain')).workers, null, 'no workers for the shared address');
    const plain = await request(`http://127.0.0.1:${httpPort}/`, { headers: { host: 'plain.test' } });
    assert.equal(plain.status, 200);
    const redirected = await request(`http://127.0.0.1:${httpPort}/x`, { headers: { host: 'secure.test' } });
    assert.equal(redirected.status, 308);
    assert.match(String(redirected.headers.location), /^https:\/\/secure\.test:\d+\/x$/);
  });
});

describe('proxy.workers: 1, when that one worker dies', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let url: string;

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject(serviceYaml({ port, replicas: 1, extra: '    proxy: { workers: 1 }\n' }));
    daemon = await startDaemon(project.dir);
    assert.equal((await zdd(project.dir, ['deploy', 'web'])).code, 0);
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  it('keeps new connections waiting until its replacement is ready: none is refused or dropped', { timeout: 60_000 }, async () => {
    const [old] = (await apiStatus(project.dir)).workers!;
    process.kill(old!.pid!, 'SIGKILL');
    await waitForExit(old!.pid!, 10_000);
    // No worker runs now (the daemon may not even have seen it die yet): these connections are accepted
    // by the daemon and wait for the next one.
    const replies = await Promise.all(Array.from({ length: 20 }, () => request(`${url}/`, { headers: { connection: 'close' } })));
    assert.deepEqual(replies.map((r) => r.status), Array<number>(20).fill(200));
    const s = await apiStatus(project.dir);
    assert.equal(s.workers?.length, 1);
    assert.notEqual(s.workers![0]!.pid, old!.pid, 'a new worker');
  });
});
