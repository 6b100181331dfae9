// Processes that leave their instance's process group (setsid, a detached child with an empty
// environment) are stopped with it all the same: by its cgroup, or found through /proc.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { cgroup2Mount, cgroup2Path, cgroupDir, instanceCgroupParent } from '../../src/runtime/cgroups.ts';
import { Instance, type InstanceOptions } from '../../src/runtime/instance.ts';
import { membersOf, type ProcessInfo } from '../../src/runtime/proc-scan.ts';
import type { TrackingMode } from '../../src/runtime/process-tracker.ts';
import { ReportServer, writeReporter } from '../helpers/reports.ts';
import { isAlive } from '../helpers/status.ts';

const node = process.execPath;
const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'zdd-escape-')));
const reporter = writeReporter(dir);
const instances: Instance[] = [];
const servers: ReportServer[] = [];
after(async () => {
  for (const i of instances) i.kill();
  await Promise.all(instances.map((i) => i.stop(0)));
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function reportServer(): Promise<ReportServer> {
  const s = await ReportServer.start();
  servers.push(s);
  return s;
}

let seq = 0;
function start(mode: TrackingMode, command: InstanceOptions['command']): Instance {
  const id = `web-r1-${++seq}`;
  const instance = new Instance({
    id,
    service: 'web',
    release: 1,
    command,
    cwd: dir,
    env: {},
    host: '127.0.0.1',
    port: 45_678,
    logFile: path.join(dir, 'logs', `${id}.log`),
    cgroups: mode === 'cgroup',
  });
  instances.push(instance);
  assert.equal(instance.tracking.mode, mode, `tracked by ${mode}`);
  return instance;
}

/** The session a process is in (field 6 of /proc/<pid>/stat). */
function session(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

// Both modes run on every test machine (Linux, as root, with cgroup v2): one that cannot is a failure.
const modes: TrackingMode[] = ['cgroup', 'proc'];

describe('the test machine', () => {
  it('is Linux with a writable cgroup v2, so both tracking modes are tested', () => {
    assert.equal(process.platform, 'linux');
    assert.ok(instanceCgroupParent(), 'no writable cgroup v2 here: run the tests as root on a machine with cgroup v2');
  });
});

for (const mode of modes) {
  describe(`an instance tracked by ${mode}`, () => {
    it('stop leaves no process behind, not even one started with setsid that ignores SIGTERM', { timeout: 20_000 }, async () => {
      const reports = await reportServer();
      const instance = start(mode, `setsid ${node} ${reporter} ${reports.port} escaped & exec ${node} ${reporter} ${reports.port} main`);
      const [main, escaped] = await Promise.all([reports.report('main'), reports.report('escaped')]);
      assert.equal(main.pid, instance.pid);
      assert.notEqual(session(escaped.pid), session(main.pid), 'the escaped process left the session (and so the process group)');
      const cgroup = instance.tracking.cgroup;
      const exit = await instance.stop(10_000);
      assert.deepEqual(exit, { code: 0, signal: null }, 'the main process stopped on SIGTERM');
      assert.equal(isAlive(escaped.pid), false, 'stop resolved with the escaped process still running');
      await Promise.all([main.gone, escaped.gone]);
      if (cgroup) assert.equal(existsSync(cgroup), false, 'the cgroup is removed');
    });

    it('stop finds a detached child with an empty environment whose parent exited on SIGTERM', { timeout: 20_000 }, async () => {
      const reports = await reportServer();
      const instance = start(mode, [node, reporter, String(reports.port), 'main', '--spawn', 'clean']);
      const [main, clean] = await Promise.all([reports.report('main'), reports.report('clean')]);
      assert.notEqual(session(clean.pid), session(main.pid));
      await instance.stop(10_000);
      assert.equal(isAlive(clean.pid), false, 'stop resolved with the clean child still running');
      await clean.gone;
    });

    it('kill() reaches an escaped process at once', { timeout: 20_000 }, async () => {
      const reports = await reportServer();
      const instance = start(mode, `setsid ${node} ${reporter} ${reports.port} escaped & exec ${node} ${reporter} ${reports.port} main`);
      const [main, escaped] = await Promise.all([reports.report('main'), reports.report('escaped')]);
      instance.kill();
      await Promise.all([main.gone, escaped.gone]);
      assert.equal((await instance.exited).signal, 'SIGKILL');
    });

    it('when the main process exits on its own, what it started goes too', { timeout: 20_000 }, async () => {
      const reports = await reportServer();
      const instance = start(mode, `setsid ${node} ${reporter} ${reports.port} escaped & exec ${node} ${reporter} ${reports.port} main`);
      const [main, escaped] = await Promise.all([reports.report('main'), reports.report('escaped')]);
      const cgroup = instance.tracking.cgroup;
      main.exit();
      assert.equal((await instance.exited).code, 3);
      await escaped.gone;
      // stop() of an instance that has exited resolves once its leftovers are gone.
      await instance.stop(10_000);
      assert.equal(isAlive(escaped.pid), false);
      if (cgroup) assert.equal(existsSync(cgroup), false, 'the cgroup is removed');
    });
  });
}

describe('membersOf', () => {
  const p = (pid: number, ppid: number, env: string[] = [], o: Partial<ProcessInfo> = {}): ProcessInfo => ({ pid, ppid, pgid: pid, startTime: pid * 10, zombie: false, env, ...o });
  const marks = ['ZDD_INSTANCE=web-r1-1', 'ZDD_SCOPE=abc'];

  it('takes processes with every mark, and their descendants whatever their environment', () => {
    const processes = [
      p(1, 0),
      p(10, 1, [...marks, 'PATH=/bin']),
      p(11, 10),
      p(12, 11),
      p(20, 1, ['ZDD_INSTANCE=web-r1-1', 'ZDD_SCOPE=other']),
      p(21, 1, ['ZDD_INSTANCE=web-r1-2', 'ZDD_SCOPE=abc']),
      p(30, 1, marks),
    ];
    assert.deepEqual(membersOf(processes, marks).map((x) => x.pid), [10, 11, 12, 30]);
  });

  it('leaves zombies out: nothing is left to stop', () => {
    assert.deepEqual(membersOf([p(10, 1, marks), p(11, 10, [], { zombie: true })], marks).map((x) => x.pid), [10]);
  });

  it('keeps a known process (same pid, same start time) without marks or parent, but not a new one that reuses its pid', () => {
    const known = new Map([[40, 400], [50, 123]]);
    assert.deepEqual(membersOf([p(40, 1), p(41, 40), p(50, 1)], marks, known).map((x) => x.pid), [40, 41]);
  });
});

describe('cgroup v2 discovery', () => {
  const hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;
  const pure = `25 20 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate`;

  it('finds the cgroup2 mount in hybrid and pure v2 setups', () => {
    assert.deepEqual(cgroup2Mount(hybrid), { root: '/', mountPoint: '/sys/fs/cgroup/unified' });
    assert.deepEqual(cgroup2Mount(pure), { root: '/', mountPoint: '/sys/fs/cgroup' });
    assert.equal(cgroup2Mount('31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw'), undefined);
    assert.deepEqual(cgroup2Mount(String.raw`50 20 0:40 /a\040b /mnt/cg\040x rw - cgroup2 cgroup2 rw`), { root: '/a b', mountPoint: '/mnt/cg x' });
  });

  it("reads a process's cgroup v2 path from the 0:: line", () => {
    assert.equal(cgroup2Path('9:name=systemd:/\n4:memory:/x\n0::/\n'), '/');
    assert.equal(cgroup2Path('0::/system.slice/zdd.service\n'), '/system.slice/zdd.service');
    assert.equal(cgroup2Path('4:memory:/x\n'), undefined);
  });

  it('places a cgroup path under the mount, minding the mount root', () => {
    assert.equal(cgroupDir({ root: '/', mountPoint: '/sys/fs/cgroup' }, '/system.slice/zdd.service'), '/sys/fs/cgroup/system.slice/zdd.service');
    assert.equal(cgroupDir({ root: '/', mountPoint: '/sys/fs/cgroup/unified' }, '/'), '/sys/fs/cgroup/unified');
    assert.equal(cgroupDir({ root: '/kubepods/pod1', mountPoint: '/sys/fs/cgroup' }, '/kubepods/pod1/c1'), '/sys/fs/cgroup/c1');
    assert.equal(cgroupDir({ root: '/kubepods/pod1', mountPoint: '/sys/fs/cgroup' }, '/elsewhere'), undefined);
  });
});
