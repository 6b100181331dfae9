// Issue 7, first hour: zdd.yaml changed while the daemon runs. A service added, or a listen address
// changed, is named plainly and applied by zdd restart — never "no service named X" while X is in the
// file, never a silent old port.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readDaemonInfo } from '../../src/daemon/paths.ts';
import { zdd, zddJson } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request, version } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, testAppDir, type Project } from '../helpers/project.ts';
import type { StatusJson } from '../helpers/status.ts';
import { stopByPid } from '../helpers/processes.ts';

describe('zdd.yaml changed under a running daemon', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let port: number;
  let successor: number | undefined;

  before(async () => {
    port = await freePort();
    project = makeProject(serviceYaml({ port, replicas: 1 }));
    daemon = await startDaemon(project.dir);
    assert.equal((await zdd(project.dir, ['deploy', 'web'])).code, 0);
  });

  after(async () => {
    await daemon?.stop();
    if (successor) await stopByPid(successor);
    project?.remove();
  });

  it('names a service added since zdd serve started and says to restart; a changed listen is named in deploy and status; zdd restart applies both', { timeout: 60_000 }, async () => {
    const apiPort = await freePort();
    const newWebPort = await freePort();
    project.write(
      serviceYaml({ port: newWebPort, replicas: 1 }) +
        `  api:
    listen: 127.0.0.1:${apiPort}
    command: node app.js
    cwd: ${testAppDir}
    env: { APP_VERSION: api1 }
    health: { path: /healthz, interval: 50ms, timeout: 1s, startTimeout: 10s }
`,
    );
    const added = await zdd(project.dir, ['deploy', 'api']);
    assert.equal(added.code, 1);
    assert.match(added.stderr, /api is in zdd\.yaml but was added after zdd serve started/);
    assert.match(added.stderr, /→ run zdd restart/);
    assert.doesNotMatch(added.stderr, /no service named/);

    const moved = await zdd(project.dir, ['deploy', 'web']);
    assert.equal(moved.code, 0, moved.stdout + moved.stderr);
    assert.match(moved.stdout, new RegExp(`listen is 127\\.0\\.0\\.1:${newWebPort} in zdd\\.yaml, but the proxy still listens on 127\\.0\\.0\\.1:${port}: run zdd restart`));
    const s = await zddJson<StatusJson>(project.dir, ['status']);
    assert.equal(s.services.find((x) => x.name === 'web')?.pendingListen, `127.0.0.1:${newWebPort}`);
    assert.match((await zdd(project.dir, ['status'])).stdout, /zdd\.yaml says listen 127\.0\.0\.1:\d+; the proxy listens on 127\.0\.0\.1:\d+ until zdd restart/);

    const restarted = await zdd(project.dir, ['restart']);
    assert.equal(restarted.code, 0, restarted.stdout + restarted.stderr);
    successor = readDaemonInfo(`${project.dir}/.zdd`)?.pid;
    assert.equal(await version(`http://127.0.0.1:${newWebPort}`), 'v1', 'web serves on its new address');
    const deployed = await zdd(project.dir, ['deploy', 'api']);
    assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
    assert.equal(await version(`http://127.0.0.1:${apiPort}`), 'api1');
    assert.equal((await request(`http://127.0.0.1:${apiPort}/healthz`)).status, 200);
  });
});
