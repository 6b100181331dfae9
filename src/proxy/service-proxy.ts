import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { formatDuration } from '../config/duration.ts';
import { NetworkSet } from '../config/networks.ts';
import { proxyDefaults } from '../config/proxy-defaults.ts';
import { Admission, answerMaintenance, canServe, refuseUpgradeInMaintenance } from './admission.ts';
import { Affinity, type Choice } from './affinity.ts';
import { identifyClient, type ClientInfo } from './client-address.ts';
import { ClientLimits } from './client-limits.ts';
import { closeAfter, requestHasBody, responseGone, writeHead, type ClientRequest, type ClientResponse, type Entry } from './client-exchange.ts';
import type { AttemptRecorder, DataPlane, ObservedRequest, ProxyConfig, Rejections, RequestObserver } from './data-plane.ts';
import { listenerSettingsOf, type ListenerSettings } from './listener.ts';
import { ForwardAttempt, isStreamed, type AttemptOutcome, type AttemptResult, type Exchange } from './forward.ts';
import { incomingRequestId, newRequestId, upstreamHeaders } from './headers.ts';
import { Hold, type Pause } from './hold.ts';
import { endWithStatus } from './raw-response.ts';
import { ClientBodyTimeout, receiveBody } from './request-body.ts';
import { allowedMethods, checkRequest } from './request-checks.ts';
import type { Waiter } from './release-targets.ts';
import { StatsByRelease, type ReleaseStats } from './release-stats.ts';
import { afterFailedAttempt, holdBackForStable, maxAttempts, type AttemptContext } from './retry-policy.ts';
import { emptyTable, type Route, type RouteTable } from './route-table.ts';
import type { Target } from './target.ts';
import { Tunnel } from './tunnel.ts';
import { classifyUpstreamError, isIdempotent } from './upstream-errors.ts';

export { bucketCookie, forceCookie, forceHeader } from './affinity.ts';

export interface ProxyOptions {
  proxy?: Partial<ProxyConfig>;
  /** Signs the sticky bucket cookie; the same secret across restarts keeps clients on their side. */
  secret?: Buffer;
  /** Requests that may wait for an instance at once (Hold.defaultCap). */
  holdCap?: number;
  /**
   * This proxy is one of `share` data-plane workers serving the same clients: per-client limits that
   * live in the proxy (large uploads at once) and the hold cap are split between them, so that together
   * they allow what one proxy would. Default 1.
   */
  share?: number;
}

interface ProxyExchange extends Exchange {
  table: RouteTable;
  choice: Choice;
  route: Route;
  client: ClientInfo;
  attempts: number;
  current: ForwardAttempt | undefined;
  waiter: Waiter | undefined;
}

/**
 * The reverse proxy of one service: takes the requests its front door routes to it (by address, host
 * and path) and spreads them over the service's live releases. A coordinator: admission (pause, hold)
 * lets a request in, affinity chooses its release, forward attempts it, retry-policy decides what a
 * failure leads to, and the numbers are recorded here.
 */
export class ServiceProxy implements AttemptOutcome, DataPlane {
  readonly service: string;
  table: RouteTable = emptyTable;
  observer: RequestObserver | undefined;
  readonly rejections: Rejections = {};
  readonly #stats = new StatsByRelease();
  readonly #log: Logger;
  readonly #affinity: Affinity;
  /** Large uploads in progress per client address, across every listener that routes here. */
  readonly #streams: ClientLimits;
  readonly #share: number;
  #config: ProxyConfig = proxyDefaults;
  #trusted = new NetworkSet(proxyDefaults.trustedNetworks);
  /** The front door, told when settings of its listeners change. */
  onListenerSettings: (() => void) | undefined;
  /** Pause and the requests waiting for a routable instance, or for the end of a pause. */
  readonly #admission: Admission;
  /** Told when a request starts or stops waiting for an instance (or a pause's end), with how many wait now. */
  onHoldChange: ((held: number) => void) | undefined;
  /** Told of every request that starts and every attempt and retry recorded (a data-plane worker reports them to the daemon). */
  recorder: AttemptRecorder | undefined;

