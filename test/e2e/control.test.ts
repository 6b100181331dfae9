// Issue 10: the HTTP control listener. Tokens (created once, hashed, revoked), roles (read/deploy),
// refusals (401, 403, 429), the remote CLI running a full canary deploy from a folder without .zdd,
// the audit trail in the history, the same exit codes as the local CLI, TLS, and zdd restart keeping
// the listener.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { routes } from '../../src/api/contract.ts';
import { zdd } from '../helpers/cli.ts';
import { makeCa, makeLeaf, tempDir } from '../helpers/certs.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';

interface History {
  events: { type: string; message: string }[];
  deployments: { status: string; strategy: string }[];
}

describe('HTTP control listener', () => {
  let project: Project;
  let daemon: DaemonProcess;
  let control: string;
  let port: number;
  let elsewhere: string;
  let deployToken: string;
  let readToken: string;

  const remote = (token: string, args: string[]) => zdd(elsewhere, args, { ZDD_URL: control, ZDD_TOKEN: token });
  const api = (pathname: string, o: { method?: string; token?: string; body?: string } = {}) =>
    request(`${control}${pathname}`, { method: o.method ?? 'GET', headers: o.token === undefined ? {} : { authorization: `Bearer ${o.token}` }, ...(o.body === undefined ? {} : { body: o.body }) });

  before(async () => {
    port = await freePort();
    const controlPort = await freePort();
    control = `http://127.0.0.1:${controlPort}`;
    project = makeProject(
      `control: { listen: "127.0.0.1:${controlPort}" }\n` +
        serviceYaml({ port, replicas: 2, strategy: '{ type: canary, steps: [{ weight: 20, pause: 1s }, { weight: 50, pause: 1s }], analysis: { minRequests: 50 } }', drainTimeout: '2s' }),
    );
    daemon = await startDaemon(project.dir);
    assert.equal((await zdd(project.dir, ['deploy', 'web', '--version', 'v1'])).code, 0);
    // Something in the instances' logs.
    await request(`http://127.0.0.1:${port}/print?kb=1`);
    // A folder with no zdd.yaml and no .zdd anywhere above it: only ZDD_URL can lead to the daemon.
    elsewhere = mkdtempSync(path.join(os.tmpdir(), 'zdd-remote-'));
    const created = await zdd(project.dir, ['token', 'create', '--name', 'ci']);
    assert.equal(created.code, 0, created.stderr);
    deployToken = created.stdout.trim().split('\n').at(-1)!;
    assert.match(deployToken, /^zdd_[A-Za-z0-9_-]{43}$/, 'the token is the last line of stdout');
    const read = await zdd(project.dir, ['token', 'create', '--name', 'grafana', '--role', 'read']);
    readToken = read.stdout.trim().split('\n').at(-1)!;
  });

  after(async () => {
    await daemon?.stop();
    project?.remove();
    if (elsewhere) rmSync(elsewhere, { recursive: true, force: true });
  });

  it('lists tokens without revealing them, keeps only a hash, refuses a second token of the same name', { timeout: 20_000 }, async () => {
    const list = await zdd(project.dir, ['token', 'list']);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /^ci\s+deploy\s/m);
    assert.match(list.stdout, /^grafana\s+read\s/m);
    assert.ok(!list.stdout.includes(deployToken) && !list.stdout.includes(readToken));
    const json = await zdd(project.dir, ['token', 'list', '--json']);
    assert.ok(!json.stdout.includes('zdd_'), 'no token and no hash in the listing');
    const again = await zdd(project.dir, ['token', 'create', '--name', 'ci']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /a token named ci exists already/);
    const bad = await zdd(project.dir, ['token', 'create', '--name', 'x', '--role', 'admin']);
    assert.equal(bad.code, 2, 'commander refuses a role that does not exist');
  });

  it('answers 401 without a token or with a bad one, 403 for a role that does not allow the route or a local-only route', { timeout: 20_000 }, async () => {
    const none = await api('/v1/status');
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="zdd"');
    assert.equal(JSON.parse(none.body).error.code, 'UNAUTHORIZED');
    assert.equal((await api('/v1/status', { token: `${deployToken}x` })).status, 401);
    assert.equal((await request(`${control}/v1/status`, { headers: { authorization: `Basic ${deployToken}` } })).status, 401);
    // read: status, history, logs; never deploy, rollback, promote, abort.
    assert.equal((await api('/v1/status', { token: readToken })).status, 200);
    assert.equal((await api('/v1/services/web/history', { token: readToken })).status, 200);
    assert.equal((await api('/v1/services/web/logs?lines=2', { token: readToken })).status, 200);
    for (const action of ['deploy', 'rollback', 'promote', 'abort']) {
      const r = await api(`/v1/services/web/${action}`, { method: 'POST', token: readToken, body: '{}' });
      assert.equal(r.status, 403, action);
      assert.equal(JSON.parse(r.body).error.code, 'FORBIDDEN');
    }
    // Daemon stop/restart and tokens are for the Unix socket only, whatever the token.
    for (const [method, p] of [['POST', '/v1/daemon/stop'], ['POST', '/v1/daemon/restart'], ['POST', '/v1/tokens'], ['GET', '/v1/tokens'], ['DELETE', '/v1/tokens/ci']] as const) {
      assert.equal((await api(p, { method, token: deployToken, body: method === 'POST' ? '{"name":"x"}' : undefined })).status, 403, `${method} ${p}`);
    }
    const promote = await api('/v1/services/web/promote', { method: 'POST', token: deployToken, body: '{}' });
    assert.equal(promote.status, 409, 'a deploy token may promote; there is just nothing to promote');
    assert.equal((await api('/v1/services/nope', { token: readToken })).status, 404);
    assert.equal((await api('/v1/status', { method: 'DELETE', token: readToken })).status, 405);
    const log = JSON.stringify(daemon.lines) + daemon.stderr;
    assert.ok(!log.includes(deployToken) && !log.includes(readToken), 'no token in the daemon log');
  });

  it('checks every route of the contract: 401 without a token, and what each role may call', { timeout: 30_000 }, async () => {
    // Only the status line matters: streams (follow, events) are cut once their headers came.
    const statusOf = (pathname: string, method: string, token?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${control}${pathname}`, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' } }, (res) => {
          resolve(res.statusCode!);
          res.destroy();
        });
        req.on('error', reject);
        req.end(method === 'POST' ? '{"name":"x"}' : undefined);
      });
    for (const [name, route] of Object.entries(routes)) {
      const pathname = route.path.replace(':service', 'web').replace(':name', 'nobody');
      assert.equal(await statusOf(pathname, route.method), 401, `${name} without a token`);
      const asRead = await statusOf(pathname, route.method, readToken);
      if (route.access === 'read') assert.ok(asRead < 400 || asRead === 404, `${name} with a read token: ${asRead}`);
      else assert.equal(asRead, 403, `${name} (${route.access}) with a read token`);
      if (route.access === 'local') assert.equal(await statusOf(pathname, route.method, deployToken), 403, `${name} with a deploy token`);
    }
  });

  it('runs a full canary deploy from a folder without .zdd, streaming progress, with the same exit codes as the local CLI', { timeout: 60_000 }, async () => {
    const load = startLoad({ url: `http://127.0.0.1:${port}`, connections: 4, rate: 300 });
    const r = await remote(deployToken, ['deploy', 'web', '--version', 'v2', '--env', 'APP_VERSION=v2']);
    const traffic = await load.stop();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /step 1\/2 passed/);
    assert.match(r.stdout, /step 2\/2 passed/);
    assert.equal(traffic.errors + traffic.timeouts + traffic.non2xx, 0, JSON.stringify(traffic));
    const status = await remote(readToken, ['status', '--json']);
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { services: { live: { version: string } }[] }).services[0]!.live.version, 'v2');
    await request(`http://127.0.0.1:${port}/print?kb=1`);
    const local = await zdd(project.dir, ['logs', 'web', '-n', '3']);
    const logs = await remote(readToken, ['logs', 'web', '-n', '3']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.ok(logs.stdout.length > 0);
    assert.equal(logs.stdout, local.stdout, 'remote logs print what local logs print');
    // Exit codes: an unknown service is a usage error (2) both ways; a read token deploying fails (1).
    assert.equal((await remote(deployToken, ['deploy', 'nope'])).code, 2);
    assert.equal((await zdd(project.dir, ['deploy', 'nope'])).code, 2);
    const refused = await remote(readToken, ['deploy', 'web']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /role read/);
    // A relative --source means nothing on another machine.
    assert.equal((await remote(deployToken, ['deploy', 'web', '--source', 'app'])).code, 2);
    // No daemon at that URL: exit 3, as without a local daemon.
    const nobody = await zdd(elsewhere, ['status'], { ZDD_URL: `http://127.0.0.1:${await freePort()}`, ZDD_TOKEN: readToken });
    assert.equal(nobody.code, 3, nobody.stderr);
  });

  it('records every mutating request with the token name and address in the history', { timeout: 20_000 }, async () => {
    const h = await remote(readToken, ['history', 'web', '--json']);
    const history = JSON.parse(h.stdout) as History;
    const audit = history.events.filter((e) => e.type === 'api');
    assert.ok(audit.some((e) => /^deploy web requested by token "ci" \(deploy\) from 127\.0\.0\.1$/.test(e.message)), JSON.stringify(audit));
    assert.ok(audit.some((e) => /^promote web requested by token "ci"/.test(e.message)));
    assert.ok(!audit.some((e) => /grafana/.test(e.message)), 'refused requests are not actions');
    const text = await remote(readToken, ['history', 'web']);
    assert.match(text.stdout, /requests over the control listener\n(.*\n)*.*deploy web requested by token "ci" \(deploy\) from 127\.0\.0\.1/);
  });

  it('revokes a token: 401 from then on', { timeout: 20_000 }, async () => {
    const t = (await zdd(project.dir, ['token', 'create', '--name', 'temp', '--role', 'read'])).stdout.trim().split('\n').at(-1)!;
    assert.equal((await api('/v1/status', { token: t })).status, 200);
    // An open event stream (a dashboard) with the token, ended by the revocation.
    const streamEnded = new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${control}/v1/events`, { headers: { authorization: `Bearer ${t}` } }, (res) => {
        let got = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (got += d));
        res.on('end', () => resolve(got));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal((await zdd(project.dir, ['token', 'revoke', 'temp'])).code, 0);
    assert.match(await streamEnded, /^event: status\n/, 'the stream had started, then ended');
    assert.equal((await api('/v1/status', { token: t })).status, 401);
    assert.equal((await zdd(project.dir, ['token', 'revoke', 'temp'])).code, 2, 'no such token');
  });

  it('resists malformed requests over a raw socket: garbage, a huge header, no Host — and never crashes', { timeout: 20_000 }, async () => {
    const raw = (payload: string) =>
      new Promise<string>((resolve) => {
        const s = net.connect(Number(new URL(control).port), '127.0.0.1');
        let got = '';
        s.on('data', (d) => (got += d));
        s.on('close', () => resolve(got));
        s.on('error', () => resolve(got));
        s.end(payload);
      });
    assert.match(await raw('NOT HTTP\r\n\r\n'), /^HTTP\/1\.1 400/);
    assert.match(await raw(`GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'a'.repeat(20_000)}\r\n\r\n`), /^HTTP\/1\.1 431/);
    assert.match(await raw(`GET /v1/status HTTP/1.1\r\nAuthorization: Bearer ${readToken}\r\n\r\n`), /^HTTP\/1\.1 400/);
    assert.match(await raw(`GET /v1/services/%E0%A4%A/history HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${readToken}\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 (400|404)/);
    assert.equal((await api('/v1/status', { token: readToken })).status, 200, 'still serving');
  });

  // Last: it locks 127.0.0.1 out for a minute.
  it('rate-limits failed attempts per address: 429 with Retry-After, even for a valid token, while the window lasts', { timeout: 20_000 }, async () => {
    // Earlier tests failed a few times from this address too: at most 10 failures in all are answered.
    const answers: number[] = [];
    while (answers.length < 12 && answers.at(-1) !== 429) answers.push((await api('/v1/status', { token: 'zdd_guess' })).status);
    assert.equal(answers.at(-1), 429, JSON.stringify(answers));
    assert.ok(answers.slice(0, -1).every((s) => s === 401));
    const limited = await api('/v1/status', { token: deployToken });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    assert.equal(JSON.parse(limited.body).error.code, 'RATE_LIMITED');
    // The Unix socket is not affected.
    assert.equal((await zdd(project.dir, ['status'])).code, 0);
  });
});

