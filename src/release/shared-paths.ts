import { cpSync, existsSync, lstatSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';

export interface SharedLinks {
  /** Paths linked to what earlier releases left there. */
  linked: string[];
  /** Paths the source held, copied into the shared place on this first deploy. */
  seeded: string[];
  /** Paths that existed nowhere: created as empty folders. */
  created: string[];
}

/**
 * Makes each shared path of a release folder a symlink to its one place per service (Capistrano's linked
 * dirs), so uploads, SQLite files and .env outlive releases and rollbacks. What the source holds at a
 * shared path seeds the shared place on the first deploy; later releases' copies are replaced by the link.
 */
export function linkShared(o: { releaseDir: string; sharedDir: string; paths: readonly string[] }): SharedLinks {
  const out: SharedLinks = { linked: [], seeded: [], created: [] };
  for (const rel of o.paths) {
    const target = path.join(o.sharedDir, rel);
    const inRelease = path.join(o.releaseDir, rel);
    const held = lstatOrUndefined(inRelease);
    if (existsSync(target)) {
      out.linked.push(rel);
    } else if (held && !held.isSymbolicLink()) {
      mkdirSync(path.dirname(target), { recursive: true });
      cpSync(inRelease, target, { recursive: true, preserveTimestamps: true });
      out.seeded.push(rel);
    } else {
      mkdirSync(target, { recursive: true });
      out.created.push(rel);
    }
    if (held) rmSync(inRelease, { recursive: true, force: true });
    mkdirSync(path.dirname(inRelease), { recursive: true });
    // Relative, so the data dir can move as a whole.
    symlinkSync(path.relative(path.dirname(inRelease), target), inRelease);
  }
  return out;
}

function lstatOrUndefined(p: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
