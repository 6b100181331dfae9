import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { formatDuration } from '../config/duration.ts';
import { NetworkSet } from '../config/networks.ts';
import { proxyDefaults, type ServiceSpec } from '../config/schema.ts';
import { Affinity, type Choice } from './affinity.ts';
import { identifyClient, type ClientInfo } from './client-address.ts';
import { ClientLimits } from './client-limits.ts';
import { closeAfter, requestHasBody, responseGone, writeHead, type ClientRequest, type ClientResponse, type Entry } from './client-exchange.ts';
import type { DataPlane } from './data-plane.ts';
import type { ListenerSettings } from './listener.ts';
import { DrainDeadlineError, ForwardAttempt, isStreamed, type AttemptOutcome, type AttemptResult, type Exchange } from './forward.ts';
import { incomingRequestId, upstreamHeaders } from './headers.ts';
import { Hold, maintenanceRetryAfter, type Pause } from './hold.ts';
import { endWithStatus } from './raw-response.ts';
import { ClientBodyTimeout, receiveBody } from './request-body.ts';
import { allowedMethods, checkRequest } from './request-checks.ts';
import type { Waiter } from './release-targets.ts';
import { ReleaseStats } from './release-stats.ts';
import { emptyTable, type Route, type RouteTable } from './route-table.ts';
import type { Target } from './target.ts';
import { Tunnel } from './tunnel.ts';
import { classifyUpstreamError, isIdempotent } from './upstream-errors.ts';

export { bucketCookie, forceCookie, forceHeader } from './affinity.ts';

/**
 * Called for every attempt an upstream answered or failed: what canary analysis is fed. Requests a tester
 * forced onto a release, and failures that were the client's, are not reported.
 */
export type RequestObserver = (o: ObservedRequest) => void;

export interface ObservedRequest {
  release: number;
  /** The upstream's status; 0 when the connection failed. */
  status: number;
  latencyMs: number;
  /** A re-send of a request another attempt failed (a canary failure answered by stable). */
  retry: boolean;
  /** How the request was routed during a split (its bucket, and whether it was drawn just now). */
  routing: { bucket: number; fresh: boolean } | undefined;
}

export type ProxyConfig = ServiceSpec['proxy'];

export interface ProxyOptions {
  proxy?: Partial<ProxyConfig>;
  /** Signs the sticky bucket cookie; the same secret across restarts keeps clients on their side. */
  secret?: Buffer;
  /** Requests that may wait for an instance at once (Hold.defaultCap). */
  holdCap?: number;
}

const maxAttempts = 3;

interface ProxyExchange extends Exchange {
  table: RouteTable;
  choice: Choice;
  route: Route;
  client: ClientInfo;
  attempts: number;
  current: ForwardAttempt | undefined;
  waiter: Waiter | undefined;
}

/** Requests the proxy answered itself (client errors and limits), by status: they count against no release. */
export type Rejections = Record<number, number>;

/**
 * The reverse proxy of one service: takes the requests its front door routes to it (by address, host
 * and path) and spreads them over the service's live releases.
 */
export class ServiceProxy implements AttemptOutcome, DataPlane {
  readonly service: string;
  table: RouteTable = emptyTable;
  observer: RequestObserver | undefined;
  readonly rejections: Rejections = {};
  readonly #stats = new Map<number, ReleaseStats>();
  readonly #log: Logger;
  readonly #affinity: Affinity;
  /** Large uploads in progress per client address, across every listener that routes here. */
  readonly #streams = new ClientLimits();
  #config: ProxyConfig = proxyDefaults;
  #trusted = new NetworkSet(proxyDefaults.trustedNetworks);
  /** The front door, told when settings of its listeners change. */
  onListenerSettings: (() => void) | undefined;
  /** Requests waiting for a routable instance, or for the end of a pause. */
  readonly #hold: Hold;
  #pause: Pause | undefined;
  #unwatch: (() => void)[] = [];
  /** Told when a request starts or stops waiting for an instance (or a pause's end), with how many wait now. */
  onHoldChange: ((held: number) => void) | undefined;
  readonly #wake = () => {
    if (this.#hold.size > 0 && this.#ready()) this.#hold.release();
  };

