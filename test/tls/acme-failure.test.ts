// An ACME directory that cannot be reached: serving goes on with the self-signed certificate, status shows the
// error and the next attempt, and attempts back off.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { CertificateStore, type CertificateStatus } from '../../src/tls/index.ts';
import { tempDir } from '../helpers/certs.ts';
import { freePort } from '../helpers/ports.ts';
import { captureLog } from './capture-log.ts';
import { handshake, listenTls } from './handshake.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

type Seen = CertificateStatus & { at: number };

/** The statuses of the first `n` failed attempts, with when they were reported. */
function failures(store: CertificateStore, n: number): Promise<Seen[]> {
  const seen: Seen[] = [];
  let lastError: string | undefined;
  let lastNext: string | undefined;
  return new Promise((resolve) => {
    const onChange = () => {
      const s = store.status()[0] as CertificateStatus;
      if (!s.error || !s.nextAttempt || (s.error === lastError && s.nextAttempt === lastNext)) return;
      lastError = s.error;
      lastNext = s.nextAttempt;
      seen.push({ ...s, at: Date.now() });
      if (seen.length === n) {
        store.off('change', onChange);
        resolve(seen);
      }
    };
    store.on('change', onChange);
  });
}

describe('an unreachable ACME directory', () => {
  it('keeps serving the self-signed certificate, reports the error and the next attempt, and backs off', { timeout: 20_000 }, async () => {
    // A port nothing listens on: connections are refused.
    const directory = `https://127.0.0.1:${await freePort()}/dir`;
    const { log, lines } = captureLog();
    const store = new CertificateStore({ dataDir: tempDir(), log, retry: { firstMs: 200, maxMs: 800, jitter: 0 } });
    cleanups.push(() => store.close());
    const failed = failures(store, 4);
    await store.configure([{ service: 'web', hosts: ['down.test'], tls: { acme: { email: 'ops@down.test', directory } } }]);
    const listener = await listenTls(store);
    cleanups.push(() => listener.close());

    const seen = await failed;
    for (const s of seen) {
      assert.equal(s.source, 'self-signed');
      assert.match(s.error as string, /^ACME order failed: connect ECONNREFUSED 127\.0\.0\.1:\d+/);
      assert.ok(Date.parse(s.nextAttempt as string) > s.at - 5, 'the next attempt lies ahead');
    }
    // Each wait is the backoff's: 200, 400, 800, 800 ms (the refused attempt itself takes a few ms).
    const waits = seen.map((s) => Date.parse(s.nextAttempt as string) - s.at);
    for (const [i, expected] of [200, 400, 800, 800].entries()) {
      assert.ok(Math.abs((waits[i] as number) - expected) < 60, `wait ${i + 1}: ${waits[i]} ms, expected ~${expected}`);
    }
    // And the attempts did wait that long.
    const gaps = seen.slice(1).map((s, i) => s.at - (seen[i] as Seen).at);
    for (const [i, expected] of [200, 400, 800].entries()) assert.ok((gaps[i] as number) >= expected - 5, `attempts ${gaps.join(', ')} ms apart`);

    const peer = await handshake(listener.port, { servername: 'down.test' });
    assert.equal(peer.subject, 'CN=down.test');
    assert.equal(peer.issuer, 'CN=down.test', 'self-signed');
    const warnings = lines().filter((l) => l.msg === 'ACME order failed');
    assert.ok(warnings.length >= 4);
    assert.ok(warnings.every((w) => typeof w.nextAttempt === 'string' && typeof w.failures === 'number'));
  });

  it('keeps an unchanged site\'s state through a config reload, and stops a removed site', { timeout: 20_000 }, async () => {
    const directory = `https://127.0.0.1:${await freePort()}/dir`;
    const { log, lines } = captureLog();
    const store = new CertificateStore({ dataDir: tempDir(), log, retry: { firstMs: 60_000, maxMs: 60_000, jitter: 0 } });
    cleanups.push(() => store.close());
    const site = { service: 'web', hosts: ['keep.test'], tls: { acme: { email: 'ops@keep.test', directory } } };
    const failed = failures(store, 1);
    await store.configure([site]);
    const [first] = await failed;
    const selfSigned = store.contextFor('keep.test');

    await store.configure([site, { service: 'other', hosts: ['other.test'], tls: { acme: { email: 'ops@keep.test', directory } } }]);
    const kept = store.status()[0] as CertificateStatus;
    assert.equal(kept.error, first?.error, 'the failure is still reported');
    assert.equal(kept.nextAttempt, first?.nextAttempt, 'and the retry not moved');
    assert.equal(store.contextFor('keep.test'), selfSigned, 'the same self-signed certificate');

    await store.configure([]);
    assert.deepEqual(store.status(), []);
    const orders = lines().filter((l) => l.msg === 'ordering an ACME certificate').length;
    assert.equal(orders, 2, 'one order per site, no order after the reloads');
  });
});
