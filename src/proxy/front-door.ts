import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ServiceConfig } from '../config/load.ts';
import { formatListen, type ListenAddress } from '../config/listen.ts';
import { requestHost, writeHead, type ClientRequest, type ClientResponse, type Entry } from './client-exchange.ts';
import { HostRouter, normaliseHost, upstreamUrl, type RouteEntry, type RouteMatch } from './host-router.ts';
import { ProxyListener, type ListenerSettings, type TlsSource } from './listener.ts';
import { endWithStatus } from './raw-response.ts';
import { allowedMethods, checkRequest } from './request-checks.ts';

/** What the front door routes a service's requests to: its proxy (ServiceProxy), or its workers' stand-in. */
export interface ServiceSite {
  readonly service: string;
  readonly listenerSettings: ListenerSettings;
  onListenerSettings: (() => void) | undefined;
  countRefusal(status: number): void;
  handle(req: ClientRequest, res: ClientResponse, entry: Entry): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, entry: Entry): void;
}

/** Data-plane worker processes serving the connections of one plain-HTTP address (src/proxy/workers). */
export interface AddressWorkers {
  handoff(socket: Socket, release: () => void): void;
  /** Handing over to the next daemon: each connection closes after its next response. */
  stopAccepting(): void;
  connectionsClosed(deadlineMs: number): Promise<void>;
  /** Stopping: idle keep-alive connections close now, busy ones after their response. */
  closeIdle(): void;
  closeAll(): void;
  /** The processes exit (after everything else has drained). */
  stop(): Promise<void>;
}

// zdd's front door: every address zdd.yaml names, each shared by the services listening there and
// told apart by host and path, over plain HTTP or TLS (HTTP/2 and HTTP/1.1), plus the plain-HTTP
// listeners that answer ACME HTTP-01 challenges and send everyone else to https.

/** What a route leads to: a service's proxy, or a redirect to https. */
type Site =
  | { kind: 'service'; proxy: ServiceSite; hsts: string | undefined }
  | { kind: 'redirect'; service: string; httpsPort: number };

/** Certificates: the TLS listeners' (SNI, TLS-ALPN-01) and the HTTP-01 answers for the plain ones (src/tls's CertificateStore). */
export interface Certificates extends TlsSource {
  http01Response(token: string): string | undefined;
}

const challengePrefix = '/.well-known/acme-challenge/';

/** What the front door needs of a service's config. */
export type FrontDoorService = Pick<ServiceConfig, 'name' | 'listen'> & Partial<Pick<ServiceConfig, 'hosts' | 'paths' | 'stripPrefix' | 'tls' | 'redirectHttp' | 'hsts'>>;

/** One listening address: its listener and the routes of the services on it. */
export interface FrontDoorAddress {
  listen: string;
  address: ListenAddress;
  /** The services whose `listen` (or `redirectHttp`) this is, in zdd.yaml's order. */
  services: string[];
  /** Which config key made it, for error messages: `services.web.listen`. */
  key: string;
  listener: ProxyListener;
  /** Worker processes serve its connections (plain HTTP with proxy.workers > 0). */
  workers: AddressWorkers | undefined;
}

export class FrontDoor {
  readonly #addresses = new Map<string, FrontDoorAddress>();

  /**
   * `services` in zdd.yaml's order (config checks have made sure addresses, hosts and paths fit
   * together); `proxies` by service name; `certificates` when any service has tls; `workers` by
   * address (formatListen) for the addresses data-plane workers serve.
   */
  constructor(services: readonly FrontDoorService[], proxies: ReadonlyMap<string, ServiceSite>, certificates: Certificates | undefined, workers: ReadonlyMap<string, AddressWorkers> = new Map()) {
    const byAddress = new Map<string, { address: ListenAddress; key: string; secure: boolean; entries: RouteEntry<Site>[]; services: string[] }>();
    const at = (address: ListenAddress, key: string, secure: boolean) => {
      const listen = formatListen(address);
      let a = byAddress.get(listen);
      if (!a) byAddress.set(listen, (a = { address, key, secure, entries: [], services: [] }));
      return a;
    };
    for (const svc of services) {
      const proxy = proxies.get(svc.name)!;
      proxy.onListenerSettings = () => this.reconfigure(proxy);
      const a = at(svc.listen, `services.${svc.name}.listen`, svc.tls !== undefined);
      const hsts = svc.tls && svc.hsts !== undefined ? `max-age=${Math.round(svc.hsts / 1000)}` : undefined;
      a.entries.push({ service: svc.name, hosts: svc.hosts ?? [], paths: svc.paths ?? [], stripPrefix: svc.stripPrefix ?? false, target: { kind: 'service', proxy, hsts } });
      a.services.push(svc.name);
    }
    for (const svc of services) {
      if (!svc.tls || !svc.redirectHttp) continue;
      const a = at(svc.redirectHttp, `services.${svc.name}.redirectHttp`, false);
      // The redirect takes the service's paths too, so path-routed services may share a host on it.
      a.entries.push({ service: svc.name, hosts: svc.hosts ?? [], paths: svc.paths ?? [], stripPrefix: false, target: { kind: 'redirect', service: svc.name, httpsPort: svc.listen.port } });
      if (!a.services.includes(svc.name)) a.services.push(svc.name);
    }
    for (const [listen, a] of byAddress) {
      const router = new HostRouter(a.entries);
      const serviceProxies = a.entries.flatMap((e) => (e.target.kind === 'service' ? [e.target.proxy] : []));
      // The settings of a shared listener agree across its services (config checks); a redirect-only
      // listener takes its services' own.
      const settingsFrom = serviceProxies[0] ?? proxies.get(a.services[0]!)!;
      const refused = (status: number) => {
        for (const p of serviceProxies.length > 0 ? serviceProxies : [settingsFrom]) p.countRefusal(status);
      };
      const handedTo = a.secure ? undefined : workers.get(listen);
      const listener = new ProxyListener(
        a.address,
        settingsFrom.listenerSettings,
        {
          request: (req, res, secure) => this.#request(router, req, res, secure, refused, certificates),
          upgrade: (req, socket, head, secure) => this.#upgrade(router, req, socket, head, secure, refused),
          refused,
          ...(handedTo ? { handoff: (socket: Socket, release: () => void) => handedTo.handoff(socket, release) } : {}),
        },
        a.secure ? certificates : undefined,
      );
      this.#addresses.set(listen, { listen, address: a.address, services: a.services, key: a.key, listener, workers: handedTo });
    }
  }

