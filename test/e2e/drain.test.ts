import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';
import { zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request, version } from '../helpers/http.ts';
import { startLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project, type ServiceOptions } from '../helpers/project.ts';
import { isAlive, serviceStatus, waitForStatus } from '../helpers/status.ts';

const projects: Project[] = [];
const daemons: DaemonProcess[] = [];
after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  for (const p of projects) p.remove();
});

async function running(o: Partial<ServiceOptions>) {
  const port = await freePort();
  const project = makeProject(serviceYaml({ port, ...o }));
  projects.push(project);
  const daemon = await startDaemon(project.dir);
  daemons.push(daemon);
  const first = await zdd(project.dir, ['deploy', 'web']);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  return { project, daemon, url: `http://127.0.0.1:${port}` };
}

describe('draining and stopping a release', () => {
  it('lets in-flight requests finish within drainTimeout and cuts off the ones that outlast it', async () => {
    const { project, daemon, url } = await running({ replicas: 1, drainTimeout: '3s', strategy: '{ type: blue-green, rollbackWindow: 0s }' });
    const short = request(`${url}/slow?ms=1500`);
    const long = request(`${url}/slow?ms=30000`);
    await waitForStatus(project.dir, (s) => s.live!.instances[0]!.inFlight === 2, 'both requests in flight');
    const deploy = await zdd(project.dir, ['deploy', 'web', '--env', 'APP_VERSION=v2']);
    assert.equal(deploy.code, 0);
    assert.equal((await short).status, 200, 'a request shorter than the drain timeout finishes');
    const cut = await long;
    assert.equal(cut.status, 503, 'a request longer than the drain timeout is cut at the deadline');
    assert.match(cut.body, /stopped at its drain deadline before it answered/);
    assert.equal(cut.headers['retry-after'], '1');
    await daemon.waitForLog((l) => /drain deadline \(3s\) cut off 1 open request/.test(l.msg));
    assert.equal(await version(url), 'v2');
  });

  it('keeps WebSockets open while draining and closes them at the deadline with 1001 going away', async () => {
    const { project, url } = await running({ replicas: 1, drainTimeout: '1s', strategy: '{ type: blue-green, rollbackWindow: 0s }' });
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`);
    const greeting = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d) => resolve(d.toString()));
      ws.once('error', reject);
    });
    assert.equal(greeting, 'hello from v1');
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    let errored = false;
    ws.on('error', () => (errored = true));
    assert.equal((await zdd(project.dir, ['deploy', 'web', '--env', 'APP_VERSION=v2'])).code, 0);
    // Still open on the draining release: messages flow until the deadline.
    ws.send('still there?');
    const echo = await new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
    assert.equal(echo, 'still there?');
    const { code } = await closed;
    assert.equal(code, 1001);
    assert.equal(errored, false);
    const fresh = new WebSocket(`${url.replace('http', 'ws')}/ws`);
    assert.equal(await new Promise<string>((resolve) => fresh.once('message', (d) => resolve(d.toString()))), 'hello from v2');
    fresh.close();
  });

  it('kills an instance that ignores SIGTERM after stopTimeout', async () => {
    const { project, daemon } = await running({ replicas: 1, stopTimeout: '300ms', env: { IGNORE_SIGTERM: '1' }, strategy: '{ type: blue-green, rollbackWindow: 0s }' });
    const old = (await serviceStatus(project.dir)).live!.instances[0]!;
    assert.equal((await zdd(project.dir, ['deploy', 'web'])).code, 0);
    await waitForStatus(project.dir, (s) => s.retiring.length === 0, 'the old release stopped');
    assert.equal(isAlive(old.pid!), false);
    await daemon.waitForLog((l) => l.msg === 'release drained and stopped' || /release drained and stopped/.test(l.msg));
  });

  it('replaces an instance that crashes while serving; the other one takes its requests', async () => {
    const { project, url } = await running({ replicas: 2, env: { CRASH_AFTER_REQUESTS: '150', CRASH_INSTANCE: 'web-r1-1' } });
    const load = startLoad({ url, connections: 4, rate: 400 });
    await waitForStatus(project.dir, (s) => s.live!.instances.some((i) => i.restarts > 0), 'a crashed instance replaced');
    const r = await load.stop();
    // Requests in flight on the instance when it died were idempotent GETs: they were sent again to the other one.
    assert.equal(r.errors + r.timeouts + r.non2xx, 0, JSON.stringify(r));
    const s = await serviceStatus(project.dir);
    assert.equal(s.live!.instances.filter((i) => i.health === 'healthy').length, 2);
    // What happened is on record.
    const h = await zdd(project.dir, ['history', 'web']);
    assert.match(h.stdout, /instance events/);
    assert.match(h.stdout, /web-r1-1 exited with code 7 while serving/);
    assert.match(h.stdout, /web-r1-\d+ replaced web-r1-1/);
  });
});
