// ACME against a real Pebble that treats every challenge as valid (PEBBLE_VA_ALWAYS_VALID=1): issuance, what is
// kept in the data dir, reuse at the next start, renewal, and trust through NODE_EXTRA_CA_CERTS. The store runs in
// a child process (store-child.ts), since Node reads NODE_EXTRA_CA_CERTS only at process start.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CertificateSite, CertificateStatus } from '../../src/tls/index.ts';
import { tempDir } from '../helpers/certs.ts';
import { startPebble, type Pebble } from '../helpers/pebble.ts';
import { freePort } from '../helpers/ports.ts';
import { handshake } from './handshake.ts';
import { startStoreProcess, type StoreProcess } from './store-process.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function acmeSite(directory: string, hosts: string[]): CertificateSite {
  return { service: 'web', hosts, tls: { acme: { email: 'ops@app.test', directory } } };
}

const issued = (s: CertificateStatus[]) => s[0]?.source === 'acme' && !s[0].ordering;

/** Every directory and file under `dir`, with its permission bits. */
function modes(dir: string): { file: string; mode: number; isDir: boolean }[] {
  const out: { file: string; mode: number; isDir: boolean }[] = [];
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    const st = statSync(file);
    out.push({ file, mode: st.mode & 0o777, isDir: st.isDirectory() });
    if (st.isDirectory()) out.push(...modes(file));
  }
  return out;
}

