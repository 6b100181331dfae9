import { isHttp2, type ClientRequest } from './client-exchange.ts';

/** A request the proxy answers itself, without bothering an upstream. */
export interface Rejection {
  status: 400 | 405;
  message: string;
}

/** Methods an app may be sent; 405 answers list them. TRACE (reflects headers, XST) and CONNECT are not among them. */
export const allowedMethods = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/**
 * Checks every request (upgrades too) must pass before it reaches an app. They are the client's errors:
 * answered 400/405 here and never counted against a release.
 */
export function checkRequest(req: ClientRequest): Rejection | undefined {
  if (req.url?.[0] !== '/') {
    // Asterisk-form (OPTIONS *) and absolute-form targets are for proxies and servers, not for an app.
    return { status: 400, message: 'only origin-form request targets (starting with /) are forwarded' };
  }
  const hosts = hostCount(req.rawHeaders);
  let host = req.headers.host;
  if (isHttp2(req)) {
    // HTTP/2 names the host in :authority (once, by construction); a Host header beside it must agree.
    const authority = req.headers[':authority'];
    if (hosts > 1) return { status: 400, message: 'more than one Host header' };
    if (authority !== undefined && host !== undefined && authority !== host) return { status: 400, message: 'Host and :authority differ' };
    host = authority ?? host;
    if (host === undefined) return { status: 400, message: 'a Host header is required' };
  } else {
    // RFC 9112 §3.2: a request without Host, or with more than one, gets 400. (HTTP/1.0 may omit Host;
    // zdd still needs one to tell the app which site was asked for.)
    if (hosts === 0) return { status: 400, message: 'a Host header is required' };
    if (hosts > 1) return { status: 400, message: 'more than one Host header' };
  }
  if (host !== lastValidHost || host === undefined) {
    if (!validHost.test(host!)) return { status: 400, message: 'the Host header is not a host name or address' };
    lastValidHost = host;
  }
  if (req.method === 'TRACE' || req.method === 'CONNECT') return { status: 405, message: `${req.method} is not allowed` };
  return undefined;
}

/** RFC 3986 reg-name or IPv4 address, or a bracketed IPv6 literal, with an optional port. */
const validHost = /^(?:[\w.~!$&'()*+,;=%-]+|\[[\da-fA-F:.]+\])(?::\d{1,5})?$/;
/** The last Host that passed: most requests name the host the one before named, and skip the pattern. */
let lastValidHost: string | undefined;

function hostCount(raw: string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') n++;
  return n;
}
