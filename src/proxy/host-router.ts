import { isWildcard, normaliseHost, parseHostPattern, parsePathPrefix, pathHasPrefix, routeKeys } from '../config/routes.ts';

// Which of the services on one listener a request is for, by host and path. Pure: no I/O. The host
// and path rules (normalisation, segment boundaries) are the config's own (config/routes.ts), so a
// config that loads is exactly what gets matched.

export { normaliseHost } from '../config/routes.ts';

export interface RouteEntry<T> {
  service: string;
  /** Host patterns as in ServiceConfig.hosts; empty: any host (the default entry). */
  hosts: readonly string[];
  /** Path prefixes as in ServiceConfig.paths; empty (or "/"): every path. */
  paths: readonly string[];
  stripPrefix: boolean;
  target: T;
}

export interface RouteMatch<T> {
  entry: RouteEntry<T>;
  /** The matched path prefix; undefined when the entry has no paths. */
  prefix: string | undefined;
}

/** The entries of one host (or of the wildcard of a domain, or of no host): prefixes longest first, then the catch-all. */
class PathTable<T> {
  readonly #prefixed: RouteMatch<T>[] = [];
  #whole: RouteMatch<T> | undefined;

  /** False when the prefix (or the catch-all) is taken. */
  add(entry: RouteEntry<T>, prefix: string | undefined): boolean {
    if (prefix === undefined) {
      if (this.#whole) return false;
      this.#whole = Object.freeze({ entry, prefix });
      return true;
    }
    if (this.#prefixed.some((m) => m.prefix === prefix)) return false;
    this.#prefixed.push(Object.freeze({ entry, prefix }));
    this.#prefixed.sort((a, b) => b.prefix!.length - a.prefix!.length);
    return true;
  }

  match(path: string): RouteMatch<T> | undefined {
    for (const m of this.#prefixed) if (pathHasPrefix(path, m.prefix!)) return m;
    return this.#whole;
  }

  owner(prefix: string | undefined): string | undefined {
    return (prefix === undefined ? this.#whole : this.#prefixed.find((m) => m.prefix === prefix))?.entry.service;
  }
}

/**
 * Most specific first: an exact host, then a wildcard ("*.example.com" for "a.example.com"), then the
 * entry without hosts; within each, the longest matching path prefix, then the entry without paths. A
 * request that none covers gets undefined (the proxy answers 404). A match costs two map lookups and a
 * walk over the prefixes of the hosts found, whatever the number of entries.
 */
export class HostRouter<T> {
  readonly entries: readonly RouteEntry<T>[];
  readonly #exact = new Map<string, PathTable<T>>();
  /** By the domain under the wildcard: "example.com" for "*.example.com". */
  readonly #wildcard = new Map<string, PathTable<T>>();
  readonly #anyHost = new PathTable<T>();

  /** Throws on an invalid host or path, or on two entries with one host and path: config checks refuse both. */
  constructor(entries: readonly RouteEntry<T>[]) {
    this.entries = entries;
    for (const entry of entries) {
      const hosts = entry.hosts.map((h) => valid(parseHostPattern(h), entry.service).host);
      const paths = entry.paths.map((p) => valid(parsePathPrefix(p), entry.service).prefix);
      for (const { host, prefix } of routeKeys(hosts, paths)) {
        const table = host === undefined ? this.#anyHost : tableFor(isWildcard(host) ? this.#wildcard : this.#exact, isWildcard(host) ? host.slice(2) : host);
        if (!table.add(entry, prefix)) {
          throw new Error(`services ${table.owner(prefix)} and ${entry.service} both route ${host ?? 'any host'} ${prefix ?? '/'}`);
        }
      }
    }
  }

  /**
   * host: the Host header or :authority as the client sent it (any case, maybe with :port, [v6]:port or
   * a trailing dot); undefined or malformed, only entries without hosts match. url: the request target
   * (path?query); its path is compared as sent, not percent-decoded, so "%2F" is not a separator and the
   * proxy never sees a different path than the app. A target that is not origin-form ("*") matches only
   * entries without paths.
   */
  match(host: string | undefined, url: string): RouteMatch<T> | undefined {
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const name = host === undefined ? undefined : normaliseHost(host);
    if (name !== undefined) {
      const exact = this.#exact.get(name)?.match(path);
      if (exact) return exact;
      const dot = name.indexOf('.');
      const wild = dot > 0 ? this.#wildcard.get(name.slice(dot + 1))?.match(path) : undefined;
      if (wild) return wild;
    }
    return this.#anyHost.match(path);
  }
}

function tableFor<T>(tables: Map<string, PathTable<T>>, key: string): PathTable<T> {
  let table = tables.get(key);
  if (!table) tables.set(key, (table = new PathTable<T>()));
  return table;
}

function valid<R extends object>(r: R | { error: string }, service: string): R {
  if ('error' in r) throw new Error(`service ${service}: ${r.error}`);
  return r;
}

/** The url with `prefix` removed on its segment boundary: /api/x?y → /x?y, /api → /, /api?x → /?x. Unchanged when not under it. */
export function stripPathPrefix(url: string, prefix: string): string {
  if (prefix === '/' || !url.startsWith(prefix)) return url;
  const rest = url.slice(prefix.length);
  if (rest === '') return '/';
  if (rest[0] === '/') return rest;
  if (rest[0] === '?') return `/${rest}`;
  return url;
}

/** The request target to forward for a match: stripped of the prefix when the entry asks for it. */
export function upstreamUrl(match: RouteMatch<unknown>, url: string): string {
  return match.entry.stripPrefix && match.prefix !== undefined ? stripPathPrefix(url, match.prefix) : url;
}
