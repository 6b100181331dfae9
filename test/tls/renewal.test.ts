// When ACME orders happen, decided over plain values.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { challengeOrder, defaultRetry, nextStep, renewAt, retryDelay, usable } from '../../src/tls/renewal.ts';

const day = 24 * 3600_000;
const minute = 60_000;

describe('renewal timing', () => {
  it('renews two-thirds into the lifetime: day 60 of a 90-day certificate', { timeout: 1000 }, () => {
    const notBefore = Date.UTC(2026, 0, 1);
    assert.equal(renewAt({ notBefore, notAfter: notBefore + 90 * day }), notBefore + 60 * day);
    assert.equal(renewAt({ notBefore: 0, notAfter: 6000 }), 4000);
  });

  it('backs off from 1 minute, doubling, up to 3 hours', { timeout: 1000 }, () => {
    const middle = () => 0.5; // no jitter
    const sequence = Array.from({ length: 10 }, (_, i) => retryDelay(i + 1, defaultRetry, middle) / minute);
    assert.deepEqual(sequence, [1, 2, 4, 8, 16, 32, 64, 128, 180, 180]);
  });

  it('spreads retries by ± the jitter fraction', { timeout: 1000 }, () => {
    assert.equal(retryDelay(1, defaultRetry, () => 0), 54_000);
    assert.equal(retryDelay(1, defaultRetry, () => 0.999_999), 66_000);
    const p = { firstMs: 100, maxMs: 1000, jitter: 0 };
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelay(n, p)), [100, 200, 400, 800, 1000]);
  });

  it('orders at once without a certificate, waits for renewal with one, and waits for the retry after a failure', { timeout: 1000 }, () => {
    const cert = { notBefore: 0, notAfter: 90 * day };
    assert.deepEqual(nextStep({ cert: undefined, retryAt: undefined }, 5), { kind: 'order' });
    assert.deepEqual(nextStep({ cert, retryAt: undefined }, day), { kind: 'wait', until: 60 * day, reason: 'renewal' });
    assert.deepEqual(nextStep({ cert, retryAt: undefined }, 60 * day), { kind: 'order' });
    assert.deepEqual(nextStep({ cert: undefined, retryAt: 2 * minute }, minute), { kind: 'wait', until: 2 * minute, reason: 'retry' });
    assert.deepEqual(nextStep({ cert, retryAt: 61 * day }, 60 * day + 1), { kind: 'wait', until: 61 * day, reason: 'retry' });
    assert.deepEqual(nextStep({ cert, retryAt: 61 * day }, 61 * day), { kind: 'order' });
  });

  it('uses a stored certificate only if it names every host and has not expired', { timeout: 1000 }, () => {
    const cert = { notBefore: 0, notAfter: 90 * day, names: ['a.test', 'b.test'] };
    assert.equal(usable(cert, ['a.test', 'b.test'], day), true);
    assert.equal(usable(cert, ['a.test'], day), true);
    assert.equal(usable(cert, ['a.test', 'c.test'], day), false);
    assert.equal(usable(cert, ['a.test'], 90 * day), false);
  });

  it('lets the next challenge type lead after each failure', { timeout: 1000 }, () => {
    const both = ['http-01', 'tls-alpn-01'];
    assert.deepEqual([0, 1, 2, 3].map((f) => challengeOrder(both, f)[0]), ['http-01', 'tls-alpn-01', 'http-01', 'tls-alpn-01']);
    assert.deepEqual(challengeOrder(both, 1), ['tls-alpn-01', 'http-01']);
    assert.deepEqual(challengeOrder(['tls-alpn-01'], 3), ['tls-alpn-01']);
  });
});
