// Real TLS handshakes against a listener wired to a CertificateStore, and what the client saw.
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { CertificateStore } from '../../src/tls/index.ts';

export interface Peer {
  serial: string;
  fingerprint256: string;
  subject: string;
  issuer: string;
  /** Whether the chain verified against `ca` (when given). */
  authorized: boolean;
  alpn: string | false | null;
}

export interface HandshakeOptions {
  /** SNI; none when undefined (an IP-address client). */
  servername?: string;
  ca?: string;
  ALPNProtocols?: string[];
}

/** Connects, completes the handshake, reads what the peer sent and closes. */
export async function handshake(port: number, o: HandshakeOptions = {}): Promise<Peer> {
  const socket = await connect(port, o);
  const peer = peerOf(socket);
  socket.end();
  return peer;
}

/** Connects and leaves the connection open (the caller ends it). */
export async function connect(port: number, o: HandshakeOptions = {}): Promise<tls.TLSSocket> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    ...(o.servername ? { servername: o.servername } : {}),
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.ALPNProtocols ? { ALPNProtocols: o.ALPNProtocols } : {}),
    rejectUnauthorized: false,
  });
  await once(socket, 'secureConnect');
  // A reset once the test is done with it (its listener closing) is no failure.
  socket.on('error', () => undefined);
  return socket;
}

export function peerOf(socket: tls.TLSSocket): Peer {
  const cert = socket.getPeerCertificate();
  return {
    serial: cert.serialNumber.toUpperCase(),
    fingerprint256: cert.fingerprint256,
    subject: `CN=${cert.subject.CN}`,
    issuer: `CN=${cert.issuer.CN}`,
    authorized: socket.authorized,
    alpn: socket.alpnProtocol,
  };
}

export interface TlsListener {
  port: number;
  close(): Promise<void>;
}

/**
 * A TLS listener as the proxy builds one (after store.configure()): raw TCP through store.routeTlsConnection(), a tls.Server with SNICallback
 * from store.contextFor() and its own context kept at store.defaultCertificate() (for clients without SNI).
 * Each connection gets "hello" and stays open until the client ends it.
 */
export async function listenTls(store: CertificateStore, port = 0): Promise<TlsListener> {
  const secure = tls.createServer({ SNICallback: (name, cb) => cb(null, store.contextFor(name)), ALPNProtocols: ['h2', 'http/1.1'] }, (socket) => {
    socket.write('hello\n');
    socket.on('end', () => socket.end());
  });
  secure.on('tlsClientError', () => undefined);
  // Node calls no SNICallback for clients without SNI: the server's own context is the store's default.
  const onChange = () => secure.setSecureContext(store.defaultCertificate());
  store.on('change', onChange);
  onChange();
  const sockets = new Set<net.Socket>();
  const raw = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    store.routeTlsConnection(socket, (s) => secure.emit('connection', s));
  });
  raw.listen(port, '127.0.0.1');
  await once(raw, 'listening');
  return {
    port: (raw.address() as net.AddressInfo).port,
    async close() {
      store.off('change', onChange);
      for (const s of sockets) s.destroy();
      raw.close();
      secure.close();
    },
  };
}
