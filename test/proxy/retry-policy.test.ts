// The retry decision alone, without sockets: what a failed attempt leads to, and when an upstream's 5xx
// is held back for the stable release. (errors.test.ts and split.test.ts cover the same through a real proxy.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DrainDeadlineError } from '../../src/proxy/forward.ts';
import { afterFailedAttempt, holdBackForStable, type AttemptContext, type FailedAttempt } from '../../src/proxy/retry-policy.ts';

const canary = 2;
const stable = 1;

/** A request routed by a canary split (2 → 1) that retries on stable, whose attempt went to `release`. */
function ctx(release: number, more: Partial<AttemptContext> = {}): AttemptContext {
  const table = { routes: [{ targets: { release: canary } }, { targets: { release: stable } }], retryOnOlder: true };
  return { table, release, forced: false, idempotent: true, streamed: false, ...more };
}

function failed(more: Partial<FailedAttempt> = {}): FailedAttempt {
  return { error: undefined, retryable: false, replaced: false, clientFault: undefined, ...more };
}

function coded(code: string): Error {
  return Object.assign(new Error(code), { code });
}

describe('after a failed attempt', () => {
  it('answers the client its own faults, before any retry', { timeout: 10_000 }, () => {
    const bad = new Error('invalid header');
    assert.deepEqual(afterFailedAttempt(ctx(canary), failed({ clientFault: 'invalid', error: bad, retryable: true })), {
      kind: 'client-fault',
      status: 400,
      message: 'the request cannot be forwarded: invalid header',
    });
    assert.deepEqual(afterFailedAttempt(ctx(canary), failed({ clientFault: 'body-timeout', error: new Error('body too slow'), replaced: true })), {
      kind: 'client-fault',
      status: 408,
      message: 'body too slow',
    });
    assert.deepEqual(afterFailedAttempt(ctx(canary), failed({ clientFault: 'gone', error: coded('ECONNRESET'), retryable: true })), { kind: 'client-gone' });
  });

  it('sends a retryable canary failure to the stable release', { timeout: 10_000 }, () => {
    assert.deepEqual(afterFailedAttempt(ctx(canary), failed({ error: coded('ECONNREFUSED'), retryable: true })), { kind: 'retry-stable' });
  });

  it('sends a 5xx held back for stable to stable, even though the attempt itself is not retryable', { timeout: 10_000 }, () => {
    assert.deepEqual(afterFailedAttempt(ctx(canary), failed({ replaced: true })), { kind: 'retry-stable' });
  });

  it('keeps a retryable failure on its release when stable may not step in', { timeout: 10_000 }, () => {
    const retryable = failed({ error: coded('ECONNREFUSED'), retryable: true });
    assert.deepEqual(afterFailedAttempt(ctx(canary, { forced: true }), retryable), { kind: 'retry-same' }, 'a tester pinned the request to the canary');
    assert.deepEqual(afterFailedAttempt(ctx(stable), retryable), { kind: 'retry-same' }, 'stable failed it itself');
    const noRetryOnOlder = ctx(canary);
    noRetryOnOlder.table = { ...noRetryOnOlder.table, retryOnOlder: false };
    assert.deepEqual(afterFailedAttempt(noRetryOnOlder, retryable), { kind: 'retry-same' }, 'the split does not retry on stable');
    const single = ctx(canary, { table: { routes: [{ targets: { release: canary } }], retryOnOlder: true } });
    assert.deepEqual(afterFailedAttempt(single, retryable), { kind: 'retry-same' }, 'no split: the only release is not a canary');
  });

  it('answers 503 when the release was stopped at its drain deadline', { timeout: 10_000 }, () => {
    const error = new DrainDeadlineError();
    assert.deepEqual(afterFailedAttempt(ctx(stable), failed({ error })), { kind: 'release-stopped', status: 503, message: error.message });
  });

  it('answers 504 for an upstream timeout and 502 for any other upstream failure', { timeout: 10_000 }, () => {
    assert.deepEqual(afterFailedAttempt(ctx(stable), failed({ error: coded('UND_ERR_HEADERS_TIMEOUT') })), { kind: 'upstream-failed', status: 504, message: 'upstream timed out' });
    assert.deepEqual(afterFailedAttempt(ctx(canary), failed({ error: coded('UND_ERR_BODY_TIMEOUT') })), { kind: 'upstream-failed', status: 504, message: 'upstream timed out' });
    assert.deepEqual(afterFailedAttempt(ctx(canary), failed({ error: coded('ECONNRESET') })), { kind: 'upstream-failed', status: 502, message: 'upstream connection failed' });
    assert.deepEqual(afterFailedAttempt(ctx(stable), failed()), { kind: 'upstream-failed', status: 502, message: 'upstream connection failed' });
  });
});

describe('an upstream 5xx', () => {
  it('is held back for stable when the canary answered an idempotent, buffered request and stable has room', { timeout: 10_000 }, () => {
    assert.equal(holdBackForStable(ctx(canary), () => true), true);
    assert.equal(holdBackForStable(ctx(canary), () => false), false, "stable has no room: the canary's answer stands");
  });

  it("stands otherwise, and stable's room is not asked (a pick rotates its round robin)", { timeout: 10_000 }, () => {
    const cases: [string, AttemptContext][] = [
      ['forced onto the canary', ctx(canary, { forced: true })],
      ['not idempotent', ctx(canary, { idempotent: false })],
      ['a streamed body', ctx(canary, { streamed: true })],
      ['stable answered it', ctx(stable)],
      ['no split', ctx(canary, { table: { routes: [{ targets: { release: canary } }], retryOnOlder: true } })],
      ['the split does not retry on stable', ctx(canary, { table: { ...ctx(canary).table, retryOnOlder: false } })],
    ];
    for (const [why, c] of cases) {
      let asked = 0;
      assert.equal(holdBackForStable(c, () => ++asked > 0), false, why);
      assert.equal(asked, 0, `${why}: stable's room was asked`);
    }
  });
});
