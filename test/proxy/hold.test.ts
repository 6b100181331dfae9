// Requests that find no routable instance (none yet, all restarting) or a paused service wait for one,
// up to proxy.holdTimeout, instead of a 503 at once. Real proxy, real upstreams, real sockets.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { after, describe, it } from 'node:test';
import type { ServiceProxy } from '../../src/proxy/service-proxy.ts';
import { group, makeTarget, rawExchange, send, sha256, startProxy, startUpstream, type RunningProxy, type Upstream } from '../helpers/upstream.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function proxy(config: Parameters<typeof startProxy>[1] = {}, holdCap?: number): Promise<RunningProxy> {
  const p = await startProxy('web', { holdTimeout: 30_000, ...config }, { holdCap });
  cleanups.push(() => p.close());
  return p;
}

async function upstream(handler?: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const u = await startUpstream(
    handler ??
      ((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => res.end(`${req.method} ${sha256(Buffer.concat(chunks))}`));
      }),
  );
  cleanups.push(() => u.close());
  return u;
}

/** Resolves once `n` requests wait in the proxy's hold list. */
function held(p: ServiceProxy, n: number): Promise<void> {
  return new Promise((resolve) => {
    if (p.held === n) return resolve();
    const previous = p.onHoldChange;
    p.onHoldChange = (count) => {
      previous?.(count);
      if (count !== n) return;
      p.onHoldChange = previous;
      resolve();
    };
  });
}

describe('a request with no routable instance', () => {
  it('waits and is answered once a release gets a split (not 503)', { timeout: 10_000 }, async () => {
    const p = await proxy();
    const u = await upstream();
    const reply = send(p.url, { method: 'POST', body: 'held body' });
    await held(p.proxy, 1);
    const t = makeTarget(u.port);
    cleanups.push(() => t.destroy());
    p.proxy.setSplit([{ targets: group(1, t), weight: 100 }]);
    const r = await reply;
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), `POST ${sha256('held body')}`, 'the held request body reaches the instance whole');
    assert.equal(p.proxy.held, 0);
  });

  it('waits while the only instance is still starting, and goes on when it turns healthy', { timeout: 10_000 }, async () => {
    const p = await proxy();
    const u = await upstream();
    const t = makeTarget(u.port, { healthy: false });
    cleanups.push(() => t.destroy());
    p.proxy.setSplit([{ targets: group(1, t), weight: 100 }]);
    const reply = send(p.url);
    await held(p.proxy, 1);
    assert.equal(u.seen.length, 0);
    t.transition('healthy');
    assert.equal((await reply).status, 200);
  });

  it('gets 503 with Retry-After once holdTimeout passes', { timeout: 10_000 }, async () => {
    const p = await proxy({ holdTimeout: 50 });
    const r = await send(p.url, { headers: { 'x-request-id': 'rid-held' } });
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '1');
    assert.equal(r.headers['x-request-id'], 'rid-held');
    assert.match(r.body.toString(), /no release of web is serving \(waited 50ms\)/);
    assert.equal(p.proxy.held, 0);
  });

  it('gets 503 at once with holdTimeout 0s', { timeout: 10_000 }, async () => {
    const p = await proxy({ holdTimeout: 0 });
    let everHeld = false;
    p.proxy.onHoldChange = () => (everHeld = true);
    const r = await send(p.url);
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '1');
    assert.match(r.body.toString(), /no release of web is serving/);
    assert.equal(everHeld, false);
  });

  it('leaves the list when its client disconnects, and is never forwarded', { timeout: 10_000 }, async () => {
    const p = await proxy();
    const u = await upstream();
    const req = http.request(p.url, { agent: false });
    req.on('error', () => undefined);
    req.end();
    await held(p.proxy, 1);
    req.destroy();
    await held(p.proxy, 0);
    const t = makeTarget(u.port);
    cleanups.push(() => t.destroy());
    p.proxy.setSplit([{ targets: group(1, t), weight: 100 }]);
    assert.equal((await send(p.url)).status, 200);
    assert.equal(u.seen.length, 1, 'only the second request reached the instance');
  });

  it('is refused at once with 503 when the hold list is full', { timeout: 10_000 }, async () => {
    const p = await proxy({}, 2);
    const u = await upstream();
    const first = [send(p.url), send(p.url)];
    await held(p.proxy, 2);
    const third = await send(p.url);
    assert.equal(third.status, 503);
    assert.equal(third.headers['retry-after'], '1');
    assert.match(third.body.toString(), /2 requests already wait/);
    const t = makeTarget(u.port);
    cleanups.push(() => t.destroy());
    p.proxy.setSplit([{ targets: group(1, t), weight: 100 }]);
    assert.deepEqual((await Promise.all(first)).map((r) => r.status), [200, 200]);
  });

  it('holds a WebSocket upgrade too, and answers 503 when none appears in time', { timeout: 10_000 }, async () => {
    const p = await proxy({ holdTimeout: 50 });
    const reply = await rawExchange(
      p.port,
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 503 /);
    assert.match(reply, /retry-after: 1/);
  });
});

describe('a paused service', () => {
  it('holds new requests while paused and forwards them on resume; requests in flight finish', { timeout: 10_000 }, async () => {
    const p = await proxy();
    let release!: () => void;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const u = await upstream((req, res) => {
      req.resume();
      if (req.url === '/slow') void slow.then(() => res.end('slow'));
      else res.end('ok');
    });
    const t = makeTarget(u.port);
    cleanups.push(() => t.destroy());
    p.proxy.setSplit([{ targets: group(1, t), weight: 100 }]);
    const inFlight = send(p.url, { path: '/slow' });
    await once(u.server, 'request');
    const pause = p.proxy.pause();
    assert.equal(pause.maintenance, undefined);
    const waiting = [send(p.url), send(p.url)];
    await held(p.proxy, 2);
    release();
    assert.equal((await inFlight).status, 200, 'a request in flight when the pause began finishes');
    assert.equal(u.seen.length, 1, 'held requests did not reach the instance');
    assert.equal(p.proxy.resume(), true);
    assert.deepEqual((await Promise.all(waiting)).map((r) => r.status), [200, 200]);
    assert.equal(p.proxy.resume(), false, 'resuming again is harmless');
  });

  it('answers 503 with Retry-After when the pause outlasts holdTimeout', { timeout: 10_000 }, async () => {
    const p = await proxy({ holdTimeout: 50 });
    const u = await upstream();
    const t = makeTarget(u.port);
    cleanups.push(() => t.destroy());
    p.proxy.setSplit([{ targets: group(1, t), weight: 100 }]);
    p.proxy.pause();
    const r = await send(p.url);
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '1');
    assert.match(r.body.toString(), /web is paused/);
    assert.equal(u.seen.length, 0);
  });

  it('in maintenance, answers 503 with the text at once, held requests too; resume serves again', { timeout: 10_000 }, async () => {
    const p = await proxy();
    const u = await upstream();
    const t = makeTarget(u.port);
    cleanups.push(() => t.destroy());
    p.proxy.setSplit([{ targets: group(1, t), weight: 100 }]);
    p.proxy.pause();
    const waiting = send(p.url);
    await held(p.proxy, 1);
    p.proxy.pause('Back at 5');
    for (const r of [await waiting, await send(p.url)]) {
      assert.equal(r.status, 503);
      assert.equal(r.body.toString(), 'Back at 5');
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      assert.ok(r.headers['retry-after']);
    }
    assert.equal(u.seen.length, 0);
    p.proxy.resume();
    assert.equal((await send(p.url)).status, 200);
  });
});
