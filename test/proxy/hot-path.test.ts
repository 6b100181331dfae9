// The per-request shortcuts of the proxy's hot path (issue 11) give the answers the long way gives:
// request ids, response headers decoded once, a client judged once per connection, and a body's last
// chunk sent with the end of the response.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { NetworkSet } from '../../src/config/networks.ts';
import { identifyClient } from '../../src/proxy/client-address.ts';
import type { ClientRequest } from '../../src/proxy/client-exchange.ts';
import { ForwardAttempt, type AttemptResult, type Exchange } from '../../src/proxy/forward.ts';
import { downstreamHeaders, newRequestId, upstreamHeaders } from '../../src/proxy/headers.ts';
import type { Target } from '../../src/proxy/target.ts';
import { group, makeTarget, rawExchange, send, startProxy, startUpstream, type RunningProxy, type Upstream } from '../helpers/upstream.ts';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newRequestId', () => {
  it('is shaped like a version-4 UUID and never repeats', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 70_000; i++) {
      const id = newRequestId();
      assert.match(id, uuid);
      seen.add(id);
    }
    assert.equal(seen.size, 70_000);
  });
});

describe('downstreamHeaders', () => {
  /** What undici hands a handler: raw names and values as bytes, and the same headers parsed by lower-case name. */
  function fromUpstream(flat: string[]): { raw: Buffer[]; parsed: Record<string, string | string[]> } {
    const parsed: Record<string, string | string[]> = {};
    for (let i = 0; i < flat.length; i += 2) {
      const key = flat[i]!.toLowerCase();
      const had = parsed[key];
      parsed[key] = had === undefined ? flat[i + 1]! : [...(Array.isArray(had) ? had : [had]), flat[i + 1]!];
    }
    return { raw: flat.map((s) => Buffer.from(s, 'latin1')), parsed };
  }

  it('keeps names as sent and every value of a repeated header, in order, with or without the parsed headers', () => {
    const flat = ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'X-Mixed', 'é=latin1', 'set-cookie', 'b=2', 'Date', 'today'];
    const { raw, parsed } = fromUpstream(flat);
    const expected = [...flat, 'x-request-id', 'rid'];
    assert.deepEqual(downstreamHeaders(raw, 'rid', undefined, undefined, parsed), expected);
    assert.deepEqual(downstreamHeaders(raw, 'rid'), expected);
    assert.deepEqual(downstreamHeaders(flat, 'rid', undefined, undefined, parsed), expected);
  });

  it('drops hop-by-hop headers and those Connection names, wherever they stand, the upstream X-Request-Id too', () => {
    const flat = ['X-Request-Id', 'theirs', 'X-Early', '1', 'Connection', 'keep-alive, X-Early, x-late, X-Request-Id', 'Keep-Alive', 'timeout=5', 'X-Late', '2', 'X-Kept', '3'];
    const { raw, parsed } = fromUpstream(flat);
    assert.deepEqual(downstreamHeaders(raw, 'ours', 'c=1', 'max-age=60', parsed), ['X-Kept', '3', 'x-request-id', 'ours', 'set-cookie', 'c=1', 'strict-transport-security', 'max-age=60']);
    assert.deepEqual(downstreamHeaders(fromUpstream(['x-request-id', 'theirs']).raw, 'ours'), ['x-request-id', 'theirs']);
  });

  it('decodes every name right though many names share a slot of its table', () => {
    const names = Array.from({ length: 5000 }, (_, i) => `X-${(i * 7919).toString(36)}-${i % 3 === 0 ? 'A' : 'b'}`);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < names.length; i += 50) {
        const flat = names.slice(i, i + 50).flatMap((n) => [n, n.toLowerCase()]);
        const { raw, parsed } = fromUpstream(flat);
        assert.deepEqual(downstreamHeaders(raw, 'rid', undefined, undefined, parsed), [...flat, 'x-request-id', 'rid']);
      }
    }
  });
});

