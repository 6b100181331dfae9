import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Target } from '../../src/proxy/target.ts';
import { group, makeTarget, sha256, startProxy, startUpstream, type RunningProxy, type Upstream } from '../helpers/upstream.ts';

interface Echo {
  bytes: number;
  sha256: string;
  contentLength: string | null;
  transferEncoding: string | null;
}

describe('request and response bodies through the proxy', () => {
  let upstream: Upstream;
  let proxy: RunningProxy;
  let target: Target;
  const bigResponse = randomBytes(10 * 1024 * 1024);
  /** Reports on the upstream's writing of the big response: 'blocked' when a write is refused, 'finished'. */
  const bigProgress = new EventEmitter<{ blocked: []; finished: [] }>();

  before(async () => {
    upstream = await startUpstream((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/echo') {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks);
          const echo: Echo = {
            bytes: body.length,
            sha256: sha256(body),
            contentLength: req.headers['content-length'] ?? null,
            transferEncoding: req.headers['transfer-encoding'] ?? null,
          };
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(echo));
        });
        return;
      }
      if (url.pathname === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bigResponse.length });
        let offset = 0;
        const chunk = 64 * 1024;
        const pump = () => {
          while (offset < bigResponse.length) {
            const piece = bigResponse.subarray(offset, offset + chunk);
            offset += piece.length;
            if (!res.write(piece)) {
              bigProgress.emit('blocked');
              res.once('drain', pump);
              return;
            }
          }
          res.end(() => bigProgress.emit('finished'));
        };
        pump();
        return;
      }
      if (url.pathname === '/head') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 11 });
        res.end(req.method === 'HEAD' ? undefined : 'hello world');
        return;
      }
      if (url.pathname === '/no-content') {
        res.writeHead(204, { 'x-kind': 'no-content' });
        res.end();
        return;
      }
      if (url.pathname === '/not-modified') {
        res.writeHead(304, { etag: '"abc"' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 });
      res.end('after');
    });
    proxy = await startProxy();
    target = makeTarget(upstream.port, { timeoutMs: 10_000 });
    proxy.proxy.setSplit([{ targets: group(1, target), weight: 100 }]);
  });
  after(async () => {
    await proxy.close();
    await target.destroy();
    await upstream.close();
  });

  function post(body: Buffer, chunked: boolean): Promise<Echo> {
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/octet-stream' };
      if (!chunked) headers['content-length'] = body.length;
      const req = http.request(`${proxy.url}/echo`, { method: 'POST', headers, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text) as Echo) : reject(new Error(`status ${res.statusCode}: ${text}`))));
      });
      req.on('error', reject);
      if (chunked) {
        // Many writes of uneven sizes, as a streaming client would send them.
        for (let offset = 0, size = 1; offset < body.length; size = (size * 7 + 13) % 50_000) {
          const piece = body.subarray(offset, offset + size + 1);
          offset += piece.length;
          req.write(piece);
        }
        req.end();
      } else {
        req.end(body);
      }
    });
  }

  it('delivers a 1 MB POST body with Content-Length intact', async () => {
    const body = randomBytes(1024 * 1024);
    const echo = await post(body, false);
    assert.equal(echo.bytes, body.length);
    assert.equal(echo.sha256, sha256(body));
    assert.equal(echo.contentLength, String(body.length));
  });

  it('delivers a 1 MiB chunked POST body intact, read in full first and sent with its length', async () => {
    const body = randomBytes(1024 * 1024);
    const echo = await post(body, true);
    assert.equal(echo.bytes, body.length);
    assert.equal(echo.sha256, sha256(body));
    assert.equal(echo.contentLength, String(body.length));
  });

  it('streams a 3 MiB chunked POST body intact (too large to hold), still chunked', async () => {
    const body = randomBytes(3 * 1024 * 1024);
    const echo = await post(body, true);
    assert.equal(echo.bytes, body.length);
    assert.equal(echo.sha256, sha256(body));
    assert.equal(echo.contentLength, null);
  });

  it('delivers a POST body sent after 100 Continue (Expect: 100-continue)', async () => {
    const body = randomBytes(200 * 1024);
    const echo = await new Promise<Echo>((resolve, reject) => {
      const req = http.request(
        `${proxy.url}/echo`,
        { method: 'POST', headers: { 'content-length': body.length, expect: '100-continue' }, agent: false },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve(JSON.parse(text) as Echo));
        },
      );
      req.on('error', reject);
      // The body goes only once the proxy said to continue.
      req.on('continue', () => req.end(body));
    });
    assert.equal(echo.bytes, body.length);
    assert.equal(echo.sha256, sha256(body));
  });

  it('streams a 10 MB response intact to a client that stops reading for a while', async () => {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = http.get(`${proxy.url}/big`, { agent: false }, resolve);
      req.on('error', reject);
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-length'], String(bigResponse.length));
    const chunks: Buffer[] = [];
    let received = 0;
    const ended = new Promise<void>((resolve, reject) => {
      res.on('end', resolve);
      res.on('error', reject);
      res.socket.on('close', () => (received < bigResponse.length ? reject(new Error(`connection closed after ${received} bytes`)) : undefined));
    });
    // Slow reader: stop after the first chunk until the upstream's writes back up (or it has written everything).
    const first = await once(res, 'data');
    chunks.push(first[0] as Buffer);
    received += (first[0] as Buffer).length;
    res.pause();
    await Promise.race([once(bigProgress, 'blocked'), once(bigProgress, 'finished')]);
    res.on('data', (c: Buffer) => {
      chunks.push(c);
      received += c.length;
    });
    res.resume();
    await ended;
    const body = Buffer.concat(chunks);
    assert.equal(body.length, bigResponse.length);
    assert.equal(sha256(body), sha256(bigResponse));
  });

  /**
   * Sends `first` and, once its response head has arrived, `second` on the same connection; returns all
   * bytes the proxy sent, which must be exactly the first response head and the second response.
   */
  async function twoOnOneConnection(first: string): Promise<{ firstHead: string; rest: string }> {
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
    after(() => void socket.destroy());
    await once(socket, 'connect');
    socket.setEncoding('latin1');
    let received = '';
    socket.write(first);
    await new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`connection closed after: ${JSON.stringify(received)}`)));
      socket.on('data', (d: string) => {
        received += d;
        if (received.includes('\r\n\r\n')) resolve();
      });
    });
    socket.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((resolve) => {
      const check = () => {
        if (received.endsWith('\r\n\r\nafter')) resolve();
      };
      socket.on('data', check);
      check();
    });
    const end = received.indexOf('\r\n\r\n') + 4;
    return { firstHead: received.slice(0, end), rest: received.slice(end) };
  }

  it('answers HEAD without a body and keeps the connection usable', async () => {
    const { firstHead, rest } = await twoOnOneConnection('HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(firstHead, /^HTTP\/1\.1 200 /);
    assert.match(firstHead, /\r\ncontent-length: 11\r\n/i);
    assert.match(rest, /^HTTP\/1\.1 200 /, 'the next bytes are the second response, not a body');
  });

  it('answers 204 without a body and keeps the connection usable', async () => {
    const { firstHead, rest } = await twoOnOneConnection('GET /no-content HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(firstHead, /^HTTP\/1\.1 204 /);
    assert.match(firstHead, /\r\nx-kind: no-content\r\n/i);
    assert.doesNotMatch(firstHead, /transfer-encoding/i);
    assert.match(rest, /^HTTP\/1\.1 200 /);
  });

  it('answers 304 without a body and keeps the connection usable', async () => {
    const { firstHead, rest } = await twoOnOneConnection('GET /not-modified HTTP/1.1\r\nHost: x\r\nIf-None-Match: "abc"\r\n\r\n');
    assert.match(firstHead, /^HTTP\/1\.1 304 /);
    assert.match(firstHead, /\r\netag: "abc"\r\n/i);
    assert.doesNotMatch(firstHead, /transfer-encoding/i);
    assert.match(rest, /^HTTP\/1\.1 200 /);
  });
});
