import { createHash, type Hash } from 'node:crypto';
import { constants, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { cp, lstat, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ZddError } from '../errors.ts';
import { formatDuration } from '../config/duration.ts';

// Reusing what an earlier release's install produced (node_modules, vendor/) when the files it was made
// from (the lockfile) are the same, so that a code-only deploy does not install everything again. The
// output is copied, never linked: a build may change it in place, and the earlier release must not see that.

export interface BuildCacheConfig {
  /** Files or folders, relative to the snapshot, whose content decides whether the output can be reused. */
  key: string[];
  /** What the install produces that a later release can reuse, relative to the snapshot. */
  paths: string[];
}

/** Why a buildCache path cannot be used (undefined: it can). Pure; for the config schema too. */
export function cachePathProblem(p: string): string | undefined {
  if (p.trim() === '') return 'is empty';
  if (path.isAbsolute(p)) return `"${p}" is absolute; write it relative to the service's folder, e.g. node_modules`;
  const n = path.normalize(p);
  if (n === '.' || n === './') return `"${p}" is the whole folder; name what the install writes, e.g. node_modules`;
  if (n === '..' || n.startsWith('../')) return `"${p}" is outside the service's folder`;
  return undefined;
}

function checked(p: string): string {
  const problem = cachePathProblem(p);
  if (problem) throw new ZddError('BUILD_CACHE_PATH_INVALID', `buildCache path ${problem}`, 'fix buildCache in zdd.yaml');
  return path.normalize(p).replace(/\/+$/, '');
}

/** Changing it invalidates every key made before (a change in what goes into a key). */
const keyFormat = 'zdd build cache 1';

/**
 * What decides whether an install's output can be reused: sha256 over the key files' names and content
 * (a folder: every file under it, a symlink: its target) and `also` (the install command: the same
 * lockfile installed with other flags is another output). A missing key file counts as missing, so
 * adding one changes the key. Undefined (never reused) without key files, or when one cannot be read.
 */
export function cacheKey(snapshotDir: string, keyFiles: string[], also: string[] = []): string | undefined {
  if (keyFiles.length === 0) return undefined;
  const h = createHash('sha256').update(keyFormat);
  for (const text of also) field(h, 'also', text);
  for (const file of [...new Set(keyFiles.map(checked))].sort()) {
    let st: Stats;
    try {
      // A key file that is a symlink counts for what it points to (a shared lockfile).
      st = statSync(path.join(snapshotDir, file));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return undefined;
      field(h, file, 'missing');
      continue;
    }
    if (!hashEntry(h, snapshotDir, file, st)) return undefined;
  }
  return h.digest('hex');
}

function hashEntry(h: Hash, root: string, rel: string, st: Stats): boolean {
  const full = path.join(root, rel);
  try {
    if (st.isFile()) field(h, rel, 'file', readFileSync(full));
    else if (st.isSymbolicLink()) field(h, rel, 'link', readlinkSync(full));
    else if (st.isDirectory()) {
      field(h, rel, 'dir');
      for (const name of readdirSync(full).sort()) {
        const child = path.join(rel, name);
        if (!hashEntry(h, root, child, lstatSync(path.join(root, child)))) return false;
      }
    } else return false;
    return true;
  } catch {
    return false;
  }
}

/** Each part with its length first: no two different lists of parts hash alike. */
function field(h: Hash, ...parts: (string | Buffer)[]): void {
  for (const p of parts) {
    const b = typeof p === 'string' ? Buffer.from(p) : p;
    h.update(`${b.length}:`).update(b);
  }
}

/** An earlier release whose install output could be reused. */
export interface CacheSource {
  release: number;
  snapshot: string;
  /** Its key, as recorded when its build succeeded (or computed again on its snapshot). */
  key: string | undefined;
}

export type CacheDecision = { reuse: true; from: CacheSource } | { reuse: false; reason: string };

/**
 * Whether to reuse, and from which release: the newest of `candidates` (newest first; releases whose
 * build succeeded) with the same key. Pure.
 */
export function decideCache(key: string | undefined, candidates: CacheSource[]): CacheDecision {
  if (key === undefined) return { reuse: false, reason: 'no cache key (buildCache.key is empty, or a key file could not be read)' };
  if (candidates.length === 0) return { reuse: false, reason: 'no earlier release to reuse from' };
  const from = candidates.find((c) => c.key === key);
  if (!from) return { reuse: false, reason: `the key files changed since release ${candidates[0]!.release}` };
  return { reuse: true, from };
}

export type RestoreResult =
  | { outcome: 'restored'; restored: string[]; files: number; bytes: number; ms: number }
  /** The earlier snapshot lacks some paths (its install did not make them, or they were cleaned up): nothing was copied. */
  | { outcome: 'missing'; missing: string[]; ms: number }
  /** Copying failed part-way (a full disk): what was copied is removed again. */
  | { outcome: 'failed'; error: string; ms: number };

/**
 * Copy `paths` from an earlier release's snapshot into a new one, replacing whatever the new one has there.
 * Copies share blocks where the file system can (reflinks on btrfs, XFS); symlinks are copied as they
 * are (a relative link in node_modules/.bin keeps pointing inside the new copy), and modes and times kept.
 */
export async function restoreCache(o: { from: string; to: string; paths: string[] }): Promise<RestoreResult> {
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  const paths = [...new Set(o.paths.map(checked))];
  const missing: string[] = [];
  for (const p of paths) if (!(await exists(path.join(o.from, p)))) missing.push(p);
  if (missing.length > 0) return { outcome: 'missing', missing, ms: ms() };

  let files = 0;
  let bytes = 0;
  const count = async (src: string) => {
    const st = await lstat(src);
    if (st.isFile()) {
      files++;
      bytes += st.size;
    }
    return true;
  };
  const touched: string[] = [];
  try {
    for (const p of paths) {
      const dest = path.join(o.to, p);
      touched.push(dest);
      await rm(dest, { recursive: true, force: true });
      await mkdir(path.dirname(dest), { recursive: true });
      await cp(path.join(o.from, p), dest, {
        recursive: true,
        mode: constants.COPYFILE_FICLONE,
        verbatimSymlinks: true,
        preserveTimestamps: true,
        errorOnExist: true,
        force: false,
        filter: count,
      });
    }
  } catch (err) {
    // Half a node_modules is worse than none: the install starts from a clean slate.
    await Promise.all(touched.map((dest) => rm(dest, { recursive: true, force: true }).catch(() => undefined)));
    return { outcome: 'failed', error: (err as Error).message, ms: ms() };
  }
  return { outcome: 'restored', restored: paths, files, bytes, ms: ms() };
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** For history and the build log, e.g. "node_modules reused from release 6: 3120 files, 24.1 MB in 0.8s". */
export function describeRestore(r: RestoreResult, from: number): string {
  switch (r.outcome) {
    case 'restored':
      return `${r.restored.join(', ')} reused from release ${from}: ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB in ${formatDuration(r.ms)}`;
    case 'missing':
      return `nothing reused: release ${from} has no ${r.missing.join(', ')}`;
    case 'failed':
      return `nothing reused: copying from release ${from} failed (${r.error})`;
  }
}
