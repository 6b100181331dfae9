import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ZddError } from '../../src/errors.ts';
import { loadManifest, saveManifest, snapshotSource, type Snapshot, type SnapshotManifest } from '../../src/release/snapshot.ts';
import { symlinkProblem } from '../../src/release/source-walk.ts';

const root = mkdtempSync(path.join(os.tmpdir(), 'zdd-snapshot-'));
after(() => rmSync(root, { recursive: true, force: true }));
const t = { timeout: 20_000 };

let n = 0;
/** A new folder holding `files` (path → content; a trailing '/' makes an empty folder). */
function folder(files: Record<string, string> = {}): string {
  const dir = path.join(root, `src-${++n}`);
  mkdirSync(dir);
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    if (rel.endsWith('/')) {
      mkdirSync(p, { recursive: true });
      continue;
    }
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  return dir;
}

function dest(): string {
  return path.join(root, 'releases', 'web', String(++n));
}

/** Every path under `dir`, sorted, folders with a trailing '/', symlinks as 'a -> target'. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(path.join(dir, r));
      if (st.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(path.join(dir, r))}`);
      else if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(r);
      } else out.push(r);
    }
  };
  walk('');
  return out.sort();
}

async function refused(p: Promise<unknown>, code: string): Promise<ZddError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ZddError, `expected a ZddError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(err.hint, 'a ZddError names the next step');
    return err;
  }
  assert.fail(`expected ${code}`);
}

/** The previous snapshot as if it had started 2 s later: the test's files, written just before it, count as settled. */
function settled(s: Snapshot): { dir: string; manifest: SnapshotManifest } {
  return { dir: s.info.snapshot, manifest: { ...s.manifest, startedAtNs: String(BigInt(s.manifest.startedAtNs) + 2_000_000_000n) } };
}

/** No partial folder is left beside `d`. */
function noLeftovers(d: string): void {
  const parent = path.dirname(d);
  const partial = existsSync(parent) ? readdirSync(parent).filter((name) => name.startsWith(`${path.basename(d)}.partial-`)) : [];
  assert.deepEqual(partial, []);
}

describe('what a snapshot leaves out', () => {
  it('leaves out .git and .zdd anywhere, and what .zddignore files list (negations, folder patterns, nested files)', t, async () => {
    const src = folder({
      'app.js': 'app',
      '.git/HEAD': 'ref',
      '.zdd/zdd.db': 'state',
      'vendor/.git': 'gitdir: ../.git/modules/vendor',
      'vendor/lib.js': 'lib',
      '.zddignore': ['*.log', '!keep.log', 'build/', '/top.txt', 'tmp/**', '!tmp/keep/', '!tmp/keep/**'].join('\n'),
      'debug.log': 'x',
      'keep.log': 'kept by negation',
      'build/out.js': 'x',
      'docs/build': 'a file named build: a folder pattern does not match it',
      'top.txt': 'x',
      'docs/top.txt': 'anchored pattern matches at the root only',
      'tmp/a': 'x',
      'tmp/keep/b': 'kept',
      'sub/.zddignore': ['!important.log', 'secret.txt'].join('\n'),
      'sub/important.log': 're-included by the deeper file',
      'sub/other.log': 'x',
      'sub/secret.txt': 'x',
      'sub/deeper/secret.txt': 'x',
      'sub/deeper/code.js': 'code',
      'empty/': '',
    });
    const d = dest();
    const s = await snapshotSource({ source: src, dest: d });
    assert.deepEqual(listing(d), [
      '.zddignore',
      'app.js',
      'docs/',
      'docs/build',
      'docs/top.txt',
      'empty/',
      'keep.log',
      'sub/',
      'sub/.zddignore',
      'sub/deeper/',
      'sub/deeper/code.js',
      'sub/important.log',
      'tmp/',
      'tmp/keep/',
      'tmp/keep/b',
      'vendor/',
      'vendor/lib.js',
    ]);
    assert.equal(s.info.files, 10);
    assert.equal(s.info.bytes, listing(d).filter((p) => !p.endsWith('/')).reduce((sum, p) => sum + statSync(path.join(d, p)).size, 0));
    assert.equal(s.info.commit, null);
    assert.equal(s.info.dirty, null);
    assert.equal(s.info.ref, null);
    assert.equal(s.info.dir, src);
    assert.equal(s.info.snapshot, d);
    assert.ok(s.info.durationMs >= 0);
  });

  it('cannot re-include a file whose folder is left out (as with .gitignore)', t, async () => {
    const src = folder({ '.zddignore': 'logs/\n!logs/keep.txt\n', 'logs/keep.txt': 'k', 'app.js': 'a' });
    const d = dest();
    await snapshotSource({ source: src, dest: d });
    assert.deepEqual(listing(d), ['.zddignore', 'app.js']);
  });

  it('skips FIFOs and sockets (not code; copying a FIFO would block)', t, async () => {
    const src = folder({ 'app.js': 'a' });
    execFileSync('mkfifo', [path.join(src, 'pipe')]);
    const server = net.createServer().listen(path.join(src, 'app.sock'));
    await once(server, 'listening');
    try {
      const d = dest();
      const s = await snapshotSource({ source: src, dest: d });
      assert.deepEqual(listing(d), ['app.js']);
      assert.equal(s.info.files, 1);
    } finally {
      server.close();
    }
  });

  it('refuses a dest inside the source unless that place is left out (.zdd is)', t, async () => {
    const src = folder({ 'app.js': 'app' });
    const inside = path.join(src, 'releases', '1');
    const err = await refused(snapshotSource({ source: src, dest: inside }), 'SNAPSHOT_INSIDE_SOURCE');
    assert.match(err.hint ?? '', /\.zddignore/);
    assert.ok(!existsSync(path.join(src, 'releases')));
    const s = await snapshotSource({ source: src, dest: path.join(src, '.zdd', 'releases', 'web', '1') });
    assert.equal(s.info.files, 1);
    const again = await snapshotSource({ source: src, dest: path.join(src, '.zdd', 'releases', 'web', '2') });
    assert.deepEqual(listing(again.info.snapshot), ['app.js']);
  });
});

