import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { planAdoption, settlement } from '../../src/daemon/recovery.ts';
import { checkIdentity, observeProcess, processStartTime, stillRunning } from '../../src/runtime/process-identity.ts';
import type { RunningInstance } from '../../src/store/store.ts';

const expected = { id: 'web-r1-1', scope: 'abc', pid: 4242, startTime: 1000 };
const env = ['PATH=/bin', 'ZDD_INSTANCE=web-r1-1', 'ZDD_SCOPE=abc'];

describe('checkIdentity', () => {
  it('is the instance when start time and marks match', () => {
    assert.deepEqual(checkIdentity(expected, { startTime: 1000, zombie: false, env }), { same: true });
  });
  it('is not when the pid was reused (another start time), even with the marks', () => {
    const v = checkIdentity(expected, { startTime: 1001, zombie: false, env });
    assert.equal(v.same, false);
    assert.match(!v.same ? v.why : '', /reused the pid/);
  });
  it('is not without the instance or the scope mark, nor when gone or a zombie', () => {
    assert.equal(checkIdentity(expected, { startTime: 1000, zombie: false, env: ['ZDD_INSTANCE=web-r1-1', 'ZDD_SCOPE=other'] }).same, false);
    assert.equal(checkIdentity(expected, { startTime: 1000, zombie: false, env: ['ZDD_INSTANCE=web-r1-2', 'ZDD_SCOPE=abc'] }).same, false);
    assert.equal(checkIdentity(expected, undefined).same, false);
    assert.equal(checkIdentity(expected, { startTime: 1000, zombie: true, env }).same, false);
  });
});

describe('reading a process from /proc', { skip: process.platform !== 'linux' }, () => {
  it('names a live process by pid and start time, and knows when it is gone', { timeout: 10_000 }, async () => {
    const child = spawn('sleep', ['30'], { env: { ...process.env, ZDD_INSTANCE: 'x-r1-1', ZDD_SCOPE: 's' } });
    const pid = child.pid!;
    const start = processStartTime(pid)!;
    assert.ok(start > 0);
    assert.equal(checkIdentity({ id: 'x-r1-1', scope: 's', pid, startTime: start }, observeProcess(pid)).same, true);
    assert.equal(stillRunning(pid, start), true);
    assert.equal(stillRunning(pid, start + 1), false);
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.equal(stillRunning(pid, start), false);
  });
});

describe('planAdoption', () => {
  const row = (o: Partial<RunningInstance>): RunningInstance => ({ id: 'web-r1-1', service: 'web', releaseId: 1, pid: 10, port: 3000, startedAt: 5, startTime: 100, ...o });
  it("adopts the live release's verified instances only", () => {
    const rows = [row({}), row({ id: 'web-r2-1', releaseId: 2, pid: 11 }), row({ id: 'web-r1-2', pid: 12, startTime: 7 }), row({ id: 'web-r1-3', pid: 13, startTime: null })];
    const observe = (pid: number) => ({ startTime: pid === 12 ? 8 : 100, zombie: false, env: [`ZDD_INSTANCE=web-r1-${pid === 10 ? 1 : pid === 12 ? 2 : 3}`, 'ZDD_SCOPE=s'] });
    const plan = planAdoption(rows, new Map([['web', 1]]), 's', observe);
    assert.deepEqual(plan.adopt.get('web')?.map((a) => a.id), ['web-r1-1']);
    assert.deepEqual(plan.refused.map((r) => r.id), ['web-r1-2', 'web-r1-3']);
  });
});

describe('settlement of a deployment the crashed daemon did not finish', () => {
  it('a deploy whose release is not live is rolled back: failed, its release failed', () => {
    const s = settlement({ kind: 'deploy', releaseId: 2 }, { id: 1, number: 1 });
    assert.equal(s.status, 'failed');
    assert.equal(s.releaseState, 'failed');
    assert.match(s.reason, /rolled back to release 1/);
  });
  it('one whose release went live stays live: succeeded', () => {
    assert.equal(settlement({ kind: 'deploy', releaseId: 2 }, { id: 2, number: 2 }).status, 'succeeded');
  });
  it("a rollback's target that is not live goes back to retired", () => {
    assert.equal(settlement({ kind: 'rollback', releaseId: 1 }, { id: 2, number: 2 }).releaseState, 'retired');
  });
});
