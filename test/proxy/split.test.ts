import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { ReleaseTargets } from '../../src/proxy/release-targets.ts';
import { bucketCount, routeByName, routeForBucket, type Route, type RouteTable } from '../../src/proxy/route-table.ts';
import { bucketCookieFor, group, makeTarget, refusedPort, send, sha256, startNamedUpstream, startProxy, startUpstream, type RunningProxy, type Upstream } from '../helpers/upstream.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const stableRelease = 1;
const canaryRelease = 2;

/** Release 2 (canary) at `canaryWeight`, release 1 (stable) at the rest. */
function table(canaryWeight: number): RouteTable {
  return {
    routes: [
      { targets: new ReleaseTargets(canaryRelease), weight: canaryWeight },
      { targets: new ReleaseTargets(stableRelease), weight: 100 - canaryWeight },
    ],
    retryOnOlder: true,
  };
}

describe('routeForBucket and routeByName', () => {
  it('gives the newest release the lowest buckets, in proportion to its weight', () => {
    const t = table(20);
    let canary = 0;
    for (let b = 0; b < bucketCount; b++) if (routeForBucket(t, b)!.targets.release === canaryRelease) canary++;
    assert.equal(canary, 2000);
    assert.equal(routeForBucket(t, 0)!.targets.release, canaryRelease);
    assert.equal(routeForBucket(t, 1999)!.targets.release, canaryRelease);
    assert.equal(routeForBucket(t, 2000)!.targets.release, stableRelease);
    assert.equal(routeForBucket(t, bucketCount - 1)!.targets.release, stableRelease);
  });

  it('raising the canary weight only moves buckets from stable to canary, never back', () => {
    const weights = [0, 1, 5, 10, 12.5, 20, 33.3, 50, 75, 99, 100];
    for (let i = 1; i < weights.length; i++) {
      const lower = table(weights[i - 1]!);
      const higher = table(weights[i]!);
      for (let b = 0; b < bucketCount; b++) {
        if (routeForBucket(lower, b)!.targets.release === canaryRelease) {
          assert.equal(routeForBucket(higher, b)!.targets.release, canaryRelease, `bucket ${b} left the canary going from ${weights[i - 1]}% to ${weights[i]}%`);
        }
      }
    }
  });

  it('sends nothing to a release with weight 0 and everything to one with 100', () => {
    for (let b = 0; b < bucketCount; b += 7) {
      assert.equal(routeForBucket(table(0), b)!.targets.release, stableRelease);
      assert.equal(routeForBucket(table(100), b)!.targets.release, canaryRelease);
    }
  });

  it('gives the rest to the oldest release with traffic when weights do not reach 100', () => {
    const t: RouteTable = {
      routes: [
        { targets: new ReleaseTargets(3), weight: 10 },
        { targets: new ReleaseTargets(2), weight: 30 },
        { targets: new ReleaseTargets(1), weight: 0 },
      ],
      retryOnOlder: false,
    };
    assert.equal(routeForBucket(t, 500)!.targets.release, 3);
    assert.equal(routeForBucket(t, 2000)!.targets.release, 2);
    assert.equal(routeForBucket(t, 9000)!.targets.release, 2);
    assert.equal(routeForBucket({ routes: [], retryOnOlder: false }, 0), undefined);
  });

  it('names the newest release "canary", the oldest "stable", and any by its number', () => {
    const t = table(20);
    assert.equal(routeByName(t, 'canary')!.targets.release, canaryRelease);
    assert.equal(routeByName(t, 'stable')!.targets.release, stableRelease);
    assert.equal(routeByName(t, '1')!.targets.release, stableRelease);
    assert.equal(routeByName(t, '2')!.targets.release, canaryRelease);
    assert.equal(routeByName(t, '7'), undefined);
    const single: RouteTable = { routes: [{ targets: new ReleaseTargets(4), weight: 100 }], retryOnOlder: false };
    assert.equal(routeByName(single, 'canary'), undefined, 'no canary without a split');
    assert.equal(routeByName(single, 'stable')!.targets.release, 4);
  });
});

