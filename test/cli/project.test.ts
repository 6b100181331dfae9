import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findProject } from '../../src/cli/project.ts';
import { zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { freePort } from '../helpers/ports.ts';
import { serviceYaml } from '../helpers/project.ts';

// A workspace: root/other holds the project (zdd.yaml, .zdd/ once served), root/other/a/b is a folder in it,
// root/empty and root/state-only are folders of their own.
const root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'zdd-project-')));
const project = path.join(root, 'other');
const deep = path.join(project, 'a', 'b');
after(() => rmSync(root, { recursive: true, force: true }));

describe('finding the project (like git finds its repository)', () => {
  before(() => {
    mkdirSync(deep, { recursive: true });
    mkdirSync(path.join(root, 'empty'));
    mkdirSync(path.join(root, 'state-only', '.zdd'), { recursive: true });
    mkdirSync(path.join(root, 'state-only', 'sub'));
  });

  it('--config FILE: the project is its folder', { timeout: 5_000 }, () => {
    assert.deepEqual(findProject({ config: 'other/zdd.yaml' }, root), { configPath: path.join(project, 'zdd.yaml'), dataDir: path.join(project, '.zdd') });
    assert.deepEqual(findProject({ config: 'other/zdd.yaml', dataDir: 'state' }, root), { configPath: path.join(project, 'zdd.yaml'), dataDir: path.join(root, 'state') });
  });

  it('without --config: the nearest folder above holding zdd.yaml or .zdd/', { timeout: 5_000 }, () => {
    writeFileSync(path.join(project, 'zdd.yaml'), 'services: {}\n');
    assert.deepEqual(findProject({}, deep), { configPath: path.join(project, 'zdd.yaml'), dataDir: path.join(project, '.zdd') });
    assert.equal(findProject({}, path.join(root, 'state-only', 'sub')).dataDir, path.join(root, 'state-only', '.zdd'));
    assert.equal(findProject({ dataDir: '/var/lib/zdd' }, deep).dataDir, '/var/lib/zdd');
  });

  it('nothing found: the current folder, as before', { timeout: 5_000 }, () => {
    const empty = path.join(root, 'empty');
    assert.deepEqual(findProject({}, empty), { configPath: path.join(empty, 'zdd.yaml'), dataDir: path.join(empty, '.zdd') });
  });
});

describe('commands run away from the project folder', () => {
  let daemon: DaemonProcess;

  before(async () => {
    mkdirSync(deep, { recursive: true });
    writeFileSync(path.join(project, 'zdd.yaml'), serviceYaml({ port: await freePort(), replicas: 1 }));
    // Served from a folder inside the project: the state goes to the project's .zdd/.
    daemon = await startDaemon(path.join(project, 'a'));
  });
  after(() => daemon?.stop());

  it('zdd serve from a folder inside the project uses the project\'s zdd.yaml and .zdd/', { timeout: 10_000 }, async () => {
    const r = await zdd(root, ['status', '--json', '--data-dir', path.join(project, '.zdd')]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { daemon: { config: string; dataDir: string } };
    assert.deepEqual([s.daemon.config, s.daemon.dataDir], [path.join(project, 'zdd.yaml'), path.join(project, '.zdd')]);
  });

  it('zdd status from a subfolder finds the daemon', { timeout: 10_000 }, async () => {
    const r = await zdd(deep, ['status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /web {2}127\.0\.0\.1:\d+/);
  });

  it('zdd status --config other/zdd.yaml (or ZDD_CONFIG) from outside finds it beside that file', { timeout: 10_000 }, async () => {
    const flag = await zdd(root, ['status', '--config', 'other/zdd.yaml']);
    assert.equal(flag.code, 0, flag.stderr);
    assert.match(flag.stdout, new RegExp(`pid ${daemon.proc.pid}`));
    const env = await zdd(root, ['status'], { ZDD_CONFIG: 'other/zdd.yaml' });
    assert.equal(env.code, 0, env.stderr);
  });

  it('zdd serve where there is no project still says there is no config here (exit 2)', { timeout: 10_000 }, async () => {
    const empty = path.join(root, 'empty');
    const r = await zdd(empty, ['serve']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`no config at ${path.join(empty, 'zdd.yaml')}`));
  });
});
