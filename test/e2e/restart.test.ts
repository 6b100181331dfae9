import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readDaemonInfo } from '../../src/daemon/paths.ts';
import { zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { version } from '../helpers/http.ts';
import { startFreshConnectionLoad, startKeepAliveLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { stopByPid } from '../helpers/processes.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';
import { isAlive, serviceStatus, waitForStatus } from '../helpers/status.ts';
import { startWsClients } from '../helpers/ws-clients.ts';

describe('zdd restart', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let url: string;
  const successors: number[] = [];

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject(serviceYaml({ port, replicas: 2, drainTimeout: '2s' }));
    daemon = await startDaemon(project.dir);
    assert.equal((await zdd(project.dir, ['deploy', 'web', '--version', 'kept', '--env', 'APP_VERSION=kept'])).code, 0);
  });

  after(async () => {
    await daemon?.stop();
    for (const pid of successors) await stopByPid(pid);
    project?.remove();
  });

  it('hands the sockets to a new daemon: no request fails, no connection is refused, WebSockets close cleanly', async () => {
    const oldInstances = (await serviceStatus(project.dir)).live!.instances.map((i) => i.pid!);
    const keepAlive = startKeepAliveLoad({ url, rate: 400, connections: 8 });
    const fresh = startFreshConnectionLoad({ url: `${url}/`, rate: 150, maxInFlight: 16, timeoutMs: 20_000 });
    const ws = startWsClients(`${url.replace('http', 'ws')}/ws`, 3);
    const r = await zdd(project.dir, ['restart', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const { from, to } = JSON.parse(r.stdout) as { from: number; to: number };
    successors.push(to);
    assert.equal(from, daemon.proc.pid);
    assert.equal(await daemon.exited, 0, 'the old daemon drained and exited cleanly');
    assert.equal(readDaemonInfo(path.join(project.dir, '.zdd'))?.pid, to);
    // Traffic keeps flowing on the new daemon for a moment before the loads stop.
    await waitForStatus(project.dir, (s) => (s.live?.traffic.requests ?? 0) > 200, 'requests served by the new daemon');
    const [k, f, w] = await Promise.all([keepAlive.stop(), fresh.stop(), ws.stop()]);
    for (const [name, t] of Object.entries({ keepAlive: k, fresh: f })) {
      assert.ok(t.requests > 0, name);
      assert.deepEqual({ name, errors: t.errors, timeouts: t.timeouts, non2xx: t.non2xx }, { name, errors: 0, timeouts: 0, non2xx: 0 }, JSON.stringify(t));
    }
    assert.deepEqual(w.errors, []);
    for (const code of Object.keys(w.closeCodes)) assert.ok(code === '1000' || code === '1001', `unclean close ${code}`);
    for (const pid of oldInstances) assert.equal(isAlive(pid), false, `the old daemon's instance ${pid} still runs`);
    assert.equal(await version(url), 'kept');
    const s = await serviceStatus(project.dir);
    assert.equal(s.live?.instances.length, 2);
  });

  it('is refused while a deployment runs, naming it', async () => {
    project.write(serviceYaml({ port: Number(new URL(url).port), replicas: 2, strategy: '{ type: canary, steps: [{ weight: 10 }] }' }));
    const held = zdd(project.dir, ['deploy', 'web']);
    await waitForStatus(project.dir, (s) => s.deployment?.step === 'step 1/1', 'a canary waiting');
    const r = await zdd(project.dir, ['restart']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /deployment #\d+ of web is in progress/);
    assert.equal((await zdd(project.dir, ['abort', 'web'])).code, 0);
    assert.equal((await held).code, 1);
  });
});
