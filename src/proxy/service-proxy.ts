import { randomInt, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { formatListen, isLoopback, type ListenAddress } from '../config/listen.ts';
import type { DataPlane } from './data-plane.ts';
import { DrainDeadlineError, ForwardAttempt, type AttemptOutcome, type AttemptResult, type Exchange } from './forward.ts';
import { incomingRequestId, upstreamHeaders, type ForwardedInfo } from './headers.ts';
import { ReleaseStats } from './release-stats.ts';
import { bucketCount, emptyTable, routeByName, routeForBucket, type Route, type RouteTable } from './route-table.ts';
import type { Target } from './target.ts';
import { Tunnel } from './tunnel.ts';
import { classifyUpstreamError, isIdempotent } from './upstream-errors.ts';

/**
 * Called for every attempt an upstream answered or failed: what canary analysis is fed. `retry` marks an
 * attempt that re-sends a request another one failed (a canary failure answered by stable).
 */
export type RequestObserver = (release: number, ok: boolean, latencyMs: number, retry: boolean) => void;

/** Header or cookie a tester sets to pick a release: "canary", "stable" or a release number. */
export const forceHeader = 'x-zdd-release';
export const forceCookie = 'zdd-release';
/** Cookie that keeps a client on one side of a traffic split. */
export const bucketCookie = 'zdd-bucket';

const maxAttempts = 3;

interface Pick {
  route: Route;
  setCookie: string | undefined;
  forced: boolean;
}

interface ProxyExchange extends Exchange {
  table: RouteTable;
  route: Route;
  attempts: number;
  current: ForwardAttempt | undefined;
}

/** The reverse proxy in front of one service: accepts its traffic and spreads it over the live releases. */
export class ServiceProxy implements AttemptOutcome, DataPlane {
  readonly service: string;
  readonly address: ListenAddress;
  table: RouteTable = emptyTable;
  observer: RequestObserver | undefined;
  readonly #stats = new Map<number, ReleaseStats>();
  readonly #server: http.Server;
  readonly #log: Logger;
  #closing = false;
  /** Open client connections still speaking HTTP (upgraded ones are tunnels, tracked by their targets). */
  readonly #httpConnections = new Set<Duplex>();
  #onNoConnections: (() => void) | undefined;

  constructor(service: string, address: ListenAddress, log: Logger) {
    this.service = service;
    this.address = address;
    this.#log = log;
    this.#server = http.createServer(
      { keepAliveTimeout: 65_000, headersTimeout: 60_000, requestTimeout: 0, requireHostHeader: true },
      (req, res) => this.#handle(req, res),
    );
    this.#server.on('connection', (socket: Duplex) => {
      this.#httpConnections.add(socket);
      socket.once('close', () => this.#forget(socket));
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#forget(socket);
      this.#upgrade(req, socket, head);
    });
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    });
  }

  /** The listening server: what a restart hands over to the next daemon. */
  get listener(): net.Server {
    return this.#server;
  }

  /**
   * Listen on a socket the previous daemon handed over. It is the same socket, with one accept queue,
   * so no connection waiting to be accepted is lost in the switch.
   */
  adopt(handle: net.Server): void {
    // Synchronous: from here on the socket's connections come to this server.
    this.#server.listen(handle);
  }

  /**
   * Stop accepting (the next daemon accepts from the same socket) without cutting open connections:
   * each gets `Connection: close` on its next response, so its client reconnects, to the next daemon.
   */
  stopAccepting(): void {
    this.#closing = true;
    // net.Server's close, not http.Server's: the latter would also cut idle keep-alive connections,
    // racing requests their clients are sending right now.
    net.Server.prototype.close.call(this.#server);
  }

  /**
   * After stopAccepting: resolves once every HTTP connection has closed (each does after its next
   * response), or at the deadline, when the idle ones left are closed.
   */
  async connectionsClosed(deadlineMs: number): Promise<void> {
    if (this.#httpConnections.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.#onNoConnections = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs))),
      ]);
      clearTimeout(timer);
    }
    this.#server.closeIdleConnections();
  }

  #forget(socket: Duplex): void {
    if (this.#httpConnections.delete(socket) && this.#httpConnections.size === 0) this.#onNoConnections?.();
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', (err: NodeJS.ErrnoException) => {
        const where = formatListen(this.address);
        reject(err.code === 'EADDRINUSE' ? new Error(`${where} is already in use (service ${this.service})`) : err);
      });
      this.#server.listen({ host: this.address.host, port: this.address.port }, () => resolve());
    });
  }

  /** Stop accepting; idle keep-alive connections close now, busy ones after their response. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    await closed;
  }

  /** Cut every client connection (after the drain deadline at shutdown). */
  closeAllConnections(): void {
    this.#server.closeAllConnections();
  }

  setSplit(routes: Route[], retryOnOlder = false): void {
    this.table = { routes, retryOnOlder };
  }

  stats(release: number): ReleaseStats {
    let s = this.#stats.get(release);
    if (!s) this.#stats.set(release, (s = new ReleaseStats(release)));
    return s;
  }

  forgetStats(release: number): void {
    this.#stats.delete(release);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    // Handing over to the next daemon: this connection closes after its response (Connection: close).
    if (this.#closing) res.shouldKeepAlive = false;
    const table = this.table;
    const requestId = incomingRequestId(req) ?? randomUUID();
    if (req.url?.[0] !== '/') {
      // Asterisk-form (OPTIONS *) and absolute-form targets are for proxies and servers, not for an app.
      return this.#answer(res, 400, 'only origin-form request targets (starting with /) are forwarded', requestId);
    }
    const pick = this.#choose(req, table);
    if (!pick) return this.#answer(res, 503, `no release of ${this.service} is serving`, requestId);
    const ex: ProxyExchange = {
      req,
      res,
      requestId,
      headers: upstreamHeaders(req, forwardedInfo(req, requestId)),
      body: hasBody(req) ? req : null,
      idempotent: isIdempotent(req.method!),
      setCookie: pick.setCookie,
      forced: pick.forced,
      tried: new Set(),
      table,
      route: pick.route,
      attempts: 0,
      current: undefined,
    };
    res.once('close', () => ex.current?.clientClosed());
    if (ex.body !== null && ex.idempotent && table.retryOnOlder && table.routes.length > 1 && replayable(req)) {
      // During a canary, a small idempotent body is read first so stable can be sent it again.
      return void readBody(req).then(
        (buffer) => {
          ex.body = buffer;
          this.#attempt(ex, pick.route);
        },
        () => req.destroy(),
      );
    }
    this.#attempt(ex, pick.route);
  }

  #attempt(ex: ProxyExchange, route: Route): void {
    const target = route.targets.pick(ex.tried);
    if (!target || ex.attempts >= maxAttempts) {
      return this.#answer(ex.res, ex.attempts > 0 ? 502 : 503, `no instance of ${this.service} could take the request`, ex.requestId);
    }
    ex.attempts++;
    // Retries of this attempt stay on the release it went to (a canary failure answered by stable).
    ex.route = route;
    ex.current = new ForwardAttempt(ex, target, this);
    ex.current.start();
  }

  interceptStatus(exchange: Exchange, target: Target, _status: number): boolean {
    const ex = exchange as ProxyExchange;
    const { routes, retryOnOlder } = ex.table;
    return (
      retryOnOlder &&
      !ex.forced &&
      ex.idempotent &&
      (ex.body === null || Buffer.isBuffer(ex.body)) &&
      routes.length > 1 &&
      routes[0]!.targets.release === target.release &&
      routes[routes.length - 1]!.targets.pick() !== undefined
    );
  }

  attemptDone(exchange: Exchange, target: Target, r: AttemptResult): void {
    const ex = exchange as ProxyExchange;
    const connectionError = r.error !== undefined && r.status === 0;
    this.stats(target.release).record(r.status, r.latencyMs, connectionError);
    this.observer?.(target.release, !connectionError && r.status < 500 && r.status > 0, r.latencyMs, ex.attempts > 1);
    if (r.responded) return;
    if (ex.res.destroyed) return;
    const failure = classifyUpstreamError(r.error);
    if (r.error) this.#log.debug({ service: this.service, instance: target.id, state: target.state, code: (r.error as { code?: string }).code, err: r.error.message, status: r.status, retryable: r.retryable }, 'upstream attempt failed');
    // Passive health: a refused connection takes the instance out of rotation until its checks pass again.
    if (failure === 'connect') target.emit('connect-failure');
    const { routes, retryOnOlder } = ex.table;
    const fromNewest = routes.length > 1 && routes[0]!.targets.release === target.release;
    if (r.replaced || (r.retryable && fromNewest && retryOnOlder && !ex.forced)) {
      // The canary failed an idempotent request (or never got it): the stable release answers instead.
      return this.#attempt(ex, routes[routes.length - 1]!);
    }
    if (r.retryable) return this.#attempt(ex, ex.route);
    if (r.error instanceof DrainDeadlineError) return this.#answer(ex.res, 503, r.error.message, ex.requestId);
    const timeout = failure === 'timeout';
    this.#log.warn({ service: this.service, release: target.release, instance: target.id, requestId: ex.requestId, err: r.error?.message }, 'upstream failed');
    this.#answer(ex.res, timeout ? 504 : 502, timeout ? 'upstream timed out' : 'upstream connection failed', ex.requestId);
  }

  #choose(req: IncomingMessage, table: RouteTable): Pick | undefined {
    const { routes } = table;
    if (routes.length === 0) return undefined;
    if (routes.length === 1) return { route: routes[0]!, setCookie: undefined, forced: false };
    const cookies = parseCookies(req.headers.cookie);
    const forced = req.headers[forceHeader] ?? cookies?.get(forceCookie);
    if (typeof forced === 'string') {
      const route = routeByName(table, forced);
      if (route) return { route, setCookie: undefined, forced: true };
    }
    const raw = cookies?.get(bucketCookie);
    const saved = raw !== undefined && /^\d{1,5}$/.test(raw) ? Number(raw) : -1;
    const known = saved >= 0 && saved < bucketCount;
    const bucket = known ? saved : randomInt(bucketCount);
    const route = routeForBucket(table, bucket);
    if (!route) return undefined;
    return { route, setCookie: known ? undefined : `${bucketCookie}=${bucket}; Path=/; HttpOnly; SameSite=Lax`, forced: false };
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const requestId = incomingRequestId(req) ?? randomUUID();
    const pick = this.#choose(req, this.table);
    const target = pick?.route.targets.pick();
    if (!target) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    (socket as Socket).setNoDelay?.(true);
    const startedAt = performance.now();
    new Tunnel(req, socket, head, target, forwardedInfo(req, requestId), () => {
      this.#log.debug({ service: this.service, instance: target.id, ms: performance.now() - startedAt }, 'tunnel closed');
    });
  }

  #answer(res: ServerResponse, status: number, message: string, requestId: string): void {
    if (res.headersSent || res.destroyed) return void res.destroy();
    const body = `zdd: ${message} (request ${requestId})\n`;
    res.writeHead(status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
      ...(status === 503 ? { 'retry-after': '1' } : {}),
    });
    res.end(body);
  }
}

/** Bodies up to this size are buffered during a canary so a retry on stable can resend them. */
const maxReplayBody = 64 * 1024;

function replayable(req: IncomingMessage): boolean {
  const len = Number(req.headers['content-length']);
  return req.headers['transfer-encoding'] === undefined && Number.isInteger(len) && len <= maxReplayBody;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

function forwardedInfo(req: IncomingMessage, requestId: string): ForwardedInfo {
  let ip = req.socket.remoteAddress ?? '';
  if (ip.startsWith('::ffff:')) ip = ip.slice(7);
  return { requestId, clientIp: ip, trustForwarded: isLoopback(ip) };
}

function parseCookies(header: string | undefined): Map<string, string> | undefined {
  if (!header) return undefined;
  const out = new Map<string, string>();
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}
