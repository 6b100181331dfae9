import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { zdd, type CliResult } from '../helpers/cli.ts';
import { DaemonProcess, startDaemon } from '../helpers/daemon.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, zddBin, type Project } from '../helpers/project.ts';

// The tests run as root; "another local user" is nobody (uid 65534), by chown and by spawn's uid/gid.
const nobody = 65534;
const me = process.getuid!();
const stackLine = /^\s+at /m;

const projects: Project[] = [];
const scratch: string[] = [];
const daemons: DaemonProcess[] = [];
const servers: net.Server[] = [];
after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  for (const p of projects) p.remove();
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

async function setup() {
  const project = makeProject(serviceYaml({ port: await freePort(), replicas: 1 }));
  projects.push(project);
  // A temp dir of the test's own: the private socket directory is <TMPDIR>/zdd-<uid>, shared otherwise.
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'zdd-sock-'));
  scratch.push(tmp);
  // Long enough that <dataDir>/zdd.sock is over the limit for a socket path.
  const longDataDir = path.join(project.dir, 'd'.repeat(100));
  const env = { TMPDIR: tmp, XDG_RUNTIME_DIR: '' };
  return { project, tmp, longDataDir, env, privateDir: path.join(tmp, `zdd-${me}`), dataDir: path.join(project.dir, '.zdd') };
}

/** `zdd serve` that must refuse to start: its exit code and output (fails, and stops it, if it comes up). */
async function refusedServe(cwd: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  const d = new DaemonProcess(cwd, args, env);
  daemons.push(d);
  const outcome = await d.ready().then(
    () => 'ready',
    () => 'exited',
  );
  if (outcome === 'ready') assert.fail('the daemon started');
  return { code: await d.exited, stdout: d.lines.map((l) => l.msg).join('\n'), stderr: d.stderr };
}

function assertClean(r: CliResult): void {
  assert.doesNotMatch(r.stderr, stackLine, `a stack trace: ${r.stderr}`);
  assert.doesNotMatch(r.stdout, stackLine, `a stack trace: ${r.stdout}`);
}

