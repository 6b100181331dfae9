import type { ServiceState } from '../deploy/service-state.ts';
import type { ReleaseSet } from '../release/release-set.ts';

/** The role a running release plays for its service. */
export type ReleaseRole = 'live' | 'incoming' | 'standby' | 'retiring';

/** What a running release looks like at the moment of a scrape. */
export interface ReleaseGauges {
  version: string;
  role: ReleaseRole;
  instances: number;
  healthy: number;
  inFlight: number;
  /** Share of the service's traffic the split sends it, 0–1. */
  weight: number;
}

/** When one release has several sets (a rollback to it while its old set drains), the busiest role names it. */
const rank: Record<ReleaseRole, number> = { live: 3, incoming: 2, standby: 1, retiring: 0 };

/** The gauges of each release the service runs now, by release number: read at scrape time, nothing on the hot path. */
export function releaseGauges(s: ServiceState): Map<number, ReleaseGauges> {
  const roles: [ReleaseRole, Iterable<ReleaseSet>][] = [
    ['live', s.live ? [s.live] : []],
    ['incoming', s.incoming],
    ['standby', s.standby ? [s.standby.set] : []],
    ['retiring', s.retiring],
  ];
  const out = new Map<number, ReleaseGauges>();
  for (const [role, sets] of roles) {
    for (const set of sets) {
      const n = set.release.number;
      let g = out.get(n);
      if (!g) out.set(n, (g = { version: set.release.version, role, instances: 0, healthy: 0, inFlight: 0, weight: 0 }));
      else if (rank[role] > rank[g.role]) g.role = role;
      g.instances += set.size;
      g.healthy += set.healthyCount;
      for (const m of set.members) g.inFlight += m.target.inFlight;
    }
  }
  for (const r of s.plane.table.routes) {
    const g = out.get(r.targets.release);
    if (g) g.weight += r.weight / 100;
  }
  return out;
}
