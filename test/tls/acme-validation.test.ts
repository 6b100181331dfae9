// ACME with real validations: Pebble resolves every name to 127.0.0.1 (pebble-challtestsrv as its DNS server) and
// fetches HTTP-01 answers from the plain-HTTP listener, or makes TLS-ALPN-01 handshakes with the TLS listener.
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CertificateSite, CertificateStatus, ChallengeType } from '../../src/tls/index.ts';
import { tempDir } from '../helpers/certs.ts';
import { startPebble, type Pebble } from '../helpers/pebble.ts';
import { freePort } from '../helpers/ports.ts';
import { handshake } from './handshake.ts';
import { startStoreProcess, type StoreProcess } from './store-process.ts';
import type { ChildInput } from './store-child.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const issued = (s: CertificateStatus[]) => s[0]?.source === 'acme' && !s[0].ordering;

/** RFC 7638 thumbprint of the account key in `dataDir`: part of every key authorization of that account. */
function accountThumbprint(dataDir: string): string {
  const acmeDir = path.join(dataDir, 'tls', 'acme');
  const [directoryDir] = readdirSync(acmeDir);
  const accounts = path.join(acmeDir, directoryDir as string, 'accounts');
  const [file] = readdirSync(accounts);
  const { key } = JSON.parse(readFileSync(path.join(accounts, file as string), 'utf8')) as { key: string };
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

describe('ACME with real validations', () => {
  let pebble: Pebble;
  let httpPort: number;
  let tlsPort: number;
  let root: string;

  before(async () => {
    [httpPort, tlsPort] = [await freePort(), await freePort()];
    pebble = await startPebble({ httpPort, tlsPort, mockDns: true });
    cleanups.push(() => pebble.stop());
    root = await pebble.rootPem();
  });

  function start(hosts: string[], challenges: ChallengeType[], listeners: Partial<ChildInput>): { p: StoreProcess; dataDir: string } {
    const dataDir = tempDir();
    const site: CertificateSite = { service: 'web', hosts, tls: { acme: { email: 'ops@example.test', directory: pebble.directory } }, challenges };
    const p = startStoreProcess({ dataDir, sites: [site], pollMs: 50, ...listeners }, { NODE_EXTRA_CA_CERTS: pebble.caBundle });
    cleanups.push(() => p.stop());
    return { p, dataDir };
  }

  function assertNoSecrets(p: StoreProcess, dataDir: string): void {
    const log = p.stderr();
    assert.ok(log.length > 0);
    assert.ok(!log.includes('PRIVATE KEY'), 'no key in the log');
    assert.ok(!log.includes(accountThumbprint(dataDir)), 'no key authorization in the log');
  }

  it('HTTP-01: Pebble fetches each key authorization from the plain-HTTP listener', { timeout: 30_000 }, async () => {
    const { p, dataDir } = start(['http.test', 'www.http.test'], ['http-01'], { httpPort, tlsPort });
    await p.waitFor(issued, 'the certificate');
    for (const name of ['http.test', 'www.http.test']) {
      assert.match(pebble.log(), new RegExp(`Attempting to validate w/ HTTP: http://${name.replaceAll('.', '\\.')}:${httpPort}/\\.well-known/acme-challenge/`));
    }
    assert.ok(!p.stderr().includes('answered a TLS-ALPN-01 validation'));
    // Once the order is done, the tokens are no longer answered.
    const token = /acme-challenge\/([A-Za-z0-9_-]+)/.exec(pebble.log())?.[1] as string;
    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/.well-known/acme-challenge/${token}`)).status, 404);
    assert.equal((await handshake(tlsPort, { servername: 'www.http.test', ca: root })).authorized, true);
    assertNoSecrets(p, dataDir);
    await p.stop();
  });

  it('TLS-ALPN-01: the TLS listener answers handshakes offering acme-tls/1 with the challenge certificate', { timeout: 30_000 }, async () => {
    const { p, dataDir } = start(['alpn.test', 'www.alpn.test'], ['tls-alpn-01'], { tlsPort });
    await p.waitFor(issued, 'the certificate');
    const answered = p
      .stderr()
      .split('\n')
      .filter((l) => l.includes('answered a TLS-ALPN-01 validation'))
      .map((l) => (JSON.parse(l) as { servername: string }).servername);
    assert.deepEqual([...new Set(answered)].sort(), ['alpn.test', 'www.alpn.test']);
    const peer = await handshake(tlsPort, { servername: 'alpn.test', ca: root, ALPNProtocols: ['h2', 'http/1.1'] });
    assert.equal(peer.authorized, true);
    assert.equal(peer.alpn, 'h2', 'ordinary handshakes still get the listener\'s own protocols');
    assertNoSecrets(p, dataDir);
    await p.stop();
  });

  it('fails the order when nothing answers the challenge, and keeps serving the self-signed certificate', { timeout: 30_000 }, async () => {
    // http-01 only, and no plain-HTTP listener on Pebble's httpPort.
    const { p } = start(['nobody.test'], ['http-01'], { tlsPort });
    const [failed] = (await p.waitFor((s) => s[0]?.error !== undefined, 'the order fails')) as [CertificateStatus];
    assert.equal(failed.source, 'self-signed');
    assert.match(failed.error as string, /^ACME order failed: .*(refused|connect)/i);
    assert.ok(failed.nextAttempt);
    assert.equal((await handshake(tlsPort, { servername: 'nobody.test' })).issuer, 'CN=nobody.test');
    await p.stop();
  });

  it('keeps key authorizations out of status and logs when the CA quotes them in its error', { timeout: 30_000 }, async () => {
    const { p, dataDir } = start(['wrong.test'], ['http-01'], { httpPort, http01Wrong: true });
    const [failed] = (await p.waitFor((s) => s[0]?.error !== undefined, 'the order fails')) as [CertificateStatus];
    assert.match(failed.error as string, /\[key authorization\]/);
    assert.ok(!(failed.error as string).includes(accountThumbprint(dataDir)));
    assertNoSecrets(p, dataDir);
    await p.stop();
  });
});
