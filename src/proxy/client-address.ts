import net from 'node:net';
import { isHttp2, type ClientRequest } from './client-exchange.ts';
import type { NetworkSet } from '../config/networks.ts';

/** Who sent a request, as far as zdd can believe it. */
export interface ClientInfo {
  /** The address of the TCP peer. */
  peer: string;
  /** The peer is in trustedNetworks: a local TLS terminator or load balancer whose X-Forwarded-* are believed. */
  peerTrusted: boolean;
  /** The client's address: the peer's, or from X-Forwarded-For when the peer is trusted. */
  ip: string;
  /** The client itself is in trustedNetworks: it may force a release and is exempt from per-client limits. */
  trusted: boolean;
}

export function peerAddress(socket: { remoteAddress?: string | undefined }): string {
  const ip = socket.remoteAddress ?? '';
  return ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

/** Per connection (its socket, or its HTTP/2 session): the peer, judged against one NetworkSet. */
interface PeerVerdict {
  trusted: NetworkSet;
  /** The client is the peer: every request from an untrusted peer, and those without X-Forwarded-For from a trusted one. */
  direct: ClientInfo;
}

/** Every request on a keep-alive connection comes from the same peer: its address is parsed and looked up once. */
const verdicts = new WeakMap<object, PeerVerdict>();

function peerVerdict(req: ClientRequest, trusted: NetworkSet): PeerVerdict {
  // HTTP/2 gives each stream a socket view of its own: the session is what lasts as long as the connection.
  const key: object = (isHttp2(req) ? req.stream.session : undefined) ?? req.socket;
  let v = verdicts.get(key);
  // A NetworkSet is replaced, never changed, when the settings change: another one means judging again.
  if (v === undefined || v.trusted !== trusted) {
    const peer = peerAddress(req.socket);
    const peerTrusted = trusted.has(peer);
    v = { trusted, direct: { peer, peerTrusted, ip: peer, trusted: peerTrusted } };
    // Before it is connected (or after it closed) a socket has no address yet: judged again next time.
    if (peer !== '') verdicts.set(key, v);
  }
  return v;
}

/**
 * The client behind a request. From a trusted peer, X-Forwarded-For is read right to left, skipping
 * trusted hops (as nginx's real_ip_recursive does): the first untrusted address is the client. An entry
 * that is not an address ends the walk, and the client counts as untrusted. The result may be shared
 * between requests of one connection: it is not to be changed.
 */
export function identifyClient(req: ClientRequest, trusted: NetworkSet): ClientInfo {
  const { direct } = peerVerdict(req, trusted);
  if (!direct.peerTrusted || !hasForwardedFor(req.rawHeaders)) return direct;
  const { peer, peerTrusted } = direct;
  const hops = forwardedFor(req);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (net.isIP(hop) === 0) return { peer, peerTrusted, ip: peer, trusted: false };
    if (!trusted.has(hop)) return { peer, peerTrusted, ip: hop, trusted: false };
  }
  return { peer, peerTrusted, ip: hops[0] ?? peer, trusted: true };
}

function isForwardedFor(name: string): boolean {
  return name.length === 15 && name.toLowerCase() === 'x-forwarded-for';
}

function hasForwardedFor(raw: string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) if (isForwardedFor(raw[i]!)) return true;
  return false;
}

/** Every X-Forwarded-For entry, in order, across repeated headers. */
function forwardedFor(req: ClientRequest): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (isForwardedFor(raw[i]!)) {
      for (const part of raw[i + 1]!.split(',')) {
        const hop = part.trim();
        if (hop) out.push(hop.startsWith('::ffff:') && net.isIPv4(hop.slice(7)) ? hop.slice(7) : hop);
      }
    }
  }
  return out;
}
