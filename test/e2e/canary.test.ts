import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { deployLabelled, zdd, zddJson } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request, version } from '../helpers/http.ts';
import { startLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, zddBin, type Project } from '../helpers/project.ts';
import { serviceStatus, waitForStatus, type StatusJson } from '../helpers/status.ts';

interface History {
  releases: { number: number; version: string; state: string }[];
  deployments: { status: string; reason: string | null; strategy: string; steps: { step: string; status: string; detail: string | null }[] }[];
}

/** Reads `count` refreshes of `zdd status --watch --json`, then stops it. */
function watchStatus(dir: string, count: number): Promise<StatusJson[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(zddBin, ['status', '--watch', '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    const seen: StatusJson[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      seen.push(JSON.parse(line) as StatusJson);
      if (seen.length === count) {
        child.kill();
        resolve(seen);
      }
    });
    child.once('exit', (code) => seen.length < count && reject(new Error(`status --watch exited ${code}`)));
  });
}

function canaryYaml(port: number, strategy: string): string {
  return serviceYaml({ port, replicas: 2, strategy, drainTimeout: '2s' });
}

describe('canary deploys', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let port: number;
  let url: string;
  let n = 0;
    const deploy = (env: Record<string, string> = {}) => {
    const label = `c${++n}`;
    return { label, run: deployLabelled(project.dir, label, env) };
  };
  const useStrategy = (strategy: string) => project.write(canaryYaml(port, strategy));
  const steps = (s: string, analysis = '{ minRequests: 100 }', extra = '') => `{ type: canary, steps: ${s}, analysis: ${analysis}${extra} }`;

  before(async () => {
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject(canaryYaml(port, steps('[{ weight: 20, pause: 1s }, { weight: 50, pause: 1s }]')));
    daemon = await startDaemon(project.dir);
    assert.equal((await zdd(project.dir, ['deploy', 'web', '--version', 'c0', '--env', 'APP_VERSION=c0'])).code, 0);
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  it('promotes a canary as good as stable through its steps, with zero failed requests', async () => {
    const load = startLoad({ url, connections: 4, rate: 400 });
    const { label, run } = deploy();
    const r = await run;
    const traffic = await load.stop();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /step 1\/2 passed: no regression detected/);
    assert.match(r.stdout, /step 2\/2 passed/);
    assert.equal(traffic.errors + traffic.timeouts + traffic.non2xx, 0, JSON.stringify(traffic));
    assert.equal(await version(url), label);
    const s = await serviceStatus(project.dir);
    assert.equal(s.live?.instances.length, 2, 'the promoted release runs at full size');
    assert.deepEqual(s.split.map((x) => x.weight), [100]);
  });

  it('rolls back a canary that fails 30% of requests, naming the metric and both values; retries on stable hide its errors', async () => {
    const before = await version(url);
    const load = startLoad({ url, connections: 4, rate: 400 });
    const { run } = deploy({ ERROR_RATE: '0.3' });
    const r = await run;
    const traffic = await load.stop();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /rolled-back: error rate \d+(\.\d+)?% on canary vs \d+(\.\d+)?% on stable \(n=\d+ vs \d+/);
    assert.equal(traffic.non2xx + traffic.errors, 0, `GETs the canary failed were answered by stable: ${JSON.stringify(traffic)}`);
    assert.equal(await version(url), before);
    const h = await zddJson<History>(project.dir, ['history', 'web']);
    assert.equal(h.deployments[0]!.status, 'rolled-back');
    assert.ok(h.deployments[0]!.steps.some((s) => s.step === 'rollback' && /error rate/.test(s.detail ?? '')));
    assert.equal(h.releases[0]!.state, 'failed');
  });

  it('without retryOnStable the canary errors reach users, and it is still rolled back', async () => {
    useStrategy(steps('[{ weight: 50, pause: 1s }]', '{ minRequests: 100 }', ', retryOnStable: false'));
    const load = startLoad({ url, connections: 4, rate: 400 });
    const r = await deploy({ ERROR_RATE: '0.3' }).run;
    const traffic = await load.stop();
    assert.equal(r.code, 1);
    assert.match(r.stdout, /error rate/);
    assert.ok(traffic.non2xx > 0, 'this test must see the canary failures');
  });

  it('rolls back a canary whose p99 latency is far worse than stable', async () => {
    useStrategy(steps('[{ weight: 50, pause: 1s }]'));
    // Enough connections that slow canary answers do not throttle the request rate.
    const load = startLoad({ url, connections: 64, rate: 400 });
    const r = await deploy({ EXTRA_LATENCY_MS: '400' }).run;
    await load.stop();
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /rolled-back: p99/);
  });

  it('rolls back when a canary instance crashes while serving', async () => {
    useStrategy(steps('[{ weight: 50, pause: 30s }]'));
    const load = startLoad({ url, connections: 4, rate: 300 });
    const r = await deploy({ CRASH_AFTER_REQUESTS: '30' }).run;
    const traffic = await load.stop();
    assert.equal(r.code, 1);
    // Whichever zdd notices first: the exit, or the refused connections that follow it.
    assert.match(r.stdout, /canary instance web-r\d+-\d+ (exited with code 7 while serving|failed its health checks: connection refused)/);
    assert.equal(traffic.errors + traffic.non2xx, 0, JSON.stringify(traffic));
  });

  it('never promotes blind: without traffic a step waits, then pauses for a person (exit 4) until zdd abort or zdd promote', async () => {
    useStrategy(steps('[{ weight: 50, pause: 100ms }]', '{ minRequests: 100, deadline: 1s }'));
    const before = await version(url);
    const r = await deploy().run;
    assert.equal(r.code, 4, r.stdout + r.stderr);
    assert.match(r.stdout, /paused: not enough traffic to decide \(n=\d+ canary, \d+ stable clients/);
    assert.match(r.stdout, /zdd promote web .* or zdd abort web/);
    const s = await serviceStatus(project.dir);
    assert.match(s.deployment?.paused ?? '', /^paused: not enough traffic to decide/);
    assert.match((await zdd(project.dir, ['status'])).stdout, /paused: not enough traffic to decide[\s\S]*decide with: zdd promote web or zdd abort web/);
    const h = await zddJson<{ events: { type: string; message: string }[] }>(project.dir, ['history', 'web']);
    assert.ok(h.events.some((e) => e.type === 'paused'), 'a paused event is recorded');
    assert.equal((await zdd(project.dir, ['abort', 'web'])).code, 0);
    assert.equal(await version(url), before);
  });

  it('waits at a step without pause: testers force a release by header or cookie, clients stick to theirs, promote moves on', async () => {
    useStrategy(steps('[{ weight: 30 }, { weight: 60 }]'));
    const stable = await version(url);
    const { label, run } = deploy();
    await waitForStatus(project.dir, (s) => s.deployment?.step === 'step 1/2', 'the canary waiting at step 1');
    for (let i = 0; i < 10; i++) {
      assert.equal(JSON.parse((await request(`${url}/`, { headers: { 'x-zdd-release': 'canary' } })).body).version, label);
      assert.equal(JSON.parse((await request(`${url}/`, { headers: { 'x-zdd-release': 'stable' } })).body).version, stable);
      assert.equal(JSON.parse((await request(`${url}/`, { headers: { cookie: 'zdd-release=canary' } })).body).version, label);
    }
    const first = await request(`${url}/`);
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    assert.match(cookie, /^zdd-bucket=\d+\.[\w-]{16}$/);
    const mine = JSON.parse(first.body).version as string;
    for (let i = 0; i < 30; i++) assert.equal(JSON.parse((await request(`${url}/`, { headers: { cookie } })).body).version, mine);
    const s = await serviceStatus(project.dir);
    assert.deepEqual(s.split.map((x) => x.weight), [30, 70]);
    // status --watch keeps printing the split and the analysis numbers the rollout decides on.
    const watched = await watchStatus(project.dir, 2);
    for (const w of watched) {
      const svc = w.services[0]!;
      assert.deepEqual(svc.split.map((x) => x.weight), [30, 70]);
      assert.equal(svc.deployment?.step, 'step 1/2');
      assert.ok(svc.deployment?.analysis, 'analysis numbers in status');
      assert.equal(svc.deployment!.analysis!.canaryWeight, 30);
    }
    assert.equal(s.incoming[0]?.instances.length, 1, 'canary sized for 30% of 2 replicas');

    const p1 = await zdd(project.dir, ['promote', 'web']);
    assert.equal(p1.code, 0, p1.stderr);
    await waitForStatus(project.dir, (x) => x.deployment?.step === 'step 2/2', 'step 2');
    assert.equal((await serviceStatus(project.dir)).incoming[0]?.instances.length, 2, 'canary sized for 60%');
    assert.equal((await zdd(project.dir, ['promote', 'web'])).code, 0);
    const r = await run;
    assert.equal(r.code, 0, r.stdout);
    assert.equal(await version(url), label);
  });

  it('promote --full skips the remaining steps; abort sends everything back to stable and the deploy exits 1', async () => {
    useStrategy(steps('[{ weight: 10 }, { weight: 50 }, { weight: 90 }]'));
    const full = deploy();
    await waitForStatus(project.dir, (s) => s.deployment?.step === 'step 1/3', 'step 1');
    assert.equal((await zdd(project.dir, ['promote', 'web', '--full'])).code, 0);
    assert.equal((await full.run).code, 0);
    assert.equal(await version(url), full.label);

    const aborted = deploy();
    await waitForStatus(project.dir, (s) => s.deployment?.step === 'step 1/3', 'step 1');
    const a = await zdd(project.dir, ['abort', 'web']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /aborted/);
    const r = await aborted.run;
    assert.equal(r.code, 1);
    assert.match(r.stdout, /deployment #\d+ aborted: aborted by user/);
    assert.equal(await version(url), full.label);
    const none = await zdd(project.dir, ['promote', 'web']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no deployment of web is in progress/);
  });
});
