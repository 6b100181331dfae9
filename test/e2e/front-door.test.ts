// Issue 9, plain HTTP: several services on one port, told apart by host and path; a request that
// matches nothing gets 404; deploying one service under load never disturbs another on the same port.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startKeepAliveLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, testAppDir, type Project } from '../helpers/project.ts';
import { waitForStatus } from '../helpers/status.ts';

function service(name: string, listen: string, extra: string, strategy = '{ type: blue-green, rollbackWindow: 1s }'): string {
  return `  ${name}:
    listen: ${listen}
    command: node app.js
    cwd: ${testAppDir}
    env: { APP_VERSION: ${name}-v1 }
    replicas: 1
    health: { path: /healthz, interval: 50ms, timeout: 1s, startTimeout: 10s }
    strategy: ${strategy}
    drainTimeout: 2s
    stopTimeout: 2s
${extra}`;
}

describe('several services on one port', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let url: string;
  let soloUrl: string;

  before(async () => {
    const port = await freePort();
    const soloPort = await freePort();
    url = `http://127.0.0.1:${port}`;
    soloUrl = `http://127.0.0.1:${soloPort}`;
    const shared = `127.0.0.1:${port}`;
    project = makeProject(`services:
${service('web', shared, '    hosts: [app.test]\n')}
${service('api', shared, '    hosts: [app.test]\n    paths: [/api]\n    stripPrefix: true\n', '{ type: canary, steps: [{ weight: 50 }] }')}
${service('admin', shared, '    hosts: ["*.admin.test"]\n')}
${service('fallback', shared, '')}
${service('solo', `127.0.0.1:${soloPort}`, '    hosts: [solo.test]\n')}
`);
    daemon = await startDaemon(project.dir);
    for (const name of ['web', 'api', 'admin', 'fallback', 'solo']) {
      const r = await zdd(project.dir, ['deploy', name, '--version', 'v1']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
    }
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  async function get(base: string, path: string, host: string, headers: Record<string, string> = {}) {
    const r = await request(`${base}${path}`, { headers: { host, ...headers } });
    return { ...r, json: r.headers['content-type']?.includes('json') ? (JSON.parse(r.body) as { version: string; path: string }) : undefined };
  }

  it('routes by host (exact, wildcard, default; any case, any port) and by path prefix on segment boundaries', { timeout: 30_000 }, async () => {
    assert.equal((await get(url, '/', 'app.test')).json?.version, 'web-v1');
    assert.equal((await get(url, '/', 'APP.Test:8080')).json?.version, 'web-v1');
    assert.equal((await get(url, '/', 'app.test.')).json?.version, 'web-v1');
    assert.equal((await get(url, '/x', 'a.admin.test')).json?.version, 'admin-v1');
    // One level only: a.b.admin.test is not *.admin.test; nor is admin.test itself.
    assert.equal((await get(url, '/', 'a.b.admin.test')).json?.version, 'fallback-v1');
    assert.equal((await get(url, '/', 'admin.test')).json?.version, 'fallback-v1');
    assert.equal((await get(url, '/', 'elsewhere.test')).json?.version, 'fallback-v1');
    const api = await get(url, '/api/items?page=2', 'app.test');
    assert.equal(api.json?.version, 'api-v1');
    assert.equal(api.json?.path, '/items', 'stripPrefix removed /api');
    assert.equal((await get(url, '/api', 'app.test')).json?.path, '/');
    // /apix is not under /api.
    assert.equal((await get(url, '/apix', 'app.test')).json?.version, 'web-v1');
    // /api on another host is not the api service.
    assert.equal((await get(url, '/api/items', 'other.test')).json?.version, 'fallback-v1');
  });

  it('answers 404 with a short text when nothing matches (no default service on that address)', { timeout: 30_000 }, async () => {
    assert.equal((await get(soloUrl, '/', 'solo.test')).json?.version, 'solo-v1');
    const r = await get(soloUrl, '/some/where', 'unknown.test');
    assert.equal(r.status, 404);
    assert.match(r.headers['content-type'] ?? '', /text\/plain/);
    assert.match(r.body, /^zdd: no service here for unknown\.test\/some\/where\n$/);
    // A malformed request is still the client's error, not a 404.
    const twoHosts = await rawRequest(soloUrl, 'GET / HTTP/1.1\r\nHost: solo.test\r\nHost: other.test\r\n\r\n');
    assert.match(twoHosts, /^HTTP\/1\.1 400 /);
  });

  it('deploys one service under load while the others on the same port keep serving, untouched', { timeout: 90_000 }, async () => {
    const webLoad = startKeepAliveLoad({ url, rate: 150, connections: 4, headers: { host: 'app.test' } });
    const apiLoad = startKeepAliveLoad({ url, rate: 150, connections: 4, path: '/api/items', headers: { host: 'app.test' } });
    const fallbackLoad = startKeepAliveLoad({ url, rate: 100, connections: 2, headers: { host: 'x.test' } });
    for (const v of ['v2', 'v3']) {
      const r = await zdd(project.dir, ['deploy', 'web', '--version', v, '--env', `APP_VERSION=web-${v}`]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
    }
    const results = await Promise.all([webLoad.stop(), apiLoad.stop(), fallbackLoad.stop()]);
    for (const t of results) {
      // The load really ran across both deploys (which may take under a second in all): the point is zero failures.
      assert.ok(t.requests > 50, JSON.stringify(t));
      assert.equal(t.errors + t.non2xx, 0, JSON.stringify(t));
    }
    assert.equal((await get(url, '/', 'app.test')).json?.version, 'web-v3');
    assert.equal((await get(url, '/api/x', 'app.test')).json?.version, 'api-v1');
    assert.equal((await get(url, '/', 'x.test')).json?.version, 'fallback-v1');
  });

  it('keeps the bucket cookie of a service routed by path on that path, so services on one host do not overwrite each other\'s', { timeout: 60_000 }, async () => {
    const deploying = zdd(project.dir, ['deploy', 'api', '--version', 'v2', '--env', 'APP_VERSION=api-v2']);
    await waitForStatus(project.dir, (s) => s.deployment?.step === 'step 1/1', 'the api canary at 50%', 30_000, 'api');
    const r = await get(url, '/api/x', 'app.test');
    const cookie = String(r.headers['set-cookie']);
    assert.match(cookie, /^zdd-bucket=\d+\.[\w-]{16}; Path=\/api; HttpOnly; SameSite=Lax$/);
    // Over plain HTTP the cookie is not Secure.
    assert.doesNotMatch(cookie, /Secure/);
    // A client that also holds a bucket cookie from another service (Path=/) keeps its api side.
    const mine = cookie.split(';')[0]!;
    const side = (await get(url, '/api/x', 'app.test', { cookie: mine })).json?.version;
    for (let i = 0; i < 10; i++) {
      const again = await get(url, '/api/x', 'app.test', { cookie: `zdd-bucket=123.abcdefghijklmnop; ${mine}` });
      assert.equal(again.json?.version, side);
      assert.equal(again.headers['set-cookie'], undefined, 'no new cookie: its own one was recognised');
    }
    assert.equal((await zdd(project.dir, ['promote', 'api'])).code, 0);
    assert.equal((await deploying).code, 0);
  });
});

function rawRequest(base: string, text: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    import('node:net').then(({ default: net }) => {
      const socket = net.connect(Number(port), hostname, () => socket.end(text));
      let got = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (got += d));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    }, reject);
  });
}
