// A data-plane worker's copy of a service's instances (src/proxy/workers/mirror-targets.ts), driven the
// way the daemon drives it, against a real ServiceProxy and real upstream HTTP servers.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ServiceProxy } from '../../src/proxy/service-proxy.ts';
import { MirrorTargets } from '../../src/proxy/workers/mirror-targets.ts';
import type { RouteSpec, TargetSpec } from '../../src/proxy/workers/protocol.ts';

describe('a worker’s mirror of the daemon’s instances', () => {
  let upstream: http.Server;
  let port: number;
  let release: () => void = () => undefined;

  before(async () => {
    // Answers /slow only when the test lets it go.
    upstream = http.createServer((req, res) => {
      if (req.url === '/slow') release = () => res.end('slow');
      else res.end('ok');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    port = (upstream.address() as AddressInfo).port;
  });

  after(() => {
    upstream.closeAllConnections();
    upstream.close();
  });

  const spec = (id: string, rel: number, state: TargetSpec['state'] = 'healthy'): TargetSpec => ({ id, release: rel, host: '127.0.0.1', port, connections: 4, timeoutMs: 5_000, state });
  const route = (rel: number, weight: number, targets: TargetSpec[]): RouteSpec => ({ release: rel, weight, targets });

  function setup() {
    const proxy = new ServiceProxy('web', pino({ level: 'silent' }), { secret: Buffer.alloc(32, 1) });
    const records: [number, number][] = [];
    proxy.recorder = { started: () => undefined, attempt: (rel, status) => void records.push([rel, status]), retry: () => undefined };
    const mirror = new MirrorTargets('web', proxy, { connectFailure: () => undefined });
    return { proxy, mirror, records };
  }

  it('builds the split from the daemon’s description and follows each instance’s health', { timeout: 10_000 }, () => {
    const { proxy, mirror } = setup();
    mirror.setRoutes([route(2, 20, [spec('b1', 2, 'adding')]), route(1, 80, [spec('a1', 1), spec('a2', 1, 'unhealthy')])], true);
    assert.deepEqual(
      proxy.table.routes.map((r) => [r.targets.release, r.weight, r.targets.targets.map((t) => `${t.id}:${t.state}`)]),
      [
        [2, 20, ['b1:adding']],
        [1, 80, ['a1:healthy', 'a2:unhealthy']],
      ],
    );
    assert.equal(proxy.table.retryOnOlder, true);
    const b1 = proxy.table.routes[0]!.targets.targets[0]!;
    mirror.setRoutes([route(2, 50, [spec('b1', 2)]), route(1, 50, [spec('a1', 1), spec('a2', 1)])], true);
    // The same objects, now healthy: requests waiting on them keep their place.
    assert.equal(proxy.table.routes[0]!.targets.targets[0], b1);
    assert.equal(b1.state, 'healthy');
    assert.deepEqual(mirror.inFlight().map(([id]) => id).sort(), ['a1', 'a2', 'b1']);
  });

  it('destroys an instance that left the daemon’s list without a drain (it died)', { timeout: 10_000 }, () => {
    const { proxy, mirror } = setup();
    mirror.setRoutes([route(1, 100, [spec('a1', 1), spec('a2', 1)])], false);
    const a2 = proxy.table.routes[0]!.targets.targets[1]!;
    mirror.setRoutes([route(1, 100, [spec('a1', 1)])], false);
    assert.equal(a2.state, 'removed');
    assert.deepEqual(proxy.table.routes[0]!.targets.targets.map((t) => t.id), ['a1']);
  });

  it('drains an instance: waits for its request in flight here, reports it, then forgets it', { timeout: 10_000 }, async () => {
    const { proxy, mirror, records } = setup();
    mirror.setRoutes([route(1, 100, [spec('a1', 1)])], false);
    const a1 = proxy.table.routes[0]!.targets.targets[0]!;
    // A real request through the proxy, held at the upstream.
    const front = http.createServer((req, res) => proxy.handle(req, res, { secure: false, path: req.url!, cookiePath: '/', hsts: undefined }));
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const answer = fetch(`http://127.0.0.1:${(front.address() as AddressInfo).port}/slow`).then((r) => r.text());
    while (a1.inFlight === 0) await new Promise((resolve) => setImmediate(resolve));
    let drained = false;
    const drain = mirror.drain('a1', 5_000).then((cancelled) => {
      drained = true;
      return cancelled;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(drained, false, 'the drain waits for the request in flight');
    release();
    assert.equal(await answer, 'slow');
    assert.equal(await drain, 0);
    assert.equal(a1.state, 'removed');
    assert.deepEqual(mirror.inFlight(), []);
    assert.deepEqual(records, [[1, 200]]);
    front.close();
  });

  it('answers a drain of an instance it never knew at once', { timeout: 10_000 }, async () => {
    const { mirror } = setup();
    assert.equal(await mirror.drain('nope', 5_000), 0);
  });
});
