import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import type { ClientInfo } from './client-address.ts';
import type { ClientRequest } from './client-exchange.ts';
import { bucketCount, routeByName, routeForBucket, type Route, type RouteTable } from './route-table.ts';

/** Header or cookie a tester sets to pick a release: "canary", "stable" or a release number. */
export const forceHeader = 'x-zdd-release';
export const forceCookie = 'zdd-release';
/** Cookie that keeps a client on one side of a traffic split. */
export const bucketCookie = 'zdd-bucket';

/** Where a request goes, and why. One choice may be shared by many requests: it is never changed. */
export interface Choice {
  readonly route: Route;
  /** A new bucket cookie for a client that had none (or one zdd did not sign). */
  readonly setCookie: string | undefined;
  /** The release a trusted client named; such requests are never retried elsewhere nor analysed. */
  readonly forced: string | undefined;
  readonly bucket: number | undefined;
}

/**
 * Which release serves a request during a split: a trusted client may name one; everyone else is kept on
 * one side by a bucket cookie that zdd signs, so a client cannot pick its side by writing a number.
 */
export class Affinity {
  readonly #service: string;
  readonly #secret: Buffer;
  /** The choice of every request while a single release serves (no split): made once per route. */
  #only: Choice | undefined;

  constructor(service: string, secret: Buffer) {
    this.#service = service;
    this.#secret = secret;
  }

  /**
   * `cookie`: where the bucket cookie applies (the route's path prefix, so services sharing a host by
   * path keep cookies of their own) and whether it is Secure (the client came over TLS).
   */
  choose(req: ClientRequest, table: RouteTable, client: ClientInfo, cookie: { path: string; secure: boolean } = { path: '/', secure: false }): Choice | undefined {
    const { routes } = table;
    if (routes.length === 0) return undefined;
    if (routes.length === 1) {
      const route = routes[0]!;
      if (this.#only?.route !== route) this.#only = { route, setCookie: undefined, forced: undefined, bucket: undefined };
      return this.#only;
    }
    const cookies = parseCookies(req.headers.cookie);
    if (client.trusted) {
      const name = req.headers[forceHeader] ?? cookies?.get(forceCookie)?.[0];
      const route = typeof name === 'string' ? routeByName(table, name) : undefined;
      if (route) return { route, setCookie: undefined, forced: name as string, bucket: undefined };
    }
    // Another service on the same host may have set a bucket cookie too (a wider path): only this
    // service's signature counts.
    let saved: number | undefined;
    for (const value of cookies?.get(bucketCookie) ?? []) if ((saved = this.#verify(value)) !== undefined) break;
    const bucket = saved ?? randomInt(bucketCount);
    const route = routeForBucket(table, bucket);
    if (!route) return undefined;
    const setCookie =
      saved === undefined ? `${bucketCookie}=${this.cookieValue(bucket)}; Path=${cookie.path}; HttpOnly; SameSite=Lax${cookie.secure ? '; Secure' : ''}` : undefined;
    return { route, setCookie, forced: undefined, bucket };
  }

  /** The route for the same choice in a newer table (its release left while the request waited). */
  reroute(choice: Choice, table: RouteTable): Route | undefined {
    if (choice.forced !== undefined) return routeByName(table, choice.forced);
    if (choice.bucket !== undefined) return routeForBucket(table, choice.bucket);
    return table.routes[0];
  }

  /** The signed value of the bucket cookie for `bucket`: "<bucket>.<signature>". */
  cookieValue(bucket: number): string {
    return `${bucket}.${this.#sign(bucket)}`;
  }

  /** The bucket of a cookie value zdd issued, or undefined for anything else. */
  #verify(value: string | undefined): number | undefined {
    if (value === undefined) return undefined;
    const m = /^(\d{1,4})\.([\w-]{16})$/.exec(value);
    if (!m) return undefined;
    const bucket = Number(m[1]);
    if (bucket >= bucketCount) return undefined;
    const expected = Buffer.from(this.#sign(bucket));
    const given = Buffer.from(m[2]!);
    return timingSafeEqual(expected, given) ? bucket : undefined;
  }

  #sign(bucket: number): string {
    return createHmac('sha256', this.#secret).update(`${this.#service}:${bucket}`).digest('base64url').slice(0, 16);
  }
}

/** Every value of each cookie, in the order sent (a client may hold two of one name, for two paths). */
function parseCookies(header: string | undefined): Map<string, string[]> | undefined {
  if (!header) return undefined;
  const out = new Map<string, string[]>();
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const name = part.slice(0, i).trim();
    const value = part.slice(i + 1).trim();
    const values = out.get(name);
    if (values) values.push(value);
    else out.set(name, [value]);
  }
  return out;
}