  constructor(service: string, log: Logger, options: ProxyOptions = {}) {
    this.service = service;
    this.#log = log;
    this.#affinity = new Affinity(service, options.secret ?? randomBytes(32));
    this.#hold = new Hold(options.holdCap);
    this.#hold.onChange = (n) => this.onHoldChange?.(n);
    this.configure({ ...proxyDefaults, ...options.proxy });
  }

  /** Limits, timeouts and trusted networks (the service's `proxy` settings); applies to new requests. */
  configure(config: ProxyConfig): void {
    this.#config = config;
    this.#trusted = new NetworkSet(config.trustedNetworks);
    this.onListenerSettings?.();
  }

  /** What a listener this service is on must apply to its connections (config checks make them agree on a shared address). */
  get listenerSettings(): ListenerSettings {
    return { headerTimeout: this.#config.headerTimeout, maxConnectionsPerClient: this.#config.maxConnectionsPerClient, trusted: this.#trusted };
  }

  /** The listener refused a request before it reached any service (a parse error, a limit, no route): counted by status. */
  countRefusal(status: number): void {
    this.#count(status);
  }

  setSplit(routes: Route[], retryOnOlder = false): void {
    this.table = { routes, retryOnOlder };
    for (const off of this.#unwatch) off();
    this.#unwatch = routes.map((r) => r.targets.watch(this.#wake));
    this.#wake();
  }

  get paused(): Pause | undefined {
    return this.#pause;
  }

  /** New requests are held (not forwarded) until resume() or holdTimeout; with `maintenance`, answered 503 with that text. */
  pause(maintenance?: string): Pause {
    this.#pause = { since: this.#pause?.since ?? Date.now(), maintenance };
    this.#wake();
    return this.#pause;
  }

  /** Held requests go on; false when the service was not paused. */
  resume(): boolean {
    const was = this.#pause !== undefined;
    this.#pause = undefined;
    this.#wake();
    return was;
  }

  /** Requests waiting for an instance or for the end of a pause. */
  get held(): number {
    return this.#hold.size;
  }

  /** Held requests may look again: the pause became maintenance (they are answered), or some route can serve. */
  #ready(): boolean {
    if (this.#pause) return this.#pause.maintenance !== undefined;
    return this.table.routes.some((r) => r.weight > 0 && r.targets.hasCandidates());
  }

  /** Something can take a request routed by `choice` now: its release, or the stable one a canary falls back to. */
  #serves(choice: Choice, table: RouteTable): boolean {
    if (choice.route.targets.hasCandidates()) return true;
    const { routes } = table;
    const older = routes[routes.length - 1]!;
    return choice.forced === undefined && routes[0] === choice.route && older.targets.hasCandidates();
  }

  /**
   * Nothing can serve the request now (or the service is paused): it waits until something can (`again`,
   * to be routed anew) or until `deadline`, then `refuse` answers 503. Bounded by Hold.cap; a request
   * whose client goes away (`closer` closes) leaves the list.
   */
  #holdOr(closer: ClientResponse | Duplex, deadline: number | undefined, why: string, again: (deadline: number) => void, refuse: (message: string) => void): void {
    const timeout = this.#config.holdTimeout;
    const until = deadline ?? Date.now() + timeout;
    const left = until - Date.now();
    if (timeout <= 0) return refuse(why);
    if (left <= 0) return refuse(`${why} (waited ${formatDuration(timeout)})`);
    const onClose = () => held?.cancel();
    const held = this.#hold.add(left, (outcome) => {
      closer.off('close', onClose);
      if (outcome === 'ready') return again(until);
      this.#log.debug({ service: this.service }, 'held request timed out');
      refuse(`${why} (waited ${formatDuration(timeout)})`);
    });
    if (!held) return refuse(`${why}, and ${this.#hold.cap} requests already wait`);
    closer.once('close', onClose);
  }

  stats(release: number): ReleaseStats {
    let s = this.#stats.get(release);
    if (!s) this.#stats.set(release, (s = new ReleaseStats(release)));
    return s;
  }

  forgetStats(release: number): void {
    this.#stats.delete(release);
  }

  /** A request its front door routed here. */
  handle(req: ClientRequest, res: ClientResponse, entry: Entry): void {
    const requestId = incomingRequestId(req) ?? randomUUID();
    const rejection = checkRequest(req);
    if (rejection) return this.#reject(res, rejection.status, rejection.message, requestId);
    const client = identifyClient(req, this.#trusted);
    this.#admit(req, res, entry, requestId, client, undefined);
  }

  /** Forwarded now, answered by the maintenance text, or held until something can serve it. */
  #admit(req: ClientRequest, res: ClientResponse, entry: Entry, requestId: string, client: ClientInfo, deadline: number | undefined): void {
    if (responseGone(res)) return;
    const pause = this.#pause;
    if (pause?.maintenance !== undefined) return this.#maintenance(res, pause.maintenance, requestId);
    const table = this.table;
    const choice = pause ? undefined : this.#affinity.choose(req, table, client, { path: entry.cookiePath, secure: entry.secure });
    if (choice && this.#serves(choice, table)) return this.#forward(req, res, entry, requestId, client, table, choice);
    const why = pause ? `${this.service} is paused` : choice ? `no instance of ${this.service} could take the request` : `no release of ${this.service} is serving`;
    this.#holdOr(
      res,
      deadline,
      why,
      (until) => this.#admit(req, res, entry, requestId, client, until),
      (message) => this.#answer(res, 503, message, requestId),
    );
  }

  #forward(req: ClientRequest, res: ClientResponse, entry: Entry, requestId: string, client: ClientInfo, table: RouteTable, choice: Choice): void {
    const ex: ProxyExchange = {
      req,
      res,
      path: entry.path,
      hsts: entry.hsts,
      requestId,
      headers: upstreamHeaders(req, { requestId, client, secure: entry.secure }),
      body: null,
      idempotent: isIdempotent(req.method!),
      setCookie: choice.setCookie,
      forced: choice.forced !== undefined,
      tried: new Set(),
      sendTimeoutMs: this.#config.sendTimeout,
      table,
      choice,
      route: choice.route,
      client,
      attempts: 0,
      current: undefined,
      waiter: undefined,
    };
    res.once('close', () => {
      ex.waiter?.cancel();
      ex.current?.clientClosed();
    });
    if (!requestHasBody(req)) return this.#attempt(ex, choice.route);
    // The body is read before an upstream connection is taken (streamed only when large), under time limits.
    receiveBody(req, { idleMs: this.#config.bodyIdleTimeout, totalMs: this.#config.bodyTimeout }).then(
      (body) => {
        if (responseGone(res)) return;
        if (body.kind === 'buffered') {
          ex.body = body.buffer;
        } else {
          const clients = this.#streams;
          if (!client.trusted && !clients.admitStream(client.ip)) {
            return this.#reject(res, 429, `more than ${ClientLimits.streamsPerClient} large uploads at once from ${client.ip}`, requestId, { 'retry-after': '1' });
          }
          if (!client.trusted) res.once('close', () => clients.releaseStream(client.ip));
          ex.body = { prefix: body.prefix, rest: body.rest, pulled: false };
        }
        this.#attempt(ex, choice.route);
      },
      (err: unknown) => {
        if (err instanceof ClientBodyTimeout) return this.#reject(res, 408, err.message, requestId);
        // The client went away mid-body.
        req.destroy();
      },
    );
  }

  #attempt(ex: ProxyExchange, route: Route): void {
    if (ex.attempts >= maxAttempts) return this.#answer(ex.res, 502, `no instance of ${this.service} could take the request`, ex.requestId);
    const kind = isStreamed(ex.body) ? 'stream' : 'request';
    const target = route.targets.pick(ex.tried, kind);
    if (target) return this.#send(ex, route, target);
    if (!route.targets.hasCandidates(ex.tried)) {
      const fallback = this.#fallback(ex, route);
      if (fallback) return this.#attempt(ex, fallback);
      return this.#answer(ex.res, ex.attempts > 0 ? 502 : 503, `no instance of ${this.service} could take the request`, ex.requestId);
    }
    // Every connection to every instance is busy: wait in line for one, for a while.
    ex.waiter = route.targets.wait(ex.tried, kind, this.#config.queueTimeout, (outcome) => {
      ex.waiter = undefined;
      if (responseGone(ex.res)) return;
      if (outcome === 'timeout') {
        this.#log.warn({ service: this.service, release: route.targets.release, requestId: ex.requestId }, 'no upstream connection became free in time');
        return this.#answer(ex.res, 503, `every connection to ${this.service} stayed busy for ${formatDuration(this.#config.queueTimeout)}`, ex.requestId);
      }
      if (outcome === 'gone') {
        // The release left while the request waited: it goes where the same client would go now.
        const next = this.#affinity.reroute(ex.choice, this.table);
        if (next && next !== route) return this.#attempt(ex, next);
        const fallback = this.#fallback(ex, route);
        if (fallback) return this.#attempt(ex, fallback);
        return this.#answer(ex.res, ex.attempts > 0 ? 502 : 503, `no instance of ${this.service} could take the request`, ex.requestId);
      }
      this.#send(ex, route, outcome);
    });
  }

  /**
   * The canary lost its last instance (it crashed) before the split was taken down: a request not yet
   * sent anywhere goes to the stable release rather than failing.
   */
  #fallback(ex: ProxyExchange, route: Route): Route | undefined {
    const { routes } = ex.table;
    const older = routes[routes.length - 1]!;
    if (ex.attempts > 0 || ex.forced || routes[0] !== route || older === route) return undefined;
    return older.targets.hasCandidates(ex.tried) ? older : undefined;
  }

  #send(ex: ProxyExchange, route: Route, target: Target): void {
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
      !isStreamed(ex.body) &&
      routes.length > 1 &&
      routes[0]!.targets.release === target.release &&
      routes[routes.length - 1]!.targets.pick() !== undefined
    );
  }

  attemptDone(exchange: Exchange, target: Target, r: AttemptResult): void {
    const ex = exchange as ProxyExchange;
    const connectionError = r.error !== undefined && r.status === 0;
    // A failure that was the client's (it left, dawdled, or sent what cannot be forwarded) is not the release's.
    if (r.clientFault === undefined || r.status > 0) {
      this.stats(target.release).record(r.status, r.latencyMs, connectionError, ex.forced);
      if (!ex.forced) this.observer?.({ release: target.release, status: connectionError ? 0 : r.status, latencyMs: r.latencyMs, retry: ex.attempts > 1, routing: routingOf(ex.choice) });
    }
    if (r.responded) return;
    if (responseGone(ex.res)) return;
    if (r.clientFault === 'invalid') return this.#reject(ex.res, 400, `the request cannot be forwarded: ${r.error?.message}`, ex.requestId);
    if (r.clientFault === 'body-timeout') return this.#reject(ex.res, 408, r.error!.message, ex.requestId);
    if (r.clientFault === 'gone') return void ex.res.destroy();
    const failure = classifyUpstreamError(r.error);
    if (r.error) this.#log.debug({ service: this.service, instance: target.id, state: target.state, code: (r.error as { code?: string }).code, err: r.error.message, status: r.status, retryable: r.retryable }, 'upstream attempt failed');
    // Passive health: a refused connection takes the instance out of rotation until its checks pass again.
    if (failure === 'connect') target.emit('connect-failure');
    const { routes, retryOnOlder } = ex.table;
    const fromNewest = routes.length > 1 && routes[0]!.targets.release === target.release;
    if (r.replaced || (r.retryable && fromNewest && retryOnOlder && !ex.forced)) {
      // The canary failed an idempotent request (or never got it): the stable release answers instead.
      this.stats(target.release).retries++;
      return this.#attempt(ex, routes[routes.length - 1]!);
    }
    if (r.retryable) {
      this.stats(target.release).retries++;
      return this.#attempt(ex, ex.route);
    }
    if (r.error instanceof DrainDeadlineError) return this.#answer(ex.res, 503, r.error.message, ex.requestId);
    const timeout = failure === 'timeout';
    this.#log.warn({ service: this.service, release: target.release, instance: target.id, requestId: ex.requestId, err: r.error?.message }, 'upstream failed');
    this.#answer(ex.res, timeout ? 504 : 502, timeout ? 'upstream timed out' : 'upstream connection failed', ex.requestId);
  }

  /** An HTTP/1.1 upgrade (WebSocket) its front door routed here. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, entry: Entry): void {
    const requestId = incomingRequestId(req) ?? randomUUID();
    const rejection = checkRequest(req);
    if (rejection) {
      this.#count(rejection.status);
      return endWithStatus(socket, rejection.status, `${rejection.message} (request ${requestId})`, { 'x-request-id': requestId });
    }
    this.#admitUpgrade(req, socket, head, entry, requestId, identifyClient(req, this.#trusted), undefined);
  }

  /** Like #admit: an upgrade waits for a routable instance (or the end of a pause) too, before its tunnel opens. */
  #admitUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, entry: Entry, requestId: string, client: ClientInfo, deadline: number | undefined): void {
    if (socket.destroyed) return;
    const pause = this.#pause;
    if (pause?.maintenance !== undefined) {
      return endWithStatus(socket, 503, pause.maintenance, { 'retry-after': String(maintenanceRetryAfter), 'x-request-id': requestId });
    }
    const choice = pause ? undefined : this.#affinity.choose(req, this.table, client, { path: entry.cookiePath, secure: entry.secure });
    const target = choice?.route.targets.pick(undefined, 'tunnel');
    if (!choice || !target) {
      const why = pause ? `${this.service} is paused` : `no release of ${this.service} is serving`;
      return this.#holdOr(
        socket,
        deadline,
        why,
        (until) => this.#admitUpgrade(req, socket, head, entry, requestId, client, until),
        (message) => endWithStatus(socket, 503, `${message} (request ${requestId})`, { 'retry-after': '1', 'x-request-id': requestId }),
      );
    }
    (socket as Socket).setNoDelay?.(true);
    const forced = choice.forced !== undefined;
    new Tunnel({
      req,
      path: entry.path,
      hsts: entry.hsts,
      client: socket,
      head,
      target,
      headers: upstreamHeaders(req, { requestId, client, secure: entry.secure }, true),
      requestId,
      setCookie: choice.setCookie,
      timeoutMs: target.timeoutMs,
      onAnswer: (status, latencyMs) => {
        this.stats(target.release).record(status, latencyMs, status === 0, forced);
        if (!forced) this.observer?.({ release: target.release, status, latencyMs, retry: false, routing: routingOf(choice) });
      },
      onClose: () => this.#log.debug({ service: this.service, instance: target.id, requestId }, 'tunnel closed'),
    });
  }

  /** The client's error or a limit it hit: answered here, and the connection closes after it. */
  #reject(res: ClientResponse, status: number, message: string, requestId: string, extra: Record<string, string> = {}): void {
    this.#count(status);
    closeAfter(res);
    this.#answer(res, status, message, requestId, status === 405 ? { allow: allowedMethods, ...extra } : extra);
  }

  /** A service in maintenance: 503 with its text as the whole body. */
  #maintenance(res: ClientResponse, text: string, requestId: string): void {
    writeHead(res, 503, undefined, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'x-request-id': requestId,
      'retry-after': String(maintenanceRetryAfter),
    });
    res.end(text);
  }

  #count(status: number): void {
    this.rejections[status] = (this.rejections[status] ?? 0) + 1;
  }

  #answer(res: ClientResponse, status: number, message: string, requestId: string, extra: Record<string, string> = {}): void {
    if (res.headersSent || responseGone(res)) return void res.destroy();
    const body = `zdd: ${message} (request ${requestId})\n`;
    writeHead(res, status, undefined, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
      ...(status === 503 ? { 'retry-after': '1' } : {}),
      ...extra,
    });
    res.end(body);
  }
}

function routingOf(choice: Choice): ObservedRequest['routing'] {
  return choice.bucket === undefined ? undefined : { bucket: choice.bucket, fresh: choice.setCookie !== undefined };
}
