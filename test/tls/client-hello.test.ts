// Reading SNI and ALPN from real ClientHellos (Node's TLS client and openssl s_client), whole or in pieces.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { describe, it } from 'node:test';
import { peekClientHello } from '../../src/tls/client-hello.ts';

/** The first bytes a client sends to a server that never answers, up to a complete ClientHello. */
async function captureHello(start: (port: number) => () => void): Promise<Buffer> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const stop = start((server.address() as net.AddressInfo).port);
  try {
    const [socket] = (await once(server, 'connection')) as [net.Socket];
    let data = Buffer.alloc(0);
    for await (const chunk of socket) {
      data = Buffer.concat([data, chunk as Buffer]);
      if (peekClientHello(data).kind !== 'incomplete') break;
    }
    socket.destroy();
    return data;
  } finally {
    stop();
    server.close();
  }
}

function fromNode(o: tls.ConnectionOptions): (port: number) => () => void {
  return (port) => {
    const client = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...o });
    client.on('error', () => undefined);
    return () => client.destroy();
  };
}

/** Split a single-record ClientHello into two handshake records at `at` bytes of its body. */
function splitRecord(hello: Buffer, at: number): Buffer {
  const body = hello.subarray(5);
  const record = (part: Buffer) => Buffer.concat([Buffer.from([22, 3, 1, part.length >> 8, part.length & 0xff]), part]);
  return Buffer.concat([record(body.subarray(0, at)), record(body.subarray(at))]);
}

describe('ClientHello', () => {
  it('reads the server name and the ALPN list of Node\'s TLS client', { timeout: 10_000 }, async () => {
    const hello = await captureHello(fromNode({ servername: 'App.Example.com', ALPNProtocols: ['h2', 'http/1.1'] }));
    assert.deepEqual(peekClientHello(hello), { kind: 'hello', servername: 'App.Example.com', alpn: ['h2', 'http/1.1'] });
  });

  it('reads an acme-tls/1 offer from openssl s_client', { timeout: 10_000 }, async () => {
    const hello = await captureHello((port) => {
      const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'a.test', '-alpn', 'acme-tls/1'], { stdio: ['pipe', 'ignore', 'ignore'] });
      return () => child.kill();
    });
    assert.deepEqual(peekClientHello(hello), { kind: 'hello', servername: 'a.test', alpn: ['acme-tls/1'] });
  });

  it('has no server name for a client without SNI, and no ALPN list when none is offered', { timeout: 10_000 }, async () => {
    const hello = await captureHello(fromNode({}));
    assert.deepEqual(peekClientHello(hello), { kind: 'hello', servername: undefined, alpn: [] });
  });

  it('waits for more bytes until the hello is complete, also across two records', { timeout: 10_000 }, async () => {
    const hello = await captureHello(fromNode({ servername: 'split.test', ALPNProtocols: ['acme-tls/1'] }));
    for (const at of [0, 1, 4, 5, 40, hello.length - 1]) assert.deepEqual(peekClientHello(hello.subarray(0, at)), { kind: 'incomplete' }, `${at} bytes`);
    const twoRecords = splitRecord(hello, 50);
    for (const at of [10, 60, twoRecords.length - 1]) assert.deepEqual(peekClientHello(twoRecords.subarray(0, at)), { kind: 'incomplete' }, `${at} bytes of two records`);
    assert.deepEqual(peekClientHello(twoRecords), { kind: 'hello', servername: 'split.test', alpn: ['acme-tls/1'] });
  });

  it('calls anything else "other": plain HTTP, a truncated extension', { timeout: 10_000 }, async () => {
    assert.deepEqual(peekClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n')), { kind: 'other' });
    const hello = await captureHello(fromNode({ servername: 'bad.test' }));
    const broken = Buffer.from(hello);
    // Claim a longer extensions block than the message holds: the length field after the compression methods.
    const body = 5 + 4;
    const sessionIdLength = broken[body + 34] as number;
    const suitesAt = body + 35 + sessionIdLength;
    const compressionAt = suitesAt + 2 + broken.readUInt16BE(suitesAt);
    const extensionsAt = compressionAt + 1 + (broken[compressionAt] as number);
    broken.writeUInt16BE(0xffff, extensionsAt);
    assert.deepEqual(peekClientHello(broken), { kind: 'other' });
  });
});