describe('upstreamHeaders', () => {
  it('passes names of every length and case as sent, and still finds those it must drop or replace in any case', () => {
    const raw = [
      'HOST', 'app.test',
      'User-Agent', 'ua',
      'Upgrade-Insecure-Requests', '1',
      'X-FORWARDED-FOR', '198.51.100.1',
      'x-Real-IP', '198.51.100.2',
      'Sec-Fetch-Mode', 'navigate',
      'FORWARDED', 'for=198.51.100.3',
      'Te', 'trailers',
      'X-Request-ID', 'theirs',
      'A-Header-Name-That-Is-Longer-Than-Thirty-Two-Characters', 'long',
      'Cookie', 'a=1',
    ];
    const req = { rawHeaders: raw, headers: {}, httpVersionMajor: 1 } as unknown as ClientRequest;
    const client = { peer: '192.0.2.7', peerTrusted: false, ip: '192.0.2.7', trusted: false };
    assert.deepEqual(upstreamHeaders(req, { requestId: 'rid', client, secure: false }), [
      'HOST', 'app.test',
      'User-Agent', 'ua',
      'Upgrade-Insecure-Requests', '1',
      'Sec-Fetch-Mode', 'navigate',
      'A-Header-Name-That-Is-Longer-Than-Thirty-Two-Characters', 'long',
      'Cookie', 'a=1',
      'x-forwarded-for', '192.0.2.7',
      'x-forwarded-proto', 'http',
      'x-forwarded-host', 'app.test',
      'x-real-ip', '192.0.2.7',
      'x-request-id', 'rid',
    ]);
    // Connection may name any header, of any length: it goes.
    const named = { rawHeaders: ['Host', 'app.test', 'Connection', 'Sec-Fetch-Mode', 'Sec-Fetch-Mode', 'navigate'], headers: {}, httpVersionMajor: 1 } as unknown as ClientRequest;
    assert.deepEqual(upstreamHeaders(named, { requestId: 'rid', client, secure: true }).slice(0, 2), ['Host', 'app.test']);
    assert.equal(upstreamHeaders(named, { requestId: 'rid', client, secure: true }).includes('Sec-Fetch-Mode'), false);
  });
});

describe('identifyClient', () => {
  const request = (remoteAddress: string, rawHeaders: string[] = []) => ({ socket: { remoteAddress }, rawHeaders, httpVersionMajor: 1 }) as unknown as ClientRequest;

  it('judges a connection again when the trusted networks change', () => {
    const socket = { remoteAddress: '::ffff:10.1.2.3' };
    const req = { socket, rawHeaders: ['X-Forwarded-For', '203.0.113.9'], httpVersionMajor: 1 } as unknown as ClientRequest;
    const first = identifyClient(req, new NetworkSet([]));
    assert.deepEqual(first, { peer: '10.1.2.3', peerTrusted: false, ip: '10.1.2.3', trusted: false });
    const trusted = new NetworkSet(['10.0.0.0/8']);
    assert.deepEqual(identifyClient(req, trusted), { peer: '10.1.2.3', peerTrusted: true, ip: '203.0.113.9', trusted: false });
    const direct = { socket, rawHeaders: [], httpVersionMajor: 1 } as unknown as ClientRequest;
    assert.deepEqual(identifyClient(direct, trusted), { peer: '10.1.2.3', peerTrusted: true, ip: '10.1.2.3', trusted: true });
  });

  it('gives the requests of one untrusted connection the same answer, whatever they claim', () => {
    const set = new NetworkSet(['127.0.0.0/8']);
    const a = request('192.0.2.1');
    const b = { ...a, rawHeaders: ['X-Forwarded-For', '127.0.0.1'] } as unknown as ClientRequest;
    assert.equal(identifyClient(a, set), identifyClient(b, set));
    assert.deepEqual(identifyClient(b, set), { peer: '192.0.2.1', peerTrusted: false, ip: '192.0.2.1', trusted: false });
  });

  it('does not remember a socket that has no address yet', () => {
    const set = new NetworkSet(['127.0.0.0/8']);
    const socket: { remoteAddress?: string } = {};
    const req = { socket, rawHeaders: [], httpVersionMajor: 1 } as unknown as ClientRequest;
    assert.equal(identifyClient(req, set).peer, '');
    socket.remoteAddress = '127.0.0.1';
    assert.deepEqual(identifyClient(req, set), { peer: '127.0.0.1', peerTrusted: true, ip: '127.0.0.1', trusted: true });
  });
});

