import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ZddError } from '../../src/errors.ts';
import { describeExit, Instance, type InstanceOptions } from '../../src/runtime/instance.ts';
import { LogTail } from '../../src/runtime/log-tail.ts';
import { fileEndingWith } from '../helpers/files.ts';
import { ReportServer } from '../helpers/reports.ts';

const node = process.execPath;

const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'zdd-instance-')));
const instances: Instance[] = [];
/** Report servers: closing one kills whatever reported to it that a test left behind. */
const reportServers: ReportServer[] = [];
after(async () => {
  for (const i of instances) i.kill();
  await Promise.all(instances.map((i) => i.exited));
  for (const r of reportServers) r.close();
  rmSync(dir, { recursive: true, force: true });
});

async function reportServer(): Promise<ReportServer> {
  const r = await ReportServer.start();
  reportServers.push(r);
  return r;
}

let seq = 0;
function start(o: Partial<InstanceOptions> & Pick<InstanceOptions, 'command'>): Instance {
  const id = `web-r1-${++seq}`;
  const instance = new Instance({
    id,
    service: 'web',
    release: 1,
    cwd: dir,
    env: {},
    host: '127.0.0.1',
    port: 45_678,
    logFile: path.join(dir, 'logs', `${id}.log`),
    ...o,
  });
  instances.push(instance);
  return instance;
}

/** Node code that ignores SIGTERM, then reports "<pid> <ROLE>" to a ReportServer and stays alive. */
const stubborn = `
process.on('SIGTERM', () => {});
const s = require('net').connect(Number(process.env.READY_PORT), '127.0.0.1', () => s.write(process.pid + ' ' + process.env.ROLE + '\\n'));
setInterval(() => {}, 1000);
`;

