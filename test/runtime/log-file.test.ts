import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { LineStamper, LogFile, type LogDrops } from '../../src/runtime/log-file.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'zdd-log-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('an instance log file', () => {
  it('appends output, creating its folder, and closes once everything is written', { timeout: 10_000 }, async () => {
    const file = path.join(dir, 'logs', 'web', 'web-r1-1.log');
    const first = new LogFile(file);
    first.write('one\n');
    first.write('two\n');
    await first.end();
    const second = new LogFile(file);
    second.write('three\n');
    await second.end();
    assert.equal(readFileSync(file, 'utf8'), 'one\ntwo\nthree\n');
    assert.deepEqual(second.drops, { lines: 0, bytes: 0, error: null });
  });

  it('on a full device drops output without throwing, counts lines and bytes, and warns once per period', { timeout: 10_000 }, async () => {
    // Every write to /dev/full fails with ENOSPC.
    const log = new LogFile('/dev/full', { retryMs: 60_000, reportEveryMs: 60_000 });
    const reports: LogDrops[] = [];
    log.on('dropping', (d) => reports.push(d));
    const first = once(log, 'dropping');
    log.write('a\nb\n');
    await first;
    log.write('c\n');
    log.write('a long line, in pieces: ');
    log.write('the rest\n');
    await log.end();
    assert.deepEqual(log.drops, { lines: 5, bytes: 4 + 2 + 24 + 9, error: 'ENOSPC: no space left on device, write' });
    assert.equal(reports.length, 1, 'one warning for the period, not one per drop');
    assert.equal(reports[0]!.lines, 2);
  });

  it('writes again once the disk takes writes, and says so', { timeout: 10_000 }, async () => {
    // A file where the log folder should be: creating it fails until the file is gone.
    const blocker = path.join(dir, 'blocked');
    writeFileSync(blocker, '');
    const file = path.join(blocker, 'web-r1-1.log');
    const log = new LogFile(file, { retryMs: 0 });
    const dropping = once(log, 'dropping');
    log.write('lost\n');
    const [d] = (await dropping) as [LogDrops];
    assert.equal(d.lines, 1);
    assert.match(d.error ?? '', /EEXIST|ENOTDIR/);
    rmSync(blocker);
    const resumed = once(log, 'resumed');
    log.write('kept\n');
    const [r] = (await resumed) as [LogDrops];
    assert.equal(r.lines, 1, 'the count so far comes with it');
    await log.end();
    assert.equal(readFileSync(file, 'utf8'), 'kept\n');
  });

  it('holds at most maxQueuedBytes while a write is under way and drops the rest, counted', { timeout: 10_000 }, async () => {
    const file = path.join(dir, 'queue.log');
    const log = new LogFile(file, { maxQueuedBytes: 16 });
    log.write('in flight\n'); // goes to the disk at once; the next ones wait for it
    log.write('queued 1\n');
    log.write('dropped 1\n'); // 9 + 10 bytes would pass 16
    log.write('fits!!\n'); // 9 + 7 = 16: fits
    await log.end();
    assert.equal(readFileSync(file, 'utf8'), 'in flight\nqueued 1\nfits!!\n');
    assert.deepEqual(log.drops, { lines: 1, bytes: 10, error: 'the disk is not keeping up with the output' });
  });
});

