// Host names and path prefixes, as written in zdd.yaml and as sent by clients. The config (validation,
// conflict checks) and the proxy (HostRouter) both go through these functions, so what the config calls
// "the same route" and what the proxy matches can never disagree. Pure: no I/O.

/** A host pattern: an exact name ("app.example.com"), an IP literal, or a one-level wildcard ("*.example.com"). */
export type HostPattern = string;

/** A host pattern in zdd.yaml: lower case, no trailing dot, IPv6 without brackets in its shortest form. */
export function parseHostPattern(text: string): { host: HostPattern } | { error: string } {
  const quoted = JSON.stringify(text);
  let s = text.trim().toLowerCase();
  if (s.startsWith('[') || (s.includes(':') && !s.includes('/'))) {
    const v6 = canonicalV6(s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s);
    return v6 ? { host: v6 } : { error: `${quoted} is not a host name or address; write the name alone, e.g. app.example.com (no scheme, port or path)` };
  }
  if (s.endsWith('.')) s = s.slice(0, -1);
  if (s.length === 0) return { error: 'must not be empty; write a name such as app.example.com' };
  if (/[/:?#@\s]/.test(s)) return { error: `${quoted} is not a host name; write the name alone, e.g. app.example.com (no scheme, port or path)` };
  const wildcard = s.startsWith('*.');
  const name = wildcard ? s.slice(2) : s;
  if (name.includes('*') || s === '*') {
    return { error: `${quoted}: a wildcard is only allowed as the whole first label, followed by a domain, e.g. *.example.com` };
  }
  if (name.length > 253) return { error: `${quoted} is longer than the 253 characters a host name may have` };
  const labels = name.split('.');
  for (const label of labels) {
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) {
      return { error: `${quoted} is not a host name: each label between dots is 1 to 63 letters, digits or -, not starting or ending with - (an internationalised name in its xn-- form)` };
    }
  }
  // A top-level domain is never all digits: such a name is an IPv4 address or a mistake.
  if (/^\d+$/.test(labels.at(-1)!) && (wildcard || !isIPv4(name))) {
    return { error: `${quoted} is neither a host name (its last label is a number) nor an IPv4 address such as 192.0.2.7` };
  }
  return { host: s };
}

export function isWildcard(pattern: HostPattern): boolean {
  return pattern.startsWith('*.');
}

/**
 * The host a client asked for, from a Host header or :authority as sent (any case, maybe ":port",
 * maybe "[v6]:port", maybe a trailing dot), in the form parseHostPattern gives; undefined when it is
 * malformed or empty. The port is ignored: a route is for a name, whatever port the client dialled.
 */
export function normaliseHost(host: string): string | undefined {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0 || !isPort(host, end + 1)) return undefined;
    return canonicalV6(host.slice(1, end));
  }
  let s = host;
  const colon = s.indexOf(':');
  if (colon >= 0) {
    if (!isPort(s, colon)) return undefined; // a bare IPv6 address is not a valid Host
    s = s.slice(0, colon);
  }
  s = s.toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1);
  return s === '' ? undefined : s;
}

/** `text` from `at` is empty or ":" and digits. */
function isPort(text: string, at: number): boolean {
  if (at === text.length) return true;
  if (text[at] !== ':') return false;
  for (let i = at + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** "0:0::1" → "::1"; undefined when not an IPv6 address. */
function canonicalV6(text: string): string | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(':')) return undefined;
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

function isIPv4(text: string): boolean {
  return /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(text);
}

/** Characters of a path segment (RFC 3986 pchar, percent-encodings apart). */
const segment = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+$/;

/**
 * A path prefix in zdd.yaml: starts with "/", no query or fragment, no empty, "." or ".." segments;
 * returned without a trailing slash ("/" stays "/", which means every path) and with percent-encodings
 * in upper case (as RFC 3986 recommends, and as clients send them).
 */
export function parsePathPrefix(text: string): { prefix: string } | { error: string } {
  const quoted = JSON.stringify(text);
  if (!text.startsWith('/')) return { error: `${quoted} must start with /, e.g. /api` };
  if (/[?#]/.test(text)) return { error: `${quoted}: a path prefix has no query or fragment (? or #)` };
  const trimmed = text.replace(/\/+$/, '');
  if (trimmed === '') return { prefix: '/' };
  const parts = trimmed.slice(1).split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return { error: `${quoted} has an empty, "." or ".." segment; write the path as clients send it, e.g. /api/v1` };
  if (!parts.every((p) => segment.test(p))) return { error: `${quoted} has characters a URL path cannot hold; percent-encode them, e.g. %20 for a space` };
  return { prefix: trimmed.replace(/%[0-9a-f]{2}/gi, (e) => e.toUpperCase()) };
}

/**
 * Whether a request path lies under `prefix`, on a segment boundary: "/api" covers "/api", "/api/" and
 * "/api/x", not "/apix". The path is compared as sent, never percent-decoded: decoding first would make
 * "%2F" a separator and "/api%2F..%2Fadmin" something else to the proxy than to the app.
 */
export function pathHasPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47 /* / */);
}

/** One route a service claims: a host (undefined: any host, the default) and a path prefix (undefined: every path). */
export interface RouteKey {
  host: HostPattern | undefined;
  prefix: string | undefined;
}

/** The routes of a service with these (normalised) hosts and paths: every host with every path. */
export function routeKeys(hosts: readonly HostPattern[], paths: readonly string[]): RouteKey[] {
  const hs = hosts.length > 0 ? hosts : [undefined];
  const ps = paths.length > 0 && !paths.includes('/') ? paths : [undefined];
  return hs.flatMap((host) => ps.map((prefix) => ({ host, prefix })));
}

/** How a route key reads in a message: "app.example.com/api", "any host", "*.example.com". */
export function describeRoute(key: RouteKey): string {
  const host = key.host ?? 'any host';
  return key.prefix === undefined ? host : key.host === undefined ? `${host} under ${key.prefix}` : `${host}${key.prefix}`;
}
