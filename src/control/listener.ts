import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { Logger } from 'pino';
import { errorCodes } from '../api/contract.ts';
import { handleApi, sendError, type ApiContext } from '../api/server.ts';
import { formatListen, isLoopback } from '../config/listen.ts';
import type { ControlSpec } from '../config/schema.ts';
import { ZddError } from '../errors.ts';
import type { Authenticator } from './auth.ts';

// The HTTP control listener: the control API for remote CLIs, CI runners, Prometheus and the
// dashboard, behind bearer tokens. The dashboard's page and assets are served without a token (they
// hold no data; the page asks for the token and sends it with every API call).

/** Serves the dashboard's files; false when the path is not one of them. */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface ControlListenerOptions {
  spec: ControlSpec;
  api: ApiContext;
  auth: Authenticator;
  log: Logger;
  dashboard?: DashboardHandler | undefined;
}

/** Security headers on every answer: nothing here may be framed, sniffed, cached or leak its URL. */
const securityHeaders: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
};

export class ControlListener {
  readonly spec: ControlSpec;
  readonly server: http.Server;
  readonly #o: ControlListenerOptions;

  constructor(o: ControlListenerOptions) {
    this.#o = o;
    this.spec = o.spec;
    const handler = (req: IncomingMessage, res: ServerResponse) => this.#handle(req, res);
    const timeouts = { headersTimeout: 10_000, requestTimeout: 60_000, keepAliveTimeout: 5_000 };
    this.server = o.spec.tls
      ? https.createServer({ ...timeouts, cert: readFileSync(o.spec.tls.cert), key: readFileSync(o.spec.tls.key) }, handler)
      : http.createServer(timeouts, handler);
    // Server-sent events and followed logs stay open: no idle cut-off for answers being streamed.
    this.server.maxConnections = 512;
    if (!isLoopback(o.spec.listen.host) && !o.spec.tls && o.spec.insecure) {
      o.log.warn(`the control listener on ${this.address} is reachable beyond this machine without TLS (control.insecure: true): tokens cross the network in the clear`);
    }
  }

  /** The key the listening socket is handed over under at zdd restart. */
  get key(): string {
    return `control ${this.address}`;
  }

  get address(): string {
    return formatListen(this.spec.listen);
  }

  /** The base URL people reach the dashboard at (for links in notifications). */
  get url(): string {
    const host = this.spec.listen.host === '0.0.0.0' || this.spec.listen.host === '::' ? '127.0.0.1' : this.spec.listen.host;
    return `${this.spec.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${this.spec.listen.port}/`;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.spec.listen.port, this.spec.listen.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** The previous daemon's listening socket (zdd restart): serve from it, synchronously. */
  adopt(handle: net.Server): void {
    this.server.listen(handle);
  }

  /** Stops accepting (the socket may live on in a successor) and closes idle connections; open streams go on. */
  stopAccepting(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    return closed;
  }

  /** Stops accepting and ends every connection, streams (dashboards, followed logs) included. */
  close(): Promise<void> {
    const closed = this.stopAccepting();
    this.server.closeAllConnections();
    return closed;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    for (const [k, v] of Object.entries(securityHeaders)) res.setHeader(k, v);
    if (this.#o.dashboard?.(req, res)) return;
    const address = req.socket.remoteAddress ?? 'unknown';
    let token;
    try {
      token = this.#o.auth.authenticate(req, address);
    } catch (err) {
      const e = err as ZddError & { retryAfter?: number };
      if (e.code === 'UNAUTHORIZED') res.setHeader('www-authenticate', 'Bearer realm="zdd"');
      if (e.retryAfter !== undefined) res.setHeader('retry-after', String(e.retryAfter));
      // Never the token: only the address and the route are logged.
      this.#o.log.warn({ address, method: req.method, path: pathOf(req), status: e.code === 'RATE_LIMITED' ? errorCodes.RATE_LIMITED.status : errorCodes.UNAUTHORIZED.status }, `control API: ${e.message}`);
      req.resume();
      return sendError(this.#o.api, res, err);
    }
    void handleApi(this.#o.api, req, res, { via: 'http', token, address }).catch((err: unknown) => sendError(this.#o.api, res, err));
  }
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!.slice(0, 200);
}
