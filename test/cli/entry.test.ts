// Which file bin/zdd runs: the compiled build only while it is a build of the sources as they are. A
// throw-away copy of the layout (bin/zdd, src/cli/main.ts, dist/cli/main.js, the build's stamp), each
// entry printing its name, with the file times set by hand; src/entry-point.ts (what zdd restart runs)
// must choose as bin/zdd does.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { zddEntry } from '../../src/entry-point.ts';
import { repoRoot } from '../helpers/project.ts';

const run = promisify(execFile);
const timeout = 30_000;

/** A package root with bin/zdd, both entries and a finished build, every file under src/ older than the build. */
function makeRoot(parent: string, name: string): string {
  const root = path.join(parent, name);
  for (const dir of ['bin', 'src/cli', 'dist/cli', 'node_modules/node/bin']) mkdirSync(path.join(root, dir), { recursive: true });
  copyFileSync(path.join(repoRoot, 'bin', 'zdd'), path.join(root, 'bin', 'zdd'));
  symlinkSync(process.execPath, path.join(root, 'node_modules', 'node', 'bin', 'node'));
  writeFileSync(path.join(root, 'src', 'cli', 'main.ts'), "const ran: string = 'src';\nconsole.log(ran);\n");
  writeFileSync(path.join(root, 'src', 'cli', 'format.ts'), 'export {};\n');
  writeFileSync(path.join(root, 'dist', 'cli', 'main.js'), "console.log('dist');\n");
  writeFileSync(path.join(root, 'dist', '.build-started'), '');
  const built = Date.now() / 1000;
  setTimes(path.join(root, 'src'), built - 60);
  utimesSync(path.join(root, 'dist', '.build-started'), built, built);
  return root;
}

/** Sets the times of a folder and everything under it. */
function setTimes(p: string, t: number): void {
  for (const name of readdirSync(p, { recursive: true })) utimesSync(path.join(p, String(name)), t, t);
  utimesSync(p, t, t);
}

async function ran(root: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run(path.join(root, 'bin', 'zdd'), [], { env: { ...process.env, ZDD_FROM_SOURCE: '', ...env } });
  return stdout.trim();
}

function chosen(root: string, env: Record<string, string> = {}): string {
  const entry = zddEntry(root, { ...env });
  return entry.endsWith(path.join('dist', 'cli', 'main.js')) ? 'dist' : entry.endsWith(path.join('src', 'cli', 'main.ts')) ? 'src' : entry;
}

describe('bin/zdd in a checkout', () => {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'zdd-entry-'));
  after(() => rmSync(parent, { recursive: true, force: true }));
  const later = Date.now() / 1000 + 60;

  it('runs dist/ when it was built after the last change under src/', { timeout }, async () => {
    const root = makeRoot(parent, 'current');
    assert.equal(await ran(root), 'dist');
    assert.equal(chosen(root), 'dist');
  });

  it('runs src/ once a source changed after the build started', { timeout }, async () => {
    const root = makeRoot(parent, 'edited');
    utimesSync(path.join(root, 'src', 'cli', 'format.ts'), later, later);
    assert.equal(await ran(root), 'src');
    assert.equal(chosen(root), 'src');
  });

  it('runs src/ once a source was deleted after the build (its folder changed)', { timeout }, async () => {
    const root = makeRoot(parent, 'deleted');
    rmSync(path.join(root, 'src', 'cli', 'format.ts'));
    utimesSync(path.join(root, 'src', 'cli'), later, later);
    assert.equal(await ran(root), 'src');
    assert.equal(chosen(root), 'src');
  });

  it('runs src/ when the build has no stamp (not made by npm run build) or no entry', { timeout }, async () => {
    const unstamped = makeRoot(parent, 'unstamped');
    rmSync(path.join(unstamped, 'dist', '.build-started'));
    assert.equal(await ran(unstamped), 'src');
    assert.equal(chosen(unstamped), 'src');
    const half = makeRoot(parent, 'half-built');
    rmSync(path.join(half, 'dist', 'cli', 'main.js'));
    assert.equal(await ran(half), 'src');
    assert.equal(chosen(half), 'src');
  });

  it('runs src/ with ZDD_FROM_SOURCE=1 even when dist/ is current', { timeout }, async () => {
    const root = makeRoot(parent, 'forced');
    assert.equal(await ran(root, { ZDD_FROM_SOURCE: '1' }), 'src');
    assert.equal(chosen(root, { ZDD_FROM_SOURCE: '1' }), 'src');
  });

  it('runs dist/ in an installed package, which has no src/', { timeout }, async () => {
    const root = makeRoot(parent, 'installed');
    rmSync(path.join(root, 'src'), { recursive: true });
    assert.equal(await ran(root, { ZDD_FROM_SOURCE: '1' }), 'dist');
    assert.equal(chosen(root), 'dist');
  });
});
