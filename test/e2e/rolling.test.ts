import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deployLabelled, zdd, zddJson } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { version } from '../helpers/http.ts';
import { startFreshConnectionLoad, startLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';
import { sampleStatus, servingInstances, serviceStatus, waitForStatus } from '../helpers/status.ts';

interface History {
  deployments: { status: string; reason: string | null; steps: { step: string; status: string; detail: string | null }[] }[];
}

describe('rolling deploys', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let port: number;
  let url: string;
  let n = 0;
  const useStrategy = (strategy: string) => project.write(serviceYaml({ port, replicas: 4, strategy, drainTimeout: '2s' }));
  const deploy = (env: Record<string, string> = {}) => {
    const label = `r${++n}`;
    return { label, run: deployLabelled(project.dir, label, env) };
  };

  const nextRelease = async () => (await zddJson<{ releases: { number: number }[] }>(project.dir, ['history', 'web'])).releases[0]!.number + 1;

  before(async () => {
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject();
    useStrategy('{ type: rolling, maxSurge: 1, maxUnavailable: 0 }');
    daemon = await startDaemon(project.dir);
    assert.equal((await zdd(project.dir, ['deploy', 'web', '--version', 'r0', '--env', 'APP_VERSION=r0'])).code, 0);
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  it('replaces instances one at a time with maxSurge 1 / maxUnavailable 0: never fewer than 4 serving, zero failed requests', async () => {
    const loads = [startLoad({ url, connections: 4, rate: 300 }), startFreshConnectionLoad({ url: `${url}/`, rate: 100, maxInFlight: 16, timeoutMs: 20_000 })];
    const samples = sampleStatus(project.dir);
    const { label, run } = deploy();
    const r = await run;
    const seen = await samples.stop();
    const traffic = await Promise.all(loads.map((l) => l.stop()));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const t of traffic) {
      assert.ok(t.requests > 0);
      assert.equal(t.errors + t.timeouts + t.non2xx, 0, JSON.stringify(t));
    }
    assert.ok(seen.length > 10, `only ${seen.length} status samples`);
    const least = Math.min(...seen.map(servingInstances));
    assert.ok(least >= 4, `capacity fell to ${least}`);
    assert.ok(Math.max(...seen.map((s) => s.incoming.reduce((k, x) => k + x.instances.length, 0) + (s.live?.instances.length ?? 0))) <= 5 + 4, 'bounded surge');
    assert.equal(await version(url), label);
    const h = await zddJson<History>(project.dir, ['history', 'web']);
    const batches = h.deployments[0]!.steps.filter((s) => /^batch/.test(s.step) && s.status === 'done');
    assert.ok(batches.length >= 4, 'one new instance per batch');
    for (const b of batches) {
      const [, oldN, newN] = /serving (\d+) old \+ (\d+) new/.exec(b.detail ?? '')!;
      assert.ok(Number(oldN) + Number(newN) >= 4, b.detail ?? '');
    }
  });

  it('with maxUnavailable 1 and maxSurge 0 capacity stays at 3 or more and no extra instance is started', async () => {
    useStrategy('{ type: rolling, maxSurge: 0, maxUnavailable: 1 }');
    const load = startLoad({ url, connections: 4, rate: 300 });
    const samples = sampleStatus(project.dir);
    const { label, run } = deploy();
    const r = await run;
    const seen = await samples.stop();
    const traffic = await load.stop();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(traffic.errors + traffic.timeouts + traffic.non2xx, 0, JSON.stringify(traffic));
    assert.ok(Math.min(...seen.map(servingInstances)) >= 3);
    assert.equal(await version(url), label);
  });

  it('a new instance that fails mid-way stops the rollout and reverts to the previous release at full size', async () => {
    useStrategy('{ type: rolling, maxSurge: 1, maxUnavailable: 0 }');
    const before = await version(url);
    const load = startLoad({ url, connections: 4, rate: 300 });
    // The second new instance of the next release crashes on start.
    const next = await nextRelease();
    const { run } = deploy({ CRASH_ON_START: '1', CRASH_INSTANCE: `web-r${next}-2` });
    const r = await run;
    const traffic = await load.stop();
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /rolled-back: instance web-r\d+-2 exited with code 3 before becoming healthy/);
    assert.equal(traffic.errors + traffic.timeouts + traffic.non2xx, 0, JSON.stringify(traffic));
    assert.equal(await version(url), before);
    const s = await waitForStatus(project.dir, (x) => x.incoming.length === 0 && x.retiring.length === 0, 'the failed release gone');
    assert.equal(s.live!.instances.filter((i) => i.health === 'healthy').length, 4, 'previous release back at full size');
    assert.deepEqual(s.split.map((x) => x.weight), [100]);
  });

  it('with onFailure: pause the rollout waits; abort reverts it', async () => {
    useStrategy('{ type: rolling, maxSurge: 1, maxUnavailable: 0, onFailure: pause }');
    const before = await version(url);
    const next = await nextRelease();
    const { run } = deploy({ CRASH_ON_START: '1', CRASH_INSTANCE: `web-r${next}-2` });
    await waitForStatus(project.dir, (s) => s.deployment?.step === 'paused', 'the rollout paused');
    const mixed = await serviceStatus(project.dir);
    assert.equal(mixed.split.length, 2, 'paused with both releases serving');
    const a = await zdd(project.dir, ['abort', 'web']);
    assert.equal(a.code, 0, a.stderr);
    const r = await run;
    assert.equal(r.code, 1);
    assert.match(r.stdout, /aborted/);
    assert.equal(await version(url), before);
  });
});