/** bin/zdd run by another user, from /, the way that user would run it. */
function zddAs(uid: number, args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(zddBin, args, { cwd: '/', uid, gid: uid, env: { ...process.env, HOME: '/', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A socket file that no process listens on any more (its daemon was killed), as a crash leaves it. */
async function staleSocket(socketPath: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))", socketPath]);
  await once(child, 'exit');
  assert.ok(lstatSync(socketPath).isSocket());
}

/** A listening socket that counts who connects and answers nothing. */
async function listeningSocket(socketPath: string, onConnection: (s: net.Socket) => void = (s) => s.destroy()): Promise<{ connections: number }> {
  const seen = { connections: 0 };
  const server = net.createServer((s) => {
    seen.connections++;
    onConnection(s);
  });
  servers.push(server);
  server.listen(socketPath);
  await once(server, 'listening');
  return seen;
}

describe('the control socket of a long data dir', () => {
  it('sits in a private 0700 directory of the user, <TMPDIR>/zdd-<uid>, named by a hash of the data dir', { timeout: 30_000 }, async () => {
    const { project, longDataDir, env, privateDir } = await setup();
    const daemon = await startDaemon(project.dir, ['--data-dir', longDataDir], env);
    daemons.push(daemon);
    const dir = lstatSync(privateDir);
    assert.ok(dir.isDirectory());
    assert.equal(dir.uid, me);
    assert.equal(dir.mode & 0o777, 0o700);
    const [name, ...others] = readdirSync(privateDir);
    assert.match(name ?? '', /^zdd-[0-9a-f]{16}\.sock$/);
    assert.deepEqual(others, []);
    const socket = lstatSync(path.join(privateDir, name!));
    assert.ok(socket.isSocket());
    assert.equal(socket.mode & 0o777, 0o600);
    assert.equal((JSON.parse(readFileSync(path.join(longDataDir, 'daemon.json'), 'utf8')) as { socket: string }).socket, path.join(privateDir, name!));
    const status = await zdd(project.dir, ['status', '--data-dir', longDataDir], env);
    assert.equal(status.code, 0, status.stderr);
  });

  it('sits in $XDG_RUNTIME_DIR/zdd when XDG_RUNTIME_DIR is set', { timeout: 30_000 }, async () => {
    const { project, tmp, longDataDir } = await setup();
    const runtime = path.join(tmp, 'run');
    mkdirSync(runtime, { mode: 0o700 });
    const daemon = await startDaemon(project.dir, ['--data-dir', longDataDir], { XDG_RUNTIME_DIR: runtime });
    daemons.push(daemon);
    const dir = lstatSync(path.join(runtime, 'zdd'));
    assert.equal(dir.mode & 0o777, 0o700);
    assert.match(readdirSync(path.join(runtime, 'zdd')).join(), /^zdd-[0-9a-f]{16}\.sock$/);
    const status = await zdd(project.dir, ['status', '--data-dir', longDataDir], { XDG_RUNTIME_DIR: runtime });
    assert.equal(status.code, 0, status.stderr);
  });

  it('is refused, by the daemon and by the CLI, when another user created the directory first', { timeout: 30_000 }, async () => {
    const { project, longDataDir, env, privateDir } = await setup();
    mkdirSync(privateDir, { mode: 0o700 });
    chownSync(privateDir, nobody, nobody);
    const serve = await refusedServe(project.dir, ['--data-dir', longDataDir], env);
    assert.equal(serve.code, 1);
    assert.match(serve.stderr, new RegExp(`refusing the control socket directory ${privateDir}: it belongs to nobody`));
    assert.match(serve.stderr, /→ remove it \(as nobody or root\), or set XDG_RUNTIME_DIR/);
    assertClean(serve);
    assert.deepEqual(readdirSync(privateDir), [], 'no socket was made in it');

    const cli = await zdd(project.dir, ['deploy', 'web', '--data-dir', longDataDir, '--env', 'SECRET=s3cret'], env);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /refusing the control socket directory .*: it belongs to nobody/);
    assertClean(cli);
  });

  it('is refused when the directory lets other users in (mode 0777), with the chmod to fix it', { timeout: 30_000 }, async () => {
    const { project, longDataDir, env, privateDir } = await setup();
    mkdirSync(privateDir);
    chmodSync(privateDir, 0o777);
    const serve = await refusedServe(project.dir, ['--data-dir', longDataDir], env);
    assert.equal(serve.code, 1);
    assert.match(serve.stderr, /it has mode 777, so other users can enter it/);
    assert.match(serve.stderr, new RegExp(`→ make it private: chmod 700 ${privateDir}`));
    assertClean(serve);
    const cli = await zdd(project.dir, ['status', '--data-dir', longDataDir], env);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /it has mode 777/);
    assertClean(cli);
  });

  it('is refused when the directory is a symbolic link', { timeout: 30_000 }, async () => {
    const { project, tmp, longDataDir, env, privateDir } = await setup();
    const elsewhere = path.join(tmp, 'elsewhere');
    mkdirSync(elsewhere, { mode: 0o700 });
    symlinkSync(elsewhere, privateDir);
    const serve = await refusedServe(project.dir, ['--data-dir', longDataDir], env);
    assert.equal(serve.code, 1);
    assert.match(serve.stderr, /it is a symbolic link/);
    assertClean(serve);
    assert.deepEqual(readdirSync(elsewhere), []);
  });
});

