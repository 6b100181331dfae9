// Item 3 of the hardening issue, end to end: a client on another host (a network namespace) cannot
// force a release, and so cannot sink a healthy canary with forced junk.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deployLabelled, zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startKeepAliveLoad } from '../helpers/load.ts';
import { createOutsideHost, type OutsideHost } from '../helpers/outside.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, testAppDir, type Project } from '../helpers/project.ts';
import { waitForStatus } from '../helpers/status.ts';

describe('a client outside trustedNetworks', () => {
  let outside: OutsideHost;
  let project: Project;
  let daemon: DaemonProcess;
  let url: string;

  before(async () => {
    outside = await createOutsideHost();
    const port = await freePort();
    url = `http://${outside.hostIp}:${port}`;
    // This machine's side of the link is trusted (the operator's own requests); the outside host is not.
    project = makeProject(`services:
  web:
    listen: ${outside.hostIp}:${port}
    command: node app.js
    cwd: ${testAppDir}
    env: { APP_VERSION: v1 }
    replicas: 2
    health: { path: /healthz, interval: 50ms, timeout: 1s, startTimeout: 10s }
    # The junk is 500s on both sides (split like anyone's), ~17% of the traffic for 3 s: with the default
    # 1-point margin, showing the canary within it takes minutes at 100 req/s; 5 points takes seconds.
    strategy: { type: canary, steps: [{ weight: 20, pause: 4s }], analysis: { minRequests: 50, maxErrorRateIncrease: 5% } }
    drainTimeout: 2s
    stopTimeout: 2s
    proxy: { trustedNetworks: ["${outside.hostIp}/32"] }
`);
    daemon = await startDaemon(project.dir);
    const first = await zdd(project.dir, ['deploy', 'web', '--version', 'v1']);
    assert.equal(first.code, 0, first.stderr);
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
    await outside?.remove();
  });

  it('cannot force the canary: 20 req/s of forced junk from outside do not roll back a healthy canary', { timeout: 150_000 }, async () => {
    const users = startKeepAliveLoad({ url, rate: 100, connections: 4 });
    const deploying = deployLabelled(project.dir, 'v2');
    await waitForStatus(project.dir, (s) => s.deployment?.step === 'step 1/1', 'the canary at 20%');

    const trusted = await request(`${url}/`, { headers: { 'x-zdd-release': 'canary' } });
    assert.equal(JSON.parse(trusted.body).version, 'v2', 'a trusted client may force the canary');

    const junk = await outside.send({
      url: `${url}/status/500`,
      count: 60,
      ratePerSecond: 20,
      headers: { 'x-zdd-release': 'canary', cookie: 'zdd-release=canary; zdd-bucket=0' },
    });
    const r = await deploying;
    const traffic = await users.stop();

    assert.equal(r.code, 0, `the canary is promoted:\n${r.stdout}${r.stderr}`);
    assert.equal(traffic.errors + traffic.non2xx, 0, JSON.stringify(traffic));
    assert.equal(junk.length, 60);
    // Not forced: the attacker's requests were split like anyone's (20% canary), not all sent to it.
    const onCanary = junk.filter((x) => x.status === 500 && JSON.parse(x.body).version === 'v2').length;
    assert.ok(onCanary < 30, `${onCanary} of 60 forced requests reached the canary`);
    // Its hand-made bucket cookie was not accepted: zdd gave it a signed one.
    assert.ok(junk.every((x) => x.setCookie.some((c) => /^zdd-bucket=\d+\.[\w-]{16};/.test(c))), 'each got a bucket zdd chose');
  });
});
