import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { deployLabelled, zdd, zddJson } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess, type LogLine } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';
import { Receiver, type Received } from '../helpers/receiver.ts';

interface Notification {
  event: string;
  endpoint: string;
  ok: boolean;
  attempts: number;
  status: number | null;
  detail: string;
}

interface History {
  releases: { number: number; version: string }[];
  deployments: { id: number; release: number; status: string; notifications: Notification[] }[];
  notifications: Notification[];
}

const secret = 'e2e-notify-secret';

function verifies(r: Received): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`);
  const sent = Buffer.from(String(r.headers['x-zdd-signature-256'] ?? ''));
  return sent.length === expected.length && timingSafeEqual(sent, expected);
}

const origin = (r: Receiver): string => `${new URL(r.url).origin}/…`;

describe('notifications from a real zdd serve', { timeout: 120_000 }, () => {
  let project: Project;
  let daemon: DaemonProcess;
  let port: number;
  let url: string;
  /** Top level, signed: every event of every service. */
  let all: Receiver;
  /** web's own: failures and crashes only. */
  let failures: Receiver;
  /** Added for one test: never answers. */
  let hanging: Receiver;

  const yaml = (strategy: string, more = ''): string =>
    `notify:
  - url: ${all.url}
    secret: ${secret}
${serviceYaml({
  port,
  replicas: 2,
  strategy,
  drainTimeout: '2s',
  extra: `    notify:
      - { url: "${failures.url}", events: [deploy.failed, deploy.rolled_back, instance.crashed] }
${more}`,
})}`;
  const blueGreen = '{ type: blue-green, rollbackWindow: 1s }';

  /** The daemon's log line saying how a notification to `r` about `event` ended. */
  const outcomeLogged = (r: Receiver, event: string, deployment?: number): Promise<LogLine> =>
    daemon.waitForLog((l) => l.event === event && l.endpoint === origin(r) && (deployment === undefined || l.deployment === deployment) && /^notification /.test(l.msg));

  const latestDeployment = async (): Promise<History['deployments'][number]> => (await zddJson<History>(project.dir, ['history', 'web'])).deployments[0]!;

  before(async () => {
    [all, failures, hanging] = await Promise.all([Receiver.start(), Receiver.start(), Receiver.start(() => 'hold')]);
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject();
    project.write(yaml(blueGreen));
    daemon = await startDaemon(project.dir);
    const first = await deployLabelled(project.dir, 'v1');
    assert.equal(first.code, 0, first.stdout + first.stderr);
  });

  after(async () => {
    await daemon?.stop();
    await Promise.all([all, failures, hanging].map((r) => r?.close()));
    project?.remove();
  });

  it('a blue-green deploy tells the top-level endpoint it started and succeeded, signed, with release, strategy and durations', async () => {
    const r = await deployLabelled(project.dir, 'v2');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const started = await all.event('deploy.started', { version: 'v2' });
    const done = await all.event('deploy.succeeded', { version: 'v2' });
    const d = await latestDeployment();
    for (const got of [started, done]) {
      assert.ok(verifies(got), 'the signature verifies with the shared secret');
      assert.equal(got.headers['x-zdd-event'], got.json.event);
      assert.equal(got.json.service, 'web');
      assert.equal(got.json.deployment, d.id);
      assert.equal(got.json.release, d.release);
      assert.equal(got.json.strategy, 'blue-green');
      assert.equal(got.json.kind, 'deploy');
      assert.deepEqual(got.json.previous, { release: d.release - 1, version: 'v1' });
      assert.ok(!got.body.includes(secret));
    }
    assert.equal(started.json.outcome, 'running');
    assert.equal(done.json.outcome, 'succeeded');
    assert.equal(done.json.reason, null);
    const durations = done.json.durations as Record<string, number>;
    assert.ok(durations.totalMs! > 0 && durations.startMs! > 0 && durations.totalMs! >= durations.startMs!, JSON.stringify(durations));
    assert.match(done.json.text, new RegExp(`^web r${d.release} \\(v2\\) deployed by blue-green in \\S+$`));
    assert.equal(done.json.link, undefined, 'no control listener, no dashboard link');
    assert.ok(!failures.received.some((x) => x.json.version === 'v2'), 'web’s own endpoint wants failures only');
  });

  it('a deploy whose app exits at start tells both endpoints it failed, with the reason', async () => {
    const r = await deployLabelled(project.dir, 'broken', { CRASH_ON_START: '1' });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    for (const receiver of [all, failures]) {
      const got = await receiver.event('deploy.failed', { version: 'broken' });
      assert.equal(got.json.outcome, 'failed');
      assert.match(String(got.json.reason), /exited with code 3/);
      assert.match(got.json.text, /^web r\d+ \(broken\) deploy failed after \S+: .*exited with code 3/);
    }
    assert.ok(verifies(await all.event('deploy.failed', { version: 'broken' })));
    assert.equal(failures.received.find((x) => x.json.version === 'broken')!.headers['x-zdd-signature-256'], undefined, 'no secret, no signature');
  });

  it('an instance that crashes while serving is told to the endpoint that wants crashes', async () => {
    const next = (await zddJson<History>(project.dir, ['history', 'web'])).releases[0]!.number + 1;
    const r = await deployLabelled(project.dir, 'crashy', { CRASH_AFTER_REQUESTS: '3', CRASH_INSTANCE: `web-r${next}-1` });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const crashed = failures.event('instance.crashed', { version: 'crashy' });
    // Enough requests that the instance gets its three; zdd retries the one it dies on elsewhere.
    for (let i = 0; i < 20; i++) await request(`${url}/`).catch(() => undefined);
    const got = await crashed;
    assert.equal(got.json.instance, `web-r${next}-1`);
    assert.equal(got.json.deployment, null);
    assert.match(String(got.json.reason), new RegExp(`^web-r${next}-1 exited with code 7 while serving$`));
    assert.equal((await all.event('instance.crashed', { version: 'crashy' })).json.instance, `web-r${next}-1`, 'the top-level endpoint wants every event');
  });

  it('an endpoint that never answers delays neither the deploy nor the other endpoints', async () => {
    project.write(yaml(blueGreen, `      - { url: "${hanging.url}", events: [deploy.started, deploy.succeeded] }\n`));
    const deploying = deployLabelled(project.dir, 'unhurried');
    const held = await hanging.event('deploy.started', { version: 'unhurried' });
    const r = await deploying;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // The deploy is over, and the hanging endpoint still holds the notification of its start.
    assert.ok(held.open, 'the receiver still holds the request open');
    await all.event('deploy.succeeded', { version: 'unhurried' });
    project.write(yaml(blueGreen));
  });

  it('rolls back a canary failing 30% of requests and tells both endpoints why', async () => {
    project.write(yaml('{ type: canary, steps: [{ weight: 50, pause: 1s }], analysis: { minRequests: 100 } }'));
    const load = startLoad({ url, connections: 4, rate: 400 });
    const r = await deployLabelled(project.dir, 'worse', { ERROR_RATE: '0.3' });
    await load.stop();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    for (const receiver of [all, failures]) {
      const got = await receiver.event('deploy.rolled_back', { version: 'worse' });
      assert.equal(got.json.outcome, 'rolled-back');
      assert.equal(got.json.strategy, 'canary');
      assert.match(String(got.json.reason), /^error rate \d+(\.\d+)?% on canary vs \d+(\.\d+)?% on stable/);
      assert.match(got.json.text, /^web r\d+ \(worse\) rolled back after \S+: error rate /);
    }
    project.write(yaml(blueGreen));
  });

  it('zdd history shows each notification’s outcome below its deployment, and crashes on their own', async () => {
    const d = await latestDeployment();
    await Promise.all([outcomeLogged(all, 'deploy.rolled_back', d.id), outcomeLogged(failures, 'deploy.rolled_back', d.id), outcomeLogged(failures, 'instance.crashed')]);
    const h = await zddJson<History>(project.dir, ['history', 'web']);
    const rolled = h.deployments[0]!;
    assert.equal(rolled.status, 'rolled-back');
    const byEndpoint = (e: string) => rolled.notifications.filter((x) => x.event === 'deploy.rolled_back' && x.endpoint === e);
    assert.deepEqual(byEndpoint(origin(all)).map((x) => [x.ok, x.attempts, x.status, x.detail]), [[true, 1, 200, 'delivered (HTTP 200) after 1 attempt']]);
    assert.equal(byEndpoint(origin(failures)).length, 1);
    assert.ok(h.notifications.some((x) => x.event === 'instance.crashed' && x.endpoint === origin(failures) && x.ok));
    const text = await zdd(project.dir, ['history', 'web']);
    assert.equal(text.code, 0, text.stderr);
    assert.ok(text.stdout.includes(`notified deploy.rolled_back → ${origin(all)} delivered (HTTP 200) after 1 attempt`), text.stdout);
    assert.match(text.stdout, /notifications\n.*instance\.crashed → http:\/\/127\.0\.0\.1:\d+\/… delivered \(HTTP 200\) after 1 attempt/);
  });
});
