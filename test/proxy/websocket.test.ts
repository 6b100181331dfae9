import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import type { Target } from '../../src/proxy/target.ts';
import { group, makeTarget, refusedPort, rawExchange, sha256, startProxy, type RunningProxy } from '../helpers/upstream.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function proxyFor(target: Target): Promise<RunningProxy> {
  const p = await startProxy();
  cleanups.push(() => p.close());
  cleanups.push(() => target.destroy());
  p.proxy.setSplit([{ targets: group(target.release, target), weight: 100 }]);
  return p;
}

describe('WebSocket through the proxy', () => {
  it('tunnels the upgrade to the upstream: messages flow both ways and X-Forwarded-For reaches the handshake', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const handshakes: IncomingMessage[] = [];
    wss.on('connection', (ws, req) => {
      handshakes.push(req);
      ws.send('hello from upstream');
      ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo: ${data.toString()}`, { binary: isBinary }));
    });
    const p = await proxyFor(makeTarget((wss.address() as net.AddressInfo).port));

    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/socket?room=1`, { headers: { 'x-forwarded-for': '203.0.113.5', 'x-request-id': 'ws-rid-1' } });
    cleanups.push(() => void ws.terminate());
    const messages: (string | Buffer)[] = [];
    const next = () => once(ws, 'message').then(([data, isBinary]) => (isBinary ? (data as Buffer) : (data as Buffer).toString()));
    messages.push(await next());
    assert.equal(messages[0], 'hello from upstream');

    ws.send('ping');
    assert.equal(await next(), 'echo: ping');
    const blob = randomBytes(200_000);
    ws.send(blob);
    const back = await next();
    assert.ok(Buffer.isBuffer(back));
    assert.equal(sha256(back), sha256(blob));

    const req = handshakes[0]!;
    assert.equal(req.url, '/socket?room=1');
    assert.equal(req.headers['x-forwarded-for'], '203.0.113.5, 127.0.0.1');
    assert.equal(req.headers['x-forwarded-proto'], 'http');
    assert.equal(req.headers['x-request-id'], 'ws-rid-1');
    assert.equal(req.headers.upgrade, 'websocket');

    const closed = once(ws, 'close');
    ws.close(1000, 'bye');
    const [code] = await closed;
    assert.equal(code, 1000);
  });

  it('answers 503 to an upgrade when no release serves (holdTimeout 0s)', async () => {
    const p = await startProxy('web', { holdTimeout: 0 });
    cleanups.push(() => p.close());
    const reply = await rawExchange(
      p.port,
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 503 /);
  });

  it('answers 502 to an upgrade whose upstream refuses the connection', async () => {
    const p = await proxyFor(makeTarget(await refusedPort()));
    const reply = await rawExchange(
      p.port,
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    assert.match(reply, /^HTTP\/1\.1 502 /);
  });
});

describe('other upgrades through the proxy', () => {
  it('tunnels a non-WebSocket upgrade byte for byte, and ends it at the drain deadline', async () => {
    // An upstream speaking a made-up protocol after its 101: it echoes bytes in upper case.
    const sockets: net.Socket[] = [];
    const server = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => undefined);
      let head = '';
      let upgraded = false;
      socket.on('data', (d: Buffer) => {
        if (upgraded) return void socket.write(d.toString('latin1').toUpperCase());
        head += d.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        upgraded = true;
        server.emit('head', head.slice(0, end));
        socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: shout/1\r\n\r\n');
        const rest = head.slice(end + 4);
        if (rest) socket.write(rest.toUpperCase());
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const target = makeTarget((server.address() as net.AddressInfo).port, { timeoutMs: 10_000 });
    const p = await proxyFor(target);
    const client = net.connect({ host: '127.0.0.1', port: p.port });
    cleanups.push(() => void client.destroy());
    client.setEncoding('latin1');
    let received = '';
    const arrived = (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!received.includes(text)) return;
          client.off('data', check);
          resolve();
        };
        client.on('data', check);
      });
    client.on('data', (d: string) => (received += d));
    const headSeen = once(server, 'head') as Promise<[string]>;
    let next = arrived('\r\n\r\n');
    client.write('GET /shout HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: shout/1\r\n\r\n');
    await next;
    assert.match(received, /^HTTP\/1\.1 101 /);
    const [head] = await headSeen;
    assert.match(head, /\r\nupgrade: shout\/1(\r\n|$)/i);
    assert.match(head, /\r\nx-forwarded-for: 127\.0\.0\.1(\r\n|$)/i);
    next = arrived('HELLO THERE');
    client.write('hello there');
    await next;
    const ended = once(client, 'end');
    const { cancelled } = await target.drain(10);
    assert.equal(cancelled, 1);
    await ended;
  });
});

