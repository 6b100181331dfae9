import http, { type IncomingMessage } from 'node:http';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { downstreamHeaders } from './headers.ts';
import { endWithStatus } from './raw-response.ts';
import type { Cancellable, Target } from './target.ts';
import { FrameBoundaries, goingAwayFrame } from './ws-frames.ts';

/** How long a client gets to answer our Close frame before its connection is ended anyway. */
const closeReplyMs = 1_000;

export interface TunnelOptions {
  req: IncomingMessage;
  /** The request target for the upstream (the route's prefix stripped, when it says so). */
  path: string;
  /** Strict-Transport-Security for a relayed (non-101) response, when the service sets hsts. */
  hsts: string | undefined;
  client: Duplex;
  /** Bytes the client sent after its request head. */
  head: Buffer;
  target: Target;
  /** The upgrade request's headers for the upstream (X-Forwarded-* applied, Connection/Upgrade kept). */
  headers: string[];
  requestId: string;
  setCookie: string | undefined;
  /** Upper bound on waiting for the upstream's answer to the upgrade. */
  timeoutMs: number;
  /** The upstream answered (status) or failed (0): what stats and canary analysis are fed. */
  onAnswer: (status: number, latencyMs: number) => void;
  onClose: () => void;
}

/**
 * An upgrade request (WebSocket) sent to one target. Only a `101 Switching Protocols` turns the connection
 * into a tunnel whose bytes flow both ways untouched; any other answer is relayed as an ordinary response
 * and the connection ends, so later bytes can never reach the app as unchecked requests. Server-to-client
 * frames are followed so that a drain deadline can end a WebSocket with a clean Close frame.
 */
export class Tunnel implements Cancellable {
  readonly #o: TunnelOptions;
  readonly #client: Duplex;
  readonly #frames = new FrameBoundaries();
  readonly #websocket: boolean;
  readonly #request: http.ClientRequest;
  #upstream: net.Socket | undefined;
  #closing = false;
  #closed = false;
  #answered = false;

  constructor(o: TunnelOptions) {
    this.#o = o;
    this.#client = o.client;
    this.#websocket = String(o.req.headers.upgrade).toLowerCase() === 'websocket';
    const { client, target } = o;
    target.track(this);
    // Nothing the client sends goes upstream until the upstream has agreed to switch protocols.
    client.pause();
    const startedAt = performance.now();
    const answered = (status: number) => {
      if (this.#answered) return;
      this.#answered = true;
      clearTimeout(timer);
      o.onAnswer(status, performance.now() - startedAt);
    };
    // Node's HTTP client parses the answer: 101 arrives as 'upgrade', anything else as a 'response'.
    const request = http.request({
      host: target.host,
      port: target.port,
      method: o.req.method,
      path: o.path,
      headers: o.headers,
      setHost: false,
      agent: false,
    });
    this.#request = request;
    const timer = setTimeout(() => {
      answered(0);
      request.destroy();
      endWithStatus(client, 504, 'upstream timed out', { 'x-request-id': o.requestId });
    }, o.timeoutMs);
    request.on('upgrade', (res: IncomingMessage, upstream: net.Socket, upstreamHead: Buffer) => {
      answered(res.statusCode ?? 101);
      this.#open(res, upstream, upstreamHead);
    });
    request.on('response', (res: IncomingMessage) => {
      answered(res.statusCode ?? 0);
      this.#relay(res);
    });
    request.on('error', () => {
      if (client.destroyed) {
        // The client left before the upstream answered: nothing to tell, and not the release's fault.
      } else if (!this.#answered) {
        answered(0);
        endWithStatus(client, 502, 'upstream connection failed', { 'x-request-id': o.requestId });
      } else {
        client.destroy();
      }
      this.#finish();
    });
    client.on('error', () => request.destroy());
    client.on('close', () => {
      request.destroy();
      this.#upstream?.destroy();
      this.#finish();
    });
    request.end();
  }

  /** At the drain deadline: a Close frame between two frames, then the connection ends. */
  cancel(): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    const upstream = this.#upstream;
    if (!upstream || !this.#websocket) {
      this.#request.destroy();
      upstream?.destroy();
      this.#client.end();
      return;
    }
    upstream.pause();
    if (this.#frames.atBoundary) this.#sendClose();
    // Otherwise #fromUpstream sends it when the current frame is complete.
    upstream.resume();
  }

  /** 101: the handshake goes to the client, then bytes flow both ways. */
  #open(res: IncomingMessage, upstream: net.Socket, upstreamHead: Buffer): void {
    const client = this.#client;
    this.#upstream = upstream;
    upstream.setNoDelay(true);
    let head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? 'Switching Protocols'}\r\n`;
    // Connection and Upgrade are what a 101 is about: they stay.
    for (let i = 0; i < res.rawHeaders.length; i += 2) head += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
    if (this.#o.setCookie) head += `set-cookie: ${this.#o.setCookie}\r\n`;
    client.write(`${head}\r\n`);
    if (this.#o.head.length > 0) upstream.write(this.#o.head);
    this.#fromUpstream(upstreamHead);
    upstream.on('data', (chunk: Buffer) => this.#fromUpstream(chunk));
    upstream.on('end', () => client.end());
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => {
      if (!client.destroyed) client.end();
      this.#finish();
    });
    client.on('data', (chunk: Buffer) => {
      if (!upstream.destroyed && !upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    client.on('drain', () => upstream.resume());
    client.on('end', () => upstream.end());
    client.resume();
  }

  /** Not 101: an ordinary response, sent in full, after which the connection ends. */
  #relay(res: IncomingMessage): void {
    const client = this.#client;
    const raw = downstreamHeaders(res.rawHeaders, this.#o.requestId, this.#o.setCookie, this.#o.hsts);
    let head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
    // The body is sent as Node's parser delivers it (de-chunked): delimited by its length when known, else by the close.
    for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
    client.write(`${head}connection: close\r\n\r\n`);
    res.on('data', (chunk: Buffer) => {
      if (!client.write(chunk)) res.pause();
    });
    client.on('drain', () => res.resume());
    res.on('end', () => {
      client.end();
      this.#request.destroy();
      this.#finish();
    });
    res.on('error', () => client.destroy());
  }

  #fromUpstream(data: Buffer): void {
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
    if (!this.#client.write(data)) this.#upstream?.pause();
  }

  #sendClose(): void {
    const upstream = this.#upstream!;
    upstream.removeAllListeners('data');
    upstream.destroy();
    if (this.#client.destroyed) return;
    this.#client.write(goingAwayFrame());
    const timer = setTimeout(() => this.#client.destroy(), closeReplyMs);
    // A client answers with its own Close frame and then closes; either way the timer ends it.
    this.#client.once('close', () => clearTimeout(timer));
    this.#client.end();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#o.target.untrack(this);
    this.#o.onClose();
  }
}