describe('traffic split through the proxy', () => {
  let canary: Upstream;
  let stable: Upstream;
  let proxy: RunningProxy;
  let canaryGroup: ReleaseTargets;
  let stableGroup: ReleaseTargets;
  const agent = new Agent({ connections: 32 });

  before(async () => {
    canary = await startNamedUpstream('canary');
    stable = await startNamedUpstream('stable');
    proxy = await startProxy();
    const ct = makeTarget(canary.port, { release: canaryRelease });
    const st = makeTarget(stable.port, { release: stableRelease });
    canaryGroup = group(canaryRelease, ct);
    stableGroup = group(stableRelease, st);
    cleanups.push(() => canary.close(), () => stable.close(), () => proxy.close(), () => ct.destroy(), () => st.destroy(), () => agent.close());
  });
  beforeEach(() => proxy.proxy.setSplit(split(20), true));

  function split(canaryWeight: number): Route[] {
    return [
      { targets: canaryGroup, weight: canaryWeight },
      { targets: stableGroup, weight: 100 - canaryWeight },
    ];
  }

  async function get(headers: Record<string, string> = {}): Promise<{ servedBy: string; setCookie: string | undefined }> {
    const res = await request(`${proxy.url}/`, { dispatcher: agent, headers });
    const body = await res.body.text();
    assert.equal(res.statusCode, 200, body);
    const c = res.headers['set-cookie'];
    return { servedBy: body, setCookie: Array.isArray(c) ? c.join('\n') : c };
  }

  function bucketOf(setCookie: string | undefined): number {
    const m = /^zdd-bucket=(\d+)\.[\w-]{16}; Path=\/; HttpOnly; SameSite=Lax$/.exec(setCookie ?? '');
    assert.ok(m, `a zdd-bucket cookie: ${setCookie}`);
    return Number(m[1]);
  }

  for (const [value, expected] of [
    ['canary', 'canary'],
    ['stable', 'stable'],
    [String(canaryRelease), 'canary'],
    [String(stableRelease), 'stable'],
  ] as const) {
    it(`x-zdd-release: ${value} sends every request to the ${expected} release, without a bucket cookie`, async () => {
      for (let i = 0; i < 20; i++) {
        const r = await get({ 'x-zdd-release': value });
        assert.equal(r.servedBy, expected);
        assert.equal(r.setCookie, undefined);
      }
    });

    it(`cookie zdd-release=${value} sends every request to the ${expected} release`, async () => {
      for (let i = 0; i < 20; i++) {
        const r = await get({ cookie: `theme=dark; zdd-release=${value}` });
        assert.equal(r.servedBy, expected);
      }
    });
  }

  it('the forcing header wins over a bucket cookie', async () => {
    const r = await get({ 'x-zdd-release': 'canary', cookie: bucketCookieFor(9999) });
    assert.equal(r.servedBy, 'canary');
  });

  it('sets a zdd-bucket cookie on a first request, and sending it back keeps the client on the same release', async () => {
    const seenReleases = new Set<string>();
    for (let client = 0; client < 30; client++) {
      const first = await get();
      const bucket = bucketOf(first.setCookie);
      assert.ok(bucket >= 0 && bucket < bucketCount);
      assert.equal(first.servedBy, bucket < 2000 ? 'canary' : 'stable', `bucket ${bucket}`);
      seenReleases.add(first.servedBy);
      for (let i = 0; i < 10; i++) {
        const again = await get({ cookie: bucketCookieFor(bucket) });
        assert.equal(again.servedBy, first.servedBy, `client with bucket ${bucket}, request ${i}`);
        assert.equal(again.setCookie, undefined, 'a known bucket is not set again');
      }
    }
  });

  it('routes a known bucket by its position: the lowest buckets to the canary', async () => {
    assert.equal((await get({ cookie: bucketCookieFor(0) })).servedBy, 'canary');
    assert.equal((await get({ cookie: bucketCookieFor(1999) })).servedBy, 'canary');
    assert.equal((await get({ cookie: bucketCookieFor(2000) })).servedBy, 'stable');
    assert.equal((await get({ cookie: bucketCookieFor(9999) })).servedBy, 'stable');
  });

  it('gives a new bucket to a client whose bucket cookie is not a valid bucket', async () => {
    // An empty value (a cleared cookie) must not count as bucket 0, which would pin the client to the canary.
    for (const bad of ['10000', '-1', '1.5', 'abc', '']) {
      const r = await get({ cookie: `zdd-bucket=${bad}` });
      assert.match(r.setCookie ?? '', /^zdd-bucket=\d+\.[\w-]{16};/, `cookie zdd-bucket=${JSON.stringify(bad)} gets a new bucket`);
    }
  });

  it('raising the canary weight moves clients from stable to canary and never back', async () => {
    const clients: { bucket: number; release: string }[] = [];
    for (let i = 0; i < 200; i++) {
      const r = await get();
      clients.push({ bucket: bucketOf(r.setCookie), release: r.servedBy });
    }
    for (const weight of [50, 80]) {
      proxy.proxy.setSplit(split(weight), true);
      for (const c of clients) {
        const now = (await get({ cookie: bucketCookieFor(c.bucket) })).servedBy;
        if (c.release === 'canary') assert.equal(now, 'canary', `bucket ${c.bucket} went back to stable at ${weight}%`);
        c.release = now;
      }
    }
    assert.ok(clients.some((c) => c.release === 'canary'));
  });

  it('sends roughly the canary weight of cookie-less requests to the canary', async () => {
    const total = 2000;
    let toCanary = 0;
    const batch = 50;
    for (let i = 0; i < total; i += batch) {
      const replies = await Promise.all(Array.from({ length: batch }, () => get()));
      for (const r of replies) if (r.servedBy === 'canary') toCanary++;
    }
    const share = toCanary / total;
    assert.ok(share > 0.1 && share < 0.3, `canary share ${share} for weight 20%`);
  });
});

