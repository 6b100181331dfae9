// Issue 7: releases are code. Each release runs from its own snapshot of `source`; build, release phase
// and smoke test gate it; shared paths persist; rollback brings the old code back; old folders go.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { zdd, zddJson } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startKeepAliveLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, type Project } from '../helpers/project.ts';

interface HistoryRelease {
  number: number;
  state: string;
  folder: string | null;
  prunedAt: number | null;
  source: { dir: string; commit: string | null; dirty: boolean | null; ref: string | null; hash: string } | null;
  hooks: { hook: string; ok: boolean; outcome: string; ms: number }[];
  env: Record<string, string>;
}
interface History {
  releases: HistoryRelease[];
  deployments: { kind: string; status: string; reason: string | null; release: number; steps: { step: string; status: string; detail: string | null }[] }[];
}

/**
 * The app: answers with page.txt and build.txt as they are on disk at each request (as a static site or a
 * template would), so a change to the files a release runs from shows at once.
 */
const server = `
const http = require('node:http');
const fs = require('node:fs');
const read = (f) => { try { return fs.readFileSync(f, 'utf8').trim(); } catch { return '-'; } };
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  if (req.method === 'POST' && req.url === '/data') {
    fs.appendFileSync('data/notes.txt', 'note\\n');
    return res.end('saved');
  }
  if (req.url === '/data') return res.end(read('data/notes.txt'));
  res.end(JSON.stringify({ page: read('page.txt'), build: read('build.txt'), deps: read('deps/installed.txt'), secret: process.env.DB_PASSWORD ?? null }));
}).listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => process.exit(0));
`;

