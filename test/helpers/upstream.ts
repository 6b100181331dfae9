// Real upstream servers and a real ServiceProxy in front of them, for proxy tests.
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import pino from 'pino';
import { Affinity } from '../../src/proxy/affinity.ts';
import { ReleaseTargets } from '../../src/proxy/release-targets.ts';
import { FrontDoor } from '../../src/proxy/front-door.ts';
import type { ProxyConfig } from '../../src/proxy/data-plane.ts';
import { ServiceProxy } from '../../src/proxy/service-proxy.ts';
import { Target } from '../../src/proxy/target.ts';
import { freePort } from './ports.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface Upstream {
  server: http.Server;
  port: number;
  /** Requests received so far, in order. */
  seen: IncomingMessage[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1, on a port of its own. */
export async function startUpstream(handler: Handler): Promise<Upstream> {
  const seen: IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    server,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A server that answers every request with 200 and a body naming it. */
export function startNamedUpstream(name: string): Promise<Upstream> {
  return startUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': name });
      res.end(name);
    });
  });
}

/** A port nothing listens on (bound once, then released). */
export async function refusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export interface TargetOptions {
  release?: number;
  timeoutMs?: number;
  healthy?: boolean;
  /** Pool connections to the upstream (proxy.connections). */
  connections?: number;
}

let seq = 0;

/** A target for `port`, healthy unless asked otherwise. */
export function makeTarget(port: number, o: TargetOptions = {}): Target {
  const release = o.release ?? 1;
  const t = new Target({ id: `web-r${release}-${++seq}`, release, host: '127.0.0.1', port, connections: o.connections ?? 16, timeoutMs: o.timeoutMs ?? 2000 });
  if (o.healthy ?? true) t.transition('healthy');
  return t;
}

export function group(release: number, ...targets: Target[]): ReleaseTargets {
  const g = new ReleaseTargets(release);
  for (const t of targets) g.add(t);
  return g;
}

export interface RunningProxy {
  proxy: ServiceProxy;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** The secret test proxies sign bucket cookies with, so a test can hold a cookie for a chosen bucket. */
export const testSecret = Buffer.alloc(32, 7);

/** A Cookie header placing the client in `bucket` (signed as a test proxy of `service` signs it). */
export function bucketCookieFor(bucket: number, service = 'web'): string {
  return `zdd-bucket=${new Affinity(service, testSecret).cookieValue(bucket)}`;
}

/** A ServiceProxy for service "web" listening on a free port of 127.0.0.1. */
export async function startProxy(service = 'web', proxyConfig: Partial<ProxyConfig> = {}, options: { holdCap?: number } = {}): Promise<RunningProxy> {
  // ServiceProxy listens where it is told and does not report a port chosen by the OS, so pick a free one
  // (and pick again in the rare case another process took it in between).
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proxy = new ServiceProxy(service, pino({ level: 'silent' }), { proxy: proxyConfig, secret: testSecret, ...options });
    const front = new FrontDoor([{ name: service, listen: { host: '127.0.0.1', port } }], new Map([[service, proxy]]), undefined);
    try {
      await front.addresses[0]!.listener.listen();
    } catch (err) {
      if (attempt < 5 && /already in use/.test((err as Error).message)) continue;
      throw err;
    }
    return {
      proxy,
      port,
      url: `http://127.0.0.1:${port}`,
      close: async () => {
        front.closeAllConnections();
        await front.close();
      },
    };
  }
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** One request on a fresh connection; the body is collected as bytes. */
export function send(
  url: string,
  o: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(o.path ?? '/', url);
    const req = http.request(u, { method: o.method ?? 'GET', headers: o.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Resolves with the next request the upstream receives. */
export function nextRequest(u: Upstream): Promise<IncomingMessage> {
  return new Promise((resolve) => u.server.once('request', (req: IncomingMessage) => resolve(req)));
}

/**
 * Writes raw bytes to host:port and collects everything the server sends until it ends the connection
 * (or `until` matches what arrived so far, for connections the server keeps open).
 */
export function rawExchange(port: number, data: string | Buffer, until?: (received: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      received += d;
      if (until?.(received)) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.on('end', () => {
      socket.destroy();
      resolve(received);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (received ? resolve(received) : reject(err)));
    socket.write(data);
  });
}

export interface RawUpstream {
  port: number;
  close(): Promise<void>;
}

/**
 * A TCP server that answers each request head it receives with `respond(head)`, written byte for byte, so
 * a test controls exactly what the proxy gets back (headers Node's own http server would refuse to send).
 */
export async function startRawUpstream(respond: (head: string) => string): Promise<RawUpstream> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      buffered += d;
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        socket.write(respond(head), 'latin1');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
