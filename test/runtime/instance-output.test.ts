// Output read after the process has exited, in a file of its own: when it goes wrong it can take the
// test process down (a write to the ended log stream), which must not hide the other instance tests.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Instance } from '../../src/runtime/instance.ts';
import { outputPipePath } from '../../src/runtime/output-pipe.ts';
import { fileEndingWith } from '../helpers/files.ts';

const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'zdd-instance-output-')));
const instances: Instance[] = [];
after(async () => {
  for (const i of instances) i.kill();
  await Promise.all(instances.map((i) => i.exited));
  rmSync(dir, { recursive: true, force: true });
});

describe('Instance output at exit', () => {
  it('has everything the process wrote in its tail once it has exited, and in its log file', { timeout: 20_000 }, async () => {
    // A process that writes a lot and ends at once (as one printing a long error before it exits): its
    // 'exit' can be seen before the end of its output has been read from the pipe. Thirty at a time, as
    // when the replicas of a bad release all fail. Each writes everything before exiting (exitCode,
    // not process.exit), so any output missing is output zdd lost.
    const code = 'process.stdout.write("some output\\n".repeat(10000) + "last words\\n"); process.exitCode = 3';
    const started = Array.from({ length: 30 }, (_, i) => {
      const instance = new Instance({
        id: `web-r1-${i + 1}`,
        service: 'web',
        release: 1,
        command: [process.execPath, '-e', code],
        cwd: dir,
        env: {},
        host: '127.0.0.1',
        port: 40_000 + i,
        logFile: path.join(dir, 'logs', `web-r1-${i + 1}.log`),
      });
      instances.push(instance);
      return instance;
    });
    const lost: string[] = [];
    await Promise.all(
      started.map(async (instance) => {
        const exit = await instance.exited;
        assert.equal(exit.code, 3);
        const last = instance.tail.lines(1)[0];
        if (last !== 'last words') lost.push(`${instance.id}: last line in the tail is ${JSON.stringify(last)}`);
      }),
    );
    assert.deepEqual(lost, [], 'the tail has the last line when exited resolves');
    for (const instance of started) {
      const log = (await fileEndingWith(instance.options.logFile, 'last words\n')).replace(/^\S+Z /gm, ''); // without the timestamps
      assert.equal(log.length, 'some output\n'.length * 10_000 + 'last words\n'.length, `${instance.id}: the whole output is in the log file`);
    }
  });

  it('reads the output through a FIFO beside the log file when started with Instance.start, and removes the FIFO after', { timeout: 20_000 }, async () => {
    const logFile = path.join(dir, 'logs', 'fifo', 'web-r2-1.log');
    const instance = await Instance.start({
      id: 'web-r2-1',
      service: 'web',
      release: 2,
      command: [process.execPath, '-e', 'process.stderr.write("err first\\n"); process.stdout.write("out\\n".repeat(20000) + "out last\\n"); process.exitCode = 4'],
      cwd: dir,
      env: {},
      host: '127.0.0.1',
      port: 40_100,
      logFile,
    });
    instances.push(instance);
    assert.equal(instance.options.outputFifo, true);
    assert.ok(lstatSync(outputPipePath(logFile)).isFIFO(), 'a FIFO while it runs');
    assert.equal((await instance.exited).code, 4);
    // Both streams share the FIFO: stdout's lines in order, stderr's among them.
    assert.equal(instance.tail.lines(1)[0], 'out last');
    const log = (await fileEndingWith(logFile, 'out last\n')).replace(/^\S+Z /gm, '');
    assert.ok(log.includes('err first\n'));
    assert.equal(log.length, 'err first\n'.length + 'out\n'.length * 20_000 + 'out last\n'.length);
    assert.equal(existsSync(outputPipePath(logFile)), false, 'the FIFO is gone with the instance');
  });
});