describe('releases are code', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let url: string;
  let src: string;
  /** Files outside every release where the hooks leave a trace, to count their runs. */
  let trace: string;
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: src, stdio: 'pipe' }).toString().trim();
  const page = async () => JSON.parse((await request(`${url}/`)).body) as { page: string; build: string; deps: string; secret: string | null };
  const history = () => zddJson<History>(project.dir, ['history', 'web', '-n', '50']);
  const runs = (name: string) => (existsSync(path.join(trace, name)) ? readFileSync(path.join(trace, name), 'utf8').trim().split('\n').filter(Boolean) : []);
  const write = (file: string, text: string) => writeFileSync(path.join(src, file), text);
  const deploy = (...args: string[]) => zdd(project.dir, ['deploy', 'web', ...args]);

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject();
    src = path.join(project.dir, 'app');
    trace = path.join(project.dir, 'trace');
    mkdirSync(src);
    mkdirSync(trace);
    write('server.js', server);
    write('page.txt', 'one');
    write('smoke.js', "fetch(process.env.ZDD_SMOKE_URL).then((r) => r.text()).then((t) => process.exit(t.includes('broken') ? 1 : 0));\n");
    write('lock.txt', 'deps-v1');
    write('.zddignore', 'scratch/\n*.log\n');
    mkdirSync(path.join(src, 'scratch'));
    write('scratch/big.bin', 'not shipped');
    write('debug.log', 'not shipped');
    writeFileSync(path.join(project.dir, '.env.production'), 'DB_PASSWORD=hunter2\n');
    git('init', '-q');
    git('add', '-A');
    git('commit', '-q', '-m', 'one');
    project.write(`services:
  web:
    listen: 127.0.0.1:${port}
    source: ./app
    command: node server.js
    install: echo "$ZDD_RELEASE" >> ${trace}/installs && mkdir -p deps && cat lock.txt > deps/installed.txt
    buildCache: { key: [lock.txt], paths: [deps] }
    build: echo "built from $(cat page.txt)" > build.txt
    release: echo "$ZDD_RELEASE" >> ${trace}/migrations && [ -z "$FAIL_RELEASE" ]
    smoke: node smoke.js
    shared: [data]
    envFile: .env.production
    keepReleases: 3
    replicas: 2
    health: { path: /healthz, interval: 50ms, timeout: 1s, startTimeout: 10s }
    strategy: { type: blue-green, rollbackWindow: 2s }
    drainTimeout: 2s
    stopTimeout: 2s
`);
    daemon = await startDaemon(project.dir);
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  it('runs the first release from its own snapshot: built, with its envFile values, committed content recorded', { timeout: 30_000 }, async () => {
    const r = await deploy();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /snapshot\s+\d+ file\(s\).*commit [0-9a-f]{12}/);
    assert.deepEqual(await page(), { page: 'one', build: 'built from one', deps: 'deps-v1', secret: 'hunter2' });
    const h = await history();
    const r1 = h.releases.find((x) => x.number === 1)!;
    assert.ok(r1.folder && existsSync(path.join(r1.folder, 'server.js')));
    assert.ok(!existsSync(path.join(r1.folder, 'scratch')) && !existsSync(path.join(r1.folder, 'debug.log')) && !existsSync(path.join(r1.folder, '.git')), '.zddignore and .git are left out');
    assert.equal(r1.source?.commit, git('rev-parse', 'HEAD'));
    assert.equal(r1.source?.dirty, false);
    assert.match(r1.source?.hash ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(r1.hooks.map((x) => [x.hook, x.ok]), [['install', true], ['build', true], ['release', true], ['smoke', true]]);
    assert.equal(r1.env.DB_PASSWORD, '[redacted]', 'envFile values are recorded, and redacted like other secrets');
    assert.deepEqual(runs('migrations'), ['1']);

    // People see it too: history and status name the code and the hooks; logs --build shows their output.
    const human = await zdd(project.dir, ['history', 'web']);
    assert.match(human.stdout, new RegExp(`code ${src.replace(/[/.]/g, '\\$&')} @ [0-9a-f]{12} sha256:`));
    assert.match(human.stdout, /hooks install ok \S+ · build ok \S+ · release ok \S+ · smoke ok/);
    assert.match((await zdd(project.dir, ['status'])).stdout, /code .* @ [0-9a-f]{12}/);
    const buildLog = await zdd(project.dir, ['logs', 'web', '--build', '--no-timestamps']);
    assert.equal(buildLog.code, 0, buildLog.stderr);
    assert.match(buildLog.stdout, /=== zdd: build of web release 1/);
  });

  it('editing source never changes the running release; the next deploy serves the edit (dirty), reusing the install', { timeout: 30_000 }, async () => {
    write('page.txt', 'two');
    assert.equal((await page()).page, 'one', 'the live release runs its snapshot, not the source');
    const r = await deploy();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await page(), { page: 'two', build: 'built from two', deps: 'deps-v1', secret: 'hunter2' });
    assert.deepEqual(runs('installs'), ['1'], 'the lockfile did not change: install was skipped, its output reused');
    assert.match(r.stdout, /cache\s+deps reused from release 1/);
    const r2 = (await history()).releases.find((x) => x.number === 2)!;
    assert.equal(r2.source?.dirty, true, 'page.txt was not committed');
    assert.deepEqual(runs('migrations'), ['1', '2'], 'the release phase runs once per deploy');
  });

  it('rolls back warm and cold to the old code, never running the release phase again', { timeout: 40_000 }, async () => {
    const warm = await zdd(project.dir, ['rollback', 'web']);
    assert.equal(warm.code, 0, warm.stdout + warm.stderr);
    assert.equal((await page()).page, 'one', 'warm rollback: release 1 again');
    // Release 2 was parked for 2s and retired since; rolling forward to it starts it again from its folder.
    const cold = await zdd(project.dir, ['rollback', 'web', '--to', '2']);
    assert.equal(cold.code, 0, cold.stdout + cold.stderr);
    assert.deepEqual(await page(), { page: 'two', build: 'built from two', deps: 'deps-v1', secret: 'hunter2' });
    assert.deepEqual(runs('migrations'), ['1', '2'], 'no release phase on rollback');
    assert.doesNotMatch(cold.stdout, /\bbuild\b.*started/, 'a rollback never builds while the folder is there');
  });

  it('a failing build, release phase or smoke test leaves the live release serving, untouched', { timeout: 60_000 }, async () => {
    const load = startKeepAliveLoad({ url, rate: 100, connections: 4 });
    const yaml = readFileSync(path.join(project.dir, 'zdd.yaml'), 'utf8');
    try {
      write('lock.txt', 'deps-v2');
      project.write(yaml.replace('build: echo', 'build: exit 7; echo'));
      const failedBuild = await deploy();
      assert.equal(failedBuild.code, 1);
      assert.match(failedBuild.stdout, /build exited with code 7/);
      assert.deepEqual(runs('installs'), ['1', '3'], 'a changed lockfile installs again');
      project.write(yaml);

      const failedRelease = await deploy('--env', 'FAIL_RELEASE=1');
      assert.equal(failedRelease.code, 1);
      assert.match(failedRelease.stdout, /release exited with code 1/);

      write('page.txt', 'broken');
      const failedSmoke = await deploy();
      assert.equal(failedSmoke.code, 1);
      assert.match(failedSmoke.stdout, /smoke exited with code 1/);
    } finally {
      project.write(yaml);
      const traffic = await load.stop();
      assert.equal(traffic.errors + traffic.non2xx, 0, JSON.stringify(traffic));
    }
    assert.equal((await page()).page, 'two', 'release 2 serves on');
    const h = await history();
    assert.deepEqual(h.deployments.slice(0, 3).map((d) => d.status), ['failed', 'failed', 'failed']);
    write('page.txt', 'three');
  });

  it('keeps shared data across deploys and rollbacks', { timeout: 40_000 }, async () => {
    await request(`${url}/data`, { method: 'POST' });
    await request(`${url}/data`, { method: 'POST' });
    const r = await deploy();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((await request(`${url}/data`)).body, 'note\nnote');
    await request(`${url}/data`, { method: 'POST' });
    assert.equal((await zdd(project.dir, ['rollback', 'web'])).code, 0);
    assert.equal((await request(`${url}/data`)).body, 'note\nnote\nnote', 'the rolled-back release sees the same data');
  });

  it('deletes folders beyond keepReleases; a pruned release made from a commit is made again on rollback, one that was not is refused', { timeout: 60_000 }, async () => {
    git('add', '-A');
    git('commit', '-q', '-m', 'three');
    for (const n of ['four', 'five']) {
      write('page.txt', n);
      git('commit', '-q', '-am', n);
      assert.equal((await deploy()).code, 0);
    }
    const h = await history();
    const withFolder = h.releases.filter((x) => x.folder && x.prunedAt === null).map((x) => x.number);
    assert.ok(withFolder.length <= 3 + 1, `at most keepReleases folders (+ one in use): ${withFolder}`);
    const pruned = h.releases.filter((x) => x.prunedAt !== null);
    assert.ok(pruned.length > 0, 'old folders were deleted');
    for (const p of pruned) assert.equal(existsSync(p.folder!), false);

    // Release 1 was made from commit "one" (clean): rolling back to it makes its folder again from git.
    const one = h.releases.find((x) => x.number === 1)!;
    assert.ok(one.prunedAt !== null);
    const back = await zdd(project.dir, ['rollback', 'web', '--to', '1']);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.match(back.stdout, /making it again from commit/);
    assert.equal((await page()).page, 'one');

    // Release 2 was dirty (page.txt "two" was never committed): no commit holds its code, so it is refused.
    const two = (await history()).releases.find((x) => x.number === 2)!;
    assert.ok(two.prunedAt !== null, 'release 2 was pruned');
    // Its commit is recorded but did not hold its code: making it again would run other code.
    const refused = await zdd(project.dir, ['rollback', 'web', '--to', '2']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /release 2 of web cannot run again: its folder .* was deleted .* no git commit holds its code/);
  });

  it('deploys a given commit with --git-ref, not the working tree', { timeout: 30_000 }, async () => {
    write('page.txt', 'uncommitted');
    const r = await deploy('--git-ref', 'HEAD~1');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((await page()).page, 'four');
    const latest = (await history()).releases[0]!;
    assert.equal(latest.source?.ref, 'HEAD~1');
    assert.equal(latest.source?.dirty, false);
    const unknown = await deploy('--git-ref', 'no-such-branch');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stdout + unknown.stderr, /no-such-branch/);
    appendFileSync(path.join(trace, 'done'), 'ok');
  });
});
