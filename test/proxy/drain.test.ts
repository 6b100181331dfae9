import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { after, describe, it } from 'node:test';
import type { Cancellable, Target, TargetState } from '../../src/proxy/target.ts';
import { group, makeTarget, send, startNamedUpstream, startProxy, startUpstream, type RunningProxy, type Upstream } from '../helpers/upstream.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** An upstream that holds every request until the test answers it. */
async function holdingUpstream(): Promise<{ upstream: Upstream; held: ServerResponse[] }> {
  const held: ServerResponse[] = [];
  const upstream = await startUpstream((_req: IncomingMessage, res: ServerResponse) => void held.push(res));
  cleanups.push(() => upstream.close());
  return { upstream, held };
}

async function proxyFor(...targets: Target[]): Promise<RunningProxy> {
  const p = await startProxy();
  cleanups.push(() => p.close());
  for (const t of targets) cleanups.push(() => t.destroy());
  p.proxy.setSplit([{ targets: group(1, ...targets), weight: 100 }]);
  return p;
}

describe('draining a target', () => {
  it('lets a request in flight finish within the deadline: the client gets its 200 and nothing is cancelled', async () => {
    const { upstream, held } = await holdingUpstream();
    const target = makeTarget(upstream.port, { timeoutMs: 10_000 });
    const p = await proxyFor(target);
    const arrived = once(upstream.server, 'request');
    const reply = send(p.url);
    await arrived;
    assert.equal(target.inFlight, 1);
    const drained = target.drain(10_000);
    assert.equal(target.state, 'draining');
    held[0]!.writeHead(200, { 'content-type': 'text/plain' });
    held[0]!.end('finished in time');
    const r = await reply;
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'finished in time');
    assert.deepEqual(await drained, { cancelled: 0 });
    assert.equal(target.state, 'removed');
    assert.equal(target.inFlight, 0);
  });

  it('cuts a request that outlasts the deadline: the client gets 503 naming the drain deadline', async () => {
    const { upstream } = await holdingUpstream();
    const target = makeTarget(upstream.port, { timeoutMs: 10_000 });
    const p = await proxyFor(target);
    const arrived = once(upstream.server, 'request');
    const reply = send(p.url, { headers: { 'x-request-id': 'cut-1' } });
    const [, upRes] = (await arrived) as [IncomingMessage, ServerResponse];
    const upstreamClosed = once(upRes, 'close');
    const { cancelled } = await target.drain(50);
    assert.equal(cancelled, 1);
    const r = await reply;
    assert.equal(r.status, 503);
    assert.match(r.body.toString(), /drain deadline/);
    assert.equal(r.headers['retry-after'], '1');
    assert.equal(r.headers['x-request-id'], 'cut-1');
    await upstreamClosed;
    assert.equal(upRes.writableEnded, false, 'the upstream request was aborted, not answered');
    assert.equal(target.state, 'removed');
  });

  it('ends the client connection when the deadline falls while the response is streaming', async () => {
    const { upstream, held } = await holdingUpstream();
    const target = makeTarget(upstream.port, { timeoutMs: 10_000 });
    const p = await proxyFor(target);
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(p.url, { agent: false }, resolve);
      req.on('error', reject);
      req.end();
    });
    await once(upstream.server, 'request');
    held[0]!.writeHead(200, { 'content-length': 1000 });
    held[0]!.write('part of the body');
    const res = await response;
    await once(res, 'data');
    const aborted = new Promise<boolean>((resolve) => {
      res.on('error', () => resolve(true));
      res.on('end', () => resolve(false));
      res.on('close', () => resolve(!res.complete));
    });
    res.resume();
    const { cancelled } = await target.drain(20);
    assert.equal(cancelled, 1);
    assert.equal(await aborted, true, 'the client sees a broken response, not a complete one');
  });

  it('a draining target gets no new requests: the other target serves them', async () => {
    const draining = await holdingUpstream();
    const other = await startNamedUpstream('other');
    cleanups.push(() => other.close());
    const a = makeTarget(draining.upstream.port, { timeoutMs: 10_000 });
    const b = makeTarget(other.port);
    const p = await proxyFor(a, b);
    // Keep the draining target busy so the drain does not finish at once.
    const arrived = once(draining.upstream.server, 'request');
    const first = send(p.url);
    await arrived;
    assert.equal(a.inFlight, 1, 'the first request went to target a');
    const drained = a.drain(10_000);
    for (let i = 0; i < 10; i++) {
      const r = await send(p.url);
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'other');
    }
    assert.equal(draining.held.length, 1, 'the draining target got nothing new');
    assert.equal(other.seen.length, 10);
    draining.held[0]!.end('done');
    assert.equal((await first).status, 200);
    assert.deepEqual(await drained, { cancelled: 0 });
  });

  it('a second drain call waits for the first and returns the same result', async () => {
    const { upstream } = await holdingUpstream();
    const target = makeTarget(upstream.port);
    const first = target.drain(5_000);
    const second = target.drain(0);
    assert.equal(first, second);
    assert.deepEqual(await first, { cancelled: 0 });
  });
});

