import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { upstreamHeaders, type ForwardedInfo } from './headers.ts';
import type { Cancellable, Target } from './target.ts';
import { FrameBoundaries, goingAwayFrame } from './ws-frames.ts';

/** How long a client gets to answer our Close frame before its connection is ended anyway. */
const closeReplyMs = 1_000;

/**
 * An upgraded connection (WebSocket) between a client and one target: bytes flow both ways untouched.
 * Server-to-client frames are followed so that a drain deadline can end it with a clean Close frame.
 */
export class Tunnel implements Cancellable {
  readonly #client: Duplex;
  readonly #upstream: net.Socket;
  readonly #frames = new FrameBoundaries();
  #websocket = false;
  #handshakeDone = false;
  /** The upstream's answer to the upgrade, until its blank line has arrived. */
  #handshake: Buffer = Buffer.alloc(0);
  #closing = false;
  #closed = false;

  constructor(req: IncomingMessage, client: Duplex, head: Buffer, target: Target, info: ForwardedInfo, onClose: () => void) {
    this.#client = client;
    this.#websocket = String(req.headers.upgrade).toLowerCase() === 'websocket';
    const upstream = net.connect({ host: target.host, port: target.port });
    this.#upstream = upstream;
    upstream.setNoDelay(true);
    target.track(this);
    const headers = upstreamHeaders(req, info, true);
    let head1 = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) head1 += `${headers[i]}: ${headers[i + 1]}\r\n`;
    upstream.write(`${head1}\r\n`);
    if (head.length > 0) upstream.write(head);

    const finish = () => {
      if (this.#closed) return;
      this.#closed = true;
      target.untrack(this);
      onClose();
    };
    upstream.on('data', (chunk: Buffer) => this.#fromUpstream(chunk));
    upstream.on('end', () => client.end());
    upstream.on('error', () => {
      // Refused before any answer: the client gets a proper response instead of a bare close.
      if (!this.#handshakeDone && this.#handshake.length === 0 && !client.destroyed) {
        client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 31\r\nconnection: close\r\n\r\nzdd: upstream connection failed');
      } else {
        client.destroy();
      }
    });
    upstream.on('close', () => {
      if (!client.destroyed) client.end();
      finish();
    });
    client.on('data', (chunk: Buffer) => {
      if (!upstream.destroyed && !upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    client.on('drain', () => upstream.resume());
    client.on('end', () => upstream.end());
    client.on('error', () => upstream.destroy());
    client.on('close', () => {
      upstream.destroy();
      finish();
    });
  }

  /** At the drain deadline: a Close frame between two frames, then the connection ends. */
  cancel(): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    if (!this.#websocket || !this.#handshakeDone) {
      this.#upstream.destroy();
      this.#client.end();
      return;
    }
    this.#upstream.pause();
    if (this.#frames.atBoundary) this.#sendClose();
    // Otherwise #fromUpstream sends it when the current frame is complete.
    this.#upstream.resume();
  }

  #fromUpstream(chunk: Buffer): void {
    let data = chunk;
    if (!this.#handshakeDone) {
      // The HTTP response to the upgrade comes first; frames follow its blank line.
      this.#handshake = Buffer.concat([this.#handshake, data]);
      const end = this.#handshake.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.#handshake.length > 65_536) this.#upstream.destroy();
        return;
      }
      this.#handshakeDone = true;
      this.#websocket &&= this.#handshake.subarray(0, 13).toString('latin1').startsWith('HTTP/1.1 101');
      this.#toClient(this.#handshake.subarray(0, end + 4));
      data = this.#handshake.subarray(end + 4);
    }
    if (!this.#websocket) return void this.#toClient(data);
    if (!this.#closing) {
      this.#frames.advance(data);
      this.#toClient(data);
      return;
    }
    const n = this.#frames.advance(data, true);
    this.#toClient(data.subarray(0, n));
    if (this.#frames.atBoundary) this.#sendClose();
  }

  #toClient(data: Buffer): void {
    if (data.length === 0 || this.#client.destroyed) return;
    if (!this.#client.write(data)) this.#upstream.pause();
  }

  #sendClose(): void {
    this.#upstream.removeAllListeners('data');
    this.#upstream.destroy();
    if (this.#client.destroyed) return;
    this.#client.write(goingAwayFrame());
    const timer = setTimeout(() => this.#client.destroy(), closeReplyMs);
    // A client answers with its own Close frame and then closes; either way the timer ends it.
    this.#client.once('close', () => clearTimeout(timer));
    this.#client.end();
  }
}
