import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statfsSync, truncateSync, writeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { DaemonHealth, ServiceStatus } from '../../src/api/status.ts';
import { socketPathFor } from '../../src/daemon/paths.ts';
import { zdd, type CliResult } from '../helpers/cli.ts';
import { DaemonProcess, startDaemon } from '../helpers/daemon.ts';
import { request, version } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, zddBin, type Project } from '../helpers/project.ts';

interface Status {
  daemon: { pid: number; health: DaemonHealth | null };
  services: ServiceStatus[];
}

/**
 * A data dir on a small tmpfs of its own, mounted in a private mount namespace that a holder process
 * keeps alive: a disk that really fills up, seen only by the zdd processes started inside it. The test
 * reaches its files through /proc/<holder>/root.
 */
class SmallDisk {
  readonly #holder: ChildProcess;
  readonly dataDir: string;
  readonly #cwd: string;

  private constructor(holder: ChildProcess, dataDir: string, cwd: string) {
    this.#holder = holder;
    this.dataDir = dataDir;
    this.#cwd = cwd;
  }

  static async mount(project: Project, size: string): Promise<SmallDisk> {
    const dataDir = path.join(project.dir, '.zdd');
    mkdirSync(dataDir, { mode: 0o700 });
    const script = 'mount -t tmpfs -o "size=$2,mode=0700" tmpfs "$1" && echo mounted && exec sleep infinity';
    const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', dataDir, size], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(createInterface({ input: holder.stdout! }), 'line')) as [string];
    assert.equal(line, 'mounted');
    return new SmallDisk(holder, dataDir, project.dir);
  }

  /** Runs a command inside the namespace, from the project folder. */
  get launcher(): string[] {
    return ['nsenter', `--target=${this.#holder.pid}`, '--mount', `--wdns=${this.#cwd}`, '--'];
  }

  /** A path in the data dir, as the test process reaches it. */
  file(rel: string): string {
    return path.join(`/proc/${this.#holder.pid}/root`, this.dataDir, rel);
  }

  freeBytes(): number {
    const s = statfsSync(this.file('.'));
    return s.bavail * s.bsize;
  }

  /** Takes what space is left with a file of its own. */
  fill(name = 'filler'): void {
    const fd = openSync(this.file(name), 'w');
    const block = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) writeSync(fd, block);
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      closeSync(fd);
    }
  }

  async unmount(): Promise<void> {
    this.#holder.kill('SIGKILL');
    if (this.#holder.exitCode === null) await once(this.#holder, 'exit');
  }
}

const projects: Project[] = [];
const daemons: DaemonProcess[] = [];
const disks: SmallDisk[] = [];
after(async () => {
  // SIGTERM: a daemon stops its instances (on a full disk too); SIGKILL would leave them running.
  await Promise.all(daemons.map((d) => d.stop('SIGTERM')));
  await Promise.all(disks.map((d) => d.unmount()));
  for (const p of projects) p.remove();
});

function noStackTrace(r: CliResult): void {
  assert.doesNotMatch(r.stderr, /^\s+at /m, `a stack trace was printed:\n${r.stderr}`);
}

/** `zdd serve` that must exit by itself: a start that fails may not hang holding the socket. */
async function serveThatFails(cwd: string, launcher: string[] = []): Promise<CliResult> {
  const ac = new AbortController();
  const deadline = delay(30_000, undefined, { signal: ac.signal }).then(() => {
    throw new Error('zdd serve neither started nor exited within 30s: it hangs');
  });
  try {
    return await Promise.race([zdd(cwd, ['serve'], {}, launcher), deadline]);
  } finally {
    ac.abort();
    deadline.catch(() => {});
  }
}