  get addresses(): FrontDoorAddress[] {
    return [...this.#addresses.values()];
  }

  get(listen: string): FrontDoorAddress | undefined {
    return this.#addresses.get(listen);
  }

  /** Serve from a listening socket the previous daemon handed over (zdd restart). */
  adopt(listen: string, handle: net.Server): boolean {
    const a = this.#addresses.get(listen);
    if (!a) return false;
    a.listener.adopt(handle);
    return true;
  }

  /** New `proxy` settings of a service apply to the listeners it is on. */
  reconfigure(service: ServiceSite): void {
    for (const a of this.#addresses.values()) if (a.services.includes(service.service)) a.listener.configure(service.listenerSettings);
  }

  stopAccepting(): void {
    for (const a of this.#addresses.values()) {
      a.listener.stopAccepting();
      a.workers?.stopAccepting();
    }
  }

  async connectionsClosed(deadlineMs: number): Promise<void> {
    await Promise.all([...this.#addresses.values()].flatMap((a) => [a.listener.connectionsClosed(deadlineMs), a.workers?.connectionsClosed(deadlineMs)]));
  }

  async close(): Promise<void> {
    for (const a of this.#addresses.values()) a.workers?.closeIdle();
    await Promise.all([...this.#addresses.values()].map((a) => a.listener.close()));
  }

  closeAllConnections(): void {
    for (const a of this.#addresses.values()) {
      a.listener.closeAllConnections();
      a.workers?.closeAll();
    }
  }

  /** Last: the data-plane workers exit (the drains they took part in are over). */
  async stopWorkers(): Promise<void> {
    await Promise.all([...this.#addresses.values()].map((a) => a.workers?.stop()));
  }

  #request(router: HostRouter<Site>, req: ClientRequest, res: ClientResponse, secure: boolean, refused: (status: number) => void, certificates: Certificates | undefined): void {
    const url = req.url ?? '';
    if (!secure && certificates && url.startsWith(challengePrefix)) {
      const answer = certificates.http01Response(url.slice(challengePrefix.length));
      if (answer !== undefined) return plain(res, 200, answer);
    }
    const rejection = checkRequest(req);
    const match = rejection ? undefined : router.match(requestHost(req), url);
    if (!match) {
      // A bad request goes to the service that would have had it (it counts it and says why); with no
      // such service, the front door answers.
      const fallback = router.match(undefined, '/');
      if (rejection && fallback?.entry.target.kind === 'service') return fallback.entry.target.proxy.handle(req, res, entryFor(req, fallback, secure));
      refused(rejection?.status ?? 404);
      return plain(res, rejection?.status ?? 404, rejection ? `zdd: ${rejection.message}\n` : `zdd: no service here for ${describe(req)}\n`, rejection?.status === 405 ? { allow: allowedMethods } : {});
    }
    const site = match.entry.target;
    if (site.kind === 'redirect') return redirect(res, httpsUrl(req, site.httpsPort));
    site.proxy.handle(req, res, entryFor(req, match, secure, true));
  }

  #upgrade(router: HostRouter<Site>, req: IncomingMessage, socket: Duplex, head: Buffer, secure: boolean, refused: (status: number) => void): void {
    const rejection = checkRequest(req);
    const match = rejection ? router.match(undefined, '/') : router.match(requestHost(req), req.url ?? '');
    const site = match?.entry.target;
    if (match && site?.kind === 'service') return site.proxy.upgrade(req, socket, head, entryFor(req, match, secure));
    if (site?.kind === 'redirect') return endWithStatus(socket, 308, '', { location: httpsUrl(req, site.httpsPort) });
    refused(rejection?.status ?? 404);
    endWithStatus(socket, rejection?.status ?? 404, rejection ? rejection.message : `no service here for ${describe(req)}`);
  }
}

function entryFor(req: ClientRequest, match: RouteMatch<Site>, secure: boolean, checked = false): Entry {
  const site = match.entry.target;
  return {
    secure,
    path: upstreamUrl(match, req.url ?? '/'),
    cookiePath: match.prefix ?? '/',
    hsts: secure && site.kind === 'service' ? site.hsts : undefined,
    checked,
  };
}

/** https://host[:port]/path for a plain request (the port only when it is not 443). */
function httpsUrl(req: ClientRequest, port: number): string {
  const host = requestHost(req) ?? '';
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  return `https://${name}${port === 443 ? '' : `:${port}`}${req.url ?? '/'}`;
}

function describe(req: ClientRequest): string {
  const host = normaliseHost(requestHost(req) ?? '') ?? 'this host';
  return `${host}${(req.url ?? "/").split("?")[0]!.slice(0, 200)}`;
}

function plain(res: ClientResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  writeHead(res, status, undefined, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

function redirect(res: ClientResponse, location: string): void {
  const body = `zdd: this site is served over https: ${location}\n`;
  writeHead(res, 308, undefined, { location, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