describe('Target state machine', () => {
  function states(t: Target): TargetState[] {
    const seen: TargetState[] = [];
    t.on('state', (s) => seen.push(s));
    return seen;
  }

  it('moves adding → healthy ⇄ unhealthy → draining → removed and emits each change once', async () => {
    const t = makeTarget(1, { healthy: false });
    cleanups.push(() => t.destroy());
    const seen = states(t);
    assert.equal(t.state, 'adding');
    assert.equal(t.routable, false);
    assert.equal(t.transition('healthy'), true);
    assert.equal(t.routable, true);
    assert.equal(t.transition('healthy'), true, 'staying put is allowed');
    assert.equal(t.transition('unhealthy'), true);
    assert.equal(t.routable, true, 'unhealthy targets are a last resort, still routable');
    assert.equal(t.transition('healthy'), true);
    assert.equal(t.transition('draining'), true);
    assert.equal(t.routable, false);
    assert.equal(t.transition('removed'), true);
    assert.deepEqual(seen, ['healthy', 'unhealthy', 'healthy', 'draining', 'removed']);
  });

  it('refuses moves back from draining or removed', () => {
    const t = makeTarget(1);
    cleanups.push(() => t.destroy());
    t.transition('draining');
    const seen = states(t);
    assert.equal(t.transition('healthy'), false);
    assert.equal(t.transition('unhealthy'), false);
    assert.equal(t.transition('adding'), false);
    assert.equal(t.state, 'draining');
    t.transition('removed');
    assert.equal(t.transition('draining'), false);
    assert.equal(t.transition('healthy'), false);
    assert.equal(t.state, 'removed');
    assert.deepEqual(seen, ['removed']);
  });

  it('destroy removes the target at once', async () => {
    const t = makeTarget(1);
    await t.destroy();
    assert.equal(t.state, 'removed');
  });

  it('emits idle when the last tracked work ends, and counts untracked work only once', () => {
    const t = makeTarget(1);
    cleanups.push(() => t.destroy());
    const work: Cancellable[] = [{ cancel() {} }, { cancel() {} }];
    let idle = 0;
    t.on('idle', () => idle++);
    t.track(work[0]!);
    t.track(work[1]!);
    assert.equal(t.inFlight, 2);
    t.untrack(work[0]!);
    t.untrack(work[0]!);
    assert.equal(t.inFlight, 1);
    assert.equal(idle, 0);
    t.untrack(work[1]!);
    assert.equal(t.inFlight, 0);
    assert.equal(idle, 1);
  });
});

describe('ReleaseTargets.pick', () => {
  const busy = (t: Target, n: number) => {
    for (let i = 0; i < n; i++) t.track({ cancel() {} });
  };

  it('picks the healthy target with the fewest requests in flight', () => {
    const [a, b, c] = [makeTarget(1), makeTarget(2), makeTarget(3)];
    cleanups.push(() => a.destroy(), () => b.destroy(), () => c.destroy());
    busy(a, 3);
    busy(b, 1);
    busy(c, 2);
    const g = group(1, a, b, c);
    for (let i = 0; i < 6; i++) assert.equal(g.pick(), b);
  });

  it('spreads ties over all healthy targets', () => {
    const ts = [makeTarget(1), makeTarget(2), makeTarget(3)];
    for (const t of ts) cleanups.push(() => t.destroy());
    const g = group(1, ...ts);
    const picked = new Set<Target>();
    for (let i = 0; i < 3; i++) picked.add(g.pick()!);
    assert.equal(picked.size, 3);
  });

  it('never picks a draining, removed or adding target, and falls back to an unhealthy one only when none is healthy', () => {
    const [adding, draining, unhealthy, healthy] = [makeTarget(1, { healthy: false }), makeTarget(2), makeTarget(3), makeTarget(4)];
    cleanups.push(() => adding.destroy(), () => draining.destroy(), () => unhealthy.destroy(), () => healthy.destroy());
    draining.transition('draining');
    unhealthy.transition('unhealthy');
    busy(healthy, 5);
    const g = group(1, adding, draining, unhealthy, healthy);
    for (let i = 0; i < 8; i++) assert.equal(g.pick(), healthy, 'a busy healthy target beats an idle unhealthy one');
    healthy.transition('unhealthy');
    const picked = new Set<Target | undefined>();
    for (let i = 0; i < 8; i++) picked.add(g.pick());
    assert.deepEqual(picked, new Set([unhealthy]), 'the least busy unhealthy target');
    unhealthy.transition('draining');
    healthy.transition('draining');
    assert.equal(g.pick(), undefined);
  });

  it('skips excluded targets and counts healthy ones', () => {
    const [a, b] = [makeTarget(1), makeTarget(2)];
    cleanups.push(() => a.destroy(), () => b.destroy());
    const g = group(1, a, b);
    assert.equal(g.healthyCount, 2);
    for (let i = 0; i < 4; i++) assert.equal(g.pick(new Set([a])), b);
    assert.equal(g.pick(new Set([a, b])), undefined);
    g.remove(b);
    assert.equal(g.healthyCount, 1);
    assert.equal(g.pick(new Set([a])), undefined);
  });
});
