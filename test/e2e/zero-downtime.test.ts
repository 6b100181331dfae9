import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { startFreshConnectionLoad, startLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';
import { startWsClients } from '../helpers/ws-clients.ts';

describe('blue-green under sustained load', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let url: string;

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject(serviceYaml({ port, replicas: 2, strategy: '{ type: blue-green, rollbackWindow: 200ms }', drainTimeout: '4s' }));
    daemon = await startDaemon(project.dir);
    const first = await zdd(project.dir, ['deploy', 'web', '--version', 'v0']);
    assert.equal(first.code, 0, first.stdout + first.stderr);
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  it('serves every request through 20 back-to-back deploys: keep-alive and not, GET and POST, slow requests, WebSockets', async () => {
    const body = JSON.stringify({ payload: 'x'.repeat(2048) });
    const loads = [
      startLoad({ url, connections: 6, rate: 500 }),
      startLoad({ url, connections: 3, method: 'POST', path: '/echo', body, rate: 150 }),
      startFreshConnectionLoad({ url: `${url}/`, rate: 150, maxInFlight: 16, timeoutMs: 20_000 }),
      startLoad({ url, connections: 4, path: '/slow?ms=1200' }),
    ];
    const ws = startWsClients(`${url.replace('http', 'ws')}/ws`, 4);
    for (let i = 1; i <= 20; i++) {
      const r = await zdd(project.dir, ['deploy', 'web', '--version', `v${i}`, '--env', `APP_VERSION=v${i}`]);
      assert.equal(r.code, 0, `deploy ${i} failed:\n${r.stdout}${r.stderr}`);
    }
    // Let the slow requests started just before the last switch run to their end on the old set.
    const lastSlow = await fetch(`${url}/slow?ms=1200`);
    assert.equal(lastSlow.status, 200);
    const results = await Promise.all(loads.map((l) => l.stop()));
    const wsReport = await ws.stop();

    const [gets, posts, noKeepAlive, slow] = results;
    for (const [name, r] of Object.entries({ gets, posts, noKeepAlive, slow })) {
      assert.ok(r!.requests > 0, `${name}: no requests were made`);
      assert.deepEqual({ name, errors: r!.errors, timeouts: r!.timeouts, non2xx: r!.non2xx }, { name, errors: 0, timeouts: 0, non2xx: 0 }, JSON.stringify(r));
    }
    assert.deepEqual(wsReport.errors, []);
    assert.ok(wsReport.messagesEchoed > 0);
    // Every WebSocket close was a clean one: 1001 from a drained release, 1000 from our own stop.
    for (const code of Object.keys(wsReport.closeCodes)) assert.ok(code === '1000' || code === '1001', `unclean close ${code}: ${JSON.stringify(wsReport.closeCodes)}`);

    const live = await (await fetch(`${url}/`)).json();
    assert.equal((live as { version: string }).version, 'v20');
  });
});
