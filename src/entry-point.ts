import { existsSync, lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Which file runs zdd's command line, chosen as bin/zdd chooses it (keep the two in step): in a checkout,
// the compiled JavaScript in dist/ when `npm run build` made it from the sources as they are now, else
// the TypeScript sources (Node strips the types); in an installed package, which has no src/, dist/.
// A stale build in a checkout never runs. ZDD_FROM_SOURCE=1 runs the sources even when dist/ is current.

/** The folder above both src/ and dist/. */
export const packageRoot: string = fileURLToPath(new URL('..', import.meta.url));

/** Made by `npm run build` as it starts: a source changed after it may be missing from dist/. */
export const buildStamp = path.join('dist', '.build-started');

/** The file to run with Node for `zdd …`. */
export function zddEntry(root = packageRoot, env: NodeJS.ProcessEnv = process.env): string {
  const source = path.join(root, 'src', 'cli', 'main.ts');
  const compiled = path.join(root, 'dist', 'cli', 'main.js');
  if (!existsSync(source)) return compiled;
  if (env.ZDD_FROM_SOURCE === '1') return source;
  return buildIsCurrent(root) ? compiled : source;
}

/**
 * dist/ holds a complete build of src/ as it is now: the build finished (its stamp and entry exist) and
 * nothing under src/ (a file or a folder: a deleted file changes its folder) changed since it started.
 * Like `find src -newer dist/.build-started`; anything unreadable counts as changed.
 */
export function buildIsCurrent(root = packageRoot): boolean {
  let started: bigint;
  try {
    if (!existsSync(path.join(root, 'dist', 'cli', 'main.js'))) return false;
    started = lstatSync(path.join(root, buildStamp), { bigint: true }).mtimeNs;
  } catch {
    return false;
  }
  const changed = (p: string): boolean => {
    const st = lstatSync(p, { bigint: true });
    if (st.mtimeNs > started) return true;
    return st.isDirectory() && readdirSync(p).some((name) => changed(path.join(p, name)));
  };
  try {
    return !changed(path.join(root, 'src'));
  } catch {
    return false;
  }
}
