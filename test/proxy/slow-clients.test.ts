// Item 2 of the hardening issue: slow or stalled clients cannot take the apps' connections, and every
// wait has a bound.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import type { ProxyConfig } from '../../src/proxy/data-plane.ts';
import type { Target } from '../../src/proxy/target.ts';
import { group, makeTarget, rawExchange, send, sha256, startProxy, startUpstream, type Handler, type RunningProxy } from '../helpers/upstream.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const echo: Handler = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => res.end(`${req.method} ${req.url} ${sha256(Buffer.concat(chunks))}`));
};

/** A proxy for one upstream (one instance with `connections` pool connections) and the given proxy settings. */
async function setup(handler: Handler, connections: number, config: Partial<ProxyConfig> = {}): Promise<{ proxy: RunningProxy; target: Target }> {
  const upstream = await startUpstream(handler);
  const proxy = await startProxy('web', config);
  const target = makeTarget(upstream.port, { timeoutMs: 10_000, connections });
  proxy.proxy.setSplit([{ targets: group(1, target), weight: 100 }]);
  cleanups.push(() => upstream.close(), () => proxy.close(), () => target.destroy());
  return { proxy, target };
}

/** A client that sends a request head and then its body one byte every `everyMs`; collects the answer. */
function slowPoster(port: number, contentLength: number, everyMs: number): { socket: net.Socket; answer: Promise<string> } {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setEncoding('latin1');
  cleanups.push(() => void socket.destroy());
  let received = '';
  socket.on('data', (d: string) => (received += d));
  socket.on('error', () => undefined);
  socket.write(`POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: ${contentLength}\r\n\r\n`);
  const timer = setInterval(() => socket.writable && socket.write('x'), everyMs);
  const answer = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  void answer.then(() => clearInterval(timer));
  return { socket, answer };
}

