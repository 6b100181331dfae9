import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { zdd, zddJson } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request, version } from '../helpers/http.ts';
import { startLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';
import { serviceStatus, waitForStatus } from '../helpers/status.ts';

interface History {
  releases: { number: number; version: string; state: string; env: Record<string, string>; command: string }[];
  deployments: { id: number; kind: string; strategy: string; status: string; reason: string | null; release: number; steps: { step: string; status: string }[] }[];
}

describe('blue-green deploys', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let url: string;

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject(serviceYaml({ port, replicas: 2, startTimeout: '1500ms', strategy: '{ type: blue-green, rollbackWindow: 1m }' }));
    daemon = await startDaemon(project.dir);
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  it('answers 503 until a release is deployed, and the first deploy just starts it', async () => {
    const before = await request(`${url}/`);
    assert.equal(before.status, 503);
    assert.match(before.body, /no release of web is serving/);
    const r = await zdd(project.dir, ['deploy', 'web']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /release 1 is live/);
    assert.equal(await version(url), 'v1');
    const s = await serviceStatus(project.dir);
    assert.equal(s.live?.number, 1);
    assert.equal(s.live?.instances.length, 2);
    assert.ok(s.live?.instances.every((i) => i.health === 'healthy'));
  });

  it('creates a numbered release from the config with --version, --env and --command overrides', async () => {
    const r = await zdd(project.dir, ['deploy', 'web', '--version', 'v2', '--env', 'APP_VERSION=v2', '--env', 'API_TOKEN=s3cret', '--command', 'node app.js --flag']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(await version(url), 'v2');
    const h = await zddJson<History>(project.dir, ['history', 'web']);
    const r2 = h.releases.find((x) => x.number === 2)!;
    assert.equal(r2.version, 'v2');
    assert.equal(r2.command, 'node app.js --flag');
    assert.equal(r2.env.APP_VERSION, 'v2');
    assert.equal(r2.env.API_TOKEN, '[redacted]', 'secret-looking env values never leave the daemon');
    assert.equal(r2.state, 'live');
    assert.equal(h.releases.find((x) => x.number === 1)!.state, 'standby');
    const d = h.deployments[0]!;
    assert.deepEqual([d.kind, d.strategy, d.status, d.release], ['deploy', 'blue-green', 'succeeded', 2]);
    assert.deepEqual(
      d.steps.filter((s) => s.status !== 'started').map((s) => `${s.step}:${s.status}`),
      ['start:done', 'switch:done', 'standby:info'],
    );
  });

  it('a release whose process exits never gets traffic: exit 1 with the exit code and its output, the live release serves on', async () => {
    const load = startLoad({ url, connections: 4, rate: 300 });
    const r = await zdd(project.dir, ['deploy', 'web', '--version', 'crashy', '--env', 'CRASH_ON_START=1']);
    const traffic = await load.stop();
    assert.equal(r.code, 1);
    assert.match(r.stdout, /exited with code 3 before becoming healthy/);
    assert.match(r.stdout, /crashing on start as asked/, 'the instance output is shown');
    assert.match(r.stdout, /release 2 \(v2\) is still serving/);
    const logsHint = /zdd logs web --release (\d+)/.exec(r.stdout);
    assert.ok(logsHint, 'the failure says how to see what the instances printed');
    const logs = await zdd(project.dir, ['logs', 'web', '--release', logsHint[1]!]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /web-r3-1 │ test app: crashing on start as asked/);
    assert.equal(traffic.errors + traffic.non2xx + traffic.timeouts, 0, JSON.stringify(traffic));
    assert.equal(await version(url), 'v2');
    const s = await serviceStatus(project.dir);
    assert.equal(s.live?.number, 2);
    assert.equal(s.incoming.length, 0, 'the failed instances are gone');
  });

  it('a release that never passes its health check fails after startTimeout with the last check error', async () => {
    const r = await zdd(project.dir, ['deploy', 'web', '--env', 'UNHEALTHY=1', '--json']);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as { status: string; reason: string };
    assert.equal(out.status, 'failed');
    assert.match(out.reason, /did not become healthy within 1\.5s; last health check: GET \/healthz answered 503/);
    assert.equal(await version(url), 'v2');
  });

  it('an app that does not listen on $PORT fails its start with a hint saying so', async () => {
    const r = await zdd(project.dir, ['deploy', 'web', '--env', 'IGNORE_PORT=1']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /last health check: GET \/healthz failed: ECONNREFUSED \(is the app listening on \$PORT, here \d+, on \$HOST\?\)/);
    assert.equal(await version(url), 'v2');
  });

  it('rolls back instantly to the warm previous release, and rolls forward again by deploying it anew', async () => {
    const r = await zdd(project.dir, ['rollback', 'web', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout) as { status: string; release: number; events: { type: string; strategy?: string }[] };
    assert.equal(out.release, 1);
    assert.equal(out.events[0]!.strategy, 'instant', 'the warm release took traffic without starting anything');
    assert.equal(await version(url), 'v1');
    // Release 2 was retired by the rollback: going back to it starts it again.
    const again = await zdd(project.dir, ['rollback', 'web']);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /blue-green/);
    assert.equal(await version(url), 'v2');
  });

  it('refuses a second deploy while one runs, naming the deployment in progress', async () => {
    // A canary step without pause holds the deployment open until it is aborted: no race with the clock.
    project.write(serviceYaml({ port: Number(new URL(url).port), replicas: 2, strategy: '{ type: canary, steps: [{ weight: 10 }] }' }));
    const holding = zdd(project.dir, ['deploy', 'web', '--version', 'held']);
    const { deployment } = await waitForStatus(project.dir, (s) => s.deployment?.step === 'step 1/1', 'a deployment waiting');
    const second = await zdd(project.dir, ['deploy', 'web']);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`web is busy: deployment #${deployment!.id} \\(deploy of release \\d+, canary\\) started .* ago and is at step "step 1/1"`));
    assert.match(second.stderr, /zdd abort web/);
    const rollback = await zdd(project.dir, ['rollback', 'web']);
    assert.equal(rollback.code, 1, 'a rollback is refused too while a deployment runs');
    assert.equal((await zdd(project.dir, ['abort', 'web'])).code, 0);
    assert.equal((await holding).code, 1);
    assert.equal(await version(url), 'v2');
  });

  it('exits 2 for an unknown service or release and for bad flags', async () => {
    const unknown = await zdd(project.dir, ['deploy', 'nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no service named "nope"/);
    const badEnv = await zdd(project.dir, ['deploy', 'web', '--env', 'NOEQUALS']);
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /--env expects KEY=VALUE/);
    const noArg = await zdd(project.dir, ['deploy']);
    assert.equal(noArg.code, 2);
    const badTo = await zdd(project.dir, ['rollback', 'web', '--to', '99']);
    assert.equal(badTo.code, 2);
    assert.match(badTo.stderr, /has no release 99/);
  });
});
