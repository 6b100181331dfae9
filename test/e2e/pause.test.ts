// Hold instead of 503, and zdd pause / resume, against a real daemon under load: requests that find no
// instance (before the first deploy, during a pause) wait and are answered, not refused.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { zdd, zddJson } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startKeepAliveLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';
import { waitForStatus, type StatusJson } from '../helpers/status.ts';

describe('holding requests and zdd pause / resume, under load', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let url: string;
  const connections = 6;

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject(serviceYaml({ port, replicas: 2, extra: '    proxy: { holdTimeout: 15s }\n' }));
    daemon = await startDaemon(project.dir);
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  it('requests sent before the first release is live are held and answered, not 503', { timeout: 60_000 }, async () => {
    const load = startKeepAliveLoad({ url, rate: 100, connections });
    await waitForStatus(project.dir, (s) => s.held > 0, 'requests held while nothing is deployed');
    const r = await zdd(project.dir, ['deploy', 'web', '--version', 'v1']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const result = await load.stop();
    assert.ok(result.requests > 0);
    assert.deepEqual({ errors: result.errors, non2xx: result.non2xx }, { errors: 0, non2xx: 0 }, JSON.stringify(result));
  });

  it('zdd pause holds new requests (none reaches the app), zdd resume lets every one of them through', { timeout: 60_000 }, async () => {
    const load = startKeepAliveLoad({ url, rate: 100, connections });
    await waitForStatus(project.dir, (s) => (s.live?.traffic.requests ?? 0) > 0, 'traffic flowing');
    const p = await zdd(project.dir, ['pause', 'web']);
    assert.equal(p.code, 0, p.stdout + p.stderr);
    assert.match(p.stdout, /web is paused/);
    // Every connection of the load waits with a held request: nothing can reach the app.
    const paused = await waitForStatus(project.dir, (s) => s.held === connections, `all ${connections} connections held`);
    assert.equal(paused.paused?.maintenance, null);
    assert.equal(paused.live?.instances.reduce((n, i) => n + i.inFlight, 0), 0, 'no request in flight at the app while paused');
    const text = await zdd(project.dir, ['status']);
    assert.match(text.stdout, /paused \(holding requests\) since/);
    const s = await zdd(project.dir, ['resume', 'web']);
    assert.equal(s.code, 0, s.stdout + s.stderr);
    assert.match(s.stdout, /web resumed/);
    await waitForStatus(project.dir, (x) => x.held === 0 && x.paused === null, 'held requests released');
    const result = await load.stop();
    assert.ok(result.requests > 0);
    assert.deepEqual({ errors: result.errors, non2xx: result.non2xx }, { errors: 0, non2xx: 0 }, JSON.stringify(result));
  });

  it('zdd pause --maintenance answers 503 with the text; zdd resume serves again', { timeout: 30_000 }, async () => {
    const p = await zdd(project.dir, ['pause', 'web', '--maintenance', 'Back at 5']);
    assert.equal(p.code, 0, p.stdout + p.stderr);
    const r = await request(`${url}/`);
    assert.equal(r.status, 503);
    assert.equal(r.body, 'Back at 5');
    assert.match(String(r.headers['content-type']), /^text\/plain; charset=utf-8/);
    assert.ok(r.headers['retry-after']);
    const status = await zddJson<StatusJson>(project.dir, ['status']);
    assert.equal(status.services[0]!.paused?.maintenance, 'Back at 5');
    assert.match((await zdd(project.dir, ['status'])).stdout, /maintenance: Back at 5/);
    const s = await zdd(project.dir, ['resume', 'web']);
    assert.equal(s.code, 0, s.stdout + s.stderr);
    assert.equal((await request(`${url}/`)).status, 200);
  });

  it('pause or resume of an unknown service exits 2; resuming a service that is not paused exits 0', { timeout: 30_000 }, async () => {
    for (const args of [['pause', 'nope'], ['resume', 'nope']]) {
      const r = await zdd(project.dir, args);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /nope/);
    }
    const r = await zdd(project.dir, ['resume', 'web']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /web was not paused/);
  });

  it('a pause outlives the daemon: maintenance still answers after a crash and a new zdd serve, and a resume is kept too', { timeout: 60_000 }, async () => {
    const p = await zddJson<{ paused: { since: number } }>(project.dir, ['pause', 'web', '--maintenance', 'Back soon']);
    await daemon.stop('SIGKILL');
    daemon = await startDaemon(project.dir);
    // The first request the new daemon answers gets the maintenance text: the pause was back before it listened.
    const r = await request(`${url}/`);
    assert.deepEqual([r.status, r.body], [503, 'Back soon']);
    const status = await zddJson<StatusJson>(project.dir, ['status']);
    assert.deepEqual(status.services[0]!.paused, { since: p.paused.since, maintenance: 'Back soon' });
    assert.equal((await zdd(project.dir, ['resume', 'web'])).code, 0);
    await daemon.stop();
    daemon = await startDaemon(project.dir);
    assert.equal((await request(`${url}/`)).status, 200, 'resumed stays resumed');
  });
});
