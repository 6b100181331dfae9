import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { formatDuration } from '../config/duration.ts';
import { formatListen, type ListenAddress } from '../config/listen.ts';
import type { NetworkSet } from '../config/networks.ts';
import { peerAddress } from './client-address.ts';
import { ClientLimits } from './client-limits.ts';
import { endWithStatus } from './raw-response.ts';
import { allowedMethods } from './request-checks.ts';

export interface ListenerHooks {
  request: (req: IncomingMessage, res: ServerResponse) => void;
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** The listener answered a request itself (a parse error, a timeout, a limit): counted by status. */
  refused: (status: number) => void;
}

/** The listener settings that can change while it runs (the service's `proxy` settings). */
export interface ListenerSettings {
  headerTimeout: number;
  maxConnectionsPerClient: number;
  /** Peers exempt from the per-address connection limit (a local TLS terminator carries many clients). */
  trusted: NetworkSet;
}

/**
 * A service's listening socket and the connections it accepts: connection limits per client address,
 * what Node's parser rejects, and the hand-over of the socket to the next daemon (zdd restart).
 */
export class ProxyListener {
  readonly server: http.Server;
  readonly address: ListenAddress;
  readonly clients = new ClientLimits();
  /** Handing over to the next daemon: each connection closes after its next response. */
  closing = false;
  readonly #hooks: ListenerHooks;
  #settings: ListenerSettings;
  /** Open client connections still speaking HTTP (upgraded ones are tunnels, tracked by their targets). */
  readonly #httpConnections = new Set<Duplex>();
  /** Connections with a response under way: data a client pipelines after `Connection: close` waits for it, then is dropped. */
  readonly #answering = new WeakSet<Duplex>();
  #onNoConnections: (() => void) | undefined;

  constructor(address: ListenAddress, settings: ListenerSettings, hooks: ListenerHooks) {
    this.address = address;
    this.#settings = settings;
    this.#hooks = hooks;
    this.server = http.createServer(
      {
        keepAliveTimeout: 65_000,
        headersTimeout: settings.headerTimeout,
        requestTimeout: 0,
        requireHostHeader: true,
        // How often Node looks for connections past headersTimeout (its default, 30 s, would let a 10 s limit run to 40 s).
        connectionsCheckingInterval: 1_000,
        // Only a GET without a body can switch protocols; anything else is an ordinary request whose
        // Upgrade header (hop-by-hop) is dropped, so no request body can be mistaken for tunnel bytes.
        shouldUpgradeCallback: (req) => req.method === 'GET' && !hasBody(req),
      },
      (req, res) => {
        const socket = req.socket;
        this.#answering.add(socket);
        res.once('close', () => this.#answering.delete(socket));
        if (this.closing) res.shouldKeepAlive = false;
        hooks.request(req, res);
      },
    );
    this.server.on('connection', (socket: Socket) => this.#accept(socket));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#forget(socket);
      socket.on('error', () => undefined);
      hooks.upgrade(req, socket, head);
    });
    this.server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => undefined);
      hooks.refused(405);
      endWithStatus(socket, 405, 'CONNECT is not allowed: zdd is a reverse proxy, not a forward proxy', { allow: allowedMethods });
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
      // Bytes after a request with `Connection: close`: the answer under way finishes, the rest is never read.
      if (err.code === 'HPE_CLOSED_CONNECTION' && this.#answering.has(socket)) return;
      const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      hooks.refused(status);
      endWithStatus(socket, status, status === 408 ? `request headers not received within ${formatDuration(this.#settings.headerTimeout)}` : '');
    });
  }

  configure(settings: ListenerSettings): void {
    this.#settings = settings;
    this.server.headersTimeout = settings.headerTimeout;
  }

  listen(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.address.host, port: this.address.port }, () => {
        this.server.off('error', onError);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      const where = formatListen(this.address);
      throw Object.assign(new Error(err.code === 'EADDRINUSE' ? `${where} is already in use` : `cannot listen on ${where}: ${err.message}`), { code: err.code });
    });
  }

  /**
   * Listen on a socket the previous daemon handed over. It is the same socket, with one accept queue,
   * so no connection waiting to be accepted is lost in the switch.
   */
  adopt(handle: net.Server): void {
    // Synchronous: from here on the socket's connections come to this server.
    this.server.listen(handle);
  }

  /**
   * Stop accepting (the next daemon accepts from the same socket) without cutting open connections:
   * each gets `Connection: close` on its next response, so its client reconnects, to the next daemon.
   */
  stopAccepting(): void {
    this.closing = true;
    // net.Server's close, not http.Server's: the latter would also cut idle keep-alive connections,
    // racing requests their clients are sending right now.
    net.Server.prototype.close.call(this.server);
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
    this.server.closeIdleConnections();
  }

  /** Stop accepting; idle keep-alive connections close now, busy ones after their response. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await closed;
  }

  #accept(socket: Socket): void {
    const ip = peerAddress(socket);
    if (!this.#settings.trusted.has(ip)) {
      if (!this.clients.admitConnection(ip, this.#settings.maxConnectionsPerClient)) {
        socket.on('error', () => undefined);
        this.#hooks.refused(429);
        return endWithStatus(socket, 429, `too many connections from ${ip}`, { 'retry-after': '1' });
      }
      socket.once('close', () => this.clients.releaseConnection(ip));
    }
    this.#httpConnections.add(socket);
    socket.once('close', () => this.#forget(socket));
  }

  #forget(socket: Duplex): void {
    if (this.#httpConnections.delete(socket) && this.#httpConnections.size === 0) this.#onNoConnections?.();
  }
}

export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}
