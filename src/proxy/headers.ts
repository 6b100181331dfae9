import { randomBytes } from 'node:crypto';
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

/** Bit n set: one of `names` is n characters long. A header name of any other length is none of them, whatever its case. */
function lengthsOf(names: Iterable<string>): number {
  let bits = 0;
  for (const name of names) {
    if (name.length >= 32) throw new Error(`${name}: too long for a length mask`);
    bits |= 1 << name.length;
  }
  return bits;
}

function hasLength(mask: number, name: string): boolean {
  return name.length < 32 && ((mask >>> name.length) & 1) === 1;
}

/** Response header names the proxy looks at; any other is passed on without being lower-cased (most of them). */
const notableLengths = lengthsOf([...hopByHop, 'x-request-id', 'strict-transport-security']);
/** The same for request header names (upstreamHeaders). */
const notableRequestLengths = lengthsOf([...hopByHop, 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', 'x-real-ip', 'host', 'forwarded', 'cookie']);

const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;

/**
 * A new request id, shaped like a UUID (8-4-4-4-12 hex digits, version 4): 26 random hex digits, drawn
 * afresh every 2^24 ids, then a counter. As unique as randomUUID() for what a request id is for (finding
 * one request in the logs of every process that saw it), at a fraction of its cost: no random bytes and
 * no number formatting per request.
 */
export function newRequestId(): string {
  idCounter = (idCounter + 1) & 0xffffff;
  if (idCounter === 0) idPrefix = randomIdPrefix();
  return idPrefix + hexByte[idCounter >>> 16]! + hexByte[(idCounter >>> 8) & 0xff]! + hexByte[idCounter & 0xff]!;
}

const hexByte = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** xxxxxxxx-xxxx-4xxx-Yxxx-xxxxxx (Y: 8, 9, a or b): all of a UUID but its last 6 hex digits. */
function randomIdPrefix(): string {
  const h = randomBytes(13).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(12, 15)}-${((parseInt(h[15]!, 16) & 3) | 8).toString(16)}${h.slice(16, 19)}-${h.slice(19, 25)}`;
}

let idPrefix = randomIdPrefix();
let idCounter = 0;

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

/** Tokens a Connection header value names: they are hop-by-hop for this message too. */
function addConnectionTokens(value: string, tokens: Set<string> | undefined): Set<string> | undefined {
  for (const t of value.split(',')) {
    const name = t.trim().toLowerCase();
    if (name && name !== 'close' && name !== 'keep-alive' && name !== 'upgrade') (tokens ??= new Set()).add(name);
  }
  return tokens;
}

/** Tokens the Connection headers of a flat [name, value, ...] list name. */
function connectionTokens(raw: string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') tokens = addConnectionTokens(raw[i + 1]!, tokens);
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
    // A name whose length none of those below has passes as it is (unless Connection named more).
    if (extra === undefined && !hasLength(notableRequestLengths, name)) {
      out.push(name, value);
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

/**
 * The upstream's response headers for the client, minus hop-by-hop ones, as a flat list. `parsed`: the
 * same headers by lower-case name, as undici hands them to a handler beside the raw ones, their values
 * strings already: a header that occurs once takes its value from there rather than being decoded again.
 */
export function downstreamHeaders(
  raw: readonly (Buffer | string)[],
  requestId: string,
  setCookie?: string,
  hsts?: string,
  parsed?: Readonly<Record<string, string | string[] | undefined>>,
): string[] {
  let out: string[] = [];
  let extra: Set<string> | undefined;
  let hasRequestId = false;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    const { name, lower, notable } = typeof n === 'string' ? nameFromString(n) : nameFromBytes(n);
    if (notable && hopByHop.has(lower) && lower !== 'connection') continue;
    const v = raw[i + 1]!;
    let value: string;
    if (typeof v === 'string') value = v;
    else {
      const known = parsed?.[lower];
      value = typeof known === 'string' ? known : v.toString('latin1');
    }
    if (notable) {
      if (lower === 'connection') {
        // What an app's server says on every response: nothing more to drop.
        if (value !== 'keep-alive' && value !== 'close') extra = addConnectionTokens(value, extra);
        continue;
      }
      // zdd.yaml's hsts is the operator's word for the whole site.
      if (hsts !== undefined && lower === 'strict-transport-security') continue;
      if (lower === 'x-request-id') hasRequestId = true;
    }
    out.push(name, value);
  }
  // Rare: a Connection header named more headers (before or after it): they go too.
  if (extra) {
    out = dropNamed(out, extra);
    if (extra.has('x-request-id')) hasRequestId = false;
  }
  if (!hasRequestId) out.push('x-request-id', requestId);
  if (setCookie) out.push('set-cookie', setCookie);
  if (hsts !== undefined) out.push('strict-transport-security', hsts);
  return out;
}

/** A response header name as sent, in lower case, and whether it needs a look (notableLengths). */
interface HeaderName {
  name: string;
  lower: string;
  notable: boolean;
}

function nameFromString(name: string): HeaderName {
  return { name, lower: name.toLowerCase(), notable: hasLength(notableLengths, name) };
}

/**
 * Names undici hands over as bytes, decoded once: an app answers with the same dozen names again and
 * again, so each is kept in a small table (by length and three of its bytes) and compared byte for byte
 * rather than decoded and lower-cased anew. A name that collides with another just replaces it.
 */
const nameTable: (HeaderName | undefined)[] = new Array(1024).fill(undefined);

function nameFromBytes(bytes: Buffer): HeaderName {
  const len = bytes.length;
  if (len === 0 || len > 64) return nameFromString(bytes.toString('latin1'));
  const slot = (len * 31 + bytes[0]! * 7 + bytes[len >> 1]! * 13 + bytes[len - 1]!) & 1023;
  const known = nameTable[slot];
  if (known !== undefined && known.name.length === len) {
    const s = known.name;
    let i = 0;
    while (i < len && s.charCodeAt(i) === bytes[i]) i++;
    if (i === len) return known;
  }
  return (nameTable[slot] = nameFromString(bytes.toString('latin1')));
}

function dropNamed(flat: string[], names: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) if (!names.has(flat[i]!.toLowerCase())) out.push(flat[i]!, flat[i + 1]!);
  return out;
}
