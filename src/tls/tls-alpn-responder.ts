// Answers ACME TLS-ALPN-01 validations (RFC 8737) on the TLS port. The listener accepts raw TCP and passes each
// connection through route(): while no TLS-ALPN-01 challenge is pending it goes straight on; otherwise its
// ClientHello is read first, and a hello offering "acme-tls/1" for a name with a pending challenge is answered here
// with the challenge certificate; every other connection goes on with the bytes read put back.
import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { maxClientHelloBytes, peekClientHello } from './client-hello.ts';

/** RFC 8737's ALPN protocol for TLS-ALPN-01 validations. */
export const acmeTlsAlpnProtocol = 'acme-tls/1';

/** How long a connection may take to send its ClientHello while a challenge is pending, before it simply goes on. */
const helloTimeoutMs = 10_000;

export class TlsAlpnResponder {
  readonly #contextFor: (name: string) => tls.SecureContext | undefined;
  readonly #pending: () => boolean;
  readonly #server: tls.Server;

  constructor(contextFor: (name: string) => tls.SecureContext | undefined, pending: () => boolean, log: Logger) {
    this.#contextFor = contextFor;
    this.#pending = pending;
    this.#server = tls.createServer({
      ALPNProtocols: [acmeTlsAlpnProtocol],
      SNICallback: (name, cb) => {
        const context = this.#contextFor(name);
        cb(context ? null : new Error(`no TLS-ALPN-01 challenge pending for ${name}`), context);
      },
    });
    // The validator closes after the handshake (RFC 8737 §3); nothing is served over it.
    this.#server.on('secureConnection', (socket) => {
      log.debug({ servername: socket.servername, remote: socket.remoteAddress }, 'answered a TLS-ALPN-01 validation');
      socket.end();
    });
    this.#server.on('tlsClientError', (_err, socket) => socket.destroy());
  }

  /** Hands `socket` (fresh, nothing read) to `next`, unless it is a TLS-ALPN-01 validation, which is answered here. */
  route(socket: net.Socket, next: (socket: net.Socket) => void): void {
    if (!this.#pending()) {
      next(socket);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (challenge: boolean) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onGone);
      socket.off('end', onGone);
      socket.pause();
      if (size > 0) socket.unshift(Buffer.concat(chunks, size));
      if (challenge) this.#server.emit('connection', socket);
      else next(socket);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      const hello = peekClientHello(Buffer.concat(chunks, size));
      if (hello.kind === 'incomplete' && size <= maxClientHelloBytes) return;
      const challenge = hello.kind === 'hello' && hello.servername !== undefined && hello.alpn.includes(acmeTlsAlpnProtocol) && this.#contextFor(hello.servername) !== undefined;
      finish(challenge);
    };
    const onGone = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.destroy();
    };
    const timer = setTimeout(() => finish(false), helloTimeoutMs);
    timer.unref();
    socket.on('data', onData);
    socket.once('error', onGone);
    socket.once('end', onGone);
  }

  close(): void {
    this.#server.close();
  }
}
