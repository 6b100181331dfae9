// An app that starts a child with setsid (it leaves the instance's process group and ignores SIGTERM):
// zdd stops that child with its instance on a deploy, on `zdd restart`, and after a hard kill of zdd.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readDaemonInfo } from '../../src/daemon/paths.ts';
import { deployLabelled, zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';
import { ReportServer, writeReporter } from '../helpers/reports.ts';
import { isAlive, waitForStatus } from '../helpers/status.ts';

const projects: Project[] = [];
const daemons: DaemonProcess[] = [];
const servers: ReportServer[] = [];
/** Daemons started by `zdd restart`, not by the test. */
const successors: number[] = [];
after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  for (const pid of successors) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  for (const s of servers) s.close();
  for (const p of projects) p.remove();
});

/** A project whose every instance starts `setsid node reporter.cjs … escaped-<instance id>` beside the app. */
async function setup() {
  const reports = await ReportServer.start();
  servers.push(reports);
  const port = await freePort();
  const project = makeProject();
  projects.push(project);
  const reporter = writeReporter(project.dir);
  const line = `setsid node ${reporter} $REPORT_PORT escaped-$ZDD_INSTANCE & exec node app.js`;
  project.write(serviceYaml({ port, replicas: 1, env: { REPORT_PORT: String(reports.port) } }).replace('command: node app.js', `command: ${JSON.stringify(line)}`));
  return { project, reports };
}

for (const [mode, env] of [
  ['cgroups where writable', {}],
  ['tracking through /proc (ZDD_CGROUPS=off)', { ZDD_CGROUPS: 'off' }],
] as const) {
  describe(`escaped processes, ${mode}`, () => {
    it('a deploy stops the escaped child of the release it replaces', { timeout: 60_000 }, async () => {
      const { project, reports } = await setup();
      const daemon = await startDaemon(project.dir, [], env);
      daemons.push(daemon);
      if ('ZDD_CGROUPS' in env) await daemon.waitForLog((l) => /instances are tracked through \/proc/.test(l.msg));
      assert.equal((await deployLabelled(project.dir, 'v1')).code, 0);
      const first = await reports.report('escaped-web-r1-1');
      const deploy = await deployLabelled(project.dir, 'v2');
      assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr);
      await first.gone;
      // And stopping zdd stops the live release's escaped child too.
      const second = await reports.report('escaped-web-r2-1');
      assert.equal(await daemon.stop('SIGTERM'), 0);
      assert.equal(isAlive(second.pid), false, 'zdd exited with an escaped child still running');
    });

    it('after zdd is killed hard, the next zdd serve adopts the instance with its escaped child and stops both later', { timeout: 60_000 }, async () => {
      const { project, reports } = await setup();
      const first = await startDaemon(project.dir, [], env);
      daemons.push(first);
      assert.equal((await deployLabelled(project.dir, 'v1')).code, 0);
      const escaped = await reports.report('escaped-web-r1-1');
      await first.stop('SIGKILL');
      assert.equal(isAlive(escaped.pid), true, 'SIGKILL gives zdd no chance to stop anything');
      const second = await startDaemon(project.dir, [], env);
      daemons.push(second);
      await waitForStatus(project.dir, (s) => s.live !== null && s.deployment === null, 'the release restored');
      assert.equal(isAlive(escaped.pid), true, 'the adopted instance keeps what it started');
      // The next deploy stops the adopted instance, escaped child included.
      assert.equal((await deployLabelled(project.dir, 'v2')).code, 0);
      await escaped.gone;
    });
  });
}

describe('escaped processes and zdd restart', () => {
  it('the daemon that hands over stops the escaped children of its instances', { timeout: 60_000 }, async () => {
    const { project, reports } = await setup();
    const daemon = await startDaemon(project.dir);
    daemons.push(daemon);
    assert.equal((await deployLabelled(project.dir, 'v1')).code, 0);
    const escaped = await reports.report('escaped-web-r1-1');
    const r = await zdd(project.dir, ['restart']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const successor = readDaemonInfo(path.join(project.dir, '.zdd'))?.pid;
    if (successor && successor !== daemon.proc.pid) successors.push(successor);
    await escaped.gone;
    assert.equal(await daemon.exited, 0);
    // The successor's own instance runs, with its escaped child.
    await reports.report('escaped-web-r1-2');
  });
});
