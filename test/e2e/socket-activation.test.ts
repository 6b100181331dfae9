import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { zdd } from '../helpers/cli.ts';
import { DaemonProcess, type LogLine } from '../helpers/daemon.ts';
import { version } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { stopByPid } from '../helpers/processes.ts';
import { makeProject, serviceYaml, testAppDir, type Project } from '../helpers/project.ts';
import { serviceStatus } from '../helpers/status.ts';

// Socket activation without systemd: test/fixtures/socket-launcher.py binds the sockets and starts
// `zdd serve` with them as systemd does for a .socket unit (fds 3, 4, …, LISTEN_FDS, LISTEN_PID).

const launcherScript = path.join(testAppDir, 'socket-launcher.py');

/** `zdd serve` under the launcher, which holds `specs` (KIND,HOST,PORT,NAME) across zdd's exits. */
function launch(dir: string, specs: string[]): DaemonProcess {
  return new DaemonProcess(dir, [], {}, ['/usr/bin/python3', launcherScript, ...specs, '--']);
}

/** The first log line from `from` on that matches. */
function logFrom(d: DaemonProcess, from: number, match: (l: LogLine) => boolean): Promise<LogLine> {
  return d.waitForLog((l) => d.lines.indexOf(l) >= from && match(l));
}

function socketOf(pid: number, fd: number): string {
  return readlinkSync(`/proc/${pid}/fd/${fd}`);
}

/** Every socket a process holds open. */
function socketsOf(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      return link.startsWith('socket:') ? [link] : [];
    } catch {
      return [];
    }
  });
}

/** A GET on a new connection: when the connection is made, and the answer's status. */
function get(url: string): { connected: Promise<void>; status: Promise<number> } {
  const req = http.get(url, { agent: false });
  const connected = new Promise<void>((resolve, reject) => {
    req.once('socket', (s) => s.once('connect', () => resolve()));
    req.once('error', reject);
  });
  const status = new Promise<number>((resolve, reject) => {
    req.once('response', (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode!));
    });
    req.once('error', reject);
  });
  return { connected, status };
}

describe('socket activation (LISTEN_FDS)', () => {
  const projects: Project[] = [];
  const daemons: DaemonProcess[] = [];
  const successors: number[] = [];
  after(async () => {
    for (const pid of successors) await stopByPid(pid);
    for (const d of daemons) await d.stop();
    for (const p of projects) p.remove();
  });

  let project: Project;
  let daemon: DaemonProcess;
  let url: string;

  it('serves from the socket handed in, which the instances do not inherit', { timeout: 60_000 }, async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject(serviceYaml({ port, replicas: 1 }));
    projects.push(project);
    daemon = launch(project.dir, [`tcp,127.0.0.1,${port},web`]);
    daemons.push(daemon);
    await daemon.ready();
    const started = daemon.lines.find((l) => l.launcher === 'started')!;
    const served = daemon.lines.find((l) => /serving from the socket handed in by the service manager/.test(l.msg));
    assert.ok(served, 'the log says where the socket came from');
    assert.match(served.msg, new RegExp(`fd 3 "web" on 127\\.0\\.0\\.1:${port}`));
    assert.equal((await zdd(project.dir, ['deploy', 'web'])).code, 0);
    assert.equal(await version(url), 'v1');

    const listening = socketOf(started.pid as number, 3);
    const instance = (await serviceStatus(project.dir)).live!.instances[0]!.pid!;
    assert.ok(!socketsOf(instance).includes(listening), `instance ${instance} holds the listening socket ${listening}`);
  });

  it('answers the connections made while no daemon ran once the next one is up', { timeout: 60_000 }, async () => {
    const zddPid = daemon.lines.find((l) => l.launcher === 'started')!.pid as number;
    const from = daemon.lines.length;
    process.kill(zddPid, 'SIGKILL');
    await logFrom(daemon, from, (l) => l.launcher === 'exited');

    // Nobody accepts now; the kernel completes each connection into the socket's backlog.
    const waiting = Array.from({ length: 5 }, () => get(`${url}/`));
    await Promise.all(waiting.map((w) => w.connected));

    const restarted = daemon.lines.length;
    process.kill(daemon.proc.pid!, 'SIGUSR1');
    assert.deepEqual(await Promise.all(waiting.map((w) => w.status)), [200, 200, 200, 200, 200]);
    await logFrom(daemon, restarted, (l) => / ready$/.test(l.msg));
    assert.equal(await version(url), 'v1');
  });

  it('zdd restart hands the socket from the launcher on to the next daemon', { timeout: 60_000 }, async () => {
    const listening = socketOf(daemon.proc.pid!, 3);
    const r = await zdd(project.dir, ['restart', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const { to } = JSON.parse(r.stdout) as { to: number };
    successors.push(to);
    assert.ok(socketsOf(to).includes(listening), `the next daemon (${to}) serves from ${listening}`);
    assert.equal(await version(url), 'v1');
  });

  it('reports fds that are not listening TCP sockets and sockets no address wants, and serves the rest', { timeout: 60_000 }, async () => {
    const [port, udp, other] = [await freePort(), await freePort(), await freePort()];
    const p = makeProject(serviceYaml({ port, replicas: 1 }));
    projects.push(p);
    const d = launch(p.dir, [`file,/dev/null,,notes`, `udp,127.0.0.1,${udp},dns`, `tcp,127.0.0.1,${port},web`, `tcp,127.0.0.1,${other},spare`]);
    daemons.push(d);
    await d.ready();
    const warnings = d.lines.filter((l) => l.level === 40).map((l) => l.msg);
    assert.ok(warnings.some((m) => /fd 3 "notes" .* is not a listening TCP socket/.test(m)), warnings.join('\n'));
    assert.ok(warnings.some((m) => /fd 4 "dns" .* is not a listening TCP socket/.test(m)), warnings.join('\n'));
    assert.ok(warnings.some((m) => new RegExp(`fd 6 "spare" on 127\\.0\\.0\\.1:${other} matches no listen address`).test(m)), warnings.join('\n'));
    assert.ok(d.lines.some((l) => new RegExp(`fd 5 "web" on 127\\.0\\.0\\.1:${port}\\)`).test(l.msg)));
    assert.equal((await zdd(p.dir, ['deploy', 'web'])).code, 0);
    assert.equal(await version(`http://127.0.0.1:${port}`), 'v1');
  });
});
