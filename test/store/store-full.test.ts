import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { proxyDefaults } from '../../src/config/schema.ts';
import { ZddError } from '../../src/errors.ts';
import { Store, type ReleaseSpec } from '../../src/store/store.ts';

// SQLite's max_page_count makes a database "full" the way a full disk does: writes that need a new
// page fail with SQLITE_FULL ("database or disk is full"). test/e2e/full-disk.test.ts fills a real disk.

const dir = mkdtempSync(path.join(os.tmpdir(), 'zdd-store-full-'));
const open: Store[] = [];
after(() => {
  for (const s of open) {
    try {
      s.close();
    } catch {
      // closed by the test
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function fresh(retryUnsavedMs?: number): Store {
  const store = new Store(path.join(dir, `state-${++n}.db`), { retryUnsavedMs });
  open.push(store);
  return store;
}

/** No room for a single new page: what a full disk looks like to SQLite. */
function fill(store: Store): void {
  const { page_count } = store.db.prepare('PRAGMA page_count').get() as { page_count: number };
  store.db.exec(`PRAGMA max_page_count = ${page_count}`);
}

function makeRoom(store: Store): void {
  store.db.exec('PRAGMA max_page_count = 1000000');
}

/** Bigger than a page: writing it needs new pages. */
const big = 'x'.repeat(64 * 1024);

function spec(env: Record<string, string> = {}): ReleaseSpec {
  return {
    listen: { host: '127.0.0.1', port: 8080 },
    command: ['node', 'server.js'],
    cwd: '/srv/app',
    env,
    replicas: 1,
    health: { path: '/healthz', interval: 1000, timeout: 2000, startTimeout: 30_000, healthyThreshold: 1, unhealthyThreshold: 3 },
    strategy: { type: 'blue-green', rollbackWindow: 30_000 },
    drainTimeout: 30_000,
    stopTimeout: 10_000,
    proxy: { ...proxyDefaults },
    hookTimeout: 600_000,
    shared: [],
    keepReleases: 5,
  };
}

describe('a full database', () => {
  it('fails a write an operation needs with STORE_WRITE_FAILED, naming the file, SQLite’s reason and a next step; nothing is recorded', { timeout: 10_000 }, () => {
    const store = fresh();
    store.createRelease('web', 'v1', spec());
    fill(store);
    assert.throws(
      () => store.createRelease('web', 'v2', spec({ BIG: big })),
      (err: unknown) => {
        assert.ok(err instanceof ZddError);
        assert.equal(err.code, 'STORE_WRITE_FAILED');
        assert.equal(err.message, `cannot record the new release of web in ${store.file}: database or disk is full`);
        assert.match(err.hint ?? '', new RegExp(`free space on the filesystem that holds ${dir}`));
        return true;
      },
    );
    assert.deepEqual(
      store.releases('web').map((r) => r.version),
      ['v1'],
    );
    const h = store.health();
    assert.equal(h.failedWrites, 1);
    assert.match(h.lastFailure?.message ?? '', /database or disk is full/);
  });

  it('drops journal entries it cannot write (events, steps, instance records), counting them, and never throws', { timeout: 10_000 }, () => {
    const store = fresh();
    const release = store.createRelease('web', 'v1', spec());
    const d = store.startDeployment({ service: 'web', kind: 'deploy', strategy: 'initial', releaseId: release.id, fromReleaseId: null });
    fill(store);
    store.addEvent({ service: 'web', type: 'instance', message: big });
    const step = store.addStep(d.id, 'start', 'info', big);
    store.recordInstanceStart({ id: `web-r1-${big}`, service: 'web', releaseId: release.id, pid: 1, port: 1 });
    assert.equal(step.detail, big, 'the step is still reported to whoever watches');
    assert.equal(store.events('web').length, 0);
    assert.equal(store.steps(d.id).length, 0);
    assert.equal(store.health().failedWrites, 3);
    makeRoom(store);
    store.addEvent({ service: 'web', type: 'instance', message: 'written again' });
    assert.deepEqual(
      store.events('web').map((e) => e.message),
      ['written again'],
    );
  });

  it('keeps a change to state it cannot write and writes it once there is room again', { timeout: 10_000 }, async () => {
    const store = fresh(10);
    const release = store.createRelease('web', 'v1', spec());
    const d = store.startDeployment({ service: 'web', kind: 'deploy', strategy: 'initial', releaseId: release.id, fromReleaseId: null });
    fill(store);
    store.finishDeployment(d.id, 'failed', big);
    assert.equal(store.deployment(d.id)?.status, 'running');
    assert.deepEqual(store.health().unsaved, [`the outcome (failed) of deployment #${d.id}`]);
    makeRoom(store);
    while (store.health().unsaved.length > 0) await delay(5);
    assert.equal(store.deployment(d.id)?.status, 'failed');
    assert.equal(store.deployment(d.id)?.reason, big);
  });

  it('writes the newer of two changes to the same thing, never the older one after it', { timeout: 10_000 }, () => {
    const store = fresh(60_000);
    const release = store.createRelease('web', 'v1', spec());
    const d = store.startDeployment({ service: 'web', kind: 'deploy', strategy: 'initial', releaseId: release.id, fromReleaseId: null });
    fill(store);
    store.finishDeployment(d.id, 'failed', big);
    // Fits in the page the row already has: written at once, and the kept older change is dropped.
    store.finishDeployment(d.id, 'succeeded', null);
    assert.deepEqual(store.health().unsaved, []);
    makeRoom(store);
    store.close();
    const again = new Store(store.file);
    open.push(again);
    assert.equal(again.deployment(d.id)?.status, 'succeeded');
  });

  it('gives kept changes a last try when it closes', { timeout: 10_000 }, () => {
    const store = fresh(60_000);
    const release = store.createRelease('web', 'v1', spec());
    const d = store.startDeployment({ service: 'web', kind: 'deploy', strategy: 'initial', releaseId: release.id, fromReleaseId: null });
    fill(store);
    store.finishDeployment(d.id, 'rolled-back', big);
    makeRoom(store);
    store.close();
    const again = new Store(store.file);
    open.push(again);
    assert.equal(again.deployment(d.id)?.status, 'rolled-back');
  });

  it('that cannot be opened at all is a STORE_OPEN_FAILED naming the file', { timeout: 10_000 }, () => {
    const file = path.join(dir, 'no-such-dir', 'zdd.db');
    assert.throws(
      () => new Store(file),
      (err: unknown) => err instanceof ZddError && err.code === 'STORE_OPEN_FAILED' && err.message === `cannot open zdd's database ${file}: unable to open database file`,
    );
  });
});
