// Fills a snapshot folder from a working tree. Every file is either a fresh copy (a reflink where the
// file system can: COPYFILE_FICLONE) or a hard link to the same file in the previous snapshot, never a
// link to the source: editing the source in place can never reach a snapshot. Snapshot files lose their
// write bits, so an in-place write to a linked file fails instead of changing older releases too (root
// is not stopped by modes; such a write is noticed by the next snapshot, which then copies again).
import { constants, type BigIntStats } from 'node:fs';
import { access, chmod, copyFile, link, lstat, mkdir, symlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { ZddError } from '../errors.ts';
import { hashFile, type FileEntry, type ManifestEntry, type SnapshotManifest, type SourceStat, type StoredStat } from './snapshot-manifest.ts';
import { eachLimited } from './snapshot-limit.ts';
import type { SourceTree } from './source-walk.ts';

export interface PreviousSnapshot {
  /** The previous snapshot's folder. */
  dir: string;
  manifest: SnapshotManifest;
}

export interface CopyResult {
  entries: ManifestEntry[];
  /** Files hard-linked from the previous snapshot. */
  linked: number;
}

/**
 * A source file whose ctime lies this close to (or after) the previous snapshot's start may have been
 * written again within the same clock tick after it was read: its stat proves nothing, it is copied.
 */
const racyMarginNs = 1_000_000_000n;

export async function copyTree(o: { source: string; into: string; tree: SourceTree; previous?: PreviousSnapshot | undefined }): Promise<CopyResult> {
  const entries: ManifestEntry[] = [];
  const dirModes: [string, number][] = [[o.into, await modeOf(o.source)]];
  for (const rel of o.tree.dirs) {
    const to = path.join(o.into, rel);
    await mkdir(to, { mode: 0o700 });
    dirModes.push([to, await modeOf(path.join(o.source, rel))]);
    entries.push({ type: 'dir', path: rel });
  }
  for (const { rel, target } of o.tree.symlinks) {
    await symlink(target, path.join(o.into, rel));
    entries.push({ type: 'symlink', path: rel, target });
  }
  const before = new Map<string, FileEntry>();
  for (const e of o.previous?.manifest.entries ?? []) if (e.type === 'file' && e.source) before.set(e.path, e);
  let linked = 0;
  await eachLimited(o.tree.files, async (rel) => {
    const e = await copyOrLink(o, rel, before.get(rel));
    if (e.linked) linked++;
    entries.push(e.entry);
  });
  // Folders keep their modes, plus full rights for their owner so that zdd can always delete a release.
  for (const [dir, mode] of dirModes) await chmod(dir, mode | 0o700);
  return { entries, linked };
}

async function copyOrLink(
  o: { source: string; into: string; previous?: PreviousSnapshot | undefined },
  rel: string,
  before: FileEntry | undefined,
): Promise<{ entry: FileEntry; linked: boolean }> {
  const from = path.join(o.source, rel);
  const to = path.join(o.into, rel);
  const st = await sourceStat(from);
  const exec = (Number(st.mode) & 0o111) !== 0;
  const mode = Number(st.mode) & 0o555;
  const source: SourceStat = { ino: String(st.ino), size: String(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs) };
  if (before && o.previous && (await reusable(before, source, exec, o.previous))) {
    try {
      await link(path.join(o.previous.dir, rel), to);
      return { entry: { ...before, source }, linked: true };
    } catch {
      // Another file system, too many links, or gone since: copy instead.
    }
  }
  try {
    await copyFile(from, to, constants.COPYFILE_FICLONE);
  } catch (err) {
    throw await copyError(from, err);
  }
  await chmod(to, mode);
  // The source's mtime, so that what serves files by mtime (ETag, Last-Modified, caches) sees no change.
  await utimes(to, st.atime, st.mtime);
  const stored = await lstat(to, { bigint: true });
  const size = Number(stored.size);
  return { entry: { type: 'file', path: rel, exec, size, sha256: await hashFile(to, size), source, stored: storedStat(stored) }, linked: false };
}

/**
 * Whether the previous snapshot's copy of a file can serve again: the source file has the same inode,
 * size, mtime and ctime as when that copy was made (and was not written just before it), and the copy
 * itself is untouched and still read-only.
 */
async function reusable(before: FileEntry, now: SourceStat, exec: boolean, previous: PreviousSnapshot): Promise<boolean> {
  const was = before.source;
  if (!was || before.exec !== exec) return false;
  if (was.ino !== now.ino || was.size !== now.size || was.mtimeNs !== now.mtimeNs || was.ctimeNs !== now.ctimeNs) return false;
  if (BigInt(was.ctimeNs) + racyMarginNs >= BigInt(previous.manifest.startedAtNs)) return false;
  let copy: BigIntStats;
  try {
    copy = await lstat(path.join(previous.dir, before.path), { bigint: true });
  } catch {
    return false;
  }
  const s = storedStat(copy);
  return copy.isFile() && (Number(copy.mode) & 0o222) === 0 && s.ino === before.stored.ino && s.size === before.stored.size && s.mtimeNs === before.stored.mtimeNs;
}

async function sourceStat(file: string): Promise<BigIntStats> {
  let st: BigIntStats;
  try {
    st = await lstat(file, { bigint: true });
  } catch (err) {
    throw sourceError(file, err);
  }
  if (!st.isFile()) {
    throw new ZddError('SOURCE_CHANGED', `${file} stopped being a regular file while the source was being snapshotted`, 'deploy again once the source has stopped changing');
  }
  return st;
}

function sourceError(file: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new ZddError('SOURCE_UNREADABLE', `cannot read ${file}`, `make it readable by the user zdd runs as, or list it in a .zddignore`, { cause: err });
  }
  if (code === 'ENOENT') {
    return new ZddError('SOURCE_CHANGED', `${file} was removed while the source was being snapshotted`, 'deploy again once the source has stopped changing', { cause: err });
  }
  return err;
}

/** A failed copy is the source's fault only if the source cannot be read (else the snapshot's folder failed). */
async function copyError(file: string, err: unknown): Promise<unknown> {
  try {
    await access(file, constants.R_OK);
    return err;
  } catch {
    return sourceError(file, err);
  }
}

async function modeOf(dir: string): Promise<number> {
  return (await lstat(dir)).mode & 0o777;
}

function storedStat(st: BigIntStats): StoredStat {
  return { ino: String(st.ino), size: String(st.size), mtimeNs: String(st.mtimeNs) };
}
