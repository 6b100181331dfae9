// Items 4 and 9 of the hardening issue: malformed and unwanted requests are the client's errors, answered
// by the proxy itself, never sent upstream and never counted against a release.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ForwardAttempt, type AttemptResult, type Exchange } from '../../src/proxy/forward.ts';
import { group, makeTarget, rawExchange, startProxy, startUpstream, type RunningProxy, type Upstream } from '../helpers/upstream.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('requests the proxy refuses itself', () => {
  let upstream: Upstream;
  let proxy: RunningProxy;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      req.resume();
      req.on('end', () => res.end(`ok ${req.url} real-ip=${req.headers['x-real-ip']} forwarded=${req.headers.forwarded}`));
    });
    proxy = await startProxy();
    const t = makeTarget(upstream.port);
    proxy.proxy.setSplit([{ targets: group(1, t), weight: 100 }]);
    cleanups.push(() => upstream.close(), () => proxy.close(), () => t.destroy());
  });
  beforeEach(() => {
    upstream.seen.length = 0;
  });

  for (const [what, request, status, reason] of [
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n', 400, /more than one Host header/],
    ['HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n', 400, /a Host header is required/],
    ['a Host that is not a host name', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400, /not a host name/],
    ['TRACE', 'TRACE / HTTP/1.1\r\nHost: a.test\r\n\r\n', 405, /TRACE is not allowed/],
    ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405, /CONNECT is not allowed/],
  ] as const) {
    it(`answers ${what} with ${status}, sends nothing upstream, counts nothing against the release`, { timeout: 10_000 }, async () => {
      const before = proxy.proxy.stats(1).requests;
      const rejectedBefore = proxy.proxy.rejections[status] ?? 0;
      const reply = await rawExchange(proxy.port, request);
      assert.match(reply, new RegExp(`^HTTP/1\\.1 ${status} `));
      assert.match(reply, reason);
      assert.match(reply, /\r\nconnection: close\r\n/i);
      if (status === 405) assert.match(reply, /\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n/i);
      assert.equal(upstream.seen.length, 0);
      assert.equal(proxy.proxy.stats(1).requests, before);
      assert.equal(proxy.proxy.rejections[status], rejectedBefore + 1);
    });
  }

  it('answers a request with Connection: close and never sends what was pipelined after it', { timeout: 10_000 }, async () => {
    const reply = await rawExchange(
      proxy.port,
      'GET /first HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\nGET /second HTTP/1.1\r\nHost: a.test\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal((reply.match(/HTTP\/1\.1 /g) ?? []).length, 1, reply);
    assert.ok(reply.endsWith('ok /first real-ip=127.0.0.1 forwarded=undefined'), reply);
    assert.deepEqual(
      upstream.seen.map((r) => r.url),
      ['/first'],
    );
  });

  it('sets X-Real-IP to the client and drops Forwarded from a client outside trustedNetworks', { timeout: 10_000 }, async () => {
    const strict = await startProxy('web', { trustedNetworks: [] });
    const t = makeTarget(upstream.port);
    strict.proxy.setSplit([{ targets: group(1, t), weight: 100 }]);
    cleanups.push(() => strict.close(), () => t.destroy());
    const reply = await rawExchange(strict.port, 'GET / HTTP/1.1\r\nHost: a.test\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nConnection: close\r\n\r\n');
    assert.ok(reply.endsWith('ok / real-ip=127.0.0.1 forwarded=undefined'), reply);
  });

  it('keeps Forwarded from a trusted peer (a local TLS terminator) and takes the client from its X-Forwarded-For', { timeout: 10_000 }, async () => {
    const reply = await rawExchange(
      proxy.port,
      'GET / HTTP/1.1\r\nHost: a.test\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-For: 203.0.113.9\r\nForwarded: for=203.0.113.9;proto=https\r\nConnection: close\r\n\r\n',
    );
    assert.ok(reply.endsWith('ok / real-ip=203.0.113.9 forwarded=for=203.0.113.9;proto=https'), reply);
  });
});

describe('a request undici refuses to send', () => {
  it('is classified as the client\'s fault (the proxy answers 400), not a failure of the release', { timeout: 10_000 }, async () => {
    const upstream = await startUpstream((_req, res) => res.end('ok'));
    const target = makeTarget(upstream.port);
    cleanups.push(() => upstream.close(), () => target.destroy());
    const results: AttemptResult[] = [];
    // A header undici will not send (it owns Transfer-Encoding): what a malformed request would carry.
    const ex = {
      req: { url: '/', method: 'GET' } as IncomingMessage,
      res: { destroyed: false, headersSent: false } as never,
      path: '/',
      hsts: undefined,
      requestId: 'r1',
      headers: ['host', 'a.test', 'transfer-encoding', 'gzip'],
      body: null,
      idempotent: true,
      setCookie: undefined,
      forced: false,
      tried: new Set(),
      sendTimeoutMs: 1_000,
    } satisfies Exchange;
    const done = new Promise<void>((resolve) => {
      new ForwardAttempt(ex, target, {
        interceptStatus: () => false,
        attemptDone: (_e, _t, r) => {
          results.push(r);
          resolve();
        },
      }).start();
    });
    await done;
    assert.equal(results[0]!.clientFault, 'invalid');
    assert.equal(results[0]!.retryable, false);
    assert.equal(upstream.seen.length, 0);
    assert.equal(target.busy, 0, 'the connection slot is given back');
  });
});