describe('timestamps in an instance log', () => {
  const at = Date.UTC(2026, 11, 1, 9, 30, 5, 123);
  const t = '2026-12-01T09:30:05.123Z ';

  it('start every line, once, even when a line comes in pieces', { timeout: 5_000 }, () => {
    const s = new LineStamper();
    assert.equal(s.stamp('one\ntwo\n', at), `${t}one\n${t}two\n`);
    assert.equal(s.stamp('a long line, ', at), `${t}a long line, `);
    assert.equal(s.stamp('the rest\nand a start', at), `the rest\n${t}and a start`);
    assert.equal(s.stamp('\n', at), '\n');
    assert.equal(s.stamp('\n\n', at), `${t}\n${t}\n`, 'empty lines get their time too');
  });

  it('are written to the file when asked', { timeout: 10_000 }, async () => {
    const file = path.join(dir, 'stamped.log');
    const log = new LogFile(file, { timestamps: true });
    log.write('hello\nwor');
    log.write('ld\n');
    await log.end();
    assert.match(readFileSync(file, 'utf8'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z hello\n\S+Z world\n$/);
  });
});

describe('rotation of an instance log', () => {
  const line = (i: number) => `line ${String(i).padStart(4, '0')} ${'x'.repeat(89)}\n`; // 100 bytes

  it('past maxSize moves the file to .1, .1 to .2, …, keeps `keep` files and never lets one pass maxSize', { timeout: 10_000 }, async () => {
    const file = path.join(dir, 'rotating', 'web-r1-1.log');
    const log = new LogFile(file, { maxSize: 1000, keep: 3 });
    // Line by line, as an app prints (writes that come while one is under way go out together).
    for (let i = 1; i <= 45; i++) {
      log.write(line(i));
      await new Promise((r) => setImmediate(r));
    }
    await log.end();
    const kept = [`${file}.2`, `${file}.1`, file];
    for (const f of kept) assert.ok(statSync(f).size <= 1000, `${f} is ${statSync(f).size} bytes`);
    assert.equal(existsSync(`${file}.3`), false, 'the oldest went');
    // Oldest to newest, the kept files hold the last lines in order, none cut.
    const text = kept.map((f) => readFileSync(f, 'utf8')).join('');
    const first = Number(text.slice(5, 9));
    assert.ok(first > 1, 'the oldest lines went with the oldest file');
    assert.equal(text, Array.from({ length: 46 - first }, (_, i) => line(first + i)).join(''));
    assert.deepEqual(log.drops, { lines: 0, bytes: 0, error: null });
  });

  it('splits a burst bigger than a file at a line end, so no file passes maxSize', { timeout: 10_000 }, async () => {
    const file = path.join(dir, 'burst.log');
    const log = new LogFile(file, { maxSize: 1050, keep: 5 });
    log.write(Array.from({ length: 25 }, (_, i) => line(i + 1)).join(''));
    await log.end();
    const sizes = [file, `${file}.1`, `${file}.2`].map((f) => statSync(f).size);
    assert.deepEqual(sizes, [500, 1000, 1000]);
    assert.equal(readFileSync(`${file}.2`, 'utf8').slice(0, 9), 'line 0001');
  });

  it('with keep 1 starts the file again, keeping nothing else', { timeout: 10_000 }, async () => {
    const file = path.join(dir, 'keep-one.log');
    const log = new LogFile(file, { maxSize: 250, keep: 1 });
    for (let i = 1; i <= 5; i++) {
      log.write(line(i));
      await new Promise((r) => setImmediate(r));
    }
    await log.end();
    const text = readFileSync(file, 'utf8');
    assert.ok(text.length <= 250 && text.endsWith(line(5)), text);
    assert.equal(existsSync(`${file}.1`), false);
  });

  it('counts output it cannot rotate as dropped, and rotates once it can', { timeout: 10_000 }, async () => {
    const file = path.join(dir, 'stuck.log');
    // A non-empty folder where <file>.1 should go: the rename fails until it is gone.
    mkdirSync(path.join(`${file}.1`, 'in-the-way'), { recursive: true });
    writeFileSync(file, line(1).repeat(3));
    const log = new LogFile(file, { maxSize: 300, keep: 2, retryMs: 0 });
    const dropping = once(log, 'dropping');
    log.write(line(2));
    const [d] = (await dropping) as [LogDrops];
    assert.equal(d.lines, 1);
    assert.match(d.error ?? '', /ENOTEMPTY|EISDIR|EEXIST/);
    rmSync(`${file}.1`, { recursive: true });
    const resumed = once(log, 'resumed');
    log.write(line(3));
    await resumed;
    await log.end();
    assert.equal(readFileSync(file, 'utf8'), line(3));
    assert.equal(readFileSync(`${file}.1`, 'utf8'), line(1).repeat(3));
  });
});
