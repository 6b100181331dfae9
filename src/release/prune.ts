/** What pruning needs to know of a release. */
export interface PrunableRelease {
  number: number;
  folder: string | null;
  prunedAt: number | null;
}

/**
 * The releases whose folders go after a successful deploy: all but the newest `keep` that still have a
 * folder, and never one in use (live, warm standby, starting, draining, the one being deployed).
 */
export function releasesToPrune(releases: readonly PrunableRelease[], keep: number, inUse: ReadonlySet<number>): number[] {
  const withFolder = releases.filter((r) => r.folder !== null && r.prunedAt === null).sort((a, b) => b.number - a.number);
  let kept = 0;
  const out: number[] = [];
  for (const r of withFolder) {
    if (inUse.has(r.number)) {
      kept++;
      continue;
    }
    if (kept < keep) {
      kept++;
      continue;
    }
    out.push(r.number);
  }
  return out;
}