describe('retry on stable', () => {
  let proxy: RunningProxy;
  let canary: Upstream;
  let stable: Upstream;
  /** "METHOD sha256-of-body" of each request stable received. */
  const stableBodies: string[] = [];
  const observed: { release: number; ok: boolean; retry: boolean }[] = [];

  before(async () => {
    canary = await startUpstream((req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('canary broke');
      });
    });
    stable = await startUpstream((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        stableBodies.push(`${req.method} ${sha256(Buffer.concat(chunks))}`);
        res.end('stable');
      });
    });
    proxy = await startProxy();
    const ct = makeTarget(canary.port, { release: canaryRelease });
    const st = makeTarget(stable.port, { release: stableRelease });
    proxy.proxy.setSplit(
      [
        { targets: group(canaryRelease, ct), weight: 20 },
        { targets: group(stableRelease, st), weight: 80 },
      ],
      true,
    );
    proxy.proxy.observer = (o) => void observed.push({ release: o.release, ok: o.status > 0 && o.status < 500, retry: o.retry });
    cleanups.push(() => canary.close(), () => stable.close(), () => proxy.close(), () => ct.destroy(), () => st.destroy());
  });
  beforeEach(() => {
    observed.length = 0;
  });
  /** Bucket 0 belongs to the canary: a client that holds it is routed there like any user. */
  const onCanary = bucketCookieFor(0);

  it('answers a GET that the canary failed with 500 from stable, and still counts the canary failure', async () => {
    const errorsBefore = proxy.proxy.stats(canaryRelease).errors;
    const reply = await send(proxy.url, { path: '/item/1', headers: { cookie: onCanary } });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), 'stable');
    assert.equal(canary.seen.at(-1)?.url, '/item/1', 'the canary got the request first');
    assert.equal(proxy.proxy.stats(canaryRelease).errors, errorsBefore + 1);
    assert.ok(proxy.proxy.stats(canaryRelease).view(0).errors >= 1);
    assert.deepEqual(observed, [
      { release: canaryRelease, ok: false, retry: false },
      { release: stableRelease, ok: true, retry: true },
    ]);
  });

  it('does not retry a POST with a body that the canary failed: the client sees the 500', async () => {
    const stableBefore = stable.seen.length;
    const reply = await send(proxy.url, { method: 'POST', path: '/orders', body: '{"n":1}', headers: { cookie: onCanary, 'content-type': 'application/json' } });
    assert.equal(reply.status, 500);
    assert.equal(reply.body.toString(), 'canary broke');
    assert.equal(stable.seen.length, stableBefore, 'stable never saw the POST');
    assert.deepEqual(observed, [{ release: canaryRelease, ok: false, retry: false }]);
  });

  it('resends a PUT with a body that the canary failed to stable, body intact (idempotent, buffered up to 1 MiB)', async () => {
    const body = Buffer.from(JSON.stringify({ name: 'widget', tags: Array.from({ length: 50_000 }, (_, i) => `tag-${i}`) }));
    assert.ok(body.length > 64 * 1024 && body.length < 1024 * 1024);
    const reply = await send(proxy.url, { method: 'PUT', path: '/items/7', body, headers: { cookie: onCanary, 'content-type': 'application/json' } });
    assert.equal(reply.status, 200, reply.body.toString());
    assert.equal(reply.body.toString(), 'stable');
    assert.equal(stableBodies.at(-1), `PUT ${sha256(body)}`);
    assert.deepEqual(observed, [
      { release: canaryRelease, ok: false, retry: false },
      { release: stableRelease, ok: true, retry: true },
    ]);
  });

  it('does not resend a PUT whose body is larger than 1 MiB (streamed, not held): the client sees the canary 500', async () => {
    const body = Buffer.alloc(1536 * 1024, 'x');
    const stableBefore = stable.seen.length;
    const reply = await send(proxy.url, { method: 'PUT', path: '/items/8', body, headers: { cookie: onCanary } });
    assert.equal(reply.status, 500);
    assert.equal(reply.body.toString(), 'canary broke');
    assert.equal(stable.seen.length, stableBefore);
  });

  it('does not retry a request forced onto the canary: a tester sees what the canary answers', async () => {
    const stableBefore = stable.seen.length;
    const reply = await send(proxy.url, { path: '/item/2', headers: { 'x-zdd-release': 'canary' } });
    assert.equal(reply.status, 500);
    assert.equal(reply.body.toString(), 'canary broke');
    assert.equal(stable.seen.length, stableBefore);
  });

  it('does not retry when retryOnOlder is off: the client sees the canary 500', async () => {
    const routes = proxy.proxy.table.routes;
    proxy.proxy.setSplit([...routes], false);
    after(() => proxy.proxy.setSplit([...routes], true));
    const reply = await send(proxy.url, { headers: { cookie: onCanary } });
    assert.equal(reply.status, 500);
    assert.equal(reply.body.toString(), 'canary broke');
  });
});

