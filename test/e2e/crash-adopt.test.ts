// After a hard kill of zdd (kill -9), the next `zdd serve` re-adopts the live release's instances still
// running (same processes, no restart, no 503 once it listens), stops the canary's, and records the
// interrupted deployment as rolled back.
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { deployLabelled, zdd, zddJson } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { startKeepAliveLoad } from '../helpers/load.ts';
import { request } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';
import { isAlive, serviceStatus, waitForStatus } from '../helpers/status.ts';

interface History {
  releases: { number: number; version: string; state: string }[];
  deployments: { id: number; kind: string; status: string; reason: string | null; release: number }[];
}

const projects: Project[] = [];
const daemons: DaemonProcess[] = [];
after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  for (const p of projects) p.remove();
});

async function setup(strategy: string) {
  const port = await freePort();
  const project = makeProject(serviceYaml({ port, replicas: 2, strategy, drainTimeout: '1s' }));
  projects.push(project);
  const daemon = await startDaemon(project.dir);
  daemons.push(daemon);
  assert.equal((await deployLabelled(project.dir, 'v1')).code, 0);
  return { port, project, daemon };
}

/** The file's text once `ready` holds (output reaches the log a moment after the app wrote it). */
async function waitForFile(file: string, ready: (text: string) => boolean, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = readFileSync(file, 'utf8');
    if (ready(text) || Date.now() > deadline) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const pids = (instances: { id: string; pid: number | undefined }[]) => Object.fromEntries(instances.map((i) => [i.id, i.pid]));

describe('zdd serve after a crash of the daemon', () => {
  it('re-adopts the live instances under load with a canary running: same pids, no 503, the deployment recorded', { timeout: 90_000 }, async () => {
    const { port, project, daemon } = await setup('{ type: canary, steps: [{ weight: 20, pause: 60s }], analysis: { minRequests: 100000 } }');
    const load = startKeepAliveLoad({ url: `http://127.0.0.1:${port}`, rate: 200, connections: 4 });
    const deploy = deployLabelled(project.dir, 'v2');
    const before = await waitForStatus(project.dir, (s) => s.split.some((r) => r.release === 2 && r.weight > 0) && (s.incoming[0]?.traffic.requests ?? 0) > 0, 'the canary gets traffic');
    const live = pids(before.live!.instances);
    const canary = before.incoming[0]!.instances.map((i) => i.pid!);
    assert.equal(Object.keys(live).length, 2);

    await daemon.stop('SIGKILL');
    await deploy; // The CLI loses its daemon.
    const second = await startDaemon(project.dir);
    daemons.push(second);
    const listening = await second.waitForLog((l) => /^proxy listening on/.test(l.msg));
    const after = await serviceStatus(project.dir);
    // Load on until well after the new daemon listens.
    await waitForStatus(project.dir, (s) => s.live!.traffic.requests > 200, 'traffic through the new daemon');
    const result = await load.stop();

    assert.deepEqual(pids(after.live!.instances), live, 'the same app processes serve, not restarted');
    assert.equal(after.live!.number, 1);
    assert.deepEqual(after.incoming, []);
    // A connection refused while no daemon ran can be reported a moment after the new one logged: what
    // counts is when the request was sent. Both times are whole milliseconds and the line is logged once
    // listen() is done, so a request sent in that same millisecond may have come just before it.
    const since = (result.failures ?? []).filter((f) => f.sentAt > (listening.time as number));
    assert.deepEqual(since, [], 'no request sent once the new daemon listened failed');
    assert.equal(result.statusCodes['503'] ?? 0, 0, `no 503 at all: ${JSON.stringify(result.statusCodes)}`);
    for (const pid of canary) assert.equal(isAlive(pid), false, `canary process ${pid} stopped`);

    const h = await zddJson<History>(project.dir, ['history', 'web']);
    const interrupted = h.deployments.find((d) => d.kind === 'deploy' && d.release === 2);
    assert.equal(interrupted?.status, 'failed');
    assert.match(interrupted?.reason ?? '', /zdd stopped during the deployment.*rolled back to release 1/);
    assert.ok(!h.deployments.some((d) => d.status === 'running'), 'no deployment left running');
    assert.ok(!h.releases.some((r) => r.state === 'canary' || r.state === 'pending'), JSON.stringify(h.releases));
    assert.equal(h.releases.find((r) => r.number === 2)?.state, 'failed');
    assert.equal(h.releases.find((r) => r.number === 1)?.state, 'live');
    // And the adopted instances are stopped like any other by a deploy.
    project.write(serviceYaml({ port, replicas: 2, strategy: '{ type: blue-green, rollbackWindow: 0s }', drainTimeout: '1s' }));
    const next = await deployLabelled(project.dir, 'v3');
    assert.equal(next.code, 0, next.stdout + next.stderr);
    await waitForStatus(project.dir, () => Object.values(live).every((pid) => !isAlive(pid!)), 'the adopted instances stopped by the next deploy');
  });

  it('keeps an adopted instance that logs alive, and its output reaches its log file again', { timeout: 60_000 }, async () => {
    const { port, project, daemon } = await setup('{ type: blue-green, rollbackWindow: 0s }');
    const [first] = (await serviceStatus(project.dir)).live!.instances;
    const say = async (at: number, line: string) => assert.equal((await request(`http://127.0.0.1:${at}/print?kb=1&line=${line}`)).status, 200, line);
    await say(port, 'before-the-crash');
    await daemon.stop('SIGKILL');
    // No daemon reads its output now: the app writes anyway (straight to its port), and must not die of it.
    for (let i = 0; i < 20; i++) await say(first!.port, `while-no-zdd-${i}`);
    const second = await startDaemon(project.dir);
    daemons.push(second);
    await second.waitForLog((l) => /^proxy listening on/.test(l.msg));
    await say(port, 'through-the-new-proxy');
    for (let i = 0; i < 20; i++) await say(first!.port, `after-adoption-${i}`);
    const s = await serviceStatus(project.dir);
    assert.equal(s.live!.instances.find((i) => i.id === first!.id)?.pid, first!.pid, 'the same process, not restarted');
    assert.equal(isAlive(first!.pid!), true);
    const log = path.join(project.dir, '.zdd', 'logs', 'web', `${first!.id}.log`);
    const text = await waitForFile(log, (t) => t.includes('after-adoption-19\n'));
    // Nothing it wrote while no zdd ran, or after, was lost.
    for (let i = 0; i < 20; i++) {
      assert.ok(text.includes(`while-no-zdd-${i}\n`), `while-no-zdd-${i} in ${first!.id}'s log`);
      assert.ok(text.includes(`after-adoption-${i}\n`), `after-adoption-${i} in ${first!.id}'s log`);
    }
  });

  it('does not adopt a process whose start time does not match (a reused pid): it is stopped and replaced', { timeout: 60_000 }, async () => {
    const { project, daemon } = await setup('{ type: blue-green, rollbackWindow: 0s }');
    const live = pids((await serviceStatus(project.dir)).live!.instances);
    await daemon.stop('SIGKILL');
    // As if web-r1-1's pid now named another process: the recorded start time is not the process's.
    const db = new DatabaseSync(path.join(project.dir, '.zdd', 'zdd.db'));
    db.prepare("UPDATE instances SET start_time = start_time + 1 WHERE id = 'web-r1-1'").run();
    db.close();
    const second = await startDaemon(project.dir);
    daemons.push(second);
    await second.waitForLog((l) => /not adopting web-r1-1: .*reused the pid/.test(l.msg));
    const s = await waitForStatus(project.dir, (x) => x.live?.instances.length === 2 && x.live.instances.every((i) => i.health === 'healthy'), 'two instances serve');
    const now = pids(s.live!.instances);
    assert.equal(now['web-r1-2'], live['web-r1-2'], 'the verified instance is adopted');
    assert.equal(now['web-r1-1'], undefined);
    assert.equal(isAlive(live['web-r1-1']!), false, 'the unverified one is stopped');
    // Its output FIFO went with it; the adopted one's is read again.
    const fifo = (id: string) => path.join(project.dir, '.zdd', 'logs', 'web', `${id}.out`);
    assert.equal(existsSync(fifo('web-r1-1')), false);
    assert.equal(existsSync(fifo('web-r1-2')), true);
  });

  it('zdd stop after an adoption stops the adopted instances', { timeout: 60_000 }, async () => {
    const { project, daemon } = await setup('{ type: blue-green, rollbackWindow: 0s }');
    const live = pids((await serviceStatus(project.dir)).live!.instances);
    await daemon.stop('SIGKILL');
    const second = await startDaemon(project.dir);
    daemons.push(second);
    assert.deepEqual(pids((await serviceStatus(project.dir)).live!.instances), live);
    const r = await zdd(project.dir, ['stop']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(await second.exited, 0);
    for (const pid of Object.values(live)) assert.equal(isAlive(pid!), false, `adopted ${pid} stopped with zdd`);
  });
});