describe('modes and symlinks', () => {
  it('keeps exec and read bits, drops write bits; folders stay writable by their owner', t, async () => {
    const src = folder({ 'run.sh': '#!/bin/sh\necho hi\n', 'data.txt': 'd', 'private.env': 'S=1', 'bin/tool': 'x' });
    chmodSync(path.join(src, 'run.sh'), 0o755);
    chmodSync(path.join(src, 'private.env'), 0o600);
    chmodSync(path.join(src, 'bin/tool'), 0o750);
    chmodSync(path.join(src, 'bin'), 0o750);
    const d = dest();
    await snapshotSource({ source: src, dest: d });
    const mode = (rel: string) => statSync(path.join(d, rel)).mode & 0o777;
    assert.equal(mode('run.sh'), 0o555);
    assert.equal(mode('data.txt'), 0o444);
    assert.equal(mode('private.env'), 0o400);
    assert.equal(mode('bin/tool'), 0o550);
    assert.equal(mode('bin'), 0o750);
  });

  it('keeps the source mtimes (what serves files by mtime sees no change)', t, async () => {
    const src = folder({ 'index.html': '<p>' });
    const when = new Date('2024-01-02T03:04:05Z');
    utimesSync(path.join(src, 'index.html'), when, when);
    const d = dest();
    await snapshotSource({ source: src, dest: d });
    assert.equal(statSync(path.join(d, 'index.html')).mtime.getTime(), when.getTime());
  });

  it('copies symlinks as symlinks: relative ones inside the tree and absolute ones outside it', t, async () => {
    const src = folder({ 'lib/a.js': 'a', 'etc/conf': 'c' });
    symlinkSync('lib/a.js', path.join(src, 'current.js'));
    symlinkSync('../etc', path.join(src, 'lib/etc'));
    symlinkSync('missing.js', path.join(src, 'dangling.js'));
    symlinkSync('/var/shared/uploads', path.join(src, 'uploads'));
    const d = dest();
    const s = await snapshotSource({ source: src, dest: d });
    assert.deepEqual(
      listing(d).filter((p) => p.includes('->')),
      ['current.js -> lib/a.js', 'dangling.js -> missing.js', 'lib/etc -> ../etc', 'uploads -> /var/shared/uploads'],
    );
    assert.equal(readFileSync(path.join(d, 'current.js'), 'utf8'), 'a');
    assert.equal(s.info.files, 2);
  });

  it('refuses a relative symlink leaving the source, and an absolute one into the live source', t, async () => {
    const out = folder({ 'app.js': 'a' });
    symlinkSync('../../elsewhere', path.join(out, 'escape'));
    const d1 = dest();
    const e1 = await refused(snapshotSource({ source: out, dest: d1 }), 'SOURCE_SYMLINK_OUTSIDE');
    assert.match(e1.message, /escape -> \.\.\/\.\.\/elsewhere/);
    assert.ok(!existsSync(d1));
    noLeftovers(d1);

    const live = folder({ 'lib/a.js': 'a' });
    symlinkSync(path.join(live, 'lib'), path.join(live, 'current'));
    const d2 = dest();
    const e2 = await refused(snapshotSource({ source: live, dest: d2 }), 'SOURCE_SYMLINK_OUTSIDE');
    assert.match(e2.message, /live source/);
    assert.ok(!existsSync(d2));
  });

  it('judges symlink targets by their text', t, () => {
    const live = ['/srv/app'];
    assert.equal(symlinkProblem('a', 'b/c', live), null);
    assert.equal(symlinkProblem('x/y/a', '../../b', live), null);
    assert.match(symlinkProblem('x/a', '../../b', live) ?? '', /outside/);
    assert.match(symlinkProblem('a', '..', live) ?? '', /outside/);
    assert.equal(symlinkProblem('a', '..b', live), null);
    assert.equal(symlinkProblem('a', '/srv/app-shared/x', live), null);
    assert.match(symlinkProblem('a', '/srv/app', live) ?? '', /live source/);
    assert.match(symlinkProblem('a', '/srv/app/lib', live) ?? '', /live source/);
  });
});

