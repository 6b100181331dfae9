// The TLS port while a TLS-ALPN-01 challenge is pending: validations (ALPN acme-tls/1 for the challenged name) get
// the challenge certificate; every other client reaches the proxy's TLS server with its ClientHello intact.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { TlsAlpnResponder } from '../../src/tls/tls-alpn-responder.ts';
import { makeCa, makeLeaf, tempDir } from '../helpers/certs.ts';
import { connect, handshake, peerOf } from './handshake.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('TLS-ALPN-01 routing', () => {
  let port: number;
  let siteSerial: string;
  let challengeSerial: string;
  let pending = true;
  let routedPastPeek = 0;

  before(async () => {
    const dir = tempDir();
    const ca = makeCa(dir);
    const site = makeLeaf(ca, ['x.test'], { file: 'site' });
    const challenge = makeLeaf(makeCa(dir, 'challenge CA'), ['x.test'], { file: 'challenge' });
    [siteSerial, challengeSerial] = [site.serial, challenge.serial];
    const challengeContext = tls.createSecureContext({ cert: challenge.certPem, key: challenge.keyPem });
    const responder = new TlsAlpnResponder((name) => (name === 'x.test' ? challengeContext : undefined), () => pending, pino({ level: 'silent' }));
    const main = tls.createServer({ cert: site.certPem, key: site.keyPem, ALPNProtocols: ['h2', 'http/1.1'] }, (socket) => {
      socket.write('hello\n');
      socket.on('end', () => socket.end());
    });
    main.on('tlsClientError', () => undefined);
    const raw = net.createServer((socket) =>
      responder.route(socket, (s) => {
        routedPastPeek++;
        main.emit('connection', s);
      }),
    );
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    port = (raw.address() as net.AddressInfo).port;
    cleanups.push(() => {
      raw.close();
      main.close();
      responder.close();
    });
  });

  it('answers a handshake offering acme-tls/1 for the challenged name with the challenge certificate', { timeout: 10_000 }, async () => {
    const peer = await handshake(port, { servername: 'x.test', ALPNProtocols: ['acme-tls/1'] });
    assert.equal(peer.serial, challengeSerial);
    assert.equal(peer.alpn, 'acme-tls/1');
  });

  it('passes every other client on to the TLS server, ClientHello intact: its certificate, its ALPN, its data', { timeout: 10_000 }, async () => {
    const before = routedPastPeek;
    const socket = await connect(port, { servername: 'x.test', ALPNProtocols: ['h2', 'http/1.1'] });
    const peer = peerOf(socket);
    assert.equal(peer.serial, siteSerial);
    assert.equal(peer.alpn, 'h2');
    const [greeting] = (await once(socket.setEncoding('utf8'), 'data')) as [string];
    assert.equal(greeting, 'hello\n');
    socket.end();
    assert.equal((await handshake(port)).serial, siteSerial, 'no SNI');
    assert.equal(routedPastPeek, before + 2);
  });

  it('does not answer acme-tls/1 for a name without a pending challenge', { timeout: 10_000 }, async () => {
    const outcome = await handshake(port, { servername: 'other.test', ALPNProtocols: ['acme-tls/1'] }).then(
      (peer) => peer.serial,
      () => 'refused',
    );
    assert.notEqual(outcome, challengeSerial);
  });

  it('hands connections straight on while no challenge is pending', { timeout: 10_000 }, async () => {
    pending = false;
    const before = routedPastPeek;
    const peer = await handshake(port, { servername: 'x.test', ALPNProtocols: ['acme-tls/1'] }).then(
      (p) => p.serial,
      () => 'refused',
    );
    assert.notEqual(peer, challengeSerial);
    assert.equal(routedPastPeek, before + 1);
  });
});
