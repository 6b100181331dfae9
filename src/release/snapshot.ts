// A release's own copy of its source: `source` (or a commit's content of it) laid into `dest`, minus
// .git, .zdd and what .zddignore files list, with git's commit and dirty state and a content hash.
// Written into a temporary sibling and renamed at the end: a `dest` that exists is complete.
// Snapshot files are read-only copies (never links to the source), so editing the source, in place
// or not, never changes a release. See snapshot-copy.ts for when files are hard-linked instead.
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ZddError } from '../errors.ts';
import { gitPlace, headCommit, isDirty } from './git-source.ts';
import { copyTree, type PreviousSnapshot } from './snapshot-copy.ts';
import { fillFromCommit } from './snapshot-from-git.ts';
import { treeHash, type ManifestEntry, type SnapshotManifest } from './snapshot-manifest.ts';
import { SourceIgnore } from './source-ignore.ts';
import { walkSource } from './source-walk.ts';

export type { PreviousSnapshot } from './snapshot-copy.ts';
export { loadManifest, saveManifest, type SnapshotManifest } from './snapshot-manifest.ts';

export interface SnapshotOptions {
  /** The folder holding the app's code (relative paths are taken from the current directory). */
  source: string;
  /** The snapshot's folder; must not exist. Its parent is created if needed. */
  dest: string;
  /** Snapshot this commit's content of `source` rather than the working tree (`zdd deploy --git-ref`). */
  gitRef?: string | undefined;
  /** The last snapshot of the same source: files unchanged since are hard-linked from it. Ignored with `gitRef`. */
  previous?: PreviousSnapshot | undefined;
}

/** What history and status show of a release's source. Plain JSON. */
export interface SourceInfo {
  /** The source folder, absolute. */
  dir: string;
  /** The snapshot folder, absolute. */
  snapshot: string;
  /** The commit: HEAD of the source's work tree, or the one `ref` names; null outside git or before the first commit. */
  commit: string | null;
  /**
   * Whether the snapshot may differ from `commit`: changed, deleted or untracked files under the source
   * folder that the snapshot would take. Null outside git; false with `ref`.
   */
  dirty: boolean | null;
  /** The git ref as given, when the snapshot is of a commit; null for the working tree. */
  ref: string | null;
  /** `sha256:<hex>` of paths, contents, exec bits and symlink targets: the same tree gives the same hash. */
  hash: string;
  /** Regular files, and their bytes. */
  files: number;
  bytes: number;
  /** Of `files`, those hard-linked from the previous snapshot rather than copied. */
  linked: number;
  /** ISO time the snapshot started, and how long it took. */
  takenAt: string;
  durationMs: number;
}

export interface Snapshot {
  info: SourceInfo;
  /** Keep it (saveManifest) and pass it back as `previous.manifest` to the next snapshot of this source. */
  manifest: SnapshotManifest;
}

export async function snapshotSource(o: SnapshotOptions): Promise<Snapshot> {
  const started = performance.now();
  const takenAt = new Date();
  const startedAtNs = BigInt(takenAt.getTime()) * 1_000_000n;
  const source = path.resolve(o.source);
  const dest = path.resolve(o.dest);
  await mustBeFolder(source);
  if (await exists(dest)) throw new ZddError('SNAPSHOT_EXISTS', `${dest} already exists`, 'snapshot into a new folder (each release has its own)');
  const liveDirs = [...new Set([source, await realpath(source)])];
  const ignore = new SourceIgnore(source);
  const { place, reason } = await gitPlace(source);
  if (o.gitRef !== undefined && !place) {
    throw new ZddError('SOURCE_NOT_GIT', `--git-ref needs a git work tree, and ${source} is not in one (${reason})`, 'deploy without --git-ref to snapshot the folder as it is');
  }
  if (o.gitRef === undefined) await mustNotLandInSource(source, dest, ignore);

  await mkdir(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp);
  try {
    let commit: string | null = null;
    let dirty: boolean | null = null;
    let entries: ManifestEntry[];
    let linked = 0;
    if (o.gitRef !== undefined && place) {
      ({ commit, entries } = await fillFromCommit({ source, place, ref: o.gitRef, into: tmp, liveDirs }));
      dirty = false;
    } else {
      // git first: the commit and dirty state as of the start of the copy.
      if (place) [commit, dirty] = await Promise.all([headCommit(source), isDirty(source, place, ignore)]);
      const tree = await walkSource(source, ignore, liveDirs);
      ({ entries, linked } = await copyTree({ source, into: tmp, tree, previous: o.previous }));
    }
    entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    let files = 0;
    let bytes = 0;
    for (const e of entries) {
      if (e.type !== 'file') continue;
      files++;
      bytes += e.size;
    }
    const info: SourceInfo = {
      dir: source,
      snapshot: dest,
      commit,
      dirty,
      ref: o.gitRef ?? null,
      hash: treeHash(entries),
      files,
      bytes,
      linked,
      takenAt: takenAt.toISOString(),
      durationMs: Math.round(performance.now() - started),
    };
    await rename(tmp, dest);
    return { info, manifest: { version: 1, startedAtNs: String(startedAtNs), entries } };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (err instanceof ZddError) throw err;
    throw new ZddError('SNAPSHOT_FAILED', `could not snapshot ${source} into ${dest}: ${(err as Error).message}`, `check free space and permissions of ${path.dirname(dest)}`, { cause: err });
  }
}

async function mustBeFolder(source: string): Promise<void> {
  let isDir = false;
  try {
    isDir = (await stat(source)).isDirectory();
  } catch {
    // Missing or unreachable: reported below.
  }
  if (!isDir) throw new ZddError('SOURCE_MISSING', `source folder ${source} does not exist (or is not a folder)`, 'check `source:` in zdd.yaml (relative to zdd.yaml) or --source');
}

/** A snapshot written inside its own source would be copied into the next one, unless that place is left out. */
async function mustNotLandInSource(source: string, dest: string, ignore: SourceIgnore): Promise<void> {
  const rel = path.relative(source, path.dirname(dest));
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return;
  if (rel !== '' && (await ignore.leavesOut(rel.split(path.sep).join('/'), true))) return;
  throw new ZddError(
    'SNAPSHOT_INSIDE_SOURCE',
    `snapshot ${dest} would be inside its own source ${source}`,
    `put the data dir outside the source, in a folder named .zdd, or list ${rel || path.basename(dest)} in ${path.join(source, '.zddignore')}`,
  );
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}