describe('a snapshot does not change when its source does', () => {
  it('is untouched by in-place edits, appends, truncation and replacement of source files', t, async () => {
    const src = folder({ 'a.js': 'one', 'b.js': 'two', 'c.js': 'three', 'd.js': 'four' });
    const d = dest();
    const s = await snapshotSource({ source: src, dest: d });
    appendFileSync(path.join(src, 'a.js'), 'x');
    writeFileSync(path.join(src, 'b.js'), 'TWO'); // same inode, same size
    writeFileSync(path.join(src, 'c.js'), '');
    rmSync(path.join(src, 'd.js'));
    assert.deepEqual(['a.js', 'b.js', 'c.js', 'd.js'].map((f) => readFileSync(path.join(d, f), 'utf8')), ['one', 'two', 'three', 'four']);
    const again = await snapshotSource({ source: d, dest: dest() });
    assert.equal(again.info.hash, s.info.hash);
  });

  it('hard-links unchanged files from the previous snapshot, copies changed ones, and edits reach neither', t, async () => {
    const src = folder({ 'same.js': 'same', 'changed.js': 'v1', 'grown.js': 'v1', 'sub/deep.js': 'deep' });
    const first = await snapshotSource({ source: src, dest: dest() });
    writeFileSync(path.join(src, 'changed.js'), 'v2'); // in place, same size
    appendFileSync(path.join(src, 'grown.js'), '+');
    const second = await snapshotSource({ source: src, dest: dest(), previous: settled(first) });
    assert.equal(second.info.linked, 2);
    const ino = (s: Snapshot, rel: string) => statSync(path.join(s.info.snapshot, rel)).ino;
    assert.equal(ino(second, 'same.js'), ino(first, 'same.js'));
    assert.equal(ino(second, 'sub/deep.js'), ino(first, 'sub/deep.js'));
    assert.notEqual(ino(second, 'changed.js'), ino(first, 'changed.js'));
    assert.equal(readFileSync(path.join(second.info.snapshot, 'changed.js'), 'utf8'), 'v2');
    assert.equal(readFileSync(path.join(second.info.snapshot, 'grown.js'), 'utf8'), 'v1+');

    // The source is never what is linked: editing it in place changes no snapshot.
    writeFileSync(path.join(src, 'same.js'), 'SAME');
    for (const s of [first, second]) assert.equal(readFileSync(path.join(s.info.snapshot, 'same.js'), 'utf8'), 'same');
    // A linked file is read-only: an in-place write by its owner fails (root is not stopped by modes).
    assert.equal(statSync(path.join(second.info.snapshot, 'same.js')).mode & 0o222, 0);

    const cold = await snapshotSource({ source: second.info.snapshot, dest: dest() });
    assert.equal(second.info.hash, cold.info.hash);
  });

  it('does not link from a previous snapshot whose file was written to since (as root could)', t, async () => {
    const src = folder({ 'a.js': 'original' });
    const first = await snapshotSource({ source: src, dest: dest() });
    const tampered = path.join(first.info.snapshot, 'a.js');
    chmodSync(tampered, 0o644);
    writeFileSync(tampered, 'tampered');
    chmodSync(tampered, 0o444);
    const second = await snapshotSource({ source: src, dest: dest(), previous: settled(first) });
    assert.equal(second.info.linked, 0);
    assert.equal(readFileSync(path.join(second.info.snapshot, 'a.js'), 'utf8'), 'original');
    assert.equal(second.info.hash, first.info.hash);
  });

  it('copies files written just before the previous snapshot started (their stat proves nothing)', t, async () => {
    const src = folder({ 'a.js': 'a', 'b.js': 'b' });
    const first = await snapshotSource({ source: src, dest: dest() });
    const second = await snapshotSource({ source: src, dest: dest(), previous: { dir: first.info.snapshot, manifest: first.manifest } });
    assert.equal(second.info.linked, 0);
    assert.equal(second.info.hash, first.info.hash);
  });

  it('keeps the manifest across a restart (saveManifest / loadManifest)', t, async () => {
    const src = folder({ 'a.js': 'a' });
    const first = await snapshotSource({ source: src, dest: dest() });
    const file = path.join(root, `manifest-${++n}.json`);
    await saveManifest(file, first.manifest);
    assert.deepEqual(await loadManifest(file), first.manifest);
    assert.equal(await loadManifest(path.join(root, 'none.json')), undefined);
    writeFileSync(file, '{"version":1,"entries":[{"type":"file"}]}');
    assert.equal(await loadManifest(file), undefined);
  });
});