describe('a response body through the proxy', () => {
  let upstream: Upstream;
  let proxy: RunningProxy;
  let target: Target;
  before(async () => {
    upstream = await startUpstream((req, res) => {
      const body = Buffer.alloc(200_000, 'x');
      if (req.url === '/pieces') {
        // Content-Length, the body in three pieces with pauses between them.
        res.writeHead(200, { 'content-length': String(body.length) });
        res.write(body.subarray(0, 1000));
        setTimeout(() => res.write(body.subarray(1000, 150_000)), 30);
        setTimeout(() => res.end(body.subarray(150_000)), 60);
      } else if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('one ');
        setTimeout(() => res.end('two'), 20);
      } else {
        res.writeHead(200, { 'content-length': '5' });
        res.end(req.method === 'HEAD' ? undefined : 'hello');
      }
    });
    proxy = await startProxy();
    target = makeTarget(upstream.port);
    proxy.proxy.setSplit([{ targets: group(1, target), weight: 100 }]);
  });
  after(async () => {
    await proxy.close();
    await target.destroy();
    await upstream.close();
  });

  it('arrives whole and in order when it comes in pieces, with or without Content-Length', async () => {
    const pieces = await send(proxy.url, { path: '/pieces' });
    assert.equal(pieces.status, 200);
    assert.equal(pieces.body.length, 200_000);
    assert.ok(pieces.body.every((b) => b === 0x78));
    const chunked = await send(proxy.url, { path: '/chunked' });
    assert.equal(chunked.headers['transfer-encoding'], 'chunked');
    assert.equal(chunked.body.toString(), 'one two');
  });

  it('answers a HEAD request with the upstream Content-Length and no body, and the connection goes on', async () => {
    const reply = await rawExchange(
      proxy.port,
      'HEAD / HTTP/1.1\r\nHost: app.test\r\n\r\nGET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n',
    );
    const [head, second] = reply.split(/(?=HTTP\/1\.1 )/);
    assert.match(head!, /^HTTP\/1\.1 200 /);
    assert.match(head!, /\r\ncontent-length: 5\r\n/i);
    assert.ok(head!.endsWith('\r\n\r\n'));
    assert.match(second!, /^HTTP\/1\.1 200 [^]*\r\n\r\nhello$/);
  });
});

describe('the chunk that completes a body', () => {
  /** A ForwardAttempt with stand-ins for its target, its upstream controller and its client response. */
  function attempt(backlog: number) {
    const calls: string[] = [];
    const res = Object.assign(new EventEmitter(), {
      headersSent: false,
      destroyed: false,
      writableLength: 0,
      writableHighWaterMark: 16_384,
      writeHead(status: number) {
        calls.push(`head ${status}`);
        this.headersSent = true;
      },
      write(chunk: Buffer) {
        calls.push(`write ${chunk}`);
        return true;
      },
      end(chunk?: Buffer) {
        calls.push(chunk ? `end ${chunk}` : 'end');
        this.writableLength = backlog;
      },
      destroy() {
        calls.push('destroy');
        this.destroyed = true;
      },
    });
    const results: AttemptResult[] = [];
    const target = { occupy() {}, vacate() {}, track() {}, untrack() {}, pool: { dispatch() {} } } as unknown as Target;
    const ex = { req: { method: 'GET' }, res: res as unknown as ServerResponse, path: '/', hsts: undefined, requestId: 'rid', headers: [], body: null, idempotent: true, setCookie: undefined, forced: false, tried: new Set(), sendTimeoutMs: 50 } as unknown as Exchange;
    const a = new ForwardAttempt(ex, target, { interceptStatus: () => false, attemptDone: (_ex, _t, r) => results.push(r) });
    const controller = { rawHeaders: [Buffer.from('Content-Length'), Buffer.from('6')], pause() {}, resume() {}, abort() {} } as never;
    a.start();
    a.onRequestStart(controller);
    a.onResponseStart(controller, 200, { 'content-length': '6' });
    return { a, controller, calls, res, results };
  }

  it('goes out with the end of the response, the pieces before it as they come', () => {
    const { a, controller, calls, results } = attempt(0);
    a.onResponseData(controller, Buffer.from('abc'));
    a.onResponseData(controller, Buffer.from('def'));
    assert.deepEqual(calls, ['head 200', 'write abc']);
    a.onResponseEnd();
    assert.deepEqual(calls, ['head 200', 'write abc', 'end def']);
    assert.equal(results.length, 1);
    assert.equal(results[0]!.status, 200);
    assert.equal(results[0]!.responded, true);
  });

  it('is dropped with the connection when the upstream fails after it', () => {
    const { a, controller, calls, results } = attempt(0);
    a.onResponseData(controller, Buffer.from('abcdef'));
    a.onResponseError(controller, Object.assign(new Error('boom'), { code: 'UND_ERR_SOCKET' }));
    assert.deepEqual(calls, ['head 200', 'destroy']);
    assert.equal(results[0]!.responded, true);
  });

  it('gives a client that reads nothing sendTimeout to take it, then closes its connection', async () => {
    const stuck = attempt(20_000);
    stuck.a.onResponseData(stuck.controller, Buffer.from('abcdef'));
    stuck.a.onResponseEnd();
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.deepEqual(stuck.calls, ['head 200', 'end abcdef', 'destroy']);
    // Sent in time ('finish'): nothing is closed.
    const slow = attempt(20_000);
    slow.a.onResponseData(slow.controller, Buffer.from('abcdef'));
    slow.a.onResponseEnd();
    slow.res.emit('finish');
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.deepEqual(slow.calls, ['head 200', 'end abcdef']);
  });
});
