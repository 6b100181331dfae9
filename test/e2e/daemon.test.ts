import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { zdd } from '../helpers/cli.ts';
import { DaemonProcess, startDaemon } from '../helpers/daemon.ts';
import { request, version } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project, type ServiceOptions } from '../helpers/project.ts';
import { isAlive, serviceStatus, waitForStatus } from '../helpers/status.ts';

const projects: Project[] = [];
const daemons: DaemonProcess[] = [];
after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  for (const p of projects) p.remove();
});

async function setup(extra: Partial<ServiceOptions> = {}) {
  const port = await freePort();
  const project = makeProject(serviceYaml({ port, replicas: 2, ...extra }));
  projects.push(project);
  return { project, url: `http://127.0.0.1:${port}`, port };
}

describe('zdd serve', () => {
  it('rejects a bad config with exit 2, naming each key and its line', async () => {
    const { project } = await setup();
    project.write(`services:
  web:
    listen: 127.0.0.1:1
    command: node app.js
    replicas: lots
    health: { path: /healthz, interval: soon }
    colour: blue
`);
    const r = await zdd(project.dir, ['serve']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /zdd\.yaml:5: services\.web\.replicas: expected number, got "lots"/);
    assert.match(r.stderr, /zdd\.yaml:6: services\.web\.health\.interval: "soon" is not a duration/);
    assert.match(r.stderr, /zdd\.yaml:7: services\.web\.colour: unknown key "colour"/);
  });

  it('refuses a second daemon on the same data dir, and the first one keeps working', async () => {
    const { project, url } = await setup();
    const first = await startDaemon(project.dir);
    daemons.push(first);
    const second = await zdd(project.dir, ['serve']);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`another zdd daemon \\(pid ${first.proc.pid}\\) is already running`));
    assert.equal((await zdd(project.dir, ['deploy', 'web'])).code, 0);
    assert.equal(await version(url), 'v1');
  });

  it('on SIGTERM finishes requests in flight, stops every instance and exits 0; a restart serves the same release again', async () => {
    const { project, url } = await setup();
    const daemon = await startDaemon(project.dir);
    daemons.push(daemon);
    assert.equal((await zdd(project.dir, ['deploy', 'web', '--version', 'keep', '--env', 'APP_VERSION=keep'])).code, 0);
    const pids = (await serviceStatus(project.dir)).live!.instances.map((i) => i.pid!);
    const inFlight = request(`${url}/slow?ms=800`);
    await waitForStatus(project.dir, (s) => (s.live?.instances.reduce((n, i) => n + i.inFlight, 0) ?? 0) > 0, 'the slow request in flight');
    assert.equal(await daemon.stop('SIGTERM'), 0);
    const reply = await inFlight;
    assert.equal(reply.status, 200, 'the request in flight was answered before the daemon exited');
    for (const pid of pids) assert.equal(isAlive(pid), false, `instance ${pid} still runs`);

    const again = await startDaemon(project.dir);
    daemons.push(again);
    const s = await waitForStatus(project.dir, (x) => x.live !== null && x.deployment === null, 'the release restored');
    assert.equal(s.live?.version, 'keep');
    assert.equal(await version(url), 'keep');
  });

  it('after being killed hard, the next start adopts the instances it left running and serves the release again', async () => {
    const { project, url } = await setup();
    const first = await startDaemon(project.dir);
    daemons.push(first);
    assert.equal((await zdd(project.dir, ['deploy', 'web', '--version', 'orphaned', '--env', 'APP_VERSION=orphaned'])).code, 0);
    const pids = (await serviceStatus(project.dir)).live!.instances.map((i) => i.pid!);
    await first.stop('SIGKILL');
    for (const pid of pids) assert.equal(isAlive(pid), true, 'SIGKILL gives the daemon no chance to stop its instances');
    const second = await startDaemon(project.dir);
    daemons.push(second);
    const s = await waitForStatus(project.dir, (x) => x.live !== null && x.deployment === null, 'the release restored');
    // The same processes serve (re-adopted, not restarted: see crash-adopt.test.ts).
    assert.deepEqual(s.live!.instances.map((i) => i.pid!).sort(), [...pids].sort());
    assert.equal(await version(url), 'orphaned');
  });

  it('a command given right after starting the daemon waits for it to come up', async () => {
    const { project, url } = await setup();
    const daemon = new DaemonProcess(project.dir);
    daemons.push(daemon);
    // No wait for "ready": the client finds the socket missing at first and tries again.
    const r = await zdd(project.dir, ['deploy', 'web']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(await version(url), 'v1');
  });

  it('finds its config and data dir through --config/--data-dir and ZDD_CONFIG/ZDD_DATA_DIR from any folder', async () => {
    const { project, url } = await setup();
    const elsewhere = os.tmpdir();
    const config = path.join(project.dir, 'zdd.yaml');
    const data = path.join(project.dir, 'state');
    const daemon = new DaemonProcess(elsewhere, ['--config', config, '--data-dir', data]);
    daemons.push(daemon);
    await daemon.ready();
    const viaEnv = await zdd(elsewhere, ['deploy', 'web'], { ZDD_CONFIG: config, ZDD_DATA_DIR: data });
    assert.equal(viaEnv.code, 0, viaEnv.stdout + viaEnv.stderr);
    const viaFlag = await zdd(elsewhere, ['status', '--data-dir', data]);
    assert.equal(viaFlag.code, 0);
    assert.match(viaFlag.stdout, /live\s+release 1/);
    assert.equal(await version(url), 'v1');
  });

  it('a deploy against a config turned invalid exits 2 with the key and line; the live release is untouched', async () => {
    const { project, url, port } = await setup();
    const daemon = await startDaemon(project.dir);
    daemons.push(daemon);
    assert.equal((await zdd(project.dir, ['deploy', 'web'])).code, 0);
    writeFileSync(path.join(project.dir, 'zdd.yaml'), serviceYaml({ port, replicas: 2 }).replace('replicas: 2', 'replicas: -1'));
    const r = await zdd(project.dir, ['deploy', 'web']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /zdd\.yaml:7: services\.web\.replicas: /);
    assert.equal(await version(url), 'v1');
  });
});

describe('client commands without a daemon', () => {
  it('exit 3 and say how to start one', async () => {
    const { project } = await setup();
    for (const args of [['status'], ['deploy', 'web'], ['history', 'web'], ['rollback', 'web']]) {
      const r = await zdd(project.dir, args);
      assert.equal(r.code, 3, args.join(' '));
      assert.match(r.stderr, /no zdd daemon is running/);
      assert.match(r.stderr, /zdd serve/);
    }
  });
});
