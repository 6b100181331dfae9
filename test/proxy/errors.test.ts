import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Target } from '../../src/proxy/target.ts';
import {
  group,
  makeTarget,
  rawExchange,
  refusedPort,
  send,
  sha256,
  startProxy,
  startUpstream,
  type RunningProxy,
  type Upstream,
} from '../helpers/upstream.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

// Without holding (proxy.holdTimeout 0s): a request no instance can take is answered 503 at once
// (test/proxy/hold.test.ts covers holding).
async function proxyFor(...targets: Target[]): Promise<RunningProxy> {
  const p = await startProxy('web', { holdTimeout: 0 });
  cleanups.push(() => p.close());
  for (const t of targets) cleanups.push(() => t.destroy());
  p.proxy.setSplit([{ targets: group(targets[0]?.release ?? 1, ...targets), weight: 100 }]);
  return p;
}

async function upstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const u = await startUpstream(handler);
  cleanups.push(() => u.close());
  return u;
}

/** An upstream answering 200 with the sha256 of the request body. */
function hashingUpstream(): Promise<Upstream> {
  return upstream((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${req.method} ${sha256(Buffer.concat(chunks))}`);
    });
  });
}

describe('when no release serves', () => {
  it('answers 503 with Retry-After and says that no release of the service is serving', async () => {
    const p = await startProxy('shop', { holdTimeout: 0 });
    cleanups.push(() => p.close());
    const reply = await send(p.url, { headers: { 'x-request-id': 'rid-503' } });
    assert.equal(reply.status, 503);
    assert.equal(reply.headers['retry-after'], '1');
    assert.equal(reply.headers['x-request-id'], 'rid-503');
    assert.match(reply.body.toString(), /no release of shop is serving/);
  });

  it('answers 503 again after a split is replaced by an empty one', async () => {
    const u = await hashingUpstream();
    const p = await proxyFor(makeTarget(u.port));
    assert.equal((await send(p.url)).status, 200);
    p.proxy.setSplit([]);
    const reply = await send(p.url);
    assert.equal(reply.status, 503);
    assert.match(reply.body.toString(), /no release of web is serving/);
  });
});

describe('when the routed release has no instance that takes requests', () => {
  it('answers 503 with Retry-After when its only instance is draining', async () => {
    const u = await hashingUpstream();
    const t = makeTarget(u.port);
    const p = await proxyFor(t);
    t.transition('draining');
    const reply = await send(p.url);
    assert.equal(reply.status, 503);
    assert.equal(reply.headers['retry-after'], '1');
    assert.match(reply.body.toString(), /no instance of web could take the request/);
    assert.equal(u.seen.length, 0);
  });
});

describe('an instance that refuses connections', () => {
  it('a GET is retried on another healthy instance and succeeds', async () => {
    const good = await hashingUpstream();
    // The refusing target is first in the group, so the first pick goes to it.
    const refusing = makeTarget(await refusedPort());
    let refusals = 0;
    refusing.on('connect-failure', () => refusals++);
    const p = await proxyFor(refusing, makeTarget(good.port));
    const reply = await send(p.url, { path: '/thing' });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), `GET ${sha256('')}`);
    assert.equal(refusals, 1, 'the refusing instance was tried first');
    assert.equal(p.proxy.stats(1).connectionErrors, 1);
    assert.equal(good.seen.length, 1);
  });

  it('a POST with a body (never sent) is retried on another instance and its body arrives intact', async () => {
    const good = await hashingUpstream();
    const refusing = makeTarget(await refusedPort());
    let refusals = 0;
    refusing.on('connect-failure', () => refusals++);
    const p = await proxyFor(refusing, makeTarget(good.port));
    const body = randomBytes(256 * 1024);
    const reply = await send(p.url, { method: 'POST', path: '/orders', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(reply.status, 200, reply.body.toString());
    assert.equal(reply.body.toString(), `POST ${sha256(body)}`);
    assert.equal(refusals, 1, 'the refusing instance was tried first');
  });

  it('answers 502 when every instance refuses', async () => {
    const a = makeTarget(await refusedPort());
    const b = makeTarget(await refusedPort());
    const p = await proxyFor(a, b);
    const reply = await send(p.url, { headers: { 'x-request-id': 'rid-502' } });
    assert.equal(reply.status, 502);
    assert.equal(reply.headers['x-request-id'], 'rid-502');
    assert.match(reply.body.toString(), /rid-502/);
    assert.equal(p.proxy.stats(1).connectionErrors, 2, 'both instances were tried');
  });
});

describe('an instance whose connection breaks before it answers', () => {
  /** An upstream that drops the connection as soon as a request arrives. */
  function breakingUpstream(): Promise<Upstream> {
    return upstream((req) => req.socket.destroy());
  }

  it('an idempotent GET is retried on another instance and succeeds', async () => {
    const broken = await breakingUpstream();
    const good = await hashingUpstream();
    const p = await proxyFor(makeTarget(broken.port), makeTarget(good.port));
    const reply = await send(p.url);
    assert.equal(reply.status, 200);
    assert.equal(broken.seen.length, 1, 'the breaking instance got it first');
    assert.equal(good.seen.length, 1);
  });

  for (const [what, body] of [
    ['with a body', 'charge=1'],
    ['without a body', undefined],
  ] as const) {
    it(`a POST ${what} is not sent again: the client gets 502`, async () => {
      const broken = await breakingUpstream();
      const good = await hashingUpstream();
      const p = await proxyFor(makeTarget(broken.port), makeTarget(good.port));
      const reply = await send(p.url, { method: 'POST', path: '/charge', body, headers: body ? { 'content-type': 'application/x-www-form-urlencoded' } : {} });
      assert.equal(reply.status, 502);
      assert.match(reply.body.toString(), /upstream connection failed/);
      assert.equal(broken.seen.length, 1);
      assert.equal(good.seen.length, 0, 'a request that may have been processed is never sent twice');
    });
  }
});

describe('an upstream that never answers', () => {
  it('answers 504 once the target timeout passes', async () => {
    const held: ServerResponse[] = [];
    const u = await upstream((_req, res) => void held.push(res));
    const p = await proxyFor(makeTarget(u.port, { timeoutMs: 300 }));
    const reply = await send(p.url, { headers: { 'x-request-id': 'rid-504' } });
    assert.equal(reply.status, 504);
    assert.match(reply.body.toString(), /upstream timed out/);
    assert.equal(reply.headers['x-request-id'], 'rid-504');
    assert.equal(held.length, 1, 'the request reached the upstream once (a timed-out GET is not sent again)');
  });
});

describe('malformed requests', () => {
  let u: Upstream;
  let p: RunningProxy;
  before(async () => {
    u = await hashingUpstream();
    p = await proxyFor(makeTarget(u.port));
  });

  async function stillServes() {
    const reply = await send(p.url);
    assert.equal(reply.status, 200);
  }

  it('answers a garbage request line with 400 and keeps serving other clients', async () => {
    const reply = await rawExchange(p.port, 'THIS IS NOT HTTP\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 /);
    assert.equal(u.seen.length, 0);
    await stillServes();
  });

  it('answers a request with both Content-Length and Transfer-Encoding with 400 (no smuggling) and forwards nothing', async () => {
    const before = u.seen.length;
    const reply = await rawExchange(
      p.port,
      'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 400 /);
    assert.equal(reply.match(/HTTP\/1\.1/g)?.length, 1, 'one response, for one request');
    assert.equal(u.seen.length, before, 'nothing reached the upstream');
    await stillServes();
  });

  it('answers a header section larger than the limit with 431 and keeps serving other clients', async () => {
    const before = u.seen.length;
    const reply = await rawExchange(p.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(reply, /^HTTP\/1\.1 431 /);
    assert.equal(u.seen.length, before);
    await stillServes();
  });

  it('answers a request without Host with 400', async () => {
    const reply = await rawExchange(p.port, 'GET / HTTP/1.1\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 /);
    await stillServes();
  });
});

describe('a client that goes away', () => {
  // The target's own timeout is far beyond the test's: only the client leaving can end the upstream request.
  it('aborts the upstream request when the client closes its connection mid-request', { timeout: 5_000 }, async () => {
    const arrived: ServerResponse[] = [];
    const u = await upstream((_req, res) => void arrived.push(res));
    const target = makeTarget(u.port, { timeoutMs: 60_000 });
    const p = await proxyFor(target);
    const req = request(p.url, { agent: false });
    req.on('error', () => undefined);
    req.end();
    const [upReq, upRes] = (await once(u.server, 'request')) as [IncomingMessage, ServerResponse];
    assert.equal(target.inFlight, 1);
    const upstreamClosed = once(upRes, 'close');
    const idle = once(target, 'idle');
    req.destroy();
    await upstreamClosed;
    assert.equal(upRes.writableEnded, false, 'the upstream had not answered: its request was aborted');
    assert.equal(upReq.destroyed, true);
    await idle;
    assert.equal(target.inFlight, 0);
  });
});
