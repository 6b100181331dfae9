// Issue 8, end to end through the real proxy: one client with a cookie jar lands on an identical canary
// and fails half of its own requests (as it would on stable). It is one client: the canary is promoted,
// and the verdict names it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deployLabelled, zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startKeepAliveLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';
import { waitForStatus } from '../helpers/status.ts';

describe('a sticky client failing half its own requests', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let url: string;

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject(serviceYaml({ port, replicas: 2, strategy: '{ type: canary, steps: [{ weight: 20, pause: 3s }] }', drainTimeout: '2s' }));
    daemon = await startDaemon(project.dir);
    assert.equal((await zdd(project.dir, ['deploy', 'web', '--version', 'v1'])).code, 0);
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  it('does not sink an identical canary: it counts once, and the verdict names it', { timeout: 90_000 }, async () => {
    const users = startKeepAliveLoad({ url, rate: 400, connections: 4 });
    const deploying = deployLabelled(project.dir, 'v2');
    await waitForStatus(project.dir, (s) => s.deployment?.step === 'step 1/1', 'the canary at 20%');
    // The client keeps the cookie of the first answer that came from the canary.
    let cookie: string | undefined;
    for (let i = 0; i < 200 && !cookie; i++) {
      const r = await request(`${url}/`);
      if (JSON.parse(r.body).version === 'v2') cookie = String(r.headers['set-cookie']).split(';')[0];
    }
    assert.ok(cookie, 'a client landed on the canary');
    let sent = 0;
    let failed = 0;
    let stop = false;
    const client = (async () => {
      // ~20% of the traffic, half of it failing: on the canary, where this client lives now.
      while (!stop) {
        const r = await request(`${url}/flaky`, { headers: { cookie: cookie!, 'x-zdd-note': 'sticky' } });
        sent++;
        if (r.status >= 500) failed++;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const r = await deploying;
    stop = true;
    await client;
    const traffic = await users.stop();
    assert.equal(r.code, 0, `promoted:\n${r.stdout}${r.stderr}`);
    assert.ok(sent > 100, `the client sent ${sent} requests`);
    assert.ok(failed > 0, 'and some of them failed (retried on stable, which fails them as often)');
    assert.match(r.stdout, /% of the canary's errors \(\d+ of \d+\) came from one client/);
    assert.equal(traffic.errors + traffic.non2xx, 0, JSON.stringify(traffic));
  });
});
