import type { ClientInfo } from './client-address.ts';
import type { ClientRequest } from './client-exchange.ts';

// RFC 9110 §7.6.1: hop-by-hop fields belong to one connection and are never forwarded. "expect" is
// answered by the proxy itself (Node sends 100 Continue), "host" is passed on as sent.
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'expect',
]);

const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;

export interface ForwardedInfo {
  requestId: string;
  /**
   * Who sent it. From a trusted peer (a local TLS terminator) X-Forwarded-For is extended and
   * X-Forwarded-Proto/-Host and Forwarded are kept; from anyone else they are replaced or dropped, so an
   * app never mistakes a forged value for zdd's.
   */
  client: ClientInfo;
  /** The client came over TLS (zdd terminated it): X-Forwarded-Proto is https. */
  secure: boolean;
}

/** Tokens a Connection header names: they are hop-by-hop for this message too. */
function connectionTokens(raw: string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      for (const t of raw[i + 1]!.split(',')) {
        const name = t.trim().toLowerCase();
        if (name && name !== 'close' && name !== 'keep-alive' && name !== 'upgrade') (tokens ??= new Set()).add(name);
      }
    }
  }
  return tokens;
}

export function incomingRequestId(req: ClientRequest): string | undefined {
  const v = req.headers['x-request-id'];
  return typeof v === 'string' && requestIdPattern.test(v) ? v : undefined;
}

/**
 * Headers to send upstream (always HTTP/1.1) as a flat [name, value, ...] list: the client's, minus
 * hop-by-hop ones and HTTP/2 pseudo-headers, plus X-Forwarded-* and X-Request-Id. With `upgrade`,
 * Connection/Upgrade are kept for the handshake.
 */
export function upstreamHeaders(req: ClientRequest, info: ForwardedInfo, upgrade = false): string[] {
  const raw = req.rawHeaders;
  const extra = connectionTokens(raw);
  const { client } = info;
  const trusted = client.peerTrusted;
  const out: string[] = [];
  let xff: string | undefined;
  let proto: string | undefined;
  let fwdHost: string | undefined;
  let host: string | undefined;
  let authority: string | undefined;
  let cookies: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 58 /* ":" */) {
      if (name === ':authority') authority = value;
      continue;
    }
    const lower = name.toLowerCase();
    if (hopByHop.has(lower) || extra?.has(lower)) continue;
    if (lower.startsWith('x-')) {
      if (lower === 'x-forwarded-for') {
        xff = xff ? `${xff}, ${value}` : value;
        continue;
      }
      if (lower === 'x-forwarded-proto') {
        proto ??= value;
        continue;
      }
      if (lower === 'x-forwarded-host') {
        fwdHost ??= value;
        continue;
      }
      if (lower === 'x-request-id' || lower === 'x-real-ip') continue;
    } else if (lower === 'host') {
      host = value;
    } else if (lower === 'forwarded' && !trusted) {
      continue;
    } else if (lower === 'cookie' && req.httpVersionMajor === 2) {
      // RFC 9113 §8.2.3: HTTP/2 may split Cookie into crumbs; HTTP/1.1 wants one header.
      (cookies ??= []).push(value);
      continue;
    }
    out.push(name, value);
  }
  if (host === undefined && authority !== undefined) out.push('host', (host = authority));
  if (cookies) out.push('cookie', cookies.join('; '));
  out.push('x-forwarded-for', trusted && xff ? `${xff}, ${client.peer}` : client.peer);
  out.push('x-forwarded-proto', trusted && proto ? proto : info.secure ? 'https' : 'http');
  const forwardedHost = trusted && fwdHost ? fwdHost : host;
  if (forwardedHost) out.push('x-forwarded-host', forwardedHost);
  out.push('x-real-ip', client.ip);
  out.push('x-request-id', info.requestId);
  if (upgrade) out.push('connection', 'upgrade', 'upgrade', String(req.headers.upgrade));
  return out;
}

/** The upstream's response headers for the client, minus hop-by-hop ones, as a flat list. */
export function downstreamHeaders(raw: readonly (Buffer | string)[], requestId: string, setCookie?: string, hsts?: string): string[] {
  const strings = raw.map((v) => (typeof v === 'string' ? v : v.toString('latin1')));
  const extra = connectionTokens(strings);
  const out: string[] = [];
  let hasRequestId = false;
  for (let i = 0; i < strings.length; i += 2) {
    const name = strings[i]!;
    const lower = name.toLowerCase();
    if (hopByHop.has(lower) || extra?.has(lower)) continue;
    // zdd.yaml's hsts is the operator's word for the whole site.
    if (hsts !== undefined && lower === 'strict-transport-security') continue;
    if (lower === 'x-request-id') hasRequestId = true;
    out.push(name, strings[i + 1]!);
  }
  if (!hasRequestId) out.push('x-request-id', requestId);
  if (setCookie) out.push('set-cookie', setCookie);
  if (hsts !== undefined) out.push('strict-transport-security', hsts);
  return out;
}
