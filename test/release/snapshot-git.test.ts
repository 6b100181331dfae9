import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ZddError } from '../../src/errors.ts';
import { snapshotSource } from '../../src/release/snapshot.ts';

const root = mkdtempSync(path.join(os.tmpdir(), 'zdd-snapshot-git-'));
after(() => rmSync(root, { recursive: true, force: true }));
const t = { timeout: 20_000 };

let n = 0;
function dest(): string {
  return path.join(root, 'releases', String(++n));
}

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' }).trim();
}

function write(dir: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  }
}

/** A repository whose first commit holds `files`. */
function repo(files: Record<string, string>): string {
  const dir = path.join(root, `repo-${++n}`);
  mkdirSync(dir);
  git(dir, 'init', '-q');
  write(dir, files);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'first');
  return dir;
}

function commitAll(dir: string, message: string): string {
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

function files(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true })
    .flatMap((e) => {
      const r = rel ? `${rel}/${e.name}` : e.name;
      return e.isDirectory() ? files(dir, r) : [r];
    })
    .sort();
}

async function refused(p: Promise<unknown>, code: string): Promise<ZddError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ZddError, `expected a ZddError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('commit and dirty state of a working-tree snapshot', () => {
  it('records HEAD and clean for a clean work tree', t, async () => {
    const dir = repo({ 'app.js': 'a' });
    const s = await snapshotSource({ source: dir, dest: dest() });
    assert.equal(s.info.commit, git(dir, 'rev-parse', 'HEAD'));
    assert.equal(s.info.dirty, false);
    assert.equal(s.info.ref, null);
  });

  it('is dirty with a modified, a staged, a deleted or an untracked file', t, async () => {
    const cases: [string, (dir: string) => void][] = [
      ['modified', (dir) => writeFileSync(path.join(dir, 'app.js'), 'b')],
      ['staged', (dir) => (writeFileSync(path.join(dir, 'app.js'), 'b'), git(dir, 'add', 'app.js'))],
      ['deleted', (dir) => rmSync(path.join(dir, 'app.js'))],
      ['untracked', (dir) => writeFileSync(path.join(dir, 'new.js'), 'n')],
      ['untracked folder', (dir) => write(dir, { 'lib/new.js': 'n' })],
    ];
    for (const [what, change] of cases) {
      const dir = repo({ 'app.js': 'a', 'other.js': 'o' });
      change(dir);
      const s = await snapshotSource({ source: dir, dest: dest() });
      assert.equal(s.info.dirty, true, what);
    }
  });

  it('is clean when what differs is left out of the snapshot or ignored by git', t, async () => {
    const dir = repo({ 'app.js': 'a', '.gitignore': 'node_modules/\n', '.zddignore': 'notes.txt\ntmp/\n' });
    write(dir, { 'notes.txt': 'untracked, zddignored', 'tmp/x': 'same', '.zdd/zdd.db': 'zdd state', 'node_modules/dep/index.js': 'dep' });
    const s = await snapshotSource({ source: dir, dest: dest() });
    assert.equal(s.info.dirty, false);
    // Git-ignored files are not dirt, but they are part of the release.
    assert.deepEqual(files(s.info.snapshot), ['.gitignore', '.zddignore', 'app.js', 'node_modules/dep/index.js']);
  });

  it('judges a subfolder of a repository by that subfolder only', t, async () => {
    const dir = repo({ 'services/web/app.js': 'a', 'services/api/app.js': 'b', 'README': 'r' });
    const web = path.join(dir, 'services', 'web');
    writeFileSync(path.join(dir, 'README'), 'changed');
    write(dir, { 'services/api/new.js': 'n' });
    const clean = await snapshotSource({ source: web, dest: dest() });
    assert.equal(clean.info.commit, git(dir, 'rev-parse', 'HEAD'));
    assert.equal(clean.info.dirty, false);
    assert.deepEqual(files(clean.info.snapshot), ['app.js']);
    writeFileSync(path.join(web, 'app.js'), 'changed');
    assert.equal((await snapshotSource({ source: web, dest: dest() })).info.dirty, true);
  });

  it('has no commit in a repository without commits, and neither outside git', t, async () => {
    const empty = path.join(root, `empty-${++n}`);
    mkdirSync(empty);
    git(empty, 'init', '-q');
    writeFileSync(path.join(empty, 'a.js'), 'a');
    const s = await snapshotSource({ source: empty, dest: dest() });
    assert.equal(s.info.commit, null);
    assert.equal(s.info.dirty, true);

    const plain = mkdtempSync(path.join(os.tmpdir(), 'zdd-snapshot-plain-'));
    try {
      writeFileSync(path.join(plain, 'a.js'), 'a');
      const p = await snapshotSource({ source: plain, dest: dest() });
      assert.equal(p.info.commit, null);
      assert.equal(p.info.dirty, null);
    } finally {
      rmSync(plain, { recursive: true, force: true });
    }
  });

  it('uses the source folder repository even when GIT_DIR points elsewhere (zdd run from a git hook)', t, async () => {
    const other = repo({ 'x': 'x' });
    const dir = repo({ 'app.js': 'a' });
    const head = git(dir, 'rev-parse', 'HEAD');
    const saved = process.env['GIT_DIR'];
    process.env['GIT_DIR'] = path.join(other, '.git');
    try {
      const s = await snapshotSource({ source: dir, dest: dest() });
      assert.equal(s.info.commit, head);
      assert.equal(s.info.dirty, false);
      const fromRef = await snapshotSource({ source: dir, dest: dest(), gitRef: 'HEAD' });
      assert.equal(fromRef.info.commit, head);
    } finally {
      if (saved === undefined) delete process.env['GIT_DIR'];
      else process.env['GIT_DIR'] = saved;
    }
  });
});

describe('snapshot of a git ref', () => {
  it('takes the committed content, never the dirty working tree', t, async () => {
    const dir = repo({ 'app.js': 'committed', 'lib/util.js': 'u' });
    const head = git(dir, 'rev-parse', 'HEAD');
    writeFileSync(path.join(dir, 'app.js'), 'edited');
    write(dir, { 'untracked.js': 'u' });
    rmSync(path.join(dir, 'lib/util.js'));
    const s = await snapshotSource({ source: dir, dest: dest(), gitRef: 'HEAD' });
    assert.deepEqual(files(s.info.snapshot), ['app.js', 'lib/util.js']);
    assert.equal(readFileSync(path.join(s.info.snapshot, 'app.js'), 'utf8'), 'committed');
    assert.equal(s.info.commit, head);
    assert.equal(s.info.dirty, false);
    assert.equal(s.info.ref, 'HEAD');
  });

  it("takes an older commit's content of a subfolder, with the .zddignore of that commit", t, async () => {
    const dir = repo({ 'web/app.js': 'v1', 'web/.zddignore': 'fixtures/\n', 'web/fixtures/big.json': '{}', 'web/docs.md': 'd', 'api/x.js': 'x' });
    const first = git(dir, 'rev-parse', 'HEAD');
    git(dir, 'tag', 'v1');
    write(dir, { 'web/app.js': 'v2', 'web/.zddignore': 'docs.md\n' });
    commitAll(dir, 'second');
    const web = path.join(dir, 'web');
    const s = await snapshotSource({ source: web, dest: dest(), gitRef: 'v1' });
    assert.equal(s.info.commit, first);
    assert.deepEqual(files(s.info.snapshot), ['.zddignore', 'app.js', 'docs.md']);
    assert.equal(readFileSync(path.join(s.info.snapshot, 'app.js'), 'utf8'), 'v1');
    const now = await snapshotSource({ source: web, dest: dest(), gitRef: 'HEAD' });
    assert.deepEqual(files(now.info.snapshot), ['.zddignore', 'app.js', 'fixtures/big.json']);
  });

  it('keeps exec bits and symlinks, read-only, with the hash of the same working tree', t, async () => {
    const dir = repo({ 'run.sh': '#!/bin/sh\n', 'lib/a.js': 'a' });
    chmodSync(path.join(dir, 'run.sh'), 0o755);
    symlinkSync('lib/a.js', path.join(dir, 'current.js'));
    commitAll(dir, 'exec and link');
    const fromGit = await snapshotSource({ source: dir, dest: dest(), gitRef: 'HEAD' });
    assert.equal(statSync(path.join(fromGit.info.snapshot, 'run.sh')).mode & 0o777, 0o555);
    assert.equal(statSync(path.join(fromGit.info.snapshot, 'lib/a.js')).mode & 0o777, 0o444);
    assert.equal(readlinkSync(path.join(fromGit.info.snapshot, 'current.js')), 'lib/a.js');
    const fromTree = await snapshotSource({ source: dir, dest: dest() });
    assert.equal(fromTree.info.dirty, false);
    assert.equal(fromGit.info.hash, fromTree.info.hash);
  });

  it('refuses a ref that names no commit, with a way to list them', t, async () => {
    const dir = repo({ 'app.js': 'a' });
    for (const ref of ['no-such-branch', '-n', 'HEAD~5']) {
      const d = dest();
      const err = await refused(snapshotSource({ source: dir, dest: d, gitRef: ref }), 'GIT_REF_UNKNOWN');
      assert.ok(err.message.includes(`"${ref}"`), err.message);
      assert.equal(err.hint?.includes(`git -C ${dir} log --oneline`), true, err.hint);
      assert.ok(!existsSync(d));
    }
  });

  it('refuses a commit without the source subfolder', t, async () => {
    const dir = repo({ 'app.js': 'a' });
    const first = git(dir, 'rev-parse', 'HEAD');
    write(dir, { 'web/app.js': 'w' });
    commitAll(dir, 'web');
    await refused(snapshotSource({ source: path.join(dir, 'web'), dest: dest(), gitRef: first }), 'GIT_SOURCE_NOT_IN_REF');
  });

  it('refuses a git ref for a source outside git', t, async () => {
    const plain = mkdtempSync(path.join(os.tmpdir(), 'zdd-snapshot-plain-'));
    try {
      writeFileSync(path.join(plain, 'a.js'), 'a');
      const d = dest();
      const err = await refused(snapshotSource({ source: plain, dest: d, gitRef: 'HEAD' }), 'SOURCE_NOT_GIT');
      assert.ok(err.message.includes(plain));
      assert.ok(!existsSync(d));
    } finally {
      rmSync(plain, { recursive: true, force: true });
    }
  });
});
