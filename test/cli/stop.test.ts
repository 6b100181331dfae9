import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';
import { isAlive, serviceStatus, waitForStatus } from '../helpers/status.ts';

const projects: Project[] = [];
const daemons: DaemonProcess[] = [];
after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  for (const p of projects) p.remove();
});

describe('zdd stop', () => {
  it('drains (the request in flight is answered), stops the instances, and returns once the daemon has exited 0', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const project = makeProject(serviceYaml({ port, replicas: 2 }));
    projects.push(project);
    const daemon = await startDaemon(project.dir);
    daemons.push(daemon);
    assert.equal((await zdd(project.dir, ['deploy', 'web'])).code, 0);
    const pids = (await serviceStatus(project.dir)).live!.instances.map((i) => i.pid!);
    const inFlight = request(`http://127.0.0.1:${port}/slow?ms=800`);
    await waitForStatus(project.dir, (s) => (s.live?.instances.reduce((n, i) => n + i.inFlight, 0) ?? 0) > 0, 'the slow request in flight');

    const r = await zdd(project.dir, ['stop']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^stopping zdd \\(pid ${daemon.proc.pid}\\): requests in flight finish, then the instances stop\n`));
    assert.match(r.stdout, new RegExp(`zdd stopped \\(pid ${daemon.proc.pid}, [^)]+\\)\n$`));
    // Gone by the time zdd stop returned: its exit is already there to collect.
    assert.equal(isAlive(daemon.proc.pid!), false, 'the daemon has exited when zdd stop returns');
    assert.equal(await daemon.exited, 0);
    assert.equal((await inFlight).status, 200, 'the request in flight was answered');
    for (const pid of pids) assert.equal(isAlive(pid), false, `instance ${pid} still runs`);
    assert.equal(existsSync(path.join(project.dir, '.zdd', 'zdd.sock')), false);
    assert.ok(daemon.lines.some((l) => l.msg === 'zdd stop received'), 'the daemon log says why it stopped');
  });

  it('--json, and exit 3 when no daemon runs', { timeout: 30_000 }, async () => {
    const project = makeProject(serviceYaml({ port: await freePort(), replicas: 1 }));
    projects.push(project);
    const daemon = await startDaemon(project.dir);
    daemons.push(daemon);
    const r = await zdd(project.dir, ['stop', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { pid: number; stopped: boolean };
    assert.deepEqual([out.pid, out.stopped], [daemon.proc.pid, true]);
    assert.equal(await daemon.exited, 0);
    const none = await zdd(project.dir, ['stop']);
    assert.equal(none.code, 3);
    assert.match(none.stderr, /no zdd daemon is running for data dir/);
  });
});