describe('Instance', () => {
  it('runs the command in its cwd with PORT, HOST and ZDD_* set, the configured env, and no ZDD_ settings of the daemon', async () => {
    const cwd = path.join(dir, 'app');
    mkdirSync(cwd);
    process.env.ZDD_DATA_DIR = '/daemon/only';
    let instance: Instance;
    try {
      instance = start({
        command: [node, '-e', 'const e = process.env; console.log(JSON.stringify({ cwd: process.cwd(), PORT: e.PORT, HOST: e.HOST, S: e.ZDD_SERVICE, R: e.ZDD_RELEASE, I: e.ZDD_INSTANCE, APP: e.APP_VERSION, D: e.ZDD_DATA_DIR ?? null }))'],
        cwd,
        env: { APP_VERSION: 'v7', PORT: '1' },
        port: 41_234,
        release: 7,
      });
    } finally {
      delete process.env.ZDD_DATA_DIR;
    }
    const exit = await instance.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    const lines = instance.tail.lines();
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.deepEqual(JSON.parse(lines[0]!), { cwd, PORT: '41234', HOST: '127.0.0.1', S: 'web', R: '7', I: instance.id, APP: 'v7', D: null });
    assert.equal(instance.state, 'exited');
  });

  it('runs a command line with shell syntax through /bin/sh', async () => {
    const instance = start({ command: 'echo "port=$PORT" && echo second >&2', port: 40_001 });
    await instance.exited;
    assert.deepEqual(instance.tail.lines().sort(), ['port=40001', 'second']);
  });

  it('keeps the last lines of output in its tail, and everything in its log file', { timeout: 10_000 }, async () => {
    const instance = start({ command: [node, '-e', 'for (let i = 1; i <= 100; i++) console.log(`line ${i}`)'] });
    const exit = await instance.exited;
    assert.equal(exit.code, 0);
    const expected = Array.from({ length: 30 }, (_, i) => `line ${71 + i}`);
    const expectedLog = Array.from({ length: 100 }, (_, i) => `line ${i + 1}\n`).join('');
    assert.deepEqual(instance.tail.lines(), expected);
    assert.deepEqual(instance.tail.lines(3), ['line 98', 'line 99', 'line 100']);
    const log = await fileEndingWith(instance.options.logFile, 'line 100\n');
    assert.match(log, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z line 1\n/, 'each line starts with the time it came');
    assert.equal(log.replace(/^\S+Z /gm, ''), expectedLog);
  });

  it('runs one simple command itself, not under a shell, even with $VARIABLES in it: the app gets the signals', { timeout: 10_000 }, async () => {
    const ready = await reportServer();
    const script = path.join(dir, 'report-main.js');
    writeFileSync(script, stubborn.replace("process.on('SIGTERM', () => {});", "process.on('SIGTERM', () => process.exit(0));"));
    const instance = start({ command: `${node} ${script} --port $PORT`, env: { READY_PORT: String(ready.port), ROLE: 'main' } });
    const child = await ready.report('main');
    assert.equal(child.pid, instance.pid, 'the shell exec\'ed the app');
    assert.deepEqual(await instance.stop(10_000), { code: 0, signal: null }, 'the app handled SIGTERM itself');
  });

  it('stops a process with SIGTERM when it handles it', { timeout: 10_000 }, async () => {
    const ready = await reportServer();
    const instance = start({
      command: [node, '-e', `process.on('SIGTERM', () => process.exit(0)); ${stubborn.replace("process.on('SIGTERM', () => {});", '')}`],
      env: { READY_PORT: String(ready.port), ROLE: 'main' },
    });
    const child = await ready.report('main');
    assert.equal(child.pid, instance.pid);
    const exit = await instance.stop(10_000);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.equal(describeExit(exit), 'exited with code 0');
    assert.deepEqual(await instance.stop(10_000), exit, 'stopping again returns the same exit');
  });

  it('kills a process that ignores SIGTERM after the grace period, and the processes it started too', { timeout: 10_000 }, async () => {
    const ready = await reportServer();
    const script = path.join(dir, 'stubborn.js');
    writeFileSync(script, stubborn);
    // A shell starting a background worker and the main process: all in the instance's process group.
    const instance = start({ command: `ROLE=worker ${node} ${script} & ROLE=main exec ${node} ${script}`, env: { READY_PORT: String(ready.port) } });
    const first = await ready.report('worker');
    const second = await ready.report('main');
    assert.ok([first.pid, second.pid].includes(instance.pid!), 'one of them is the instance process itself');
    const exit = await instance.stop(200);
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(describeExit(exit), 'killed by SIGKILL');
    assert.equal(instance.state, 'exited');
    // Both processes are gone: the kernel closed their connections. (The background worker may linger
    // as a zombie until init reaps it, so its pid is no proof either way.)
    await Promise.all([first.gone, second.gone]);
  });

  it('refuses a missing working directory with a clear error', () => {
    const missing = path.join(dir, 'does-not-exist');
    assert.throws(
      () => start({ command: 'true', cwd: missing }),
      (err: unknown) => err instanceof ZddError && err.code === 'CWD_MISSING' && err.message.includes(missing) && /does not exist/.test(err.message),
    );
  });

  it('reports a command that cannot be started', async () => {
    const instance = start({ command: [path.join(dir, 'no-such-binary')] });
    const exit = await instance.exited;
    assert.equal(describeExit(exit), 'could not be started');
    assert.match(instance.tail.lines().join('\n'), /cannot start .*no-such-binary/);
  });

  it('describes exits in words', () => {
    assert.equal(describeExit({ code: 1, signal: null }), 'exited with code 1');
    assert.equal(describeExit({ code: null, signal: 'SIGTERM' }), 'killed by SIGTERM');
    assert.equal(describeExit({ code: null, signal: null }), 'could not be started');
  });
});

describe('LogTail', () => {
  it('joins lines split across chunks and keeps the unfinished last line visible', () => {
    const t = new LogTail(5);
    t.push('hel');
    t.push('lo\nwor');
    assert.deepEqual(t.lines(), ['hello', 'wor']);
    t.push('ld\n');
    assert.deepEqual(t.lines(), ['hello', 'world']);
  });

  it('keeps only the last max lines', () => {
    const t = new LogTail(3);
    t.push('1\n2\n3\n4\n5\n');
    assert.deepEqual(t.lines(), ['3', '4', '5']);
    assert.deepEqual(t.lines(2), ['4', '5']);
  });

  it('shortens very long lines', () => {
    const t = new LogTail(2);
    t.push(`${'a'.repeat(2000)}\n`);
    const [line] = t.lines();
    assert.ok(line!.length <= 501, `length ${line!.length}`);
    assert.ok(line!.startsWith('aaaa'));
  });
});