describe('clients that send their body slowly', () => {
  it('cannot take the upstream connections: 6 slow POSTs and the service still answers at once (pool of 4)', { timeout: 15_000 }, async () => {
    const { proxy, target } = await setup(echo, 4, { bodyIdleTimeout: 10_000 });
    const slow = Array.from({ length: 6 }, () => slowPoster(proxy.port, 100_000, 200));
    // They are all connected and sending: wait until the proxy holds their connections.
    await Promise.all(slow.map((s) => once(s.socket, 'connect')));
    const reply = await send(proxy.url, { path: '/hello' });
    assert.equal(reply.status, 200);
    assert.match(reply.body.toString(), /^GET \/hello /);
    assert.equal(target.busy, 0, 'no upstream connection is held by a body still arriving');
    for (const s of slow) s.socket.destroy();
  });

  it('answers 408 to a body that pauses longer than bodyIdleTimeout', { timeout: 10_000 }, async () => {
    const { proxy } = await setup(echo, 4, { bodyIdleTimeout: 300 });
    const { answer } = slowPoster(proxy.port, 100, 2_000);
    const reply = await answer;
    assert.match(reply, /^HTTP\/1\.1 408 /);
    assert.match(reply, /sent no body data for 300 ms/);
  });

  it('answers 408 to a body that trickles in but takes longer than bodyTimeout in all', { timeout: 10_000 }, async () => {
    const { proxy } = await setup(echo, 4, { bodyIdleTimeout: 5_000, bodyTimeout: 500 });
    const { answer } = slowPoster(proxy.port, 1_000, 50);
    const reply = await answer;
    assert.match(reply, /^HTTP\/1\.1 408 /);
    assert.match(reply, /did not send the whole body in time/);
  });

  it('answers 408 to request headers that do not arrive within headerTimeout', { timeout: 10_000 }, async () => {
    const { proxy } = await setup(echo, 4, { headerTimeout: 300 });
    const reply = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: app.test\r\nX-Slow: ');
    assert.match(reply, /^HTTP\/1\.1 408 /);
  });

  it('still delivers a legitimate slow upload within the limits: 3 MiB, streamed, in pieces with pauses', { timeout: 20_000 }, async () => {
    const { proxy } = await setup(echo, 4, { bodyIdleTimeout: 2_000 });
    const body = Buffer.alloc(3 * 1024 * 1024, 'z');
    const reply = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${proxy.url}/upload`, { method: 'POST', headers: { 'content-length': body.length }, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(`${res.statusCode} ${text}`));
      });
      req.on('error', reject);
      let at = 0;
      const piece = 256 * 1024;
      const next = () => {
        if (at >= body.length) return void req.end();
        req.write(body.subarray(at, (at += piece)));
        setTimeout(next, 100);
      };
      next();
    });
    assert.equal(reply, `200 POST /upload ${sha256(body)}`);
  });

  it('lets large uploads hold at most half of an instance\'s connections: ordinary requests still get through', { timeout: 15_000 }, async () => {
    const uploading = counter(2);
    const { proxy, target } = await setup((req, res) => {
      if (req.url === '/upload') uploading.add();
      echo(req, res);
    }, 4, { bodyIdleTimeout: 10_000 });
    // Three slow uploads too large to buffer: two may stream upstream, the third waits.
    const slow = Array.from({ length: 3 }, () => slowPoster(proxy.port, 5 * 1024 * 1024, 200));
    await Promise.all(slow.map((s) => once(s.socket, 'connect')));
    await uploading.reached;
    const reply = await send(proxy.url, { path: '/quick' });
    assert.equal(reply.status, 200);
    assert.equal(target.streaming, 2);
    for (const s of slow) s.socket.destroy();
  });
});

describe('waiting for an upstream connection', () => {
  it('answers 503 with Retry-After when no connection frees up within queueTimeout', { timeout: 10_000 }, async () => {
    const held: http.ServerResponse[] = [];
    const arrived = counter(2);
    const { proxy } = await setup((_req, res) => {
      held.push(res);
      arrived.add();
    }, 2, { queueTimeout: 300 });
    cleanups.push(() => held.forEach((r) => r.destroy()));
    const stuck = [send(proxy.url, { path: '/a' }).catch(() => undefined), send(proxy.url, { path: '/b' }).catch(() => undefined)];
    await arrived.reached;
    const reply = await send(proxy.url, { path: '/c' });
    assert.equal(reply.status, 503);
    assert.equal(reply.headers['retry-after'], '1');
    assert.match(reply.body.toString(), /stayed busy/);
    held.forEach((r) => r.end('late'));
    await Promise.all(stuck);
  });

  it('serves a waiting request as soon as a connection frees up', { timeout: 10_000 }, async () => {
    const held: http.ServerResponse[] = [];
    const arrived = counter(1);
    const { proxy } = await setup((req, res) => {
      if (req.url !== '/hold') return res.end(`done ${req.url}`);
      held.push(res);
      arrived.add();
    }, 1, { queueTimeout: 5_000 });
    const first = send(proxy.url, { path: '/hold' });
    await arrived.reached;
    const second = send(proxy.url, { path: '/next' });
    held[0]!.end('held');
    assert.equal((await first).body.toString(), 'held');
    const r = await second;
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'done /next');
  });
});

describe('a client that stops reading a large response', () => {
  it('gives the upstream connection back after sendTimeout', { timeout: 15_000 }, async () => {
    const big = Buffer.alloc(32 * 1024 * 1024, 'b');
    let upstreamClosed: Promise<unknown> | undefined;
    const arrived = counter(1);
    const { proxy, target } = await setup((_req, res) => {
      upstreamClosed = once(res, 'close');
      res.end(big);
      arrived.add();
    }, 4, { sendTimeout: 300 });
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
    cleanups.push(() => void socket.destroy());
    socket.write('GET /big HTTP/1.1\r\nHost: app.test\r\n\r\n');
    // It reads nothing: the socket's buffers fill, the proxy stops, and after sendTimeout lets go.
    socket.pause();
    await arrived.reached;
    assert.equal(target.busy, 1);
    await once(target, 'room');
    assert.equal(target.busy, 0);
    assert.equal(target.inFlight, 0);
    await upstreamClosed;
  });
});

describe('connections per client address', () => {
  it('refuses connections beyond maxConnectionsPerClient with 429, and admits again once one closes', { timeout: 10_000 }, async () => {
    // trustedNetworks: [] so that loopback counts like any client.
    const { proxy } = await setup(echo, 4, { maxConnectionsPerClient: 3, trustedNetworks: [] });
    const open = await Promise.all(Array.from({ length: 3 }, () => connected(proxy.port)));
    const refused = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: app.test\r\n\r\n');
    assert.match(refused, /^HTTP\/1\.1 429 /);
    assert.match(refused, /too many connections from 127\.0\.0\.1/);
    const closed = once(open[0]!, 'close');
    open[0]!.destroy();
    await closed;
    await untilTrue(async () => /^HTTP\/1\.1 200 /.test(await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n')));
    for (const s of open) s.destroy();
  });

  it('does not limit clients in trustedNetworks (a local TLS terminator carries many clients)', { timeout: 10_000 }, async () => {
    const { proxy } = await setup(echo, 4, { maxConnectionsPerClient: 2 });
    const open = await Promise.all(Array.from({ length: 4 }, () => connected(proxy.port)));
    const reply = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 200 /);
    for (const s of open) s.destroy();
  });

  it('answers 429 to more than 8 large uploads at once from one address', { timeout: 15_000 }, async () => {
    const { proxy } = await setup(echo, 64, { bodyIdleTimeout: 10_000, trustedNetworks: [] });
    const uploads = Array.from({ length: 9 }, () => slowPoster(proxy.port, 5 * 1024 * 1024, 100));
    const ninth = await Promise.race(uploads.map((u, i) => u.answer.then((a) => ({ a, i }))));
    assert.match(ninth.a, /^HTTP\/1\.1 429 /);
    assert.match(ninth.a, /more than 8 large uploads at once/);
    for (const u of uploads) u.socket.destroy();
  });
});

/** Resolves `reached` once add() was called `n` times. */
function counter(n: number): { add(): void; reached: Promise<void> } {
  let count = 0;
  let resolve!: () => void;
  const reached = new Promise<void>((r) => (resolve = r));
  return {
    add: () => {
      if (++count === n) resolve();
    },
    reached,
  };
}

async function connected(port: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => undefined);
  cleanups.push(() => void s.destroy());
  await once(s, 'connect');
  // An HTTP exchange proves the proxy has accepted (and counted) the connection.
  s.write('GET / HTTP/1.1\r\nHost: app.test\r\n\r\n');
  await once(s, 'data');
  return s;
}

/** Polls a condition the proxy exposes no event for (its counters), every 10 ms, up to a deadline. */
async function untilTrue(check: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms: ${check.toString()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