describe('ACME with Pebble (challenges always valid)', () => {
  let pebble: Pebble;
  let tlsPort: number;
  let root: string;
  const dataDir = tempDir();
  let serial: string;

  function start(sites: CertificateSite[]): StoreProcess {
    const p = startStoreProcess({ dataDir, sites, tlsPort, pollMs: 50 }, { NODE_EXTRA_CA_CERTS: pebble.caBundle });
    cleanups.push(() => p.stop());
    return p;
  }

  before(async () => {
    tlsPort = await freePort();
    pebble = await startPebble({ httpPort: await freePort(), tlsPort, alwaysValid: true });
    cleanups.push(() => pebble.stop());
    root = await pebble.rootPem();
  });

  it('serves a self-signed certificate at once, then the one Pebble issues, kept in the data dir with mode 0600', { timeout: 30_000 }, async () => {
    const p = start([acmeSite(pebble.directory, ['app.test', 'www.app.test'])]);
    const done = await p.waitFor(issued, 'the certificate is issued');
    const first = p.statuses[0]?.[0];
    assert.equal(first?.source, 'self-signed');
    assert.equal(first?.subject, 'CN=app.test, O=zdd self-signed');
    assert.equal(first?.ordering, true);
    const status = done[0] as CertificateStatus;
    assert.match(status.issuer, /^CN=Pebble Intermediate CA /);
    assert.equal(status.subject, 'CN=app.test');
    assert.equal(status.error, undefined);
    assert.ok(Date.parse(status.renewAt as string) > Date.now() && Date.parse(status.renewAt as string) < Date.parse(status.notAfter));

    // Handshakes get it, and its chain verifies against Pebble's root.
    for (const servername of ['app.test', 'www.app.test']) {
      const peer = await handshake(tlsPort, { servername, ca: root });
      assert.equal(peer.authorized, true, servername);
      assert.match(peer.issuer, /^CN=Pebble Intermediate CA /);
      serial = peer.serial;
    }

    const tlsDir = path.join(dataDir, 'tls');
    const entries = modes(tlsDir);
    assert.ok(entries.length > 0);
    for (const e of [{ file: tlsDir, mode: statSync(tlsDir).mode & 0o777, isDir: true }, ...entries]) {
      assert.equal(e.mode, e.isDir ? 0o700 : 0o600, `${e.file} has mode ${e.mode.toString(8)}`);
    }
    const files = entries
      .filter((e) => !e.isDir)
      .map((e) => path.relative(tlsDir, e.file).replace(/^acme\/127\.0\.0\.1_\d+-[0-9a-f]{8}\//, 'acme/<directory>/').replace(/[0-9a-f]{16}\.json$/, '<email hash>.json'));
    assert.deepEqual(files.sort(), ['acme/<directory>/accounts/<email hash>.json', 'acme/<directory>/certs/web/cert.pem', 'acme/<directory>/certs/web/key.pem']);
    const accountFile = entries.find((e) => e.file.includes('/accounts/'))?.file as string;
    const account = JSON.parse(readFileSync(accountFile, 'utf8')) as { email: string; url: string; key: string };
    assert.equal(account.email, 'ops@app.test');
    assert.match(account.url, /^https:\/\/127\.0\.0\.1:\d+\//);
    assert.match(account.key, /BEGIN PRIVATE KEY/);
    assert.equal(pebble.requests('/sign-me-up'), 1);
    assert.equal(pebble.requests('/order-plz'), 1);
    assert.ok(!p.stderr().includes('PRIVATE KEY'), 'no key in the log');
    await p.stop();
  });

  it('at the next start serves the stored certificate at once, with the same account and no new order', { timeout: 30_000 }, async () => {
    // Same hosts, and a subset: both covered by the stored certificate.
    for (const hosts of [['app.test', 'www.app.test'], ['www.app.test']]) {
      const p = start([acmeSite(pebble.directory, hosts)]);
      const [first] = (await p.waitFor(() => true, 'the first status')) as [CertificateStatus];
      assert.equal(first.source, 'acme');
      assert.equal(first.ordering, undefined, 'no order started');
      assert.equal((await handshake(tlsPort, { servername: 'www.app.test', ca: root })).serial, serial);
      await p.stop();
    }
    assert.equal(pebble.requests('/sign-me-up'), 1, 'the account was registered once');
    assert.equal(pebble.requests('/order-plz'), 1, 'one order in all');
  });

  it('orders again when a host is added', { timeout: 30_000 }, async () => {
    const p = start([acmeSite(pebble.directory, ['app.test', 'www.app.test', 'api.app.test'])]);
    const [first] = (await p.waitFor(() => true, 'the first status')) as [CertificateStatus];
    assert.equal(first.source, 'self-signed');
    assert.equal(first.ordering, true);
    await p.waitFor(issued, 'the certificate with the new host');
    const peer = await handshake(tlsPort, { servername: 'api.app.test', ca: root });
    assert.equal(peer.authorized, true);
    assert.notEqual(peer.serial, serial);
    assert.equal(pebble.requests('/order-plz'), 2);
    assert.equal(pebble.requests('/sign-me-up'), 1, 'still the one account');
    await p.stop();
  });

  it('trusts the directory through NODE_EXTRA_CA_CERTS only: without it, orders fail and the self-signed certificate keeps serving', { timeout: 30_000 }, async () => {
    const p = startStoreProcess({ dataDir: tempDir(), sites: [acmeSite(pebble.directory, ['trust.test'])], tlsPort, pollMs: 50 }, { NODE_EXTRA_CA_CERTS: undefined });
    cleanups.push(() => p.stop());
    const [failed] = (await p.waitFor((s) => s[0]?.error !== undefined, 'the order fails')) as [CertificateStatus];
    assert.equal(failed.source, 'self-signed');
    assert.match(failed.error as string, /^ACME order failed: .*(self-signed certificate|unable to (get|verify)).*start zdd with NODE_EXTRA_CA_CERTS=<its CA file>/i);
    assert.ok(Date.parse(failed.nextAttempt as string) > Date.now());
    const peer = await handshake(tlsPort, { servername: 'trust.test' });
    assert.equal(peer.issuer, 'CN=trust.test');
    await p.stop();
  });
});

describe('ACME renewal with Pebble (certificates valid for 4 s)', () => {
  let pebble: Pebble;
  let tlsPort: number;
  let root: string;
  const dataDir = tempDir();
  before(async () => {
    tlsPort = await freePort();
    pebble = await startPebble({ httpPort: await freePort(), tlsPort, alwaysValid: true, validitySeconds: 4 });
    cleanups.push(() => pebble.stop());
    root = await pebble.rootPem();
  });
  const start = () => {
    const p = startStoreProcess({ dataDir, sites: [acmeSite(pebble.directory, ['short.test'])], tlsPort, pollMs: 50 }, { NODE_EXTRA_CA_CERTS: pebble.caBundle });
    cleanups.push(() => p.stop());
    return p;
  };

  it('renews two-thirds into the lifetime while serving, and new handshakes get the new certificate', { timeout: 30_000 }, async () => {
    const p = start();
    const [first] = (await p.waitFor(issued, 'the first certificate')) as [CertificateStatus];
    assert.equal((await handshake(tlsPort, { servername: 'short.test', ca: root })).serial, first.serial);
    const [renewed] = (await p.waitFor((s) => issued(s) && s[0]?.serial !== first.serial, 'the renewal')) as [CertificateStatus];
    const renewing = p.statuses.findIndex((s) => s[0]?.source === 'acme' && s[0].ordering);
    assert.ok((p.times[renewing] as number) >= Date.parse(first.renewAt as string), 'the renewal started when it was due, not before');
    assert.ok(Date.parse(renewed.notAfter) > Date.parse(first.notAfter));
    const peer = await handshake(tlsPort, { servername: 'short.test', ca: root });
    assert.equal(peer.serial, renewed.serial);
    assert.equal(peer.authorized, true);
    await p.stop();
  });

  it('renews at start a stored certificate that is due, serving it meanwhile', { timeout: 30_000 }, async () => {
    // The certificate the last test left is due 2/3 into its 4 s: wait for that time (a clock, not an event).
    const stored = start();
    const [kept] = (await stored.waitFor(() => true, 'the first status')) as [CertificateStatus];
    await stored.stop();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(kept.renewAt as string) - Date.now() + 50)));
    const p = start();
    const [first] = (await p.waitFor(() => true, 'the first status')) as [CertificateStatus];
    assert.equal(first.source, 'acme');
    assert.equal(first.ordering, true, 'due: ordering at once');
    const [renewed] = (await p.waitFor((s) => issued(s) && s[0]?.serial !== first.serial, 'the renewal')) as [CertificateStatus];
    assert.equal((await handshake(tlsPort, { servername: 'short.test', ca: root })).serial, renewed.serial);
    await p.stop();
  });
});
