// Certificates from files (tls: { cert, key }): served by SNI over real handshakes, checked on configure, and
// reloaded when replaced — without touching open connections, and never replaced by an invalid file.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ZddError } from '../../src/errors.ts';
import { CertificateStore, type CertificateSite } from '../../src/tls/index.ts';
import { makeCa, makeLeaf, tempDir, type Ca } from '../helpers/certs.ts';
import { captureLog } from './capture-log.ts';
import { connect, handshake, listenTls, peerOf } from './handshake.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function files(cert: string, key: string, service: string, hosts: string[]): CertificateSite {
  return { service, hosts, tls: { cert, key } };
}

/** Replaces `file` the way editors and certbot do: write a new file, rename it over the old one. */
function replaceByRename(file: string, content: string): void {
  writeFileSync(`${file}.new`, content);
  renameSync(`${file}.new`, file);
}

function storeFor(dataDir: string, o: { watchDebounceMs?: number } = {}) {
  const captured = captureLog();
  const store = new CertificateStore({ dataDir, log: captured.log, ...o });
  cleanups.push(() => store.close());
  return { store, ...captured };
}

describe('certificates from files', () => {
  let dir: string;
  let ca: Ca;
  before(() => {
    dir = tempDir();
    ca = makeCa(dir);
  });

  it('serves each site its certificate by server name: exact, one-level wildcard, then the default; clients without SNI get the default', { timeout: 20_000 }, async () => {
    const app = makeLeaf(ca, ['app.test']);
    const wild = makeLeaf(ca, ['*.wild.test']);
    const fallback = makeLeaf(ca, ['default.test']);
    const { store } = storeFor(tempDir());
    await store.configure([
      files(app.certFile, app.keyFile, 'app', ['app.test']),
      files(wild.certFile, wild.keyFile, 'wild', ['*.wild.test']),
      files(fallback.certFile, fallback.keyFile, 'fallback', []),
    ]);
    const listener = await listenTls(store);
    cleanups.push(() => listener.close());
    const serialFor = async (servername?: string) => (await handshake(listener.port, servername ? { servername, ca: ca.certPem } : { ca: ca.certPem })).serial;
    assert.equal(await serialFor('app.test'), app.serial);
    assert.equal(await serialFor('APP.Test'), app.serial, 'names match without regard to case');
    assert.equal(await serialFor('api.wild.test'), wild.serial);
    assert.equal(await serialFor('a.b.wild.test'), fallback.serial, 'a wildcard covers one level only');
    assert.equal(await serialFor('unknown.test'), fallback.serial);
    assert.equal(await serialFor(undefined), fallback.serial, 'no SNI: the default, through the server\'s own context');
    const verified = await handshake(listener.port, { servername: 'app.test', ca: ca.certPem });
    assert.equal(verified.authorized, true, 'the chain from the file verifies against the CA');
    assert.deepEqual(
      store.status().map((s) => [s.service, s.source, s.subject, s.issuer, s.error]),
      [
        ['app', 'files', 'CN=app.test', `CN=${ca.name}`, undefined],
        ['wild', 'files', 'CN=*.wild.test', `CN=${ca.name}`, undefined],
        ['fallback', 'files', 'CN=default.test', `CN=${ca.name}`, undefined],
      ],
    );
  });

  it('gives services that name the same files one shared context', { timeout: 10_000 }, async () => {
    const shared = makeLeaf(ca, ['one.test', 'two.test']);
    const { store } = storeFor(tempDir());
    await store.configure([files(shared.certFile, shared.keyFile, 'one', ['one.test']), files(shared.certFile, shared.keyFile, 'two', ['two.test'])]);
    assert.equal(store.contextFor('one.test'), store.contextFor('two.test'));
  });

  it('refuses unreadable files, files without a certificate, and a key that is not the certificate\'s, naming the file; the served set stays as it was', { timeout: 10_000 }, async () => {
    const good = makeLeaf(ca, ['good.test']);
    const other = makeLeaf(ca, ['other.test']);
    const garbage = path.join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const { store } = storeFor(tempDir());
    await store.configure([files(good.certFile, good.keyFile, 'good', ['good.test'])]);
    const before = store.contextFor('good.test');
    const cases: [CertificateSite, string, string][] = [
      [files(path.join(dir, 'missing.crt'), good.keyFile, 'web', ['web.test']), 'TLS_FILE_UNREADABLE', path.join(dir, 'missing.crt')],
      [files(garbage, good.keyFile, 'web', ['web.test']), 'TLS_CERT_INVALID', garbage],
      [files(good.certFile, garbage, 'web', ['web.test']), 'TLS_KEY_INVALID', garbage],
      [files(good.certFile, other.keyFile, 'web', ['web.test']), 'TLS_KEY_MISMATCH', other.keyFile],
    ];
    for (const [site, code, file] of cases) {
      await assert.rejects(store.configure([site]), (err: unknown) => {
        assert.ok(err instanceof ZddError, String(err));
        assert.equal(err.code, code, err.message);
        assert.ok(err.message.includes(file), err.message);
        assert.ok(err.hint, 'says what to do');
        return true;
      });
    }
    assert.equal(store.contextFor('good.test'), before);
    assert.deepEqual(store.status().map((s) => s.service), ['good']);
  });

  it('refuses tls.acme for wildcards and for a service without hosts', { timeout: 10_000 }, async () => {
    const { store } = storeFor(tempDir());
    const acme = { acme: { email: 'ops@example.com', directory: 'https://127.0.0.1:1/dir' } };
    for (const hosts of [['*.example.com'], []]) {
      await assert.rejects(store.configure([{ service: 'web', hosts, tls: acme }]), { code: 'TLS_SITE_INVALID' });
    }
  });

  it('reports names the certificate does not cover', { timeout: 10_000 }, async () => {
    const leaf = makeLeaf(ca, ['covered.test']);
    const { store, lines } = storeFor(tempDir());
    await store.configure([files(leaf.certFile, leaf.keyFile, 'web', ['covered.test', 'missing.test'])]);
    assert.match(store.status()[0]?.error ?? '', /does not name missing\.test/);
    assert.ok(lines().some((l) => String(l.msg).includes('does not name missing.test')));
  });

  it('serves a certificate replaced by rename to new handshakes, while an open connection keeps its session', { timeout: 20_000 }, async () => {
    const siteDir = tempDir();
    const first = makeLeaf(ca, ['live.test'], { dir: siteDir, file: 'v1' });
    const second = makeLeaf(ca, ['live.test'], { dir: siteDir, file: 'v2' });
    const certFile = path.join(siteDir, 'fullchain.pem');
    const keyFile = path.join(siteDir, 'privkey.pem');
    writeFileSync(certFile, first.certPem);
    writeFileSync(keyFile, first.keyPem);
    const { store } = storeFor(tempDir());
    await store.configure([files(certFile, keyFile, 'live', ['live.test'])]);
    const listener = await listenTls(store);
    cleanups.push(() => listener.close());
    const open = await connect(listener.port, { servername: 'live.test' });
    assert.equal(peerOf(open).serial, first.serial);

    const changed = once(store, 'change');
    replaceByRename(keyFile, second.keyPem);
    replaceByRename(certFile, second.certPem);
    await changed;
    assert.equal((await handshake(listener.port, { servername: 'live.test' })).serial, second.serial);
    assert.equal(store.status()[0]?.error, undefined);

    // The connection made before the change still works, with the certificate it started with.
    assert.equal(peerOf(open).serial, first.serial);
    assert.equal(open.destroyed, false);
    const [greeting] = (await once(open.setEncoding('utf8'), 'data')) as [string];
    assert.equal(greeting, 'hello\n');
    open.end();
    await once(open, 'end');
  });

  it('keeps the previous certificate when a replacement is invalid or does not match its key, says why, and takes the next valid one', { timeout: 20_000 }, async () => {
    const siteDir = tempDir();
    const first = makeLeaf(ca, ['keep.test'], { dir: siteDir, file: 'v1' });
    const second = makeLeaf(ca, ['keep.test'], { dir: siteDir, file: 'v2' });
    const certFile = path.join(siteDir, 'cert.pem');
    const keyFile = path.join(siteDir, 'key.pem');
    writeFileSync(certFile, first.certPem);
    writeFileSync(keyFile, first.keyPem);
    const { store, lines } = storeFor(tempDir());
    await store.configure([files(certFile, keyFile, 'keep', ['keep.test'])]);
    const listener = await listenTls(store);
    cleanups.push(() => listener.close());

    let changed = once(store, 'change');
    replaceByRename(certFile, '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n');
    await changed;
    assert.equal((await handshake(listener.port, { servername: 'keep.test' })).serial, first.serial);
    assert.match(store.status()[0]?.error ?? '', new RegExp(`${certFile}.*still serving the previous certificate`));
    const warning = lines().find((l) => l.msg === 'certificate files rejected; still serving the previous certificate');
    assert.equal(warning?.cert, certFile);
    assert.equal(warning?.code, 'TLS_CERT_INVALID');

    changed = once(store, 'change');
    replaceByRename(certFile, second.certPem); // the new certificate, but the old key
    await changed;
    assert.equal((await handshake(listener.port, { servername: 'keep.test' })).serial, first.serial);
    assert.match(store.status()[0]?.error ?? '', /is not the private key of the certificate/);

    changed = once(store, 'change');
    replaceByRename(keyFile, second.keyPem);
    await changed;
    assert.equal((await handshake(listener.port, { servername: 'keep.test' })).serial, second.serial);
    assert.equal(store.status()[0]?.error, undefined);
    assert.ok(!lines().some((l) => JSON.stringify(l).includes('PRIVATE KEY')), 'no key in the log');
  });

  it('reload() reads the files again at once (SIGHUP, zdd deploy), without waiting for the watch', { timeout: 10_000 }, async () => {
    const siteDir = tempDir();
    const first = makeLeaf(ca, ['hup.test'], { dir: siteDir, file: 'v1' });
    const second = makeLeaf(ca, ['hup.test'], { dir: siteDir, file: 'v2' });
    const certFile = path.join(siteDir, 'cert.pem');
    const keyFile = path.join(siteDir, 'key.pem');
    writeFileSync(certFile, first.certPem);
    writeFileSync(keyFile, first.keyPem);
    // A watch that would only react after an hour: the change is seen through reload() alone.
    const { store } = storeFor(tempDir(), { watchDebounceMs: 3600_000 });
    await store.configure([files(certFile, keyFile, 'hup', ['hup.test'])]);
    const listener = await listenTls(store);
    cleanups.push(() => listener.close());
    replaceByRename(keyFile, second.keyPem);
    replaceByRename(certFile, second.certPem);
    await store.reload();
    assert.equal((await handshake(listener.port, { servername: 'hup.test' })).serial, second.serial);
  });
});
