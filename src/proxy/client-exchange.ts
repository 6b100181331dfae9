import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

// A client's request reaches a service over HTTP/1.x (plain or TLS) or HTTP/2 (TLS, ALPN h2). Node's
// HTTP/2 compatibility objects look like HTTP/1's in most ways; the few differences live here.

export type ClientRequest = IncomingMessage | Http2ServerRequest;
export type ClientResponse = ServerResponse | Http2ServerResponse;

/** How a request came in, and what of it the service sees. */
export interface Entry {
  /** Over TLS: X-Forwarded-Proto https, a Secure bucket cookie. */
  secure: boolean;
  /** The request target to forward: the client's, or with the route's prefix stripped. */
  path: string;
  /** Path of the sticky bucket cookie: the route's prefix, so services sharing a host keep theirs apart. */
  cookiePath: string;
  /** Strict-Transport-Security value for responses, when the service sets hsts. */
  hsts: string | undefined;
  /** The front door ran checkRequest and it passed. */
  checked?: boolean;
}

export function isHttp2(req: ClientRequest): req is Http2ServerRequest {
  return req.httpVersionMajor === 2;
}

/** The client closed its connection (or its HTTP/2 stream): nothing more can be sent. */
export function responseGone(res: ClientResponse): boolean {
  return 'stream' in res ? res.stream.destroyed : res.destroyed;
}

/** A body follows the headers: HTTP/1 says so in its headers, HTTP/2 by not ending the stream. */
export function requestHasBody(req: ClientRequest): boolean {
  if (isHttp2(req)) return !req.stream.endAfterHeaders;
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

/** The Host the client asked for: the Host header, or HTTP/2's :authority. */
export function requestHost(req: ClientRequest): string | undefined {
  if (isHttp2(req)) return req.headers[':authority'] ?? req.headers.host;
  return req.headers.host;
}

/** Status line and headers; HTTP/2 has no reason phrase. */
export function writeHead(res: ClientResponse, status: number, statusMessage: string | undefined, headers: string[] | Record<string, string | number>): void {
  if ('stream' in res) res.writeHead(status, headers);
  else res.writeHead(status, statusMessage || undefined, headers);
}

/** Writes a piece of the body; false: wait for 'drain'. */
export function writeBody(res: ClientResponse, chunk: Buffer): boolean {
  // One call for both: HTTP/1's and HTTP/2's write(chunk) behave alike (the union's overloads hide it).
  return (res as ServerResponse).write(chunk);
}

/** This response closes its HTTP/1 connection (a client error, a hand-over); HTTP/2 streams are independent. */
export function closeAfter(res: ClientResponse): void {
  if (!('stream' in res)) res.shouldKeepAlive = false;
}