describe('a full disk under the data dir', () => {
  let project: Project;
  let disk: SmallDisk;
  let daemon: DaemonProcess;
  let url: string;
  let logFile: string;
  const cli = (args: string[]) => zdd(project.dir, args, {}, disk.launcher);
  const status = async (): Promise<Status> => {
    const r = await cli(['status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Status;
  };

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject(serviceYaml({ port, replicas: 1 }));
    projects.push(project);
    disk = await SmallDisk.mount(project, '8m');
    disks.push(disk);
    daemon = await startDaemon(project.dir, [], {}, disk.launcher);
    daemons.push(daemon);
    const r = await cli(['deploy', 'web', '--version', 'v1']);
    assert.equal(r.code, 0, r.stderr);
    const id = (await status()).services[0]!.live!.instances[0]!.id;
    logFile = `logs/web/${id}.log`;
  });

  it('keeps serving when an instance’s output fills it; the lost lines are counted in status and the daemon log', { timeout: 60_000 }, async () => {
    const dropping = daemon.waitForLog((l) => l.level === 40 && /cannot write .*\.log \(ENOSPC.*line\(s\) of .* output dropped so far/.test(l.msg));
    // 12 MiB of output into an 8 MiB disk.
    assert.equal((await request(`${url}/print?kb=12288`)).status, 200);
    await dropping;
    assert.ok(disk.freeBytes() < 64 * 1024, `the disk is full (${disk.freeBytes()} bytes free)`);
    for (let i = 0; i < 20; i++) assert.equal(await version(url), 'v1');
    assert.equal(daemon.proc.exitCode, null, 'the daemon runs');

    const web = (await status()).services[0]!;
    const instance = web.live!.instances[0]!;
    assert.ok(instance.logDrops.lines > 0 && instance.logDrops.bytes > 0, JSON.stringify(instance.logDrops));
    assert.match(instance.logDrops.error ?? '', /ENOSPC/);
    assert.deepEqual(web.logDrops, { lines: instance.logDrops.lines, bytes: instance.logDrops.bytes });
    const human = await cli(['status']);
    assert.match(human.stdout, /⚠ \d+ line\(s\) \(.+\) of web's output could not be written to its log files: ENOSPC/);
    assert.match(human.stdout, /\d+ log line\(s\) dropped/);
  });

  it('refuses a deploy it cannot record (exit 1, the database’s reason, what to do); the live release keeps serving', { timeout: 60_000 }, async () => {
    const r = await cli(['deploy', 'web', '--version', 'v2', '--env', 'APP_VERSION=v2']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`^zdd: cannot record the new release of web in ${disk.dataDir}/zdd\\.db: database or disk is full\\n  → free space on the filesystem that holds ${disk.dataDir}`));
    noStackTrace(r);
    assert.equal(await version(url), 'v1');
    const s = await status();
    assert.equal(s.services[0]!.live?.version, 'v1');
    assert.equal(s.services[0]!.deployment, null);
    assert.ok((s.daemon.health?.store.failedWrites ?? 0) >= 1, JSON.stringify(s.daemon.health));
    assert.match((await cli(['status'])).stdout, /⚠ \d+ write\(s\) to zdd's database failed; the last, .* ago: cannot record the new release of web/);
  });

  it('once space is freed, writes the instance’s log again and deploys', { timeout: 60_000 }, async () => {
    // The instance's log files (the current one, and any it was rotated to as the output piled up) give the space back.
    const logs = path.dirname(disk.file(logFile));
    for (const f of readdirSync(logs)) if (f.startsWith(path.basename(logFile))) truncateSync(path.join(logs, f), 0);
    const resumed = daemon.waitForLog((l) => /^writing .*\.log again; \d+ line\(s\) were dropped in all$/.test(l.msg));
    let done = false;
    void resumed.then(() => (done = true));
    // Output is dropped for a few seconds after a failed write, then writing is tried again.
    while (!done) {
      assert.equal((await request(`${url}/print?kb=1`)).status, 200);
      await delay(100);
    }
    assert.ok(readFileSync(disk.file(logFile)).length > 0, 'new output is in the log file');

    const r = await cli(['deploy', 'web', '--version', 'v2', '--env', 'APP_VERSION=v2']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(await version(url), 'v2');
  });

  it('a restart on a full disk fails cleanly (exit 1, no stack trace, socket and daemon.json gone); with space it serves again', { timeout: 90_000 }, async () => {
    disk.fill();
    assert.equal(await daemon.stop('SIGTERM'), 0, 'stops cleanly on a full disk');
    const r = await serveThatFails(project.dir, disk.launcher);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^zdd: cannot (write|record|open) .*\n  → free space on the filesystem that holds /);
    noStackTrace(r);
    assert.equal(existsSync(disk.file('zdd.sock')), false, 'the control socket is gone');
    assert.equal(existsSync(disk.file('daemon.json')), false, 'no daemon.json is left');

    rmSync(disk.file('filler'));
    daemon = await startDaemon(project.dir, [], {}, disk.launcher);
    daemons.push(daemon);
    await daemon.waitForLog((l) => /^restore of release \d+ succeeded/.test(l.msg));
    assert.equal(await version(url), 'v2');
  });
});

describe('a daemon that cannot start', () => {
  it('on a port in use exits 2 naming the key and what to do, with no stack trace, no socket and no daemon.json; the next start works', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const project = makeProject(serviceYaml({ port }));
    projects.push(project);
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen(port, '127.0.0.1', resolve));
    let r: CliResult;
    try {
      r = await serveThatFails(project.dir);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `zdd: 127.0.0.1:${port} (services.web.listen) is already in use by another program\n  → stop that program or change services.web.listen in zdd.yaml\n`,
    );
    const dataDir = path.join(project.dir, '.zdd');
    assert.equal(existsSync(socketPathFor(dataDir)), false, 'the control socket is gone');
    assert.equal(existsSync(path.join(dataDir, 'daemon.json')), false, 'no daemon.json is left');

    const daemon = await startDaemon(project.dir);
    daemons.push(daemon);
    assert.equal((await zdd(project.dir, ['deploy', 'web'])).code, 0);
    assert.equal(await version(`http://127.0.0.1:${port}`), 'v1');
  });
});

describe("a daemon whose own log cannot be written", () => {
  for (const [name, stdout] of [
    ['stdout on a full disk (ENOSPC)', () => openSync('/dev/full', 'w')],
    ['stdout a pipe nobody reads any more (EPIPE)', () => 'pipe' as const],
  ] as const) {
    it(`keeps serving with ${name}, and counts the lines it lost`, { timeout: 60_000 }, async () => {
      const port = await freePort();
      const project = makeProject(serviceYaml({ port }));
      projects.push(project);
      const out = stdout();
      const proc = spawn(zddBin, ['serve'], { cwd: project.dir, stdio: ['ignore', out, 'pipe'] });
      if (typeof out === 'number') closeSync(out);
      else proc.stdout!.destroy();
      const exited = once(proc, 'exit');
      try {
        // The client waits for the daemon to come up.
        const r = await zdd(project.dir, ['deploy', 'web']);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        for (let i = 0; i < 5; i++) assert.equal(await version(`http://127.0.0.1:${port}`), 'v1');
        assert.equal(proc.exitCode, null, 'the daemon runs');
        const s = JSON.parse((await zdd(project.dir, ['status', '--json'])).stdout) as Status;
        assert.ok((s.daemon.health?.droppedLogLines ?? 0) > 0, JSON.stringify(s.daemon.health));
        assert.match((await zdd(project.dir, ['status'])).stdout, /⚠ \d+ line\(s\) of zdd's own log could not be written to its stdout/);
      } finally {
        proc.kill('SIGTERM');
        await exited;
      }
    });
  }
});
