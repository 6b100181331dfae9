import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ZddError } from '../../src/errors.ts';
import { cacheKey, cachePathProblem, decideCache, describeRestore, restoreCache } from '../../src/release/build-cache.ts';

const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'zdd-build-cache-')));
after(() => rmSync(dir, { recursive: true, force: true }));

let seq = 0;
/** A fresh release snapshot holding `files` (path → content). */
function snapshot(files: Record<string, string> = {}): string {
  const root = path.join(dir, 'releases', 'web', String(++seq));
  mkdirSync(root, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content);
  }
  return root;
}

/** What an install leaves: packages, an executable, and the relative symlinks npm puts in .bin. */
function installed(root: string): void {
  const nm = path.join(root, 'node_modules');
  mkdirSync(path.join(nm, 'left-pad', 'bin'), { recursive: true });
  mkdirSync(path.join(nm, '.bin'));
  writeFileSync(path.join(nm, 'left-pad', 'index.js'), 'module.exports = (s) => s;\n');
  writeFileSync(path.join(nm, 'left-pad', 'bin', 'cli.js'), '#!/usr/bin/env node\n', { mode: 0o755 });
  symlinkSync('../left-pad/bin/cli.js', path.join(nm, '.bin', 'left-pad'));
  // Links to folders, as workspaces make.
  symlinkSync('left-pad', path.join(nm, 'pad-alias'));
  utimesSync(path.join(nm, 'left-pad', 'index.js'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
}

const lock = (v: string) => JSON.stringify({ lockfileVersion: 3, packages: { 'node_modules/left-pad': { version: v } } });

describe('cacheKey', () => {
  it('is the same for the same key files and differs when one changes', () => {
    const a = snapshot({ 'package-lock.json': lock('1.0.0'), 'server.js': 'v1' });
    const b = snapshot({ 'package-lock.json': lock('1.0.0'), 'server.js': 'v2: code changed' });
    const c = snapshot({ 'package-lock.json': lock('1.1.0'), 'server.js': 'v1' });
    const key = cacheKey(a, ['package-lock.json']);
    assert.match(key!, /^[0-9a-f]{64}$/);
    assert.equal(cacheKey(b, ['package-lock.json']), key);
    assert.notEqual(cacheKey(c, ['package-lock.json']), key);
  });

  it('counts a missing key file, so adding one changes the key', () => {
    const without = snapshot({ 'package-lock.json': lock('1.0.0') });
    const withYarn = snapshot({ 'package-lock.json': lock('1.0.0'), 'yarn.lock': '' });
    const keyFiles = ['package-lock.json', 'yarn.lock'];
    assert.notEqual(cacheKey(without, keyFiles), undefined);
    assert.notEqual(cacheKey(without, keyFiles), cacheKey(withYarn, keyFiles));
  });

  it('depends on the names, not only the content, and not on their order', () => {
    const a = snapshot({ 'requirements.txt': 'flask==3.0.0\n', 'constraints.txt': '' });
    const b = snapshot({ 'requirements.txt': '', 'constraints.txt': 'flask==3.0.0\n' });
    assert.notEqual(cacheKey(a, ['requirements.txt', 'constraints.txt']), cacheKey(b, ['requirements.txt', 'constraints.txt']));
    assert.equal(cacheKey(a, ['requirements.txt', 'constraints.txt']), cacheKey(a, ['constraints.txt', 'requirements.txt']));
  });

  it('changes with `also` (the install command)', () => {
    const a = snapshot({ 'package-lock.json': lock('1.0.0') });
    assert.notEqual(cacheKey(a, ['package-lock.json'], ['npm ci']), cacheKey(a, ['package-lock.json'], ['npm ci --omit=dev']));
  });

  it('takes folders: every file under them', () => {
    const a = snapshot({ 'package-lock.json': '{}', 'patches/left-pad.patch': '-a\n+b\n' });
    const b = snapshot({ 'package-lock.json': '{}', 'patches/left-pad.patch': '-a\n+c\n' });
    const c = snapshot({ 'package-lock.json': '{}', 'patches/left-pad.patch': '-a\n+b\n', 'patches/other.patch': '' });
    const keys = [a, b, c].map((s) => cacheKey(s, ['package-lock.json', 'patches']));
    assert.equal(new Set(keys).size, 3);
    assert.equal(cacheKey(snapshot({ 'package-lock.json': '{}', 'patches/left-pad.patch': '-a\n+b\n' }), ['package-lock.json', 'patches/']), keys[0]);
  });

  it('is undefined (never reused) without key files or when one cannot be read', () => {
    const a = snapshot({ 'package-lock.json': '{}' });
    assert.equal(cacheKey(a, []), undefined);
    execFileSync('mkfifo', [path.join(a, 'fifo')]);
    assert.equal(cacheKey(a, ['package-lock.json', 'fifo']), undefined);
  });

  it('refuses paths outside the snapshot', () => {
    const a = snapshot();
    for (const bad of ['/etc/passwd', '../other/package-lock.json', '.', '']) {
      assert.throws(() => cacheKey(a, [bad]), (err: unknown) => err instanceof ZddError && err.code === 'BUILD_CACHE_PATH_INVALID');
    }
  });
});

describe('cachePathProblem', () => {
  it('accepts paths inside the snapshot and names what is wrong with others', () => {
    for (const ok of ['node_modules', 'vendor/bundle', './node_modules', 'a/../node_modules']) assert.equal(cachePathProblem(ok), undefined, ok);
    assert.match(cachePathProblem('/srv/app/node_modules')!, /absolute/);
    assert.match(cachePathProblem('../node_modules')!, /outside/);
    assert.match(cachePathProblem('./')!, /whole folder/);
    assert.match(cachePathProblem(' ')!, /empty/);
  });
});

describe('decideCache', () => {
  const r = (release: number, key: string | undefined) => ({ release, snapshot: `/s/${release}`, key });

  it('reuses the newest earlier release with the same key', () => {
    assert.deepEqual(decideCache('k1', [r(9, 'k2'), r(8, 'k1'), r(7, 'k1')]), { reuse: true, from: r(8, 'k1') });
  });

  it('does not reuse without a key, without an earlier release, or when the key changed', () => {
    assert.deepEqual(decideCache(undefined, [r(9, undefined)]), { reuse: false, reason: 'no cache key (buildCache.key is empty, or a key file could not be read)' });
    assert.deepEqual(decideCache('k1', []), { reuse: false, reason: 'no earlier release to reuse from' });
    assert.deepEqual(decideCache('k1', [r(9, 'k2'), r(8, undefined)]), { reuse: false, reason: 'the key files changed since release 9' });
  });
});

describe('restoreCache', () => {
  it('copies the paths, keeping symlinks as they are, modes and times', { timeout: 10_000 }, async () => {
    const prev = snapshot({ 'package-lock.json': lock('1.0.0') });
    installed(prev);
    const next = snapshot({ 'package-lock.json': lock('1.0.0') });
    const r = await restoreCache({ from: prev, to: next, paths: ['node_modules'] });
    assert.equal(r.outcome, 'restored');
    assert.ok(r.outcome === 'restored');
    assert.deepEqual(r.restored, ['node_modules']);
    assert.equal(r.files, 2);
    assert.equal(r.bytes, 'module.exports = (s) => s;\n'.length + '#!/usr/bin/env node\n'.length);
    const nm = path.join(next, 'node_modules');
    assert.equal(readlinkSync(path.join(nm, '.bin', 'left-pad')), '../left-pad/bin/cli.js', 'the link is copied as written');
    assert.equal(realpathSync(path.join(nm, '.bin', 'left-pad')), path.join(nm, 'left-pad', 'bin', 'cli.js'), 'and so points into the new copy');
    assert.ok(lstatSync(path.join(nm, 'pad-alias')).isSymbolicLink());
    assert.equal(statSync(path.join(nm, 'left-pad', 'bin', 'cli.js')).mode & 0o777, 0o755);
    assert.equal(statSync(path.join(nm, 'left-pad', 'index.js')).mtime.toISOString(), '2020-01-02T03:04:05.000Z');
    assert.match(describeRestore(r, 6), /^node_modules reused from release 6: 2 files, 0\.0 MB in \d+ms$/);
  });

  it('copies rather than links: changing the copy leaves the earlier release as it was', { timeout: 10_000 }, async () => {
    const prev = snapshot();
    installed(prev);
    const next = snapshot();
    await restoreCache({ from: prev, to: next, paths: ['node_modules'] });
    const nm = path.join(next, 'node_modules');
    appendFileSync(path.join(nm, 'left-pad', 'index.js'), '// patched in place\n');
    writeFileSync(path.join(nm, 'left-pad', 'bin', 'cli.js'), 'rewritten');
    unlinkSync(path.join(nm, '.bin', 'left-pad'));
    writeFileSync(path.join(nm, 'new.js'), '');
    const old = path.join(prev, 'node_modules');
    assert.equal(readFileSync(path.join(old, 'left-pad', 'index.js'), 'utf8'), 'module.exports = (s) => s;\n');
    assert.equal(readFileSync(path.join(old, 'left-pad', 'bin', 'cli.js'), 'utf8'), '#!/usr/bin/env node\n');
    assert.equal(readlinkSync(path.join(old, '.bin', 'left-pad')), '../left-pad/bin/cli.js');
    assert.equal(existsSync(path.join(old, 'new.js')), false);
  });

  it('replaces what the new snapshot has at a path', { timeout: 10_000 }, async () => {
    const prev = snapshot();
    installed(prev);
    const next = snapshot({ 'node_modules/stale/index.js': 'old', 'vendor/bundle/gem.rb': 'x' });
    mkdirSync(path.join(prev, 'vendor', 'bundle'), { recursive: true });
    writeFileSync(path.join(prev, 'vendor', 'bundle', 'gem.rb'), 'y');
    const r = await restoreCache({ from: prev, to: next, paths: ['node_modules', 'vendor/bundle/'] });
    assert.equal(r.outcome, 'restored');
    assert.equal(existsSync(path.join(next, 'node_modules', 'stale')), false);
    assert.equal(readFileSync(path.join(next, 'vendor', 'bundle', 'gem.rb'), 'utf8'), 'y');
  });

  it('copies nothing when the earlier release lacks one of the paths', { timeout: 10_000 }, async () => {
    const prev = snapshot();
    installed(prev);
    const next = snapshot();
    const r = await restoreCache({ from: prev, to: next, paths: ['node_modules', 'vendor'] });
    assert.equal(r.outcome, 'missing');
    assert.ok(r.outcome === 'missing');
    assert.deepEqual(r.missing, ['vendor']);
    assert.equal(existsSync(path.join(next, 'node_modules')), false, 'half a cache is no cache');
    assert.equal(describeRestore(r, 6), 'nothing reused: release 6 has no vendor');
  });

  it('removes a copy that failed part-way', { timeout: 10_000 }, async () => {
    const prev = snapshot();
    installed(prev);
    // A socket cannot be copied: the copy fails after some of the tree is in place.
    const server = net.createServer().listen(path.join(prev, 'node_modules', 'zz.sock'));
    await once(server, 'listening');
    try {
      const next = snapshot();
      const r = await restoreCache({ from: prev, to: next, paths: ['node_modules'] });
      assert.equal(r.outcome, 'failed');
      assert.ok(r.outcome === 'failed');
      assert.match(r.error, /socket/i);
      assert.equal(existsSync(path.join(next, 'node_modules')), false);
      assert.match(describeRestore(r, 6), /^nothing reused: copying from release 6 failed \(.*socket.*\)$/i);
    } finally {
      server.close();
    }
  });
});