describe('control listener config and TLS', () => {
  it('refuses a control listener beyond loopback without TLS (exit 2, naming control.listen), unless insecure: true', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const p = makeProject(`control: { listen: "0.0.0.0:${await freePort()}" }\n${serviceYaml({ port, replicas: 1 })}`);
    try {
      const r = await zdd(p.dir, ['serve']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /zdd\.yaml:1: control\.listen: 0\.0\.0\.0:\d+ is reachable beyond this machine, and without tls/);
      p.write(`control: { listen: "0.0.0.0:${await freePort()}", insecure: true }\n${serviceYaml({ port, replicas: 1 })}`);
      const d = await startDaemon(p.dir);
      await d.waitForLog((l) => /reachable beyond this machine without TLS \(control\.insecure: true\)/.test(l.msg));
      await d.stop();
    } finally {
      p.remove();
    }
  });

  it('serves https with control.tls; the remote CLI trusts it through NODE_EXTRA_CA_CERTS; zdd restart keeps it', { timeout: 90_000 }, async () => {
    const dir = tempDir();
    const ca = makeCa(dir);
    const leaf = makeLeaf(ca, ['localhost'], { ips: ['127.0.0.1'] });
    const controlPort = await freePort();
    const port = await freePort();
    const p = makeProject(`control: { listen: "127.0.0.1:${controlPort}", tls: { cert: ${leaf.certFile}, key: ${leaf.keyFile} } }\n${serviceYaml({ port, replicas: 1 })}`);
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'zdd-remote-'));
    let d: DaemonProcess | undefined;
    try {
      d = await startDaemon(p.dir);
      assert.equal((await zdd(p.dir, ['deploy', 'web'])).code, 0);
      const token = (await zdd(p.dir, ['token', 'create', '--name', 'ci'])).stdout.trim().split('\n').at(-1)!;
      const env = { ZDD_URL: `https://127.0.0.1:${controlPort}`, ZDD_TOKEN: token };
      const untrusted = await zdd(elsewhere, ['status'], env);
      assert.equal(untrusted.code, 1);
      assert.match(untrusted.stderr, /NODE_EXTRA_CA_CERTS/);
      writeFileSync(path.join(elsewhere, 'ca.pem'), ca.certPem);
      const trusted = { ...env, NODE_EXTRA_CA_CERTS: path.join(elsewhere, 'ca.pem') };
      assert.equal((await zdd(elsewhere, ['status'], trusted)).code, 0);
      const restarted = await zdd(p.dir, ['restart']);
      assert.equal(restarted.code, 0, restarted.stderr);
      const after = await zdd(elsewhere, ['status', '--json'], trusted);
      assert.equal(after.code, 0, after.stderr);
      assert.notEqual((JSON.parse(after.stdout) as { daemon: { pid: number } }).daemon.pid, d.proc.pid, 'answered by the new daemon, same token');
    } finally {
      await zdd(p.dir, ['stop']);
      await d?.stop();
      p.remove();
      rmSync(elsewhere, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
