// Issue 9, automatic certificates end to end: a real zdd daemon, a real ACME server (Debian's Pebble)
// that validates for real — HTTP-01 against zdd's plain-HTTP redirect listener, TLS-ALPN-01 against its
// TLS listener — with names resolved to 127.0.0.1 by pebble-challtestsrv. Until the certificate exists
// zdd serves a self-signed one and says so; serving never waits for ACME.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startPebble, type Pebble } from '../helpers/pebble.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, testAppDir, type Project } from '../helpers/project.ts';

interface TlsStatus {
  source: string;
  issuer: string;
  ordering?: boolean;
  error?: string;
}

describe('ACME certificates through the daemon', () => {
  let pebble: Pebble;
  let project: Project;
  let daemon: DaemonProcess;
  let tlsPort: number;
  let httpPort: number;
  let root: string;

  before(async () => {
    [tlsPort, httpPort] = [await freePort(), await freePort()];
    pebble = await startPebble({ httpPort, tlsPort, mockDns: true });
    root = await pebble.rootPem();
    const common = (name: string) => `    command: node app.js
    cwd: ${testAppDir}
    env: { APP_VERSION: ${name}-v1 }
    replicas: 1
    health: { path: /healthz, interval: 50ms, timeout: 1s, startTimeout: 10s }
    drainTimeout: 2s
    stopTimeout: 2s
    tls: { acme: { email: ops@example.test, directory: "${pebble.directory}" } }
`;
    project = makeProject(`services:
  web:
    listen: 127.0.0.1:${tlsPort}
    hosts: [www.shop.test, shop.test]
    redirectHttp: 127.0.0.1:${httpPort}
${common('web')}
  blog:
    listen: 127.0.0.1:${tlsPort}
    hosts: [blog.test]
${common('blog')}
`);
    // Trust for the private ACME server comes from Node's standard variable.
    daemon = await startDaemon(project.dir, [], { NODE_EXTRA_CA_CERTS: pebble.caBundle });
  });

  after(async () => {
    await daemon?.stop();
    await pebble?.stop();
    project?.remove();
  });

  async function tlsStatus(name: string): Promise<TlsStatus> {
    const s = JSON.parse((await zdd(project.dir, ['status', '--json'])).stdout) as { services: { name: string; tls: TlsStatus }[] };
    return s.services.find((x) => x.name === name)!.tls;
  }

  async function waitForIssued(name: string): Promise<TlsStatus> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const t = await tlsStatus(name);
      if (t.source === 'acme' && !t.ordering) return t;
      assert.ok(Date.now() < deadline, `no certificate for ${name}: ${JSON.stringify(t)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  function handshake(servername: string): Promise<{ authorized: boolean; issuer: string; names: string }> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: tlsPort, servername, ca: root, rejectUnauthorized: false }, () => {
        const cert = socket.getPeerCertificate();
        resolve({ authorized: socket.authorized, issuer: String(cert.issuer?.CN ?? ''), names: cert.subjectaltname ?? '' });
        socket.destroy();
      });
      socket.on('error', reject);
    });
  }

  it('serves at once (self-signed until the CA answers), then with certificates Pebble issued after validating HTTP-01 and TLS-ALPN-01', { timeout: 120_000 }, async () => {
    // Serving does not wait for ACME: the first deploys go live whatever the certificate's state.
    for (const name of ['web', 'blog']) {
      const r = await zdd(project.dir, ['deploy', name, '--version', 'v1']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
    }
    const web = await waitForIssued('web');
    const blog = await waitForIssued('blog');
    assert.match(web.issuer, /Pebble/i);
    assert.match(blog.issuer, /Pebble/i);
    const shop = await handshake('www.shop.test');
    assert.equal(shop.authorized, true, 'the chain verifies against Pebble\'s root');
    assert.match(shop.names, /DNS:www\.shop\.test/);
    assert.match(shop.names, /DNS:shop\.test/);
    assert.equal((await handshake('blog.test')).authorized, true);
    // web has a redirect listener: Pebble fetched its HTTP-01 answers there. blog has none: TLS-ALPN-01.
    assert.match(pebble.log(), new RegExp(`http://www\\.shop\\.test:${httpPort}/\\.well-known/acme-challenge/`));
    assert.match(pebble.log(), /blog\.test/);
    // The account key and certificates are the daemon's own (0600).
    const log = daemon.lines.map((l) => JSON.stringify(l)).join('\n');
    assert.ok(!log.includes('PRIVATE KEY'), 'no key in the log');
    const dataDir = path.join(project.dir, '.zdd');
    assert.equal(statSync(path.join(dataDir, 'tls')).mode & 0o077, 0);
    // Plain HTTP to the shop goes to https with 308.
    const r = await request(`http://127.0.0.1:${httpPort}/cart`, { headers: { host: 'shop.test' } });
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, `https://shop.test:${tlsPort}/cart`);
  });

  it('shows the certificate in zdd status', { timeout: 30_000 }, async () => {
    const r = await zdd(project.dir, ['status']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /tls {7}ACME: .*issued by .*Pebble/i);
    assert.match(r.stdout, /routes {4}www\.shop\.test, shop\.test/);
  });
});
