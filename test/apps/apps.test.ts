// Real third-party apps behind zdd, each with the `command:` line the README recommends: Express, Fastify,
// Flask under gunicorn, an ASGI app under uvicorn, and a static site under `serve`. Each gets a first
// deploy, then a blue-green deploy under keep-alive load with no failed request, and its old release must
// stop the way its framework documents (its own shutdown message, exit code 0).
// Then state: json-server keeping its data in a file in its own folder loses acknowledged writes with
// two replicas; an app keeping it in SQLite outside the release keeps every one across a deploy.
// Needs the devDependencies (express, fastify, serve, json-server) and Debian's gunicorn, uvicorn and
// python3-flask (.ci/run installs them).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { deployLabelled, zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startKeepAliveLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, repoRoot, type Project } from '../helpers/project.ts';
import { startWriter, storedSeqs } from './writer.ts';

const appsDir = path.join(repoRoot, 'test', 'fixtures', 'apps');
/**
 * What the instances find on PATH, as under `npm test` or `npx zdd serve`: the project's node_modules/.bin
 * first (Node 24 as `node`, `serve`, `json-server`), then the system's (/usr/bin/gunicorn, /usr/bin/uvicorn).
 */
const daemonEnv = { PATH: `${path.join(repoRoot, 'node_modules', '.bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` };

interface AppCase {
  name: string;
  /** The `command:` line, exactly as the README gives it. */
  command: string;
  cwd: string;
  env?: Record<string, string>;
  /** Extra arguments for the v2 deploy (a static site's next build is another folder). */
  v2Args?: string[];
  /** The version the app reports in its answer to GET /. */
  versionOf(body: string): string | undefined;
  /** What the old release prints when it shuts down gracefully. */
  shutdown: RegExp;
}

const json = (body: string) => (JSON.parse(body) as { version?: string }).version;

const apps: AppCase[] = [
  { name: 'Express 5', command: 'node express.js', cwd: appsDir, versionOf: json, shutdown: /express: server closed, exiting/ },
  { name: 'Fastify 5', command: 'node fastify.js', cwd: appsDir, versionOf: json, shutdown: /fastify: closed, exiting/ },
  {
    name: 'Flask under gunicorn',
    command: 'gunicorn --bind $HOST:$PORT flask_app:app',
    cwd: appsDir,
    // Keeps __pycache__ out of the source tree; not part of the recommendation.
    env: { PYTHONDONTWRITEBYTECODE: '1' },
    versionOf: json,
    shutdown: /Handling signal: term[\s\S]*Shutting down: Master/,
  },
  {
    name: 'ASGI app under uvicorn',
    command: 'uvicorn --host $HOST --port $PORT asgi_app:app',
    cwd: appsDir,
    env: { PYTHONDONTWRITEBYTECODE: '1' },
    versionOf: json,
    shutdown: /Shutting down[\s\S]*Finished server process/,
  },
  {
    name: 'static site under serve',
    command: 'serve --listen tcp://$HOST:$PORT --no-port-switching --no-request-logging',
    cwd: path.join(appsDir, 'static', 'v1'),
    env: { NO_UPDATE_CHECK: '1' },
    v2Args: ['--cwd', path.join(appsDir, 'static', 'v2')],
    versionOf: (body) => /<p id="version">([^<]*)<\/p>/.exec(body)?.[1],
    shutdown: /Gracefully shutting down/,
  },
];

function appYaml(port: number, o: { command: string; cwd: string; env?: Record<string, string>; health?: string; replicas?: number }): string {
  return `services:
  web:
    listen: 127.0.0.1:${port}
    command: ${o.command}
    cwd: ${o.cwd}
    env: ${JSON.stringify({ APP_VERSION: 'v1', ...o.env })}
    replicas: ${o.replicas ?? 2}
    health: { path: ${o.health ?? '/healthz'}, interval: 50ms, timeout: 1s, startTimeout: 15s }
    strategy: { type: blue-green, rollbackWindow: 0s }
    drainTimeout: 5s
    stopTimeout: 5s
`;
}

/** How each instance of release `number` ended, as zdd recorded it ("exited with code 0", "killed by SIGKILL"). */
function instanceExits(dir: string, number: number): string[] {
  const db = new DatabaseSync(path.join(dir, '.zdd', 'zdd.db'), { readOnly: true });
  try {
    const rows = db.prepare('SELECT i.exit FROM instances i JOIN releases r ON r.id = i.release_id WHERE r.number = ? ORDER BY i.id').all(number) as { exit: string | null }[];
    return rows.map((r) => r.exit ?? 'running');
  } finally {
    db.close();
  }
}

function releaseStopped(daemon: DaemonProcess, number: number): Promise<unknown> {
  return daemon.waitForLog((l) => l.release === number && /^release drained and stopped/.test(l.msg));
}

