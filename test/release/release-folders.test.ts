// Shared paths, pruning and env files: the parts of a release's folder that are not its snapshot.
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ZddError } from '../../src/errors.ts';
import { readEnvFile } from '../../src/release/env-file.ts';
import { releasesToPrune } from '../../src/release/prune.ts';
import { linkShared } from '../../src/release/shared-paths.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'zdd-release-folders-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('linkShared', () => {
  it('seeds the shared place from the first release, links every release to it, and creates what exists nowhere', { timeout: 5_000 }, () => {
    const shared = path.join(dir, 'shared', 'web');
    const r1 = path.join(dir, 'releases', 'web', '1');
    mkdirSync(path.join(r1, 'db'), { recursive: true });
    writeFileSync(path.join(r1, 'db', 'app.sqlite'), 'from source');
    writeFileSync(path.join(r1, '.env'), 'A=1\n');
    const first = linkShared({ releaseDir: r1, sharedDir: shared, paths: ['db/app.sqlite', '.env', 'uploads'] });
    assert.deepEqual(first, { linked: [], seeded: ['db/app.sqlite', '.env'], created: ['uploads'] });
    for (const p of ['db/app.sqlite', '.env', 'uploads']) assert.ok(lstatSync(path.join(r1, p)).isSymbolicLink(), `${p} is a link`);
    assert.equal(readFileSync(path.join(shared, 'db', 'app.sqlite'), 'utf8'), 'from source');

    // The app writes through the link; the next release's copy from source is replaced by the link.
    writeFileSync(path.join(r1, 'db', 'app.sqlite'), 'written by release 1');
    writeFileSync(path.join(r1, 'uploads', 'photo.jpg'), 'jpeg');
    const r2 = path.join(dir, 'releases', 'web', '2');
    mkdirSync(path.join(r2, 'db'), { recursive: true });
    writeFileSync(path.join(r2, 'db', 'app.sqlite'), 'stale copy in source');
    const second = linkShared({ releaseDir: r2, sharedDir: shared, paths: ['db/app.sqlite', '.env', 'uploads'] });
    assert.deepEqual(second, { linked: ['db/app.sqlite', '.env', 'uploads'], seeded: [], created: [] });
    assert.equal(readFileSync(path.join(r2, 'db', 'app.sqlite'), 'utf8'), 'written by release 1');
    assert.equal(readFileSync(path.join(r2, 'uploads', 'photo.jpg'), 'utf8'), 'jpeg');
    assert.ok(!path.isAbsolute(readlinkSync(path.join(r2, 'uploads'))), 'links are relative, so the data dir can move');
  });
});

describe('releasesToPrune', () => {
  const r = (number: number, folder = true, prunedAt: number | null = null) => ({ number, folder: folder ? `/r/${number}` : null, prunedAt });
  it('keeps the newest folders, counting those in use, and never prunes one in use', () => {
    const all = [1, 2, 3, 4, 5, 6, 7].map((n) => r(n));
    assert.deepEqual(releasesToPrune(all, 5, new Set([7, 6])), [2, 1]);
    assert.deepEqual(releasesToPrune(all, 1, new Set([7, 3])), [6, 5, 4, 2, 1]);
    assert.deepEqual(releasesToPrune(all, 10, new Set()), []);
  });
  it('skips releases without a folder or already pruned', () => {
    assert.deepEqual(releasesToPrune([r(1), r(2, false), r(3, true, 5), r(4), r(5)], 2, new Set([5])), [1]);
  });
});

describe('readEnvFile', () => {
  it('reads dotenv syntax: comments, quotes, export', { timeout: 5_000 }, () => {
    const file = path.join(dir, '.env.production');
    writeFileSync(file, '# secrets\nDATABASE_URL="postgres://u:p@db/app"\nexport PORT_HINT=3000\nGREETING=\'hello world\'\n');
    assert.deepEqual(readEnvFile(file), { DATABASE_URL: 'postgres://u:p@db/app', PORT_HINT: '3000', GREETING: 'hello world' });
  });
  it('names a missing file, with what to do', () => {
    assert.throws(() => readEnvFile(path.join(dir, 'nope.env')), (e: unknown) => e instanceof ZddError && e.code === 'ENV_FILE_UNREADABLE' && /nope\.env/.test(e.message));
  });
});
