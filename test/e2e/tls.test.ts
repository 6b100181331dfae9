// Issue 9, TLS: zdd terminates TLS itself (certificate files, chosen by SNI), speaks HTTP/2 and
// HTTP/1.1 by ALPN, redirects plain HTTP with 308, sets HSTS and X-Forwarded-Proto, reloads renewed
// certificate files without dropping a connection, and keeps every zero-downtime guarantee over TLS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { zdd } from '../helpers/cli.ts';
import { makeCa, makeLeaf, type Ca } from '../helpers/certs.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startKeepAliveLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, testAppDir, type Project } from '../helpers/project.ts';

describe('zdd serving TLS and HTTP/2', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let ca: Ca;
  let port: number;
  let httpPort: number;
  let certDir: string;

  before(async () => {
    port = await freePort();
    httpPort = await freePort();
    project = makeProject();
    certDir = path.join(project.dir, 'certs');
    execFileSync('mkdir', ['-p', certDir]);
    ca = makeCa(certDir);
    makeLeaf(ca, ['app.test', 'api.test'], { file: 'site' });
    const common = `    command: node app.js
    cwd: ${testAppDir}
    replicas: 2
    health: { path: /healthz, interval: 50ms, timeout: 1s, startTimeout: 10s }
    strategy: { type: blue-green, rollbackWindow: 1s }
    drainTimeout: 3s
    stopTimeout: 2s
    tls: { cert: certs/site.crt, key: certs/site.key }
`;
    project.write(`services:
  web:
    listen: 127.0.0.1:${port}
    hosts: [app.test]
    env: { APP_VERSION: web-v1 }
    redirectHttp: 127.0.0.1:${httpPort}
    hsts: 365d
${common}
  api:
    listen: 127.0.0.1:${port}
    hosts: [api.test]
    env: { APP_VERSION: api-v1 }
${common}
`);
    daemon = await startDaemon(project.dir);
    for (const name of ['web', 'api']) {
      const r = await zdd(project.dir, ['deploy', name, '--version', 'v1']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
    }
  });

  after(async () => {
    // After zdd restart the daemon serving is the successor: zdd stop reaches whichever it is.
    if (project) await zdd(project.dir, ['stop']);
    await daemon?.stop();
    project?.remove();
  });

  function h2get(host: string, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string; alpn: string | false }> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.certPem, servername: host });
      session.on('error', reject);
      const req = session.request({ ':path': path, ':authority': host, ...headers });
      let body = '';
      let head: http2.IncomingHttpHeaders = {};
      req.setEncoding('utf8');
      req.on('response', (h) => (head = h));
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        const alpn = session.alpnProtocol ?? false;
        session.close();
        resolve({ status: Number(head[':status']), headers: head, body, alpn });
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** One TLS 1.3 connection and request (the ticket comes after the handshake); offers `session` when given. */
  function tlsSession(session?: Buffer): Promise<{ session: Buffer; reused: boolean }> {
    return new Promise((resolve, reject) => {
      let ticket: Buffer | undefined;
      let reused = false;
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'app.test', ca: ca.certPem, ALPNProtocols: ['http/1.1'], ...(session ? { session } : {}) }, () => {
        // Asked now: once closed, the socket no longer knows.
        reused = socket.isSessionReused();
        socket.end('GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
      });
      socket.on('session', (s: Buffer) => (ticket = s));
      socket.resume();
      // A resumed session may come without a new ticket: the one offered stays good.
      socket.on('close', () => (ticket ?? session ? resolve({ session: (ticket ?? session)!, reused }) : reject(new Error('no session ticket came'))));
      socket.on('error', reject);
    });
  }

  function h1get(host: string, path = '/'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; alpn: string | false }> {
    return new Promise((resolve, reject) => {
      const options = { host: '127.0.0.1', port, path, servername: host, headers: { host }, ca: ca.certPem, agent: false, ALPNProtocols: ['http/1.1'] } as https.RequestOptions;
      const req = https.get(options, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, alpn: (res.socket as tls.TLSSocket).alpnProtocol ?? false }));
      });
      req.on('error', reject);
    });
  }

  it('serves each host over HTTP/2 and HTTP/1.1 with the certificate, X-Forwarded-Proto https and HSTS', { timeout: 30_000 }, async () => {
    const a = await h2get('app.test', '/headers');
    assert.equal(a.alpn, 'h2');
    assert.equal(a.status, 200);
    const app = JSON.parse(a.body) as { version: string; headers: Record<string, string> };
    assert.equal(app.version, 'web-v1');
    assert.equal(app.headers['x-forwarded-proto'], 'https');
    assert.equal(app.headers.host, 'app.test');
    assert.equal(a.headers['strict-transport-security'], 'max-age=31536000');
    const b = await h1get('api.test');
    assert.equal(b.alpn, 'http/1.1');
    assert.equal((JSON.parse(b.body) as { version: string }).version, 'api-v1');
    // api sets no hsts.
    assert.equal(b.headers['strict-transport-security'], undefined);
    // curl, as a third client (HTTP/2 by ALPN).
    const curl = execFileSync('curl', ['-s', '--http2', '--cacert', ca.certFile, '--resolve', `app.test:${port}:127.0.0.1`, '-w', '\\n%{http_version}', `https://app.test:${port}/`], { encoding: 'utf8' });
    assert.match(curl, /"version":"web-v1"[\s\S]*\n2$/);
  });

  it('redirects plain HTTP to https with 308, keeping host and path', { timeout: 30_000 }, async () => {
    const r = await request(`http://127.0.0.1:${httpPort}/some/page?x=1`, { headers: { host: 'app.test' } });
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, `https://app.test:${port}/some/page?x=1`);
    // A host the redirect listener does not serve: 404.
    assert.equal((await request(`http://127.0.0.1:${httpPort}/`, { headers: { host: 'other.test' } })).status, 404);
  });

  it('carries WebSockets over TLS (HTTP/1.1 upgrade)', { timeout: 30_000 }, async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca: ca.certPem, servername: 'app.test', headers: { host: 'app.test' } } as WebSocket.ClientOptions);
    const greeting = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d) => resolve(String(d)));
      ws.once('error', reject);
    });
    assert.equal(greeting, 'hello from web-v1');
    ws.send('ping');
    assert.equal(await new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d)))), 'ping');
    ws.close();
  });

  it('loses no request over HTTP/2 and TLS HTTP/1.1 while releases are replaced and zdd restarts', { timeout: 120_000 }, async () => {
    const h2load = startKeepAliveLoad({ url: `https://127.0.0.1:${port}`, rate: 150, connections: 2, headers: { host: 'app.test' }, tls: { ca: ca.certPem, servername: 'app.test' }, h2: true });
    const h1load = startKeepAliveLoad({ url: `https://127.0.0.1:${port}`, rate: 150, connections: 4, headers: { host: 'api.test' }, tls: { ca: ca.certPem, servername: 'api.test' } });
    for (const v of ['v2', 'v3']) {
      const r = await zdd(project.dir, ['deploy', 'web', '--version', v, '--env', `APP_VERSION=web-${v}`]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
    }
    const restarted = await zdd(project.dir, ['restart']);
    assert.equal(restarted.code, 0, restarted.stderr + restarted.stdout);
    const r = await zdd(project.dir, ['deploy', 'api', '--version', 'v2', '--env', 'APP_VERSION=api-v2']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const [a, b] = await Promise.all([h2load.stop(), h1load.stop()]);
    for (const t of [a, b]) {
      assert.ok(t.requests > 300, JSON.stringify(t));
      assert.equal(t.errors + t.non2xx, 0, JSON.stringify(t));
    }
    assert.equal(JSON.parse((await h2get('app.test')).body).version, 'web-v3');
    assert.equal(JSON.parse((await h2get('api.test')).body).version, 'api-v2');
  });

  it('resumes a TLS session with a ticket from before zdd restart (ticket keys live in the data dir)', { timeout: 60_000 }, async () => {
    const first = await tlsSession();
    assert.equal(first.reused, false);
    assert.equal((await tlsSession(first.session)).reused, true, 'resumed by the same daemon');
    const restarted = await zdd(project.dir, ['restart']);
    assert.equal(restarted.code, 0, restarted.stderr + restarted.stdout);
    assert.equal((await tlsSession(first.session)).reused, true, 'resumed by the next daemon');
  });

  it('serves renewed certificate files to new handshakes without dropping open connections', { timeout: 60_000 }, async () => {
    const before = await peerSerial('app.test');
    // An HTTP/2 connection opened on the old certificate.
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.certPem, servername: 'app.test' });
    try {
      await once(session.request({ ':path': '/', ':authority': 'app.test' }).end());
      // certbot-style: new files written aside, then renamed over the old ones.
      const next = makeLeaf(ca, ['app.test', 'api.test'], { file: 'next' });
      renameSync(next.keyFile, path.join(certDir, 'site.key'));
      renameSync(next.certFile, path.join(certDir, 'site.crt'));
      const deadline = Date.now() + 20_000;
      while ((await peerSerial('app.test')) !== next.serial) {
        assert.ok(Date.now() < deadline, 'the renewed certificate was never served');
      }
      assert.notEqual(before, next.serial);
      // The connection opened before still works.
      await once(session.request({ ':path': '/', ':authority': 'app.test' }).end());
      // An invalid replacement (a key that is not the certificate's), read on SIGHUP, keeps the current one and says why.
      writeFileSync(path.join(certDir, 'site.key'), makeLeaf(ca, ['x.test'], { file: 'other' }).keyPem);
      const pid = (JSON.parse((await zdd(project.dir, ['status', '--json'])).stdout) as { daemon: { pid: number } }).daemon.pid;
      process.kill(pid, 'SIGHUP');
      let status: { tls: { serial: string; error?: string } } | undefined;
      while (!status?.tls.error) {
        assert.ok(Date.now() < deadline, `the rejected key was never reported: ${JSON.stringify(status)}`);
        const all = JSON.parse((await zdd(project.dir, ['status', '--json'])).stdout) as { services: { name: string; tls: { serial: string; error?: string } }[] };
        status = all.services.find((x) => x.name === 'web');
      }
      assert.match(status.tls.error, /site\.key/);
      assert.equal(status.tls.serial, next.serial);
      assert.equal(await peerSerial('app.test'), next.serial);
    } finally {
      session.destroy();
    }
  });

  it('refuses what it cannot parse over TLS with 400, and a handshake for a name it does not know still completes with the default certificate', { timeout: 30_000 }, async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'app.test', ca: ca.certPem, ALPNProtocols: ['http/1.1'] }, () => socket.end('GET / HTTP/1.1\r\nHost: app.test\r\nHost: api.test\r\n\r\n'));
      let got = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (got += d));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 400 /);
    const unknown = await new Promise<boolean>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'unknown.test', rejectUnauthorized: false }, () => {
        resolve(socket.authorized);
        socket.destroy();
      });
      socket.on('error', () => resolve(false));
    });
    assert.equal(unknown, false, 'no certificate names unknown.test, so it cannot verify');
  });

  function peerSerial(servername: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername, ca: ca.certPem }, () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.destroy();
        resolve(serial);
      });
      socket.on('error', reject);
    });
  }
});

function once(stream: http2.ClientHttp2Stream): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on('response', () => undefined);
    stream.resume();
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
}
