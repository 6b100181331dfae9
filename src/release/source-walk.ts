// Lists what of a source folder goes into a snapshot: folders, files and symlinks, minus what
// SourceIgnore leaves out. Sockets, FIFOs and devices are not code: they are skipped (as git does).
import type { Dirent } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { ZddError } from '../errors.ts';
import type { SourceIgnore } from './source-ignore.ts';

export interface SourceTree {
  /** Relative posix paths; a folder comes before what it holds. */
  dirs: string[];
  files: string[];
  symlinks: { rel: string; target: string }[];
  /** What the ignore rules left out (a left-out folder, not its content). */
  leftOut: string[];
  /** Sockets, FIFOs and devices, skipped. */
  special: string[];
}

/**
 * Walks `root`. `liveDirs` are the folders an absolute symlink must not point into (the live source,
 * as given and resolved): a release reading through such a link would see later edits.
 */
export async function walkSource(root: string, ignore: SourceIgnore, liveDirs: readonly string[]): Promise<SourceTree> {
  const tree: SourceTree = { dirs: [], files: [], symlinks: [], leftOut: [], special: [] };
  const visit = async (relDir: string): Promise<void> => {
    await ignore.load(relDir);
    let entries: Dirent[];
    try {
      entries = await readdir(path.join(root, relDir), { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EPERM') throw err;
      const dir = path.join(root, relDir);
      throw new ZddError('SOURCE_UNREADABLE', `cannot list ${dir}`, 'make it readable by the user zdd runs as, or list it in a .zddignore', { cause: err });
    }
    for (const e of entries) {
      const rel = relDir === '' ? e.name : `${relDir}/${e.name}`;
      if (ignore.ignores(rel, e.isDirectory())) {
        tree.leftOut.push(rel);
      } else if (e.isDirectory()) {
        tree.dirs.push(rel);
        await visit(rel);
      } else if (e.isFile()) {
        tree.files.push(rel);
      } else if (e.isSymbolicLink()) {
        const target = await readlink(path.join(root, rel));
        const problem = symlinkProblem(rel, target, liveDirs);
        if (problem) {
          throw new ZddError(
            'SOURCE_SYMLINK_OUTSIDE',
            `symlink ${rel} -> ${target} ${problem}`,
            `make it relative and inside the source, or absolute and outside it, or list ${rel} in ${path.join(root, '.zddignore')}`,
          );
        }
        tree.symlinks.push({ rel, target });
      } else {
        tree.special.push(rel);
      }
    }
  };
  await visit('');
  return tree;
}

/**
 * Why the symlink at `rel` (relative to the source) cannot be kept as it is, or null when it can. A
 * snapshot lives elsewhere than its source, so a relative target must stay inside the tree to mean the
 * same thing there; an absolute target keeps its meaning but must not lead back into the live source.
 * The check is on the text of the target (a `..` through another symlink is not followed).
 */
export function symlinkProblem(rel: string, target: string, liveDirs: readonly string[]): string | null {
  if (path.isAbsolute(target)) {
    const inLive = liveDirs.some((dir) => {
      const r = path.relative(dir, target);
      return r === '' || (r !== '..' && !r.startsWith(`..${path.sep}`) && !path.isAbsolute(r));
    });
    return inLive ? 'points into the live source folder, so the release would change when the source does' : null;
  }
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), target));
  return resolved === '..' || resolved.startsWith('../') ? 'points outside the source folder, where the snapshot cannot follow it' : null;
}