describe('retry on stable when a stable instance refuses the retry', () => {
  it('sends the retry of a failed canary GET to another stable instance, not back to the canary', async () => {
    const canary = await startUpstream((_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(500);
      res.end('canary broke');
    });
    const stable = await startNamedUpstream('stable');
    const proxy = await startProxy();
    const ct = makeTarget(canary.port, { release: canaryRelease });
    const refusing = makeTarget(await refusedPort(), { release: stableRelease });
    const good = makeTarget(stable.port, { release: stableRelease });
    cleanups.push(() => canary.close(), () => stable.close(), () => proxy.close(), () => ct.destroy(), () => refusing.destroy(), () => good.destroy());
    let refusals = 0;
    refusing.on('connect-failure', () => refusals++);
    // Deciding to retry looks at stable once (a pick), so the retry itself is the group's second pick: the
    // refusing instance, placed second, gets it.
    proxy.proxy.setSplit(
      [
        { targets: group(canaryRelease, ct), weight: 50 },
        { targets: group(stableRelease, good, refusing), weight: 50 },
      ],
      true,
    );
    const reply = await send(proxy.url, { headers: { cookie: bucketCookieFor(0) } });
    assert.equal(refusals, 1, 'the refusing stable instance got the retry first');
    assert.equal(reply.status, 200, reply.body.toString());
    assert.equal(reply.body.toString(), 'stable');
  });
});

describe('retry on stable when the canary refuses connections', () => {
  it('answers GET and POST requests from stable: a refused request was never sent', async () => {
    const stable = await startNamedUpstream('stable');
    const proxy = await startProxy();
    const ct = makeTarget(await refusedPort(), { release: canaryRelease });
    const st = makeTarget(stable.port, { release: stableRelease });
    cleanups.push(() => stable.close(), () => proxy.close(), () => ct.destroy(), () => st.destroy());
    proxy.proxy.setSplit(
      [
        { targets: group(canaryRelease, ct), weight: 50 },
        { targets: group(stableRelease, st), weight: 50 },
      ],
      true,
    );
    for (const method of ['GET', 'POST']) {
      const reply = await send(proxy.url, { method, body: method === 'POST' ? 'a=1' : undefined, headers: { cookie: bucketCookieFor(0) } });
      assert.equal(reply.status, 200, `${method}: ${reply.body.toString()}`);
      assert.equal(reply.body.toString(), 'stable');
    }
    assert.equal(proxy.proxy.stats(canaryRelease).connectionErrors, 2, 'both failures counted against the canary');
  });
});

describe('the bucket cookie next to the application\'s own cookies', () => {
  it('keeps every Set-Cookie of the upstream and adds zdd-bucket', async () => {
    const app = await startUpstream((_req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('set-cookie', ['session=abc; HttpOnly', 'theme=dark']);
      res.end('ok');
    });
    const proxy = await startProxy();
    const a = makeTarget(app.port, { release: canaryRelease });
    const b = makeTarget(app.port, { release: stableRelease });
    cleanups.push(() => app.close(), () => proxy.close(), () => a.destroy(), () => b.destroy());
    proxy.proxy.setSplit(
      [
        { targets: group(canaryRelease, a), weight: 50 },
        { targets: group(stableRelease, b), weight: 50 },
      ],
      true,
    );
    const reply = await send(proxy.url);
    const cookies = reply.headers['set-cookie'] ?? [];
    assert.equal(cookies.length, 3, JSON.stringify(cookies));
    assert.ok(cookies.includes('session=abc; HttpOnly'));
    assert.ok(cookies.includes('theme=dark'));
    assert.ok(cookies.some((c) => /^zdd-bucket=\d+\.[\w-]{16}; Path=\/; HttpOnly; SameSite=Lax$/.test(c)));
  });
});