/** A frame from server to client (unmasked). */
function serverFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65_536 ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 0xff]) : Buffer.alloc(10);
  if (n >= 65_536) {
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

interface ParsedFrame {
  opcode: number;
  payload: Buffer;
}

/** Parses unmasked frames; throws on bytes that do not end on a frame boundary. */
function parseFrames(data: Buffer): ParsedFrame[] {
  const frames: ParsedFrame[] = [];
  let i = 0;
  while (i < data.length) {
    assert.ok(data.length - i >= 2, 'truncated frame header');
    const opcode = data[i]! & 0x0f;
    assert.equal(data[i + 1]! & 0x80, 0, 'server frames are not masked');
    let len = data[i + 1]! & 0x7f;
    let at = i + 2;
    if (len === 126) {
      len = data.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      len = Number(data.readBigUInt64BE(at));
      at += 8;
    }
    assert.ok(at + len <= data.length, `frame cut off: ${data.length - at} of ${len} payload bytes arrived`);
    frames.push({ opcode, payload: data.subarray(at, at + len) });
    i = at + len;
  }
  return frames;
}

describe('a WebSocket tunnel at the drain deadline', () => {
  for (const [where, cutAt] of [
    ['inside its payload', (frameLength: number) => Math.floor(frameLength / 2)],
    ['inside its 64-bit length header', () => 5],
  ] as const) {
    it(`ends an open WebSocket with Close 1001 after the frame being sent, when the deadline falls ${where}`, async () => {
      // The upstream speaks WebSocket by hand so the test decides where a frame is cut.
      const upstreamSockets: net.Socket[] = [];
      const server = net.createServer((socket) => {
        upstreamSockets.push(socket);
        socket.on('error', () => undefined);
        let head = '';
        const onData = (d: Buffer) => {
          head += d.toString('latin1');
          if (!head.includes('\r\n\r\n')) return;
          socket.off('data', onData);
          const key = /sec-websocket-key: *(\S+)/i.exec(head)![1]!;
          const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
          socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
          server.emit('handshake', socket);
        };
        socket.on('data', onData);
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      cleanups.push(() => {
        for (const s of upstreamSockets) s.destroy();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      });
      const target = makeTarget((server.address() as net.AddressInfo).port, { timeoutMs: 10_000 });
      const p = await proxyFor(target);

      const client = net.connect({ host: '127.0.0.1', port: p.port });
      cleanups.push(() => void client.destroy());
      const handshake = once(server, 'handshake') as Promise<[net.Socket]>;
      client.write(
        'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      const [upstream] = await handshake;
      let received = Buffer.alloc(0);
      const progress = new EventTarget();
      client.on('data', (d: Buffer) => {
        received = Buffer.concat([received, d]);
        progress.dispatchEvent(new Event('data'));
      });
      const clientEnded = once(client, 'end');
      const until = (predicate: () => boolean) =>
        new Promise<void>((resolve) => {
          if (predicate()) return resolve();
          const check = () => {
            if (!predicate()) return;
            progress.removeEventListener('data', check);
            resolve();
          };
          progress.addEventListener('data', check);
        });
      const headEnd = () => received.indexOf('\r\n\r\n');
      await until(() => headEnd() >= 0);
      assert.match(received.toString('latin1'), /^HTTP\/1\.1 101 /);
      const frameStart = headEnd() + 4;

      // A small whole frame, then the first part of a large one.
      const small = serverFrame(0x1, Buffer.from('before'));
      const payload = randomBytes(300_000);
      const large = serverFrame(0x2, payload);
      const half = cutAt(large.length);
      upstream.write(Buffer.concat([small, large.subarray(0, half)]));
      await until(() => received.length - frameStart >= small.length + half);

      // The deadline passes while the large frame is partly sent.
      const drained = await target.drain(20);
      assert.equal(drained.cancelled, 1, 'the open tunnel was cut at the deadline');

      // The rest of the frame still reaches the client, then the Close frame; nothing the upstream sends after.
      upstream.write(Buffer.concat([large.subarray(half), serverFrame(0x1, Buffer.from('after the deadline'))]));
      await clientEnded;
      const frames = parseFrames(received.subarray(frameStart));
      assert.deepEqual(
        frames.map((f) => f.opcode),
        [0x1, 0x2, 0x8],
        'the small frame, the large frame whole, then Close',
      );
      assert.equal(frames[0]!.payload.toString(), 'before');
      assert.equal(frames[1]!.payload.length, payload.length);
      assert.equal(sha256(frames[1]!.payload), sha256(payload));
      assert.equal(frames[2]!.payload.readUInt16BE(0), 1001, 'Close code 1001 going away');
    });
  }

  it('sends the Close frame at once when the tunnel is between frames, and a ws client sees code 1001', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    cleanups.push(() => {
      for (const c of wss.clients) c.terminate();
      return new Promise<void>((resolve) => wss.close(() => resolve()));
    });
    wss.on('connection', (ws) => {
      ws.send('hello');
      ws.on('message', (d) => ws.send(d.toString()));
    });
    const target = makeTarget((wss.address() as net.AddressInfo).port, { timeoutMs: 10_000 });
    const p = await proxyFor(target);
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/`);
    cleanups.push(() => void ws.terminate());
    const errors: Error[] = [];
    ws.on('error', (e) => errors.push(e));
    assert.equal(((await once(ws, 'message'))[0] as Buffer).toString(), 'hello');
    const closed = once(ws, 'close');
    const { cancelled } = await target.drain(20);
    assert.equal(cancelled, 1);
    const [code, reason] = (await closed) as [number, Buffer];
    assert.equal(code, 1001);
    assert.equal(reason.toString(), 'server restarting');
    assert.deepEqual(errors, []);
  });
});
