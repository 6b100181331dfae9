// Item 3 of the hardening issue: only trusted clients may pick a release, nobody can forge a bucket, and
// forced requests never reach the canary analysis.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ReleaseTargets } from '../../src/proxy/release-targets.ts';
import type { Route } from '../../src/proxy/route-table.ts';
import { bucketCookieFor, group, makeTarget, rawExchange, send, startNamedUpstream, startProxy, type RunningProxy, type Upstream } from '../helpers/upstream.ts';

const canaryRelease = 2;
const stableRelease = 1;
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('who may pick a release', () => {
  let canary: Upstream;
  let stable: Upstream;
  let canaryGroup: ReleaseTargets;
  let stableGroup: ReleaseTargets;
  /** Loopback is trusted (the default). */
  let local: RunningProxy;
  /** Nobody is trusted: loopback stands for an outside client here. */
  let outside: RunningProxy;
  const observed: { release: number; ok: boolean }[] = [];

  before(async () => {
    canary = await startNamedUpstream('canary');
    stable = await startNamedUpstream('stable');
    const ct = makeTarget(canary.port, { release: canaryRelease });
    const st = makeTarget(stable.port, { release: stableRelease });
    canaryGroup = group(canaryRelease, ct);
    stableGroup = group(stableRelease, st);
    local = await startProxy();
    outside = await startProxy('web', { trustedNetworks: [] });
    cleanups.push(() => canary.close(), () => stable.close(), () => local.close(), () => outside.close(), () => ct.destroy(), () => st.destroy());
  });
  beforeEach(() => {
    const routes: Route[] = [
      { targets: canaryGroup, weight: 20 },
      { targets: stableGroup, weight: 80 },
    ];
    for (const p of [local, outside]) {
      p.proxy.setSplit(routes, true);
      p.proxy.observer = (o) => void observed.push({ release: o.release, ok: o.status > 0 && o.status < 500 });
    }
    observed.length = 0;
  });

  const onStable = bucketCookieFor(9999);

  it('honours X-Zdd-Release from a trusted client, counts it as forced, and keeps it out of the analysis', { timeout: 10_000 }, async () => {
    const forcedBefore = local.proxy.stats(canaryRelease).forced;
    for (let i = 0; i < 5; i++) {
      const r = await send(local.url, { headers: { 'x-zdd-release': 'canary', cookie: onStable } });
      assert.equal(r.body.toString(), 'canary');
    }
    assert.equal(local.proxy.stats(canaryRelease).forced, forcedBefore + 5);
    assert.deepEqual(observed, [], 'forced requests are not fed to the analysis');
  });

  it('ignores X-Zdd-Release and the zdd-release cookie from a client outside trustedNetworks', { timeout: 10_000 }, async () => {
    for (const headers of [{ 'x-zdd-release': 'canary', cookie: onStable }, { cookie: `zdd-release=canary; ${onStable}` }, { 'x-zdd-release': String(canaryRelease), cookie: onStable }]) {
      const r = await send(outside.url, { headers });
      assert.equal(r.body.toString(), 'stable', JSON.stringify(headers));
    }
    assert.equal(outside.proxy.stats(canaryRelease).forced, 0);
    assert.deepEqual(observed, [
      { release: stableRelease, ok: true },
      { release: stableRelease, ok: true },
      { release: stableRelease, ok: true },
    ]);
  });

  it('ignores forcing from behind a trusted TLS terminator when X-Forwarded-For names an outside client', { timeout: 10_000 }, async () => {
    const viaFrontend = await send(local.url, { headers: { 'x-zdd-release': 'canary', 'x-forwarded-for': '203.0.113.9', cookie: onStable } });
    assert.equal(viaFrontend.body.toString(), 'stable');
    const trustedOffice = await startProxy('web', { trustedNetworks: ['127.0.0.0/8', '203.0.113.0/24'] });
    trustedOffice.proxy.setSplit(local.proxy.table.routes as Route[], true);
    cleanups.push(() => trustedOffice.close());
    const fromOffice = await send(trustedOffice.url, { headers: { 'x-zdd-release': 'canary', 'x-forwarded-for': '203.0.113.9', cookie: onStable } });
    assert.equal(fromOffice.body.toString(), 'canary');
  });

  it('ignores a bucket cookie zdd did not sign (a hand-made number, or a value signed for another service)', { timeout: 10_000 }, async () => {
    for (const cookie of ['zdd-bucket=0', 'zdd-bucket=0.AAAAAAAAAAAAAAAA', bucketCookieFor(0, 'api')]) {
      const r = await send(outside.url, { headers: { cookie } });
      const set = r.headers['set-cookie']?.find((c) => c.startsWith('zdd-bucket='));
      assert.ok(set, `${cookie} is replaced by a bucket zdd chose`);
      assert.notEqual(set.split(';')[0], cookie);
    }
    // One zdd signed is kept: the client stays where it is, and no new cookie is set.
    const kept = await send(outside.url, { headers: { cookie: bucketCookieFor(0) } });
    assert.equal(kept.body.toString(), 'canary');
    assert.equal(kept.headers['set-cookie'], undefined);
  });

  it('gives a WebSocket upgrade during a split its bucket cookie too', { timeout: 10_000 }, async () => {
    const reply = await rawExchange(local.port, 'GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    // The named upstream is plain HTTP: it answers 200, relayed as an ordinary response.
    assert.match(reply, /\r\nset-cookie: zdd-bucket=\d+\.[\w-]{16}; Path=\/; HttpOnly; SameSite=Lax\r\n/i);
  });
});