describe('a socket file that is not this user’s', () => {
  it('is not replaced by the daemon, even when nothing listens on it', { timeout: 30_000 }, async () => {
    const { project, dataDir } = await setup();
    mkdirSync(dataDir, { mode: 0o700 });
    const socketPath = path.join(dataDir, 'zdd.sock');
    await staleSocket(socketPath);
    chownSync(socketPath, nobody, nobody);
    const before = lstatSync(socketPath);
    const serve = await refusedServe(project.dir, [], {});
    assert.equal(serve.code, 1);
    assert.match(serve.stderr, new RegExp(`the control socket ${socketPath} belongs to nobody, not to root: zdd does not replace another user's socket`));
    assertClean(serve);
    const now = lstatSync(socketPath);
    assert.equal(now.ino, before.ino, 'the same socket file is still there');
    assert.equal(now.uid, nobody);
  });

  it('gets no request from the CLI: a deploy (with its env) is refused before connecting', { timeout: 30_000 }, async () => {
    const { project, dataDir } = await setup();
    mkdirSync(dataDir, { mode: 0o700 });
    const socketPath = path.join(dataDir, 'zdd.sock');
    const impostor = await listeningSocket(socketPath);
    chownSync(socketPath, nobody, nobody);
    const r = await zdd(project.dir, ['deploy', 'web', '--env', 'SECRET=s3cret']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the control socket .* belongs to nobody, not to you \(root\): zdd does not send requests, with their env, to another user's socket/);
    assert.match(r.stderr, /→ run zdd as nobody, the user running the daemon/);
    assertClean(r);
    assert.equal(impostor.connections, 0);
  });

  it('is a clean error when it is not a socket at all, and the daemon leaves it alone', { timeout: 30_000 }, async () => {
    const { project, dataDir } = await setup();
    mkdirSync(dataDir, { mode: 0o700 });
    const socketPath = path.join(dataDir, 'zdd.sock');
    writeFileSync(socketPath, 'not a socket');
    const cli = await zdd(project.dir, ['status']);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /zdd\.sock is not a socket \(it is a regular file\)/);
    assertClean(cli);
    const serve = await refusedServe(project.dir, [], {});
    assert.equal(serve.code, 1);
    assert.match(serve.stderr, /is not a socket/);
    assertClean(serve);
    assert.equal(readFileSync(socketPath, 'utf8'), 'not a socket');
  });
});

describe('the CLI of a user who is not the daemon’s', () => {
  before(async () => {
    // bin/zdd and node_modules/.bin/node must be readable and runnable by nobody for these tests.
    const r = await zddAs(nobody, ['--version']);
    assert.equal(r.code, 0, `nobody cannot run ${zddBin}: ${r.stderr}`);
  });

  it('gets a clean "permission denied" naming the daemon’s user, when it cannot reach the data dir', { timeout: 30_000 }, async () => {
    const { project, dataDir } = await setup();
    daemons.push(await startDaemon(project.dir));
    const r = await zddAs(nobody, ['status', '--data-dir', dataDir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot reach the zdd daemon of data dir ${dataDir}: permission denied on .*\\(${project.dir} belongs to root\\)`));
    assert.match(r.stderr, /→ run zdd as root, the user running the daemon/);
    assertClean(r);
  });

  it('refuses the daemon’s socket as another user’s, when it can see it', { timeout: 30_000 }, async () => {
    const { project, dataDir } = await setup();
    daemons.push(await startDaemon(project.dir));
    chmodSync(project.dir, 0o755);
    chmodSync(dataDir, 0o755);
    chmodSync(path.join(dataDir, 'daemon.json'), 0o644);
    const r = await zddAs(nobody, ['deploy', 'web', '--data-dir', dataDir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the control socket .*zdd\.sock belongs to root, not to you \(nobody\)/);
    assert.match(r.stderr, /→ run zdd as root, the user running the daemon/);
    assertClean(r);
  });
});

describe('a daemon that breaks off', () => {
  it('in the middle of an answer is a clean DAEMON_GONE error', { timeout: 30_000 }, async () => {
    const { project, dataDir } = await setup();
    mkdirSync(dataDir, { mode: 0o700 });
    await listeningSocket(path.join(dataDir, 'zdd.sock'), (s) => {
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"daemon":', () => s.destroy()));
    });
    const r = await zdd(project.dir, ['status']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the daemon stopped answering in the middle of its answer/);
    assertClean(r);
  });

  it('before answering is a clean error too', { timeout: 30_000 }, async () => {
    const { project, dataDir } = await setup();
    mkdirSync(dataDir, { mode: 0o700 });
    await listeningSocket(path.join(dataDir, 'zdd.sock'), (s) => s.once('data', () => s.destroy()));
    const r = await zdd(project.dir, ['deploy', 'web']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the daemon closed the connection before answering/);
    assertClean(r);
  });
});
