// Item 1 of the hardening issue: an upgrade the app does not accept must never leave a raw tunnel behind.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { group, makeTarget, rawExchange, startProxy, startUpstream, type RunningProxy, type Upstream } from '../helpers/upstream.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const upgradeH2c = 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n';
/** What an attacker pipelines behind the upgrade, hoping it reaches the app unchecked. */
const smuggled = 'GET http://evil.test/admin HTTP/1.1\r\nHost: app.test\r\nHost: evil.test\r\nX-Forwarded-For: 6.6.6.6\r\nX-Request-Id: forged\r\n\r\n';

describe('an upgrade the app answers with an ordinary response', () => {
  let upstream: Upstream;
  let proxy: RunningProxy;
  let respond: (req: IncomingMessage, res: ServerResponse) => void;

  before(async () => {
    // A plain HTTP app (Express, gunicorn…): it ignores Upgrade and answers normally.
    upstream = await startUpstream((req, res) => respond(req, res));
    proxy = await startProxy();
    const t = makeTarget(upstream.port);
    proxy.proxy.setSplit([{ targets: group(1, t), weight: 100 }]);
    cleanups.push(() => upstream.close(), () => proxy.close(), () => t.destroy());
  });
  beforeEach(() => {
    upstream.seen.length = 0;
    respond = (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`plain answer to ${req.url}`);
    };
  });

  it('relays the 200 as a normal response and ends the connection: pipelined bytes never reach the app', { timeout: 10_000 }, async () => {
    const reply = await rawExchange(proxy.port, upgradeH2c + smuggled);
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(reply, /\r\nconnection: close\r\n/i);
    assert.ok(reply.endsWith('plain answer to /'), reply);
    assert.equal((reply.match(/HTTP\/1\.1 /g) ?? []).length, 1, 'one response only');
    assert.deepEqual(
      upstream.seen.map((r) => r.url),
      ['/'],
      'the smuggled request never reached the app',
    );
  });

  it('relays a chunked non-101 answer intact (de-chunked, delimited by the close)', { timeout: 10_000 }, async () => {
    respond = (req, res) => {
      req.resume();
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.write('not ');
      setTimeout(() => res.end('allowed'), 20);
    };
    const reply = await rawExchange(proxy.port, upgradeH2c);
    assert.match(reply, /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.ok(reply.endsWith('\r\n\r\nnot allowed'), JSON.stringify(reply));
    assert.doesNotMatch(reply, /transfer-encoding/i);
  });

  it('treats an upgrade with a request body as an ordinary request: no tunnel, Upgrade dropped, later requests checked', { timeout: 10_000 }, async () => {
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
    cleanups.push(() => void socket.destroy());
    socket.setEncoding('latin1');
    let received = '';
    const until = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if ((received.match(/HTTP\/1\.1 /g) ?? []).length < n || !received.endsWith('\n')) return;
          socket.off('data', check);
          resolve();
        };
        socket.on('data', (d: string) => {
          received += d;
          check();
        });
      });
    let next = until(1);
    socket.write('POST /form HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\nhello');
    await next;
    assert.match(received, /^HTTP\/1\.1 200 OK\r\n/);
    // The connection still speaks HTTP: the next request is parsed and checked like any other.
    next = until(2);
    socket.write(smuggled);
    await next;
    assert.match(received, /HTTP\/1\.1 400 Bad Request[\s\S]*only origin-form request targets/);
    assert.equal(upstream.seen.length, 1);
    assert.equal(upstream.seen[0]!.url, '/form');
    assert.equal(upstream.seen[0]!.headers.upgrade, undefined);
  });

  for (const [what, request, status] of [
    ['an absolute-form target', 'GET http://evil.test/ HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', 400],
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: app.test\r\nHost: evil.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', 400],
  ] as const) {
    it(`checks upgrade requests like any other: ${what} gets ${status}`, { timeout: 10_000 }, async () => {
      const reply = await rawExchange(proxy.port, request);
      assert.match(reply, new RegExp(`^HTTP/1\\.1 ${status} `));
      assert.equal(upstream.seen.length, 0);
    });
  }

  it('counts the upgrade answer in the release stats', { timeout: 10_000 }, async () => {
    const before = proxy.proxy.stats(1).requests;
    await rawExchange(proxy.port, upgradeH2c);
    assert.equal(proxy.proxy.stats(1).requests, before + 1);
  });
});

describe('an upgrade the app never answers', () => {
  it('answers 504 after proxy.timeout instead of holding the connection open', { timeout: 10_000 }, async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => void sockets.push(s.on('error', () => undefined)));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const proxy = await startProxy();
    const t = makeTarget((silent.address() as net.AddressInfo).port, { timeoutMs: 200 });
    proxy.proxy.setSplit([{ targets: group(1, t), weight: 100 }]);
    cleanups.push(() => proxy.close(), () => t.destroy(), () => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const reply = await rawExchange(proxy.port, 'GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 504 /);
  });
});
