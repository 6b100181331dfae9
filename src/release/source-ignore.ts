// Which paths of a source folder stay out of its snapshot: `.git` and `.zdd` wherever they are, and
// what `.zddignore` files list (gitignore syntax, in any folder; a deeper file overrides a shallower
// one, as with .gitignore).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';

export const ignoreFileName = '.zddignore';
/** Never part of a release: git's metadata, and zdd's own data dir when it sits inside the source. */
const alwaysLeftOut = new Set(['.git', '.zdd']);

export class SourceIgnore {
  readonly #root: string;
  /** Rules by folder ('' is the root); null where the folder has no .zddignore. */
  readonly #rules = new Map<string, Ignore | null>();

  constructor(root: string) {
    this.#root = root;
  }

  /** Reads `relDir`'s .zddignore, once; call it before asking about that folder's entries. */
  async load(relDir: string): Promise<void> {
    if (this.#rules.has(relDir)) return;
    let text: string;
    try {
      text = await readFile(path.join(this.#root, relDir, ignoreFileName), 'utf8');
    } catch {
      // No .zddignore here (or it is not a readable file): no rules of its own.
      this.#rules.set(relDir, null);
      return;
    }
    this.#rules.set(relDir, ignore({ ignorecase: false }).add(text));
  }

  /**
   * Whether `rel` (posix, relative to the root) is left out, judged by its own name and the rules of the
   * folders above it, which must be loaded. It does not look at the parents themselves (see `leavesOut`).
   */
  ignores(rel: string, isDir: boolean): boolean {
    if (alwaysLeftOut.has(path.posix.basename(rel))) return true;
    // Deepest rules first: the first file that matches the path, positively or with `!`, decides.
    let dir = path.posix.dirname(rel);
    for (;;) {
      const key = dir === '.' ? '' : dir;
      const rules = this.#rules.get(key);
      if (rules) {
        const sub = key === '' ? rel : rel.slice(key.length + 1);
        const r = rules.test(isDir ? `${sub}/` : sub);
        if (r.ignored) return true;
        if (r.unignored) return false;
      }
      if (key === '') return false;
      dir = path.posix.dirname(dir);
    }
  }

  /** Whether `rel` or any folder above it is left out, loading the rules it needs. */
  async leavesOut(rel: string, isDir: boolean): Promise<boolean> {
    const parts = rel.split('/');
    let at = '';
    await this.load('');
    for (let i = 0; i < parts.length; i++) {
      at = at === '' ? parts[i]! : `${at}/${parts[i]!}`;
      const last = i === parts.length - 1;
      if (this.ignores(at, last ? isDir : true)) return true;
      if (!last) await this.load(at);
    }
    return false;
  }
}
