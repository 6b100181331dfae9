import net from 'node:net';
import type { ClientRequest } from './client-exchange.ts';
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

/**
 * The client behind a request. From a trusted peer, X-Forwarded-For is read right to left, skipping
 * trusted hops (as nginx's real_ip_recursive does): the first untrusted address is the client. An entry
 * that is not an address ends the walk, and the client counts as untrusted.
 */
export function identifyClient(req: ClientRequest, trusted: NetworkSet): ClientInfo {
  const peer = peerAddress(req.socket);
  const peerTrusted = trusted.has(peer);
  if (!peerTrusted) return { peer, peerTrusted, ip: peer, trusted: false };
  const hops = forwardedFor(req);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (net.isIP(hop) === 0) return { peer, peerTrusted, ip: peer, trusted: false };
    if (!trusted.has(hop)) return { peer, peerTrusted, ip: hop, trusted: false };
  }
  return { peer, peerTrusted, ip: hops[0] ?? peer, trusted: true };
}

/** Every X-Forwarded-For entry, in order, across repeated headers. */
function forwardedFor(req: ClientRequest): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 15 && raw[i]!.toLowerCase() === 'x-forwarded-for') {
      for (const part of raw[i + 1]!.split(',')) {
        const hop = part.trim();
        if (hop) out.push(hop.startsWith('::ffff:') && net.isIPv4(hop.slice(7)) ? hop.slice(7) : hop);
      }
    }
  }
  return out;
}
