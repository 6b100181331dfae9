import assert from 'node:assert/strict';
import { existsSync, readFileSync, watch } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { envLine } from '../../src/cli/commands/history.ts';
import { deployLabelled, zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { zddHead } from '../helpers/head.ts';
import { request } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';

/** Resolves once an instance's log file holds n lines: the daemon writes them a moment after the app printed them. */
async function logHolds(file: string, n: number): Promise<void> {
  // The file appears with the instance's first output; there is nothing to watch before.
  while (!existsSync(file)) await sleep(20);
  await new Promise<void>((resolve) => {
    const check = () => {
      if (readFileSync(file, 'utf8').split('\n').length - 1 < n) return;
      watcher.close();
      resolve();
    };
    const watcher = watch(file, check);
    check();
  });
}

describe('a release env on one line', () => {
  it('KEY=value, quoted when it holds spaces, long values cut, the keys past the line counted', { timeout: 5_000 }, () => {
    assert.equal(envLine({ A: '1', API_TOKEN: '[redacted]', MSG: 'hello world' }), 'A=1 API_TOKEN=[redacted] MSG="hello world"');
    assert.equal(envLine({ LONG: 'x'.repeat(100) }), `LONG=${'x'.repeat(39)}…`);
    const many = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`KEY_${i}`, 'value']));
    assert.match(envLine(many), /^KEY_0=value .* \(\+\d+ more: zdd history --json\)$/);
    assert.ok(envLine(many).length < 200);
  });
});

describe('command output', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let url: string;
  const logFile = () => path.join(project.dir, '.zdd', 'logs', 'web', 'web-r1-1.log');

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    project = makeProject(serviceYaml({ port, replicas: 1 }));
    daemon = await startDaemon(project.dir);
    const r = await deployLabelled(project.dir, 'v7', { API_TOKEN: 'hunter2', DATABASE_URL: 'postgres://u:pw@db/app', LOG_LEVEL: 'debug' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  it('zdd history shows each release env, secret-looking values redacted', { timeout: 20_000 }, async () => {
    const r = await zdd(project.dir, ['history', 'web']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /env APP_VERSION=v7 API_TOKEN=\[redacted\] DATABASE_URL=\[redacted\] LOG_LEVEL=debug\n/);
    assert.doesNotMatch(r.stdout, /hunter2|pw@db/);
  });

  it('zdd logs shows when each line of the app came', { timeout: 20_000 }, async () => {
    await request(`${url}/print?kb=1`);
    await logHolds(logFile(), 1);
    const r = await zdd(project.dir, ['logs', 'web', '-n', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z x{1023}\n$/);
  });

  it('zdd status --watch | head -3 ends quietly with exit 0', { timeout: 20_000 }, async () => {
    const r = await zddHead(project.dir, ['status', '--watch'], 3);
    assert.match(r.lines[0]!, /zdd .* pid \d+/);
    assert.deepEqual({ code: r.code, signal: r.signal, stderr: r.stderr }, { code: 0, signal: null, stderr: '' });
  });

  it('zdd history --steps | head -1 and zdd logs | head -1 too', { timeout: 20_000 }, async () => {
    // Enough output that it cannot all sit in the pipe before the reader goes.
    await request(`${url}/print?kb=256`);
    await logHolds(logFile(), 257);
    for (const args of [['logs', 'web', '-n', '1000000'], ['history', 'web', '--steps']]) {
      const r = await zddHead(project.dir, args, 1);
      assert.deepEqual({ args, code: r.code, signal: r.signal, stderr: r.stderr }, { args, code: 0, signal: null, stderr: '' });
    }
  });
});
