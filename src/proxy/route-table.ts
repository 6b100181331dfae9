import type { ReleaseTargets } from './release-targets.ts';

export interface Route {
  targets: ReleaseTargets;
  /** Share of traffic in percent; the routes of a table add up to 100. */
  weight: number;
}

/**
 * Which releases serve a service, newest first. A request reads the table once, so a switch (a new
 * table) is atomic for it: it sees the old split or the new one, never half of each.
 */
export interface RouteTable {
  readonly routes: readonly Route[];
  /** Retry idempotent requests that the newest release failed on the next one (canary → stable). */
  readonly retryOnOlder: boolean;
}

export const emptyTable: RouteTable = { routes: [], retryOnOlder: false };

/** Buckets 0..9999: the newest release owns the lowest buckets, so raising its weight only moves clients onto it. */
export const bucketCount = 10_000;

export function routeForBucket(table: RouteTable, bucket: number): Route | undefined {
  const { routes } = table;
  let edge = 0;
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i]!;
    edge += r.weight * (bucketCount / 100);
    if (bucket < edge && r.weight > 0) return r;
  }
  // Rounding or a table whose weights do not reach 100: the oldest release with traffic takes the rest.
  for (let i = routes.length - 1; i >= 0; i--) if (routes[i]!.weight > 0) return routes[i];
  return undefined;
}

/** A release named by a tester: "canary" (the newest of a split), "stable" (the oldest), or a release number. */
export function routeByName(table: RouteTable, name: string): Route | undefined {
  const { routes } = table;
  if (routes.length === 0) return undefined;
  if (name === 'canary') return routes.length > 1 ? routes[0] : undefined;
  if (name === 'stable') return routes[routes.length - 1];
  const n = Number(name);
  return routes.find((r) => r.targets.release === n);
}
