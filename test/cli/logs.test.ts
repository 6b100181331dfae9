import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { zdd } from '../helpers/cli.ts';
import { zddHead } from '../helpers/head.ts';
import { zddBin } from '../helpers/project.ts';

// `zdd logs` reads the files under .zdd/logs/<service>/ itself, without the daemon: these tests write
// them as the daemon would (each line after its time; a rotated file renamed to .1, .2, …).

const root = mkdtempSync(path.join(os.tmpdir(), 'zdd-logs-'));
/** Running `zdd logs -f`s: a test that times out never reaches its own stop. */
const following = new Set<ChildProcess>();
after(() => {
  for (const child of following) child.kill();
  rmSync(root, { recursive: true, force: true });
});

const at = (s: number) => `2026-12-01T10:00:${String(s).padStart(2, '0')}.000Z`;
const lines = (from: number, to: number, label = 'line') => Array.from({ length: to - from + 1 }, (_, i) => `${at(from + i)} ${label} ${from + i}\n`).join('');

function project(): { dir: string; logs: string } {
  const dir = mkdtempSync(path.join(root, 'p-'));
  writeFileSync(path.join(dir, 'zdd.yaml'), 'services: {}\n');
  const logs = path.join(dir, '.zdd', 'logs', 'web');
  mkdirSync(logs, { recursive: true });
  return { dir, logs };
}

/** `zdd logs … -f` running, with a way to wait for what it prints. */
function follow(dir: string, args: string[]) {
  const child = spawn(zddBin, ['logs', 'web', '-f', ...args], { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  following.add(child);
  let out = '';
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  child.stdout.on('data', (d: Buffer) => {
    out += d;
    for (const w of [...waiters]) if (out.includes(w.text)) waiters.splice(waiters.indexOf(w), 1) && w.resolve();
  });
  return {
    get output() {
      return out;
    },
    /** Resolves once the output holds `text`. */
    printed(text: string): Promise<void> {
      if (out.includes(text)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        waiters.push({ text, resolve });
        child.once('exit', (code) => reject(new Error(`zdd logs -f exited (${code}) before printing ${JSON.stringify(text)}: ${stderr}${out}`)));
      });
    },
    stop: () => child.kill(),
  };
}

describe('zdd logs', () => {
  it('shows the time of each line (unless --no-timestamps) and reads rotated files for more lines', { timeout: 20_000 }, async () => {
    const { dir, logs } = project();
    writeFileSync(path.join(logs, 'web-r1-1.log.2'), lines(1, 3));
    writeFileSync(path.join(logs, 'web-r1-1.log.1'), lines(4, 6));
    writeFileSync(path.join(logs, 'web-r1-1.log'), lines(7, 8));
    const r = await zdd(dir, ['logs', 'web', '-n', '5']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, lines(4, 8));
    const all = await zdd(dir, ['logs', 'web', '-n', '100', '--no-timestamps']);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, lines(1, 8).replace(/^\S+Z /gm, ''));
  });

  it('-f follows the instances of newer releases as they start, replacements, and files that rotate', { timeout: 20_000 }, async () => {
    const { dir, logs } = project();
    const r1 = path.join(logs, 'web-r1-1.log');
    writeFileSync(path.join(logs, 'web-r0-1.log'), lines(1, 1, 'older release'));
    writeFileSync(r1, lines(1, 2, 'r1'));
    const f = follow(dir, ['-n', '1']);
    try {
      await f.printed(`${at(2)} web-r1-1 │ r1 2\n`);
      assert.doesNotMatch(f.output, /older release|r1 1/);
      appendFileSync(r1, lines(3, 3, 'r1'));
      await f.printed('web-r1-1 │ r1 3\n');
      // A new release starts: its instance's file appears.
      writeFileSync(path.join(logs, 'web-r2-1.log'), lines(10, 11, 'r2'));
      await f.printed('web-r2-1 │ r2 11\n');
      assert.match(f.output, /web-r2-1 │ r2 10\n/, 'from its first line');
      // The file rotates: the rest of the old one, then the new one.
      appendFileSync(r1, lines(4, 4, 'r1'));
      renameSync(r1, `${r1}.1`);
      writeFileSync(r1, lines(5, 5, 'r1'));
      await f.printed('web-r1-1 │ r1 5\n');
      // A replacement for a crashed instance of release 2.
      writeFileSync(path.join(logs, 'web-r2-2.log'), lines(12, 12, 'r2 replacement'));
      await f.printed('web-r2-2 │ r2 replacement 12\n');
      const r1Lines = f.output.split('\n').filter((l) => l.includes('web-r1-1 │'));
      assert.deepEqual(r1Lines.map((l) => l.replace(/^\S+ web-r1-1 │ /, '')), ['r1 2', 'r1 3', 'r1 4', 'r1 5'], 'every line once, in order');
    } finally {
      f.stop();
    }
  });

  it('-f --release N follows that release only (and its replacements)', { timeout: 20_000 }, async () => {
    const { dir, logs } = project();
    writeFileSync(path.join(logs, 'web-r1-1.log'), lines(1, 1, 'r1'));
    writeFileSync(path.join(logs, 'web-r2-1.log'), lines(1, 1, 'r2'));
    const f = follow(dir, ['--release', '1']);
    try {
      await f.printed('web-r1-1 │ r1 1\n');
      writeFileSync(path.join(logs, 'web-r3-1.log'), lines(2, 2, 'r3'));
      writeFileSync(path.join(logs, 'web-r1-2.log'), lines(3, 3, 'r1 replacement'));
      await f.printed('web-r1-2 │ r1 replacement 3\n');
      assert.doesNotMatch(f.output, /r2|r3/);
    } finally {
      f.stop();
    }
  });

  it('-f | head -1 ends quietly with exit 0 once the reader has gone', { timeout: 20_000 }, async () => {
    const { dir, logs } = project();
    const file = path.join(logs, 'web-r1-1.log');
    writeFileSync(file, lines(1, 3));
    // Once head has its line and is gone, the app writes again: zdd's next write finds the pipe closed.
    const r = await zddHead(dir, ['logs', 'web', '-f'], 1, () => appendFileSync(file, lines(4, 4)));
    assert.deepEqual(r.lines, [`${at(1)} web-r1-1 │ line 1`]);
    assert.deepEqual({ code: r.code, signal: r.signal, stderr: r.stderr }, { code: 0, signal: null, stderr: '' });
  });
});
