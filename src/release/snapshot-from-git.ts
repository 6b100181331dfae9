// Fills a snapshot folder from a commit instead of the working tree: the commit's content of the source
// folder (`git archive`, so .gitattributes' export-ignore applies too), minus what the .zddignore files
// of that commit list. Dirty files of the working tree never get in. Nothing is linked from a previous
// snapshot: every file is new, written by tar.
import { chmod, lstat, rm } from 'node:fs/promises';
import path from 'node:path';
import { extractCommit, resolveRef, type GitPlace } from './git-source.ts';
import { eachLimited } from './snapshot-limit.ts';
import { hashFile, type FileEntry, type ManifestEntry } from './snapshot-manifest.ts';
import { SourceIgnore } from './source-ignore.ts';
import { walkSource } from './source-walk.ts';

export async function fillFromCommit(o: { source: string; place: GitPlace; ref: string; into: string; liveDirs: readonly string[] }): Promise<{ commit: string; entries: ManifestEntry[] }> {
  const commit = await resolveRef(o.source, o.place, o.ref);
  await extractCommit(o.place, commit, o.into);
  const tree = await walkSource(o.into, new SourceIgnore(o.into), o.liveDirs);
  for (const rel of [...tree.leftOut, ...tree.special]) await rm(path.join(o.into, rel), { recursive: true, force: true });
  // tar makes folders as git archive says (group-writable by default); a release's are 0755.
  for (const rel of tree.dirs) await chmod(path.join(o.into, rel), 0o755);
  const entries: ManifestEntry[] = [
    ...tree.dirs.map((rel) => ({ type: 'dir' as const, path: rel })),
    ...tree.symlinks.map(({ rel, target }) => ({ type: 'symlink' as const, path: rel, target })),
  ];
  await eachLimited(tree.files, async (rel) => {
    entries.push(await seal(o.into, rel));
  });
  return { commit, entries };
}

/** git keeps one mode bit, executable or not: 0555 or 0444 (read-only, as every snapshot file). */
async function seal(root: string, rel: string): Promise<FileEntry> {
  const file = path.join(root, rel);
  const exec = ((await lstat(file)).mode & 0o111) !== 0;
  await chmod(file, exec ? 0o555 : 0o444);
  const st = await lstat(file, { bigint: true });
  const size = Number(st.size);
  const stored = { ino: String(st.ino), size: String(st.size), mtimeNs: String(st.mtimeNs) };
  return { type: 'file', path: rel, exec, size, sha256: await hashFile(file, size), source: null, stored };
}