for (const app of apps) {
  describe(`${app.name}: ${app.command}`, () => {
    let project: Project;
    let daemon: DaemonProcess;
    let url: string;

    before(async () => {
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      project = makeProject(appYaml(port, app));
      daemon = await startDaemon(project.dir, [], daemonEnv);
    });

    after(async () => {
      await daemon?.stop();
      project?.remove();
    });

    it('deploys, then deploys v2 blue-green under keep-alive load with no failed request; the old release shuts down gracefully', { timeout: 30_000 }, async () => {
      const first = await zdd(project.dir, ['deploy', 'web']);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      assert.equal(app.versionOf((await request(`${url}/`)).body), 'v1');

      const load = startKeepAliveLoad({ url, rate: 200, connections: 4 });
      const second = await zdd(project.dir, ['deploy', 'web', '--version', 'v2', '--env', 'APP_VERSION=v2', ...(app.v2Args ?? [])]);
      const traffic = await load.stop();
      assert.equal(second.code, 0, second.stdout + second.stderr);
      assert.ok(traffic.requests > 0, 'load ran during the deploy');
      assert.equal(traffic.errors + traffic.timeouts + traffic.non2xx, 0, JSON.stringify(traffic));
      assert.equal(app.versionOf((await request(`${url}/`)).body), 'v2');

      await releaseStopped(daemon, 1);
      assert.deepEqual(instanceExits(project.dir, 1), ['exited with code 0', 'exited with code 0']);
      for (const id of ['web-r1-1', 'web-r1-2']) {
        const logs = await zdd(project.dir, ['logs', 'web', '--instance', id, '-n', '200']);
        assert.equal(logs.code, 0, logs.stderr);
        assert.match(logs.stdout, app.shutdown, `${id} shut down the framework's way; its output:\n${logs.stdout}`);
      }
    });
  });
}

describe('state: json-server keeping its data in db.json in its own folder, replicas: 2', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let url: string;

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject();
    writeFileSync(path.join(project.dir, 'db.json'), '{ "notes": [] }\n');
    project.write(appYaml(port, { command: 'json-server --host $HOST --port $PORT db.json', cwd: project.dir, health: '/notes' }));
    daemon = await startDaemon(project.dir, [], daemonEnv);
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  it('loses writes it acknowledged before a deploy: each instance wrote the file from its own memory', { timeout: 30_000 }, async (t) => {
    const first = await zdd(project.dir, ['deploy', 'web']);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    // One write at a time: zdd spreads them over both instances, and each rewrites db.json with what it holds.
    // (Two json-server processes on one file can also crash each other: a rename of their shared temp file
    // fails. A write in flight then gets a 502; only acknowledged writes count here.)
    const writer = startWriter(url, { rate: 50 });
    await writer.untilAcked(20);
    const { acked } = await writer.stop();
    const second = await deployLabelled(project.dir, 'v2');
    if (second.code === 1) {
      // The other way to lose them: both processes rewrite db.json through the same temp file (.~db.json),
      // and two writes at once can leave it torn; then the new release cannot start (the old one serves on).
      assert.match(second.stdout, /Malformed JSON in file: db\.json/, second.stdout + second.stderr);
      t.diagnostic(`json-server, 2 replicas: db.json was torn; release 2 could not start`);
      return;
    }
    assert.equal(second.code, 0, second.stdout + second.stderr);
    const present = await storedSeqs(url);
    const missing = acked.filter((seq) => !present.has(seq));
    t.diagnostic(`json-server, 2 replicas: ${acked.length} writes acknowledged before the deploy, ${missing.length} missing after it`);
    assert.ok(missing.length > 0, `every acknowledged write survived (${acked.length}): the premise of the README's state section is wrong`);
  });
});

describe('state: an Express app keeping its data in SQLite outside the release, replicas: 1', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let url: string;
  let shared: string;

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // Stands for a `shared` folder: outside the app's folder, the same path for every release.
    shared = mkdtempSync(path.join(os.tmpdir(), 'zdd-shared-'));
    project = makeProject(appYaml(port, { command: 'node notes-sqlite.js', cwd: appsDir, env: { NOTES_DB: path.join(shared, 'notes.db') }, replicas: 1 }));
    daemon = await startDaemon(project.dir, [], daemonEnv);
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
    if (shared) rmSync(shared, { recursive: true, force: true });
  });

  it('keeps every write it acknowledged before, during and after a blue-green deploy', { timeout: 30_000 }, async (t) => {
    const first = await zdd(project.dir, ['deploy', 'web']);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const writer = startWriter(url, { rate: 200 });
    await writer.untilAcked(20);
    const beforeDeploy = writer.outcome.acked.length;
    const second = await deployLabelled(project.dir, 'v2');
    const duringDeploy = writer.outcome.acked.length - beforeDeploy;
    await writer.untilAcked(writer.outcome.acked.length + 20);
    const { acked, failed } = await writer.stop();
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.deepEqual(failed, [], 'zdd failed no write');
    const present = await storedSeqs(url);
    const missing = acked.filter((seq) => !present.has(seq));
    t.diagnostic(`SQLite outside the release, 1 replica: ${acked.length} writes acknowledged (${beforeDeploy} before the deploy, ${duringDeploy} while it ran), ${missing.length} missing`);
    assert.deepEqual(missing, []);
    assert.equal(present.size, acked.length, 'no write is stored twice or unacknowledged');
  });
});
