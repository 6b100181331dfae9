import http, { type IncomingMessage } from 'node:http';
import http2 from 'node:http2';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { formatDuration } from '../config/duration.ts';
import { formatListen, type ListenAddress } from '../config/listen.ts';
import type { NetworkSet } from '../config/networks.ts';
import { peerAddress } from './client-address.ts';
import { closeAfter, type ClientRequest, type ClientResponse } from './client-exchange.ts';
import { ClientLimits } from './client-limits.ts';
import { endWithStatus } from './raw-response.ts';
import { allowedMethods } from './request-checks.ts';

export interface ListenerHooks {
  request: (req: ClientRequest, res: ClientResponse, secure: boolean) => void;
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer, secure: boolean) => void;
  /** The listener answered a request itself (a parse error, a timeout, a limit): counted by status. */
  refused: (status: number) => void;
  /**
   * Data-plane workers serve this (plain HTTP) address: each accepted connection, within its client's
   * limit, goes to them unread; `release` frees the client's slot once the worker reports it closed.
   */
  handoff?: (socket: Socket, release: () => void) => void;
}

/** The listener settings that can change while it runs (the `proxy` settings of the services on it). */
export interface ListenerSettings {
  headerTimeout: number;
  maxConnectionsPerClient: number;
  /** Peers exempt from the per-address connection limit (a local TLS terminator carries many clients). */
  trusted: NetworkSet;
}

/** A service's `proxy` settings as its listeners apply them. */
export function listenerSettingsOf(config: { headerTimeout: number; maxConnectionsPerClient: number }, trusted: NetworkSet): ListenerSettings {
  return { headerTimeout: config.headerTimeout, maxConnectionsPerClient: config.maxConnectionsPerClient, trusted };
}

/** Certificates for a TLS listener, chosen per handshake (src/tls's CertificateStore). */
export interface TlsSource {
  /** The context for a server name (SNI). */
  contextFor(servername: string | undefined): tls.SecureContext;
  /** For clients that send no server name: Node asks no SNICallback then. */
  defaultCertificate(): { cert: string; key: string };
  /** Each accepted TCP connection, before TLS: ACME's TLS-ALPN-01 validations are answered there, the rest go to `next`. */
  routeTlsConnection(socket: Socket, next: (socket: Socket) => void): void;
  /** Session ticket keys shared by every listener and the next daemon (resumption across zdd restart). */
  ticketKeys(): Buffer;
  on(event: 'change', listener: () => void): unknown;
  off(event: 'change', listener: () => void): unknown;
}

/** ALPN: HTTP/2 first, HTTP/1.1 for the rest. */
const alpnProtocols = ['h2', 'http/1.1'];

/** HTTP/2 limits per connection (nginx's defaults are alike: 128 streams). */
const h2Settings: http2.Settings = { maxConcurrentStreams: 128, maxHeaderListSize: 64 * 1024 };

const keepAliveTimeout = 65_000;

/**
 * One listening address and the connections it accepts: plain HTTP/1.1, or TLS with HTTP/2 and
 * HTTP/1.1 by ALPN. Connection limits per client address, what Node's parsers reject, and the
 * hand-over of the socket to the next daemon (zdd restart). Which service a request is for is the
 * hooks' business.
 */
export class ProxyListener {
  readonly address: ListenAddress;
  readonly secure: boolean;
  readonly clients = new ClientLimits();
  /** Handing over to the next daemon: each connection closes after its next response. */
  closing = false;
  readonly #hooks: ListenerHooks;
  #settings: ListenerSettings;
  /** HTTP/1.x, on plain sockets it listens on itself, or on TLS sockets fed to it. */
  readonly #http1: http.Server;
  /** TLS: the listening socket (plain TCP), whose connections go through TLS. */
  readonly #tcp: net.Server | undefined;
  readonly #tls: tls.Server | undefined;
  readonly #onCertificates: (() => void) | undefined;
  readonly #certificates: TlsSource | undefined;
  readonly #http2: http2.Http2Server | undefined;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  /** Open client connections (TCP), but not those upgraded to tunnels (tracked by their targets). */
  readonly #connections = new Set<Duplex>();
  /** TLS: each TLS socket's TCP socket, found by its remote address and port. */
  readonly #rawByPeer = new Map<string, Socket>();
  /** Connections with a response under way: data a client pipelines after `Connection: close` waits for it, then is dropped. */
  readonly #answering = new WeakSet<Duplex>();
  #onNoConnections: (() => void) | undefined;
  #ticketTimer: NodeJS.Timeout | undefined;

