import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ZddError } from '../../src/errors.ts';
import { cgroupsNamed, instanceCgroupParent } from '../../src/runtime/cgroups.ts';
import { cgroupPrefix, ownScope } from '../../src/runtime/process-tracker.ts';
import { describeHookFailure, HookFailure, summarizeHook } from '../../src/release/hook-outcome.ts';
import { runHook, type HookOptions, type HookResult } from '../../src/release/hooks.ts';
import { ReportServer, writeReporter } from '../helpers/reports.ts';
import { isAlive } from '../helpers/status.ts';

const node = process.execPath;
const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'zdd-hooks-')));
const snapshot = path.join(dir, 'releases', 'web', '7');
mkdirSync(snapshot, { recursive: true });
const reporter = writeReporter(dir);
const servers: ReportServer[] = [];
after(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function reportServer(): Promise<ReportServer> {
  const s = await ReportServer.start();
  servers.push(s);
  return s;
}

let seq = 0;
function hook(o: Partial<HookOptions> & Pick<HookOptions, 'command'>): Promise<HookResult> {
  return runHook({
    name: 'build',
    service: 'web',
    release: 7,
    cwd: snapshot,
    env: {},
    logFile: path.join(dir, 'logs', 'web', `hook-${++seq}.log`),
    timeoutMs: 10_000,
    killGraceMs: 200,
    ...o,
  });
}

/** The log file without its first (header) and last (outcome) lines, which are checked apart. */
function logBody(file: string): { header: string; body: string[]; footer: string } {
  const lines = readFileSync(file, 'utf8').split('\n');
  assert.equal(lines.pop(), '', 'the log ends with a newline');
  return { header: lines[0]!, body: lines.slice(1, -1), footer: lines.at(-1)! };
}

describe('runHook', () => {
  it('writes stdout and stderr, interleaved as written, to its log file and to onLine', { timeout: 10_000 }, async () => {
    const seen: string[] = [];
    const logFile = path.join(dir, 'logs', 'new', 'folder', 'build.log');
    // Partial writes from both streams still join into whole lines.
    const command = `i=1; while [ $i -le 100 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; printf 'par'; printf 'tial\\n' >&2; printf 'no newline'`;
    const r = await hook({ command, logFile, onLine: (l) => seen.push(l) });
    const expected = [...Array.from({ length: 100 }, (_, i) => [`out ${i + 1}`, `err ${i + 1}`]).flat(), 'partial', 'no newline'];
    assert.equal(r.outcome, 'ok', describeHookFailure(r));
    assert.deepEqual(seen, expected);
    const log = logBody(logFile);
    assert.deepEqual(log.body, expected);
    assert.match(log.header, /^=== zdd: build of web release 7, started \d{4}-\d\d-\d\dT[\d:.]+Z ===$/);
    assert.equal(new Date(log.header.split('started ')[1]!.split(' ')[0]!).getTime(), r.startedAt);
    assert.match(log.footer, /^=== zdd: build succeeded in \d+ms ===$/);
    assert.deepEqual(r.lastLines, expected.slice(-20));
    assert.equal(r.droppedLogLines, 0);
  });

  it('appends to its log file: a second run keeps the first', { timeout: 10_000 }, async () => {
    const logFile = path.join(dir, 'logs', 'append.log');
    await hook({ command: 'echo first', logFile });
    await hook({ name: 'release', command: 'echo second', logFile });
    const text = readFileSync(logFile, 'utf8');
    assert.match(text, /^=== zdd: build of web release 7, .*\nfirst\n=== zdd: build succeeded .*\n=== zdd: release of web release 7, .*\nsecond\n=== zdd: release succeeded .*\n$/);
  });

  it('runs in the snapshot with the release env over zdd’s environment, without zdd’s own ZDD_ settings', { timeout: 10_000 }, async () => {
    process.env.ZDD_DATA_DIR = '/daemon/only';
    process.env.ZDD_TEST_OVERRIDDEN = 'daemon';
    let running: Promise<HookResult>;
    try {
      running = hook({
        name: 'smoke',
        command: `${node} -e 'const e = process.env; console.log(JSON.stringify({ cwd: process.cwd(), path: Boolean(e.PATH), APP: e.APP_VERSION, URL: e.ZDD_SMOKE_URL, O: e.ZDD_TEST_OVERRIDDEN, D: e.ZDD_DATA_DIR ?? null, S: e.ZDD_SERVICE, R: e.ZDD_RELEASE, H: e.ZDD_HOOK }))'`,
        env: { APP_VERSION: 'v7', ZDD_SMOKE_URL: 'http://127.0.0.1:1234', ZDD_TEST_OVERRIDDEN: 'release' },
      });
    } finally {
      delete process.env.ZDD_DATA_DIR;
      delete process.env.ZDD_TEST_OVERRIDDEN;
    }
    const r = await running;
    assert.equal(r.outcome, 'ok', describeHookFailure(r));
    assert.deepEqual(JSON.parse(r.lastLines[0]!), {
      cwd: snapshot,
      path: true,
      APP: 'v7',
      URL: 'http://127.0.0.1:1234',
      O: 'release',
      D: null,
      S: 'web',
      R: '7',
      H: 'smoke',
    });
  });

  it('reports a failing hook with its exit code and last lines, and says so in the failure', { timeout: 10_000 }, async () => {
    const r = await hook({ command: 'i=1; while [ $i -le 30 ]; do echo "step $i"; i=$((i+1)); done; echo "npm ERR! code E404" >&2; exit 3' });
    assert.equal(r.outcome, 'failed');
    assert.deepEqual(r.exit, { code: 3, signal: null });
    assert.equal(r.lastLines.length, 20);
    assert.equal(r.lastLines.at(-1), 'npm ERR! code E404');
    assert.equal(r.lastLines[0], 'step 12');
    const reason = describeHookFailure(r);
    assert.match(reason, /^build exited with code 3 after \d+(ms|\.?\d*s); last output:\n {4}step 12\n/);
    assert.ok(reason.endsWith('\n    step 30\n    npm ERR! code E404'), reason);
    const err = new HookFailure(r, 'web');
    assert.ok(err instanceof ZddError);
    assert.equal(err.code, 'BUILD_FAILED');
    assert.equal(err.message, reason);
    assert.match(err.hint!, /zdd logs web --build/);
    assert.match(logBody(r.logFile).footer, /^=== zdd: build exited with code 3 after .* ===$/);
  });

  it('says when a hook printed nothing', { timeout: 10_000 }, async () => {
    const r = await hook({ name: 'release', command: 'exit 1' });
    assert.equal(describeHookFailure(r), `release exited with code 1 after ${summarizeHook(r).split('after ')[1]}; it printed nothing`);
    assert.equal(new HookFailure(r, 'web').code, 'RELEASE_COMMAND_FAILED');
  });

  it('kills a hook that outlives its timeout and ignores SIGTERM, with the children it started', { timeout: 20_000 }, async () => {
    const reports = await reportServer();
    // A background worker and a foreground process, both ignoring SIGTERM (role "main" would obey it).
    const r = hook({
      command: `${node} ${reporter} ${reports.port} worker & ${node} ${reporter} ${reports.port} stubborn; echo never`,
      timeoutMs: 3_000,
    });
    const [worker, stubborn] = await Promise.all([reports.report('worker'), reports.report('stubborn')]);
    const result = await r;
    assert.equal(result.outcome, 'timed-out');
    assert.equal(isAlive(worker.pid), false, 'the background worker outlived the hook');
    assert.equal(isAlive(stubborn.pid), false, 'the stubborn process outlived the hook');
    await Promise.all([worker.gone, stubborn.gone]);
    assert.equal(summarizeHook(result), 'build did not finish within its timeout of 3s and was stopped');
    const err = new HookFailure(result, 'web');
    assert.equal(err.code, 'BUILD_FAILED');
    assert.match(err.hint!, /^raise its timeout/);
    assert.ok(!readFileSync(result.logFile, 'utf8').includes('never'));
  });

  for (const mode of ['cgroup', 'proc'] as const) {
    it(`stops a cancelled hook, even a child that left its session and ignores SIGTERM (tracked by ${mode})`, { timeout: 20_000 }, async () => {
      assert.ok(mode === 'proc' || instanceCgroupParent(), 'no writable cgroup v2 here: run the tests as root on a machine with cgroup v2');
      const reports = await reportServer();
      const abort = new AbortController();
      const r = hook({
        name: 'release',
        command: `setsid ${node} ${reporter} ${reports.port} escaped & ${node} ${reporter} ${reports.port} main`,
        timeoutMs: 60_000,
        signal: abort.signal,
        cgroups: mode === 'cgroup',
      });
      const [main, escaped] = await Promise.all([reports.report('main'), reports.report('escaped')]);
      abort.abort('zdd abort');
      const result = await r;
      assert.equal(result.outcome, 'cancelled');
      assert.equal(result.cancelReason, 'zdd abort');
      assert.deepEqual(result.exit, { code: null, signal: 'SIGTERM' }, 'the shell ended on the SIGTERM');
      assert.equal(isAlive(main.pid), false);
      assert.equal(isAlive(escaped.pid), false, 'the process that left the session outlived the hook');
      await Promise.all([main.gone, escaped.gone]);
      assert.match(summarizeHook(result), /^release was cancelled after \d+.*s \(zdd abort\)$/);
      assert.equal(new HookFailure(result, 'web').code, 'DEPLOY_CANCELLED');
      const parent = instanceCgroupParent();
      if (parent) assert.deepEqual(cgroupsNamed(parent, `${cgroupPrefix(ownScope)}web-r7-release`), [], 'its cgroup is removed');
    });
  }

  it('does not wait out the kill grace period when everything obeys SIGTERM', { timeout: 20_000 }, async () => {
    const abort = new AbortController();
    // With a grace period longer than the test's own timeout, only an early end lets it pass.
    const r = hook({ command: 'echo started; sleep 600 & sleep 600', killGraceMs: 60_000, signal: abort.signal, onLine: () => abort.abort('zdd abort') });
    const result = await r;
    assert.equal(result.outcome, 'cancelled');
  });

  it('kills what a hook leaves running once it exits', { timeout: 20_000 }, async () => {
    const reports = await reportServer();
    const r = hook({ command: `setsid ${node} ${reporter} ${reports.port} escaped & exec ${node} ${reporter} ${reports.port} main` });
    const [main, escaped] = await Promise.all([reports.report('main'), reports.report('escaped')]);
    main.exit();
    const result = await r;
    assert.deepEqual(result.exit, { code: 3, signal: null });
    assert.equal(isAlive(escaped.pid), false, 'the process the hook left behind still runs');
    await escaped.gone;
  });

  it('does not start a hook whose deploy was already cancelled', { timeout: 10_000 }, async () => {
    const marker = path.join(dir, 'ran');
    const r = await hook({ command: `touch ${marker}`, signal: AbortSignal.abort('daemon shutting down') });
    assert.equal(r.outcome, 'cancelled');
    assert.equal(r.cancelReason, 'daemon shutting down');
    assert.equal(existsSync(marker), false);
  });

  it('fails, saying why, when the snapshot folder is missing', { timeout: 10_000 }, async () => {
    const missing = path.join(dir, 'releases', 'web', '404');
    const r = await hook({ command: 'true', cwd: missing });
    assert.equal(r.outcome, 'failed');
    assert.equal(summarizeHook(r), 'build could not be started');
    assert.match(describeHookFailure(r), new RegExp(`working directory ${missing} does not exist`));
  });

  it('requires a timeout', async () => {
    for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await assert.rejects(hook({ command: 'true', timeoutMs }), (err: unknown) => err instanceof ZddError && err.code === 'HOOK_TIMEOUT_INVALID');
    }
  });

  it('keeps running and logging when onLine throws', { timeout: 10_000 }, async () => {
    const r = await hook({
      command: 'echo one; echo two',
      onLine: () => {
        throw new Error('broken view');
      },
    });
    assert.equal(r.outcome, 'ok');
    assert.deepEqual(logBody(r.logFile).body, ['one', 'two']);
  });
});
