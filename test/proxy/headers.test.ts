import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { upstreamHeaders } from '../../src/proxy/headers.ts';
import type { Target } from '../../src/proxy/target.ts';
import { group, makeTarget, nextRequest, rawExchange, send, startProxy, startRawUpstream, startUpstream, type RunningProxy, type Upstream } from '../helpers/upstream.ts';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Header names (lower case) of a raw HTTP response head. */
function headerNames(head: string): string[] {
  return head
    .split('\r\n')
    .slice(1)
    .filter((l) => l.includes(':'))
    .map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
}

function headerValue(head: string, name: string): string | undefined {
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}

describe('proxy headers', () => {
  let upstream: Upstream;
  let proxy: RunningProxy;
  let target: Target;
  /** What the upstream answers: set per test. */
  let respond: (req: IncomingMessage, res: import('node:http').ServerResponse) => void;

  before(async () => {
    upstream = await startUpstream((req, res) => respond(req, res));
    proxy = await startProxy();
    target = makeTarget(upstream.port);
    proxy.proxy.setSplit([{ targets: group(1, target), weight: 100 }]);
  });
  after(async () => {
    await proxy.close();
    await target.destroy();
    await upstream.close();
  });

  const ok = (_req: IncomingMessage, res: import('node:http').ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  };

  it('strips hop-by-hop request headers, including those named in Connection, and passes end-to-end ones and Host unchanged', async () => {
    respond = ok;
    const seen = nextRequest(upstream);
    const reply = await rawExchange(
      proxy.port,
      'GET /path?q=1 HTTP/1.1\r\n' +
        'Host: shop.example.test:8443\r\n' +
        'Connection: close, X-Hop-Req\r\n' +
        'Keep-Alive: timeout=5\r\n' +
        'TE: trailers\r\n' +
        'Trailer: X-Checksum\r\n' +
        'Upgrade: h2c\r\n' +
        'Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\n' +
        'Proxy-Connection: keep-alive\r\n' +
        'X-Hop-Req: must-not-pass\r\n' +
        'X-End-To-End: yes\r\n' +
        'Authorization: Bearer abc\r\n' +
        'Cache-Control: no-cache\r\n' +
        'Accept: text/plain\r\n' +
        '\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 200 /);
    const req = await seen;
    assert.equal(req.url, '/path?q=1');
    for (const name of ['keep-alive', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-connection', 'x-hop-req']) {
      assert.equal(req.headers[name], undefined, `${name} must not reach the upstream`);
    }
    // The proxy's own connection to the upstream may carry a Connection header, but never the client's tokens.
    assert.doesNotMatch(String(req.headers.connection ?? ''), /x-hop-req|close/i);
    assert.equal(req.headers['x-end-to-end'], 'yes');
    assert.equal(req.headers.authorization, 'Bearer abc');
    assert.equal(req.headers['cache-control'], 'no-cache');
    assert.equal(req.headers.accept, 'text/plain');
    assert.equal(req.headers.host, 'shop.example.test:8443');
  });

  it('strips hop-by-hop response headers, including those named in Connection, and passes end-to-end ones', async () => {
    const raw = await startRawUpstream(
      () =>
        'HTTP/1.1 200 OK\r\n' +
        'Connection: keep-alive, X-Hop-Res\r\n' +
        'Keep-Alive: timeout=5\r\n' +
        'Trailer: X-Checksum\r\n' +
        'Upgrade: h2c\r\n' +
        'Proxy-Authenticate: Basic realm="upstream"\r\n' +
        'Proxy-Connection: keep-alive\r\n' +
        'X-Hop-Res: must-not-pass\r\n' +
        'X-End-To-End: yes\r\n' +
        'Cache-Control: max-age=60\r\n' +
        'ETag: "v1"\r\n' +
        'Content-Type: text/plain\r\n' +
        'Content-Length: 2\r\n' +
        '\r\nok',
    );
    const p = await startProxy();
    const t = makeTarget(raw.port);
    after(async () => {
      await p.close();
      await t.destroy();
      await raw.close();
    });
    p.proxy.setSplit([{ targets: group(1, t), weight: 100 }]);
    const reply = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: shop.example.test\r\nConnection: close\r\n\r\n');
    const head = reply.slice(0, reply.indexOf('\r\n\r\n'));
    assert.match(head, /^HTTP\/1\.1 200 /);
    const names = headerNames(head);
    for (const name of ['keep-alive', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-connection', 'x-hop-res']) {
      assert.ok(!names.includes(name), `${name} must not reach the client:\n${head}`);
    }
    assert.doesNotMatch(headerValue(head, 'connection') ?? '', /x-hop-res/i);
    assert.equal(headerValue(head, 'x-end-to-end'), 'yes');
    assert.equal(headerValue(head, 'cache-control'), 'max-age=60');
    assert.equal(headerValue(head, 'etag'), '"v1"');
    assert.equal(headerValue(head, 'content-type'), 'text/plain');
    assert.ok(reply.endsWith('\r\n\r\nok'), reply);
  });

  it('appends the client address to an existing X-Forwarded-For and sets X-Forwarded-Proto http and X-Forwarded-Host to the Host', async () => {
    respond = ok;
    const seen = nextRequest(upstream);
    await rawExchange(
      proxy.port,
      'GET / HTTP/1.1\r\nHost: app.example.test\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 198.51.100.1\r\nConnection: close\r\n\r\n',
    );
    const req = await seen;
    assert.equal(req.headers['x-forwarded-for'], '203.0.113.7, 198.51.100.1, 127.0.0.1');
    assert.equal(req.headers['x-forwarded-proto'], 'http');
    assert.equal(req.headers['x-forwarded-host'], 'app.example.test');
    assert.equal(req.headers.host, 'app.example.test');
  });

  it('sets X-Forwarded-For to the client address when the client sent none', async () => {
    respond = ok;
    const seen = nextRequest(upstream);
    await send(proxy.url);
    const req = await seen;
    assert.equal(req.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(req.rawHeaders.filter((h) => h.toLowerCase() === 'x-forwarded-for').length, 1);
  });

  it('keeps X-Forwarded-Proto and X-Forwarded-Host from a loopback client (a local TLS terminator)', async () => {
    respond = ok;
    const seen = nextRequest(upstream);
    await send(proxy.url, { headers: { host: 'internal:8080', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'www.example.test' } });
    const req = await seen;
    assert.equal(req.headers['x-forwarded-proto'], 'https');
    assert.equal(req.headers['x-forwarded-host'], 'www.example.test');
    assert.equal(req.headers.host, 'internal:8080');
    assert.equal(req.rawHeaders.filter((h) => h.toLowerCase() === 'x-forwarded-proto').length, 1);
    assert.equal(req.rawHeaders.filter((h) => h.toLowerCase() === 'x-forwarded-host').length, 1);
  });

  it('replaces X-Forwarded-For, -Proto, -Host and X-Real-IP and drops Forwarded sent by an untrusted (non-loopback) client', async () => {
    // A real request as the proxy would receive it, headers computed as for a client at 198.51.100.9.
    respond = ok;
    const seen = nextRequest(upstream);
    await send(`http://127.0.0.1:${upstream.port}`, {
      headers: {
        host: 'app.example.test',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example.test',
        'x-forwarded-for': '10.0.0.1',
        'x-real-ip': '10.0.0.2',
        forwarded: 'for=10.0.0.3;proto=https',
      },
    });
    const req = await seen;
    const client = { peer: '198.51.100.9', peerTrusted: false, ip: '198.51.100.9', trusted: false };
    const flat = upstreamHeaders(req, { requestId: 'rid-1', client, secure: false });
    const get = (name: string) => flat.filter((_, i) => i % 2 === 1 && flat[i - 1]!.toLowerCase() === name);
    assert.deepEqual(get('x-forwarded-proto'), ['http']);
    assert.deepEqual(get('x-forwarded-host'), ['app.example.test']);
    assert.deepEqual(get('x-forwarded-for'), ['198.51.100.9']);
    assert.deepEqual(get('x-real-ip'), ['198.51.100.9']);
    assert.deepEqual(get('forwarded'), []);
    assert.deepEqual(get('x-request-id'), ['rid-1']);
    assert.deepEqual(get('host'), ['app.example.test']);
  });

  it('forwards a valid incoming X-Request-Id and echoes it on the response', async () => {
    respond = ok;
    const seen = nextRequest(upstream);
    const reply = await send(proxy.url, { headers: { 'x-request-id': 'abc-123.def:456@x/y+z=' } });
    const req = await seen;
    assert.equal(req.headers['x-request-id'], 'abc-123.def:456@x/y+z=');
    assert.equal(reply.headers['x-request-id'], 'abc-123.def:456@x/y+z=');
  });

  for (const [what, value] of [
    ['absent', undefined],
    ['containing spaces', 'not a valid id'],
    ['300 characters long', 'a'.repeat(300)],
  ] as const) {
    it(`generates an X-Request-Id when the incoming one is ${what}, the same upstream and in the response`, async () => {
      respond = ok;
      const seen = nextRequest(upstream);
      const reply = await send(proxy.url, { headers: value === undefined ? {} : { 'x-request-id': value } });
      const req = await seen;
      const upstreamId = req.headers['x-request-id'];
      assert.equal(typeof upstreamId, 'string');
      assert.match(upstreamId as string, uuid);
      assert.equal(reply.headers['x-request-id'], upstreamId);
      assert.equal(req.rawHeaders.filter((h) => h.toLowerCase() === 'x-request-id').length, 1);
    });
  }

  it('gives each request its own generated X-Request-Id', async () => {
    respond = ok;
    const a = await send(proxy.url);
    const b = await send(proxy.url);
    assert.match(String(a.headers['x-request-id']), uuid);
    assert.notEqual(a.headers['x-request-id'], b.headers['x-request-id']);
  });
});
