import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, realpathSync, watch } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { zdd } from '../helpers/cli.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, zddBin, type Project } from '../helpers/project.ts';
import { isAlive } from '../helpers/status.ts';
import { stopByPid } from '../helpers/processes.ts';

/** Resolves with the file's text once it matches. */
function fileMatching(file: string, re: RegExp): Promise<string> {
  return new Promise((resolve) => {
    const check = () => {
      const text = readFileSync(file, 'utf8');
      if (!re.test(text)) return;
      watcher.close();
      resolve(text);
    };
    const watcher = watch(file, check);
    check();
  });
}

describe('zdd restart of a foreground zdd serve', () => {
  let project: Project | undefined;
  let successor: number | undefined;
  let old: ChildProcess | undefined;
  after(async () => {
    if (old?.exitCode === null) old.kill();
    // The test failed before its own zdd stop: stop the new daemon as systemd would.
    if (successor) await stopByPid(successor);
    project?.remove();
  });

  it('says, in the old daemon\'s output and in its own, that the new daemon runs detached and where its output goes', { timeout: 60_000 }, async () => {
    project = makeProject(serviceYaml({ port: await freePort(), replicas: 1 }));
    // `zdd serve > serve.log` in a terminal: its output goes to a file.
    const log = path.join(realpathSync(project.dir), 'serve.log');
    const fd = openSync(log, 'a');
    old = spawn(zddBin, ['serve'], { cwd: project.dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const exited = once(old, 'exit');
    let ready = false;
    await Promise.race([
      fileMatching(log, / ready\b/).then(() => (ready = true)),
      exited.then(() => ready || assert.fail(`zdd serve exited before it was ready: ${readFileSync(log, 'utf8')}`)),
    ]);

    const r = await zdd(project.dir, ['restart']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const to = Number(/→ pid (\d+)/.exec(r.stdout)?.[1]);
    successor = to;
    assert.match(r.stdout, new RegExp(`the new daemon \\(pid ${to}\\) runs detached; its output goes to ${log}; stop it with: zdd stop\\n`));

    assert.deepEqual(await exited, [0, null], 'the foreground daemon handed over and exited');
    const text = readFileSync(log, 'utf8');
    assert.match(text, new RegExp(`the next daemon \\(pid ${to}\\) serves; it runs detached, its output goes to ${log}; stop it with zdd stop`));

    const stop = await zdd(project.dir, ['stop']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(isAlive(to), false);
  });
});