  constructor(service: string, log: Logger, options: ProxyOptions = {}) {
    this.service = service;
    this.#log = log;
    this.#affinity = new Affinity(service, options.secret ?? randomBytes(32));
    this.#share = Math.max(1, options.share ?? 1);
    this.#streams = new ClientLimits(Math.ceil(ClientLimits.streamsPerClient / this.#share));
    this.#admission = new Admission(service, log, () => this.table, Math.ceil((options.holdCap ?? Hold.defaultCap) / this.#share));
    this.#admission.onChange = (n) => this.onHoldChange?.(n);
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
    return listenerSettingsOf(this.#config, this.#trusted);
  }

  /** The listener refused a request before it reached any service (a parse error, a limit, no route): counted by status. */
  countRefusal(status: number): void {
    this.#count(status);
  }

  setSplit(routes: Route[], retryOnOlder = false): void {
    this.table = { routes, retryOnOlder };
    this.#admission.follow(routes);
  }

  get paused(): Pause | undefined {
    return this.#admission.paused;
  }

  /** New requests are held (not forwarded) until resume() or holdTimeout; with `maintenance`, answered 503 with that text. */
  pause(maintenance?: string, since?: number): Pause {
    return this.#admission.pause(maintenance, since);
  }

  /** Held requests go on; false when the service was not paused. */
  resume(): boolean {
    return this.#admission.resume();
  }

  /** Requests waiting for an instance or for the end of a pause. */
  get held(): number {
    return this.#admission.held;
  }

  stats(release: number): ReleaseStats {
    return this.#stats.get(release);
  }

  forgetStats(release: number): void {
    this.#stats.forget(release);
  }

  /** A request its front door routed here. */
  handle(req: ClientRequest, res: ClientResponse, entry: Entry): void {
    this.recorder?.started();
    const requestId = incomingRequestId(req) ?? newRequestId();
    const rejection = entry.checked ? undefined : checkRequest(req);
    if (rejection) return this.#reject(res, rejection.status, rejection.message, requestId);
    const client = identifyClient(req, this.#trusted);
    this.#admit(req, res, entry, requestId, client, undefined);
  }

  /** Forwarded now, answered by the maintenance text, or held until something can serve it. */
  #admit(req: ClientRequest, res: ClientResponse, entry: Entry, requestId: string, client: ClientInfo, deadline: number | undefined): void {
    if (responseGone(res)) return;
    const pause = this.#admission.paused;
    if (pause?.maintenance !== undefined) return answerMaintenance(res, pause.maintenance, requestId);
    const table = this.table;
    const choice = pause ? undefined : this.#affinity.choose(req, table, client, { path: entry.cookiePath, secure: entry.secure });
    if (choice && canServe(choice, table)) return this.#forward(req, res, entry, requestId, client, table, choice);
    const why = pause ? `${this.service} is paused` : choice ? `no instance of ${this.service} could take the request` : `no release of ${this.service} is serving`;
    this.#admission.hold({
      closer: res,
      deadline,
      timeoutMs: this.#config.holdTimeout,
      why,
      again: (until) => this.#admit(req, res, entry, requestId, client, until),
      refuse: (message) => this.#answer(res, 503, message, requestId),
    });
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
    (res as ClientResponse & { [kExchange]?: ProxyExchange })[kExchange] = ex;
    res.on('close', onClientClose);
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
            const split = this.#share > 1 ? ` (${clients.streams} on each of ${this.#share} data-plane workers)` : '';
            return this.#reject(res, 429, `more than ${ClientLimits.streamsPerClient} large uploads at once from ${client.ip}${split}`, requestId, { 'retry-after': '1' });
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
    const { routes } = ex.table;
    return holdBackForStable(attemptContext(ex, target), () => routes[routes.length - 1]!.targets.pick() !== undefined);
  }

  attemptDone(exchange: Exchange, target: Target, r: AttemptResult): void {
    const ex = exchange as ProxyExchange;
    const connectionError = r.error !== undefined && r.status === 0;
    // A failure that was the client's (it left, dawdled, or sent what cannot be forwarded) is not the release's.
    if (r.clientFault === undefined || r.status > 0) this.#record(target.release, r.status, r.latencyMs, connectionError, ex.forced, ex.attempts > 1, ex.choice);
    if (r.responded) return;
    if (responseGone(ex.res)) return;
    const next = afterFailedAttempt(attemptContext(ex, target), r);
    if (next.kind === 'client-fault') return this.#reject(ex.res, next.status, next.message, ex.requestId);
    if (next.kind === 'client-gone') return void ex.res.destroy();
    if (r.error) this.#log.debug({ service: this.service, instance: target.id, state: target.state, code: (r.error as { code?: string }).code, err: r.error.message, status: r.status, retryable: r.retryable }, 'upstream attempt failed');
    // Passive health: a refused connection takes the instance out of rotation until its checks pass again.
    if (classifyUpstreamError(r.error) === 'connect') target.emit('connect-failure');
    switch (next.kind) {
      case 'retry-stable':
        // The canary failed an idempotent request (or never got it): the stable release answers instead.
        this.#countRetry(target.release);
        return this.#attempt(ex, ex.table.routes[ex.table.routes.length - 1]!);
      case 'retry-same':
        this.#countRetry(target.release);
        return this.#attempt(ex, ex.route);
      case 'release-stopped':
        return this.#answer(ex.res, next.status, next.message, ex.requestId);
      case 'upstream-failed':
        this.#log.warn({ service: this.service, release: target.release, instance: target.id, requestId: ex.requestId, err: r.error?.message }, 'upstream failed');
        return this.#answer(ex.res, next.status, next.message, ex.requestId);
    }
  }

  /** What the canary analysis and the release's numbers learn of an answer (or a failed connection). */
  #record(release: number, status: number, latencyMs: number, connectionError: boolean, forced: boolean, retry: boolean, choice: Choice): void {
    this.stats(release).record(status, latencyMs, connectionError, forced);
    if (!forced) this.observer?.({ release, status: connectionError ? 0 : status, latencyMs, retry, routing: routingOf(choice) });
    this.recorder?.attempt(release, status, latencyMs, connectionError, forced, retry, choice.bucket, choice.setCookie !== undefined);
  }

  #countRetry(release: number): void {
    this.stats(release).countRetry();
    this.recorder?.retry(release);
  }

  /** An HTTP/1.1 upgrade (WebSocket) its front door routed here. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, entry: Entry): void {
    this.recorder?.started();
    const requestId = incomingRequestId(req) ?? newRequestId();
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
    const pause = this.#admission.paused;
    if (pause?.maintenance !== undefined) return refuseUpgradeInMaintenance(socket, pause.maintenance, requestId);
    const choice = pause ? undefined : this.#affinity.choose(req, this.table, client, { path: entry.cookiePath, secure: entry.secure });
    const target = choice?.route.targets.pick(undefined, 'tunnel');
    if (!choice || !target) {
      const why = pause ? `${this.service} is paused` : `no release of ${this.service} is serving`;
      return this.#admission.hold({
        closer: socket,
        deadline,
        timeoutMs: this.#config.holdTimeout,
        why,
        again: (until) => this.#admitUpgrade(req, socket, head, entry, requestId, client, until),
        refuse: (message) => endWithStatus(socket, 503, `${message} (request ${requestId})`, { 'retry-after': '1', 'x-request-id': requestId }),
      });
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
      onAnswer: (status, latencyMs) => this.#record(target.release, status, latencyMs, status === 0, forced, false, choice),
      onClose: () => this.#log.debug({ service: this.service, instance: target.id, requestId }, 'tunnel closed'),
    });
  }

  /** The client's error or a limit it hit: answered here, and the connection closes after it. */
  #reject(res: ClientResponse, status: number, message: string, requestId: string, extra: Record<string, string> = {}): void {
    this.#count(status);
    closeAfter(res);
    this.#answer(res, status, message, requestId, status === 405 ? { allow: allowedMethods, ...extra } : extra);
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

/** What the retry policy needs to know of an attempt that went to `target`. */
function attemptContext(ex: ProxyExchange, target: Target): AttemptContext {
  return { table: ex.table, release: target.release, forced: ex.forced, idempotent: ex.idempotent, streamed: isStreamed(ex.body) };
}

const kExchange = Symbol('zdd exchange');

/** The client went away (or its response is done): a wait for a connection ends, upstream work stops. */
function onClientClose(this: ClientResponse & { [kExchange]?: ProxyExchange }): void {
  const ex = this[kExchange];
  ex?.waiter?.cancel();
  ex?.current?.clientClosed();
}

function routingOf(choice: Choice): ObservedRequest['routing'] {
  return choice.bucket === undefined ? undefined : { bucket: choice.bucket, fresh: choice.setCookie !== undefined };
}