describe('the content hash', () => {
  it('is the same for the same tree, whatever the mtimes and the order files were written in', t, async () => {
    const files = { 'a.js': 'a', 'lib/b.js': 'b', 'lib/c/d.js': 'd', 'empty/': '' };
    const one = folder(files);
    const two = folder(Object.fromEntries(Object.entries(files).reverse()));
    utimesSync(path.join(two, 'a.js'), new Date(0), new Date(0));
    const [a, b] = [await snapshotSource({ source: one, dest: dest() }), await snapshotSource({ source: two, dest: dest() })];
    assert.equal(a.info.hash, b.info.hash);
    assert.match(a.info.hash, /^sha256:[0-9a-f]{64}$/);
  });

  it('changes with one byte, an exec bit, a symlink target, a renamed file or an empty folder', t, async () => {
    const base = { 'a.js': 'abc', 'lib/b.js': 'b' };
    const hashOf = async (src: string) => (await snapshotSource({ source: src, dest: dest() })).info.hash;
    const h0 = await hashOf(folder(base));
    const byte = folder({ ...base, 'a.js': 'abd' });
    const exec = folder(base);
    chmodSync(path.join(exec, 'a.js'), 0o755);
    const renamed = folder({ 'a2.js': 'abc', 'lib/b.js': 'b' });
    const emptyDir = folder({ ...base, 'x/': '' });
    const linkA = folder(base);
    symlinkSync('a.js', path.join(linkA, 'l'));
    const linkB = folder(base);
    symlinkSync('lib/b.js', path.join(linkB, 'l'));
    const hashes = [h0, await hashOf(byte), await hashOf(exec), await hashOf(renamed), await hashOf(emptyDir), await hashOf(linkA), await hashOf(linkB)];
    assert.equal(new Set(hashes).size, hashes.length);
  });
});

describe('a failed snapshot leaves no dest', () => {
  it('refuses a missing source, naming its absolute path', t, async () => {
    const err = await refused(snapshotSource({ source: path.relative(process.cwd(), path.join(root, 'nope')), dest: dest() }), 'SOURCE_MISSING');
    assert.ok(err.message.includes(path.join(root, 'nope')));
  });

  it('refuses a dest that exists', t, async () => {
    const d = dest();
    mkdirSync(d, { recursive: true });
    await refused(snapshotSource({ source: folder({ 'a': 'a' }), dest: d }), 'SNAPSHOT_EXISTS');
  });

  it('removes the partial copy when a file cannot be written halfway through', t, async () => {
    // The source's deepest file fits in PATH_MAX from the source but not from the snapshot's folder:
    // the copy fails after others have been copied.
    const deep = Array.from({ length: 10 }, (_, i) => `${i}`.repeat(199)).join('/');
    const src = folder({ 'a.js': 'a', 'b.js': 'b', [`${deep}/${'f'.repeat(200)}`]: 'x', 'z.js': 'z' });
    const parent = path.join(root, 'long', ...Array.from({ length: 10 }, () => 'p'.repeat(190)));
    const d = path.join(parent, 'web', '1');
    assert.ok(d.length + 30 + deep.length < 4095 && d.length + deep.length + 201 > 4096, `path lengths: ${d.length}`);
    await refused(snapshotSource({ source: src, dest: d }), 'SNAPSHOT_FAILED');
    assert.ok(!existsSync(d));
    assert.deepEqual(readdirSync(path.dirname(d)), []);
  });
});
