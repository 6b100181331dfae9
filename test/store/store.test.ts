import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { proxyDefaults } from '../../src/config/schema.ts';
import { DatabaseSync } from 'node:sqlite';
import { migrations } from '../../src/store/db.ts';
import { Store, type ReleaseSpec } from '../../src/store/store.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'zdd-store-'));
const open: Store[] = [];
after(() => {
  for (const s of open) {
    try {
      s.close();
    } catch {
      // already closed by the test
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function fresh(): { store: Store; file: string } {
  const file = path.join(dir, `state-${++n}.db`);
  const store = new Store(file);
  open.push(store);
  return { store, file };
}

function spec(version = 'v1'): ReleaseSpec {
  return {
    listen: { host: '127.0.0.1', port: 8080 },
    command: ['node', 'server.js'],
    cwd: '/srv/app',
    env: { APP_VERSION: version, SECRET: 's3cr3t' },
    replicas: 2,
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

describe('releases', () => {
  it('numbers releases per service, each service counting on its own', () => {
    const { store } = fresh();
    const web1 = store.createRelease('web', undefined, spec());
    const web2 = store.createRelease('web', undefined, spec());
    const api1 = store.createRelease('api', undefined, spec());
    const web3 = store.createRelease('web', undefined, spec());
    const api2 = store.createRelease('api', undefined, spec());
    assert.deepEqual([web1.number, web2.number, web3.number], [1, 2, 3]);
    assert.deepEqual([api1.number, api2.number], [1, 2]);
    assert.equal(new Set([web1.id, web2.id, web3.id, api1.id, api2.id]).size, 5, 'ids are unique across services');
  });

  it('labels a release r<n> unless given a version, and starts it pending', () => {
    const { store } = fresh();
    const a = store.createRelease('web', undefined, spec());
    const b = store.createRelease('web', 'v2.0.1', spec());
    const c = store.createRelease('web', undefined, spec());
    assert.equal(a.version, 'r1');
    assert.equal(b.version, 'v2.0.1');
    assert.equal(c.version, 'r3');
    assert.equal(a.state, 'pending');
    assert.equal(a.service, 'web');
    assert.equal(typeof a.createdAt, 'number');
  });

  it('round-trips the spec and finds releases by id and number, newest first', () => {
    const { store } = fresh();
    const first = store.createRelease('web', undefined, spec('v1'));
    const second = store.createRelease('web', undefined, spec('v2'));
    assert.deepEqual(store.release(first.id)!.spec, spec('v1'));
    assert.deepEqual(store.releaseByNumber('web', 2), second);
    assert.equal(store.releaseByNumber('web', 3), undefined);
    assert.equal(store.releaseByNumber('api', 1), undefined);
    assert.equal(store.release(9999), undefined);
    assert.deepEqual(
      store.releases('web').map((r) => r.number),
      [2, 1],
    );
    assert.deepEqual(
      store.releases('web', 1).map((r) => r.number),
      [2],
    );
    assert.deepEqual(store.releases('nothing'), []);
  });

  it('records release states and the live release of a service', () => {
    const { store } = fresh();
    assert.equal(store.liveRelease('web'), undefined);
    const r1 = store.createRelease('web', undefined, spec());
    const r2 = store.createRelease('web', undefined, spec());
    store.setReleaseState(r1.id, 'live');
    store.setLiveRelease('web', r1.id);
    assert.equal(store.liveRelease('web')!.id, r1.id);
    assert.equal(store.liveRelease('web')!.state, 'live');
    store.setReleaseState(r1.id, 'standby');
    store.setReleaseState(r2.id, 'live');
    store.setLiveRelease('web', r2.id);
    assert.equal(store.liveRelease('web')!.number, 2);
    assert.equal(store.release(r1.id)!.state, 'standby');
    assert.equal(store.liveRelease('api'), undefined);
  });
});

describe('release code', () => {
  const source = { dir: '/srv/app', commit: 'abc123', dirty: false, ref: null, hash: 'sha256:ff', files: 3, bytes: 120 };

  it('starts without a folder, records its snapshot, hooks in order, the build key and pruning', () => {
    const { store } = fresh();
    const r = store.createRelease('web', 'v1', spec());
    assert.deepEqual([r.folder, r.source, r.hooks, r.buildKey, r.prunedAt], [null, null, [], null, null]);
    const withCode = store.setReleaseCode(r.id, '/data/.zdd/releases/web/1', source, { ...spec(), cwd: '/data/.zdd/releases/web/1' });
    assert.equal(withCode.folder, '/data/.zdd/releases/web/1');
    assert.deepEqual(withCode.source, source);
    assert.equal(withCode.spec.cwd, '/data/.zdd/releases/web/1');
    const build = { hook: 'build', deployment: 1, at: 1, ok: true, outcome: 'exit 0', ms: 1200 };
    const release = { hook: 'release', deployment: 1, at: 2, ok: false, outcome: 'exit 3', ms: 40 };
    store.addReleaseHook(r.id, build);
    store.addReleaseHook(r.id, release);
    store.setBuildKey(r.id, 'sha256:key');
    store.markPruned(r.id);
    const back = store.release(r.id)!;
    assert.deepEqual(back.hooks, [build, release]);
    assert.equal(back.buildKey, 'sha256:key');
    assert.ok(back.prunedAt !== null && back.prunedAt > 0);
  });

  it('reads a database from before release folders: old releases have none', () => {
    const file = path.join(dir, 'old-schema.db');
    const db = new DatabaseSync(file);
    db.exec(migrations[0]!);
    db.exec('PRAGMA user_version = 1');
    db.prepare("INSERT INTO services (name, created_at) VALUES ('web', 1)").run();
    db.prepare("INSERT INTO releases (service, number, version, spec, state, created_at) VALUES ('web', 1, 'v1', ?, 'live', 1)").run(JSON.stringify(spec()));
    db.close();
    const store = new Store(file);
    open.push(store);
    const r = store.releaseByNumber('web', 1)!;
    assert.deepEqual([r.version, r.folder, r.source, r.hooks, r.prunedAt], ['v1', null, null, [], null]);
  });
});

describe('deployments, steps and events', () => {
  it('round-trip a deployment from start to finish', () => {
    const { store } = fresh();
    const r1 = store.createRelease('web', undefined, spec());
    const r2 = store.createRelease('web', undefined, spec());
    const d = store.startDeployment({ service: 'web', kind: 'deploy', strategy: 'canary', releaseId: r2.id, fromReleaseId: r1.id });
    assert.equal(d.service, 'web');
    assert.equal(d.kind, 'deploy');
    assert.equal(d.strategy, 'canary');
    assert.equal(d.releaseId, r2.id);
    assert.equal(d.fromReleaseId, r1.id);
    assert.equal(d.status, 'running');
    assert.equal(d.reason, null);
    assert.equal(d.finishedAt, null);
    store.finishDeployment(d.id, 'rolled-back', 'error rate 30% on canary');
    const done = store.deployment(d.id)!;
    assert.equal(done.status, 'rolled-back');
    assert.equal(done.reason, 'error rate 30% on canary');
    assert.ok(done.finishedAt !== null && done.finishedAt >= done.startedAt);
    assert.equal(store.deployment(d.id + 100), undefined);
  });

  it('keeps a first deployment without a previous release', () => {
    const { store } = fresh();
    const r1 = store.createRelease('web', undefined, spec());
    const d = store.startDeployment({ service: 'web', kind: 'deploy', strategy: 'blue-green', releaseId: r1.id, fromReleaseId: null });
    assert.equal(store.deployment(d.id)!.fromReleaseId, null);
  });

  it('lists deployments of a service newest first, with a limit', () => {
    const { store } = fresh();
    const r = store.createRelease('web', undefined, spec());
    const api = store.createRelease('api', undefined, spec());
    const ids = [1, 2, 3].map(() => store.startDeployment({ service: 'web', kind: 'deploy', strategy: 'rolling', releaseId: r.id, fromReleaseId: null }).id);
    store.startDeployment({ service: 'api', kind: 'rollback', strategy: 'blue-green', releaseId: api.id, fromReleaseId: null });
    assert.deepEqual(
      store.deployments('web').map((d) => d.id),
      [...ids].reverse(),
    );
    assert.deepEqual(
      store.deployments('web', 2).map((d) => d.id),
      [ids[2], ids[1]],
    );
    assert.deepEqual(
      store.deployments('api').map((d) => d.kind),
      ['rollback'],
    );
  });

  it('round-trips steps in the order they were added', () => {
    const { store } = fresh();
    const r = store.createRelease('web', undefined, spec());
    const d = store.startDeployment({ service: 'web', kind: 'deploy', strategy: 'canary', releaseId: r.id, fromReleaseId: null });
    const other = store.startDeployment({ service: 'web', kind: 'deploy', strategy: 'canary', releaseId: r.id, fromReleaseId: null });
    const added = [
      store.addStep(d.id, 'start instances', 'started'),
      store.addStep(d.id, 'start instances', 'done', '2 healthy'),
      store.addStep(other.id, 'unrelated', 'info'),
      store.addStep(d.id, 'weight 5%', 'failed', 'error rate too high'),
    ];
    assert.deepEqual(store.steps(d.id), [added[0], added[1], added[3]]);
    assert.deepEqual(
      store.steps(d.id).map((s) => [s.step, s.status, s.detail]),
      [
        ['start instances', 'started', null],
        ['start instances', 'done', '2 healthy'],
        ['weight 5%', 'failed', 'error rate too high'],
      ],
    );
    assert.deepEqual(store.steps(9999), []);
  });

  it('round-trips events per service, newest first, with a limit', () => {
    const { store } = fresh();
    const r = store.createRelease('web', undefined, spec());
    const d = store.startDeployment({ service: 'web', kind: 'deploy', strategy: 'canary', releaseId: r.id, fromReleaseId: null });
    store.addEvent({ service: 'web', type: 'deploy', message: 'deploy started', deploymentId: d.id, data: { release: 1 } });
    store.addEvent({ service: 'api', type: 'instance', message: 'api-r1-1 crashed' });
    store.addEvent({ type: 'daemon', message: 'daemon started' });
    store.addEvent({ service: 'web', type: 'instance', message: 'web-r1-1 is unhealthy' });
    const events = store.events('web');
    assert.deepEqual(
      events.map((e) => e.message),
      ['web-r1-1 is unhealthy', 'deploy started'],
    );
    assert.equal(events[1]!.deploymentId, d.id);
    assert.equal(events[1]!.type, 'deploy');
    assert.equal(events[1]!.service, 'web');
    assert.equal(events[0]!.deploymentId, null);
    assert.ok(events[0]!.id > events[1]!.id);
    assert.equal(store.events('web', 1).length, 1);
    assert.deepEqual(
      store.events('api').map((e) => e.message),
      ['api-r1-1 crashed'],
    );
  });
});

describe('unfinished deployments and instances', () => {
  it('lists the deployments still running, of every service', () => {
    const { store } = fresh();
    const web = store.createRelease('web', undefined, spec());
    const api = store.createRelease('api', undefined, spec());
    const a = store.startDeployment({ service: 'web', kind: 'deploy', strategy: 'canary', releaseId: web.id, fromReleaseId: null });
    const b = store.startDeployment({ service: 'web', kind: 'deploy', strategy: 'canary', releaseId: web.id, fromReleaseId: null });
    const c = store.startDeployment({ service: 'api', kind: 'restore', strategy: 'blue-green', releaseId: api.id, fromReleaseId: null });
    store.finishDeployment(a.id, 'succeeded', null);
    assert.deepEqual(
      store
        .unfinishedDeployments()
        .map((d) => d.id)
        .sort((x, y) => x - y),
      [b.id, c.id],
    );
    store.finishDeployment(b.id, 'aborted', 'daemon stopped');
    store.finishDeployment(c.id, 'failed', 'crashed');
    assert.deepEqual(store.unfinishedDeployments(), []);
  });

  it('records instances started and stopped, and counts them per release', () => {
    const { store } = fresh();
    const r = store.createRelease('web', undefined, spec());
    const other = store.createRelease('web', undefined, spec());
    store.recordInstanceStart({ id: 'web-r1-1', service: 'web', releaseId: r.id, pid: 1234, port: 40001, startTime: 987654 });
    store.recordInstanceStart({ id: 'web-r1-2', service: 'web', releaseId: r.id, pid: undefined, port: 40002 });
    assert.equal(store.instanceCount(r.id), 2);
    assert.equal(store.instanceCount(other.id), 0);
    const brief = () => store.runningInstances().map(({ id, pid, port, releaseId, startTime }) => ({ id, pid, port, releaseId, startTime }));
    assert.deepEqual(
      brief().sort((a, b) => a.id.localeCompare(b.id)),
      [
        { id: 'web-r1-1', pid: 1234, port: 40001, releaseId: r.id, startTime: 987654 },
        { id: 'web-r1-2', pid: null, port: 40002, releaseId: r.id, startTime: null },
      ],
    );
    store.recordInstanceStop('web-r1-1', 'exited with code 0');
    assert.deepEqual(brief(), [{ id: 'web-r1-2', pid: null, port: 40002, releaseId: r.id, startTime: null }]);
    assert.equal(store.instanceCount(r.id), 2, 'stopped instances still count, so ids keep increasing');
  });
});

describe('the database file', () => {
  it('keeps everything when the same file is opened again, and migrating twice changes nothing', () => {
    const { store, file } = fresh();
    const r1 = store.createRelease('web', 'v1', spec('v1'));
    store.setLiveRelease('web', r1.id);
    const d = store.startDeployment({ service: 'web', kind: 'deploy', strategy: 'blue-green', releaseId: r1.id, fromReleaseId: null });
    store.addStep(d.id, 'switch', 'done');
    store.addEvent({ service: 'web', type: 'deploy', message: 'live' });
    const version = (store.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
    store.close();

    const again = new Store(file);
    open.push(again);
    assert.equal((again.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, version);
    assert.equal(again.liveRelease('web')!.version, 'v1');
    assert.deepEqual(again.liveRelease('web')!.spec, spec('v1'));
    assert.equal(again.deployment(d.id)!.status, 'running');
    assert.deepEqual(
      again.unfinishedDeployments().map((x) => x.id),
      [d.id],
    );
    assert.deepEqual(
      again.steps(d.id).map((s) => s.step),
      ['switch'],
    );
    assert.deepEqual(
      again.events('web').map((e) => e.message),
      ['live'],
    );
    assert.equal(again.createRelease('web', undefined, spec()).number, 2, 'numbering continues after a restart');
    again.close();

    const third = new Store(file);
    open.push(third);
    assert.equal(third.releases('web').length, 2);
  });

  it('is created readable by its owner only (it holds env values)', () => {
    const { file } = fresh();
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });
});