  constructor(address: ListenAddress, settings: ListenerSettings, hooks: ListenerHooks, certificates?: TlsSource) {
    this.address = address;
    this.secure = certificates !== undefined;
    this.#settings = settings;
    this.#hooks = hooks;
    const secure = this.secure;
    this.#http1 = http.createServer(
      {
        keepAliveTimeout,
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
        hooks.request(req, res, secure);
      },
    );
    this.#http1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#forget(this.#rawOf(socket));
      socket.on('error', () => undefined);
      hooks.upgrade(req, socket, head, secure);
    });
    this.#http1.on('connect', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => undefined);
      hooks.refused(405);
      endWithStatus(socket, 405, 'CONNECT is not allowed: zdd is a reverse proxy, not a forward proxy', { allow: allowedMethods });
    });
    this.#http1.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
      // Bytes after a request with `Connection: close`: the answer under way finishes, the rest is never read.
      if (err.code === 'HPE_CLOSED_CONNECTION' && this.#answering.has(socket)) return;
      const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      hooks.refused(status);
      endWithStatus(socket, status, status === 408 ? `request headers not received within ${formatDuration(this.#settings.headerTimeout)}` : '');
    });
    if (!certificates) {
      const handoff = hooks.handoff;
      if (handoff) {
        // Not a byte is read here: the worker's HTTP parser gets the connection as the client sent it.
        this.#tcp = net.createServer({ pauseOnConnect: true }, (socket) => this.#handOff(socket, handoff));
        return;
      }
      this.#http1.on('connection', (socket: Socket) => void this.#accept(socket));
      return;
    }
    // Node's HTTP server watches header timeouts only once it is "listening"; this one never listens
    // itself (TLS sockets are handed to it), so it is told, to keep slow-header clients bounded.
    this.#http1.emit('listening');
    this.#http2 = http2.createServer({ settings: h2Settings, maxSessionMemory: 32 });
    this.#http2.on('request', (req, res) => {
      if (this.closing) closeAfter(res);
      hooks.request(req, res, true);
    });
    this.#http2.on('session', (session) => {
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
      if (this.closing) session.close();
    });
    // An idle HTTP/2 connection ends like an idle keep-alive one.
    this.#http2.setTimeout(keepAliveTimeout);
    this.#certificates = certificates;
    this.#tls = tls.createServer({
      ...certificates.defaultCertificate(),
      // Given, not made by Node: kept across setSecureContext (a reload) and shared with the next daemon.
      ticketKeys: certificates.ticketKeys(),
      ALPNProtocols: alpnProtocols,
      // A client gets as long for its handshake as for its request headers.
      handshakeTimeout: settings.headerTimeout,
      SNICallback: (servername, done) => {
        try {
          done(null, certificates.contextFor(servername));
        } catch (err) {
          done(err as Error);
        }
      },
    });
    // A renewed or reloaded default certificate, for clients without SNI.
    this.#onCertificates = () => this.#tls!.setSecureContext(certificates.defaultCertificate());
    // Ticket keys are replaced daily (by whichever daemon looks first); every listener follows within the hour.
    let keys = certificates.ticketKeys();
    this.#ticketTimer = setInterval(() => {
      const next = certificates.ticketKeys();
      if (next.equals(keys)) return;
      keys = next;
      this.#tls!.setTicketKeys(next);
    }, 3600_000).unref();
    certificates.on('change', this.#onCertificates);
    this.#tls.on('secureConnection', (socket: tls.TLSSocket) => this.#dispatch(socket));
    // A failed handshake (a scanner, an old client, a wrong name) ends that connection, nothing else.
    this.#tls.on('tlsClientError', (_err, socket) => socket.destroy());
    this.#tcp = net.createServer((socket) => {
      if (!this.#accept(socket)) return;
      certificates.routeTlsConnection(socket, (s) => this.#tls!.emit('connection', s));
    });
  }

  /**
   * In a data-plane worker: serve connections the daemon accepted and handed over (the listener never
   * listens itself). Node's HTTP server watches header timeouts only once it is "listening", so it is told.
   */
  serveHandedConnections(): void {
    this.#http1.emit('listening');
  }

  /** In a data-plane worker: one connection the daemon accepted. */
  feed(socket: Socket): void {
    this.#http1.emit('connection', socket);
  }

  /** The listening socket: what a restart hands over to the next daemon. */
  get server(): net.Server {
    return this.#tcp ?? this.#http1;
  }

  configure(settings: ListenerSettings): void {
    this.#settings = settings;
    this.#http1.headersTimeout = settings.headerTimeout;
  }

  listen(): Promise<void> {
    const server = this.server;
    return new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(err);
      server.once('error', onError);
      server.listen({ host: this.address.host, port: this.address.port }, () => {
        server.off('error', onError);
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
   * each HTTP/1 connection gets `Connection: close` on its next response, each HTTP/2 one a GOAWAY, so
   * its client reconnects, to the next daemon.
   */
  stopAccepting(): void {
    this.closing = true;
    // net.Server's close, not http.Server's: the latter would also cut idle keep-alive connections,
    // racing requests their clients are sending right now.
    net.Server.prototype.close.call(this.server);
    for (const session of this.#sessions) session.close();
  }

  /**
   * After stopAccepting: resolves once every connection has closed (each does after its next
   * response), or at the deadline, when the idle ones left are closed.
   */
  async connectionsClosed(deadlineMs: number): Promise<void> {
    if (this.#connections.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.#onNoConnections = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs))),
      ]);
      clearTimeout(timer);
    }
    this.#http1.closeIdleConnections();
  }

  /** Stop accepting; idle keep-alive connections close now, busy ones after their response. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.#http1.closeIdleConnections();
    for (const session of this.#sessions) session.close();
    if (this.#tcp) this.#stopHttp1Timers();
    if (this.#onCertificates) this.#certificates!.off('change', this.#onCertificates);
    clearInterval(this.#ticketTimer);
    await closed;
  }

  /** Cut every client connection (after the drain deadline at shutdown). */
  closeAllConnections(): void {
    this.#http1.closeAllConnections();
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#connections) socket.destroy();
  }

  /** Connection limits and tracking for each accepted TCP connection; false: refused. */
  #accept(socket: Socket): boolean {
    const ip = peerAddress(socket);
    if (!this.#settings.trusted.has(ip)) {
      if (!this.clients.admitConnection(ip, this.#settings.maxConnectionsPerClient)) {
        socket.on('error', () => undefined);
        this.#hooks.refused(429);
        // Before a TLS handshake there is no way to say why: the connection just ends.
        if (this.secure) socket.destroy();
        else endWithStatus(socket, 429, `too many connections from ${ip}`, { 'retry-after': '1' });
        return false;
      }
      socket.once('close', () => this.clients.releaseConnection(ip));
    }
    this.#connections.add(socket);
    if (this.secure) {
      const key = peerKey(socket);
      this.#rawByPeer.set(key, socket);
      socket.once('close', () => this.#rawByPeer.delete(key));
    }
    socket.once('close', () => this.#forget(socket));
    return true;
  }

  /** Workers serve this address: the client's limit is checked here, where every connection is seen. */
  #handOff(socket: Socket, handoff: NonNullable<ListenerHooks['handoff']>): void {
    const ip = peerAddress(socket);
    let release = () => undefined as void;
    if (!this.#settings.trusted.has(ip)) {
      if (!this.clients.admitConnection(ip, this.#settings.maxConnectionsPerClient)) {
        socket.on('error', () => undefined);
        this.#hooks.refused(429);
        endWithStatus(socket, 429, `too many connections from ${ip}`, { 'retry-after': '1' });
        // Accepted paused: read (and drop) what the client sent, so that its close is seen and the socket
        // goes; a client that never closes is cut off like a slow one.
        socket.resume();
        socket.setTimeout(this.#settings.headerTimeout, () => socket.destroy());
        return;
      }
      let released = false;
      release = () => {
        if (released) return;
        released = true;
        this.clients.releaseConnection(ip);
      };
    }
    handoff(socket, release);
  }

  /** A finished TLS handshake: the protocol ALPN chose takes the connection. */
  #dispatch(socket: tls.TLSSocket): void {
    socket.on('error', () => undefined);
    if (socket.alpnProtocol === 'h2') return void this.#http2!.emit('connection', socket);
    this.#http1.emit('connection', socket);
  }

  /** The TCP socket under a connection (itself, for plain HTTP). */
  #rawOf(socket: Duplex): Duplex {
    return this.secure ? (this.#rawByPeer.get(peerKey(socket as Socket)) ?? socket) : socket;
  }

  #stopHttp1Timers(): void {
    // The interval behind header timeouts, started by the 'listening' above, ends with a close.
    this.#http1.close(() => undefined);
  }

  #forget(socket: Duplex): void {
    if (this.#connections.delete(socket) && this.#connections.size === 0) this.#onNoConnections?.();
  }
}

function peerKey(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

