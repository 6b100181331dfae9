import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { LogFile, type LogDrops } from '../../src/runtime/log-file.ts';

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
