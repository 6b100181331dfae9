import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';

interface Answer {
  status: number;
  error?: { code: string; message: string };
}

let project: Project;
let daemon: DaemonProcess;
before(async () => {
  project = makeProject(serviceYaml({ port: await freePort(), replicas: 1 }));
  daemon = await startDaemon(project.dir);
});
after(async () => {
  await daemon?.stop();
  project?.remove();
});

/** One request straight to the control socket, as any local client could send it. */
function call(method: string, urlPath: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: path.join(project.dir, '.zdd', 'zdd.sock'), method, path: urlPath }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, ...(JSON.parse(text) as { error?: Answer['error'] }) }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

describe('control API input', () => {
  it('answers a malformed percent-encoding in the path with 400, not 500', { timeout: 30_000 }, async () => {
    for (const p of ['/v1/services/%E0%A4%A/history', '/v1/services/%zz', '/v1/services/web%/deploy']) {
      const r = await call(p.endsWith('deploy') ? 'POST' : 'GET', p);
      assert.equal(r.status, 400, p);
      assert.equal(r.error?.code, 'BAD_REQUEST');
      assert.match(r.error?.message ?? '', /the service name in the path is not valid percent-encoding/);
    }
  });

  it('takes a history ?limit= from 1 to 500 and answers anything else with 400 naming it', { timeout: 30_000 }, async () => {
    for (const limit of ['-5', '0', '501', 'abc', '1.5', '', '1e2', ' 3']) {
      const r = await call('GET', `/v1/services/web/history?limit=${encodeURIComponent(limit)}`);
      assert.equal(r.status, 400, `limit=${limit}`);
      assert.equal(r.error?.code, 'BAD_REQUEST');
      assert.match(r.error?.message ?? '', /limit must be a whole number from 1 to 500/);
    }
    for (const q of ['?limit=1', '?limit=500', '']) assert.equal((await call('GET', `/v1/services/web/history${q}`)).status, 200, q);
  });

  it('answers a rollback "to" that is not a release number with 400 (not a rollback to the previous release)', { timeout: 30_000 }, async () => {
    for (const to of ['"1"', '0', '-1', '1.5', 'true']) {
      const r = await call('POST', '/v1/services/web/rollback', `{"to":${to}}`);
      assert.equal(r.status, 400, `to=${to}`);
      assert.match(r.error?.message ?? '', /to must be a release number/);
    }
  });

  it('answers a promote "full" that is not a boolean, and an env value that is not a string, with 400', { timeout: 30_000 }, async () => {
    const promote = await call('POST', '/v1/services/web/promote', '{"full":"yes"}');
    assert.equal(promote.status, 400);
    assert.match(promote.error?.message ?? '', /full must be true or false/);
    const deploy = await call('POST', '/v1/services/web/deploy', '{"env":{"TOKEN":{"secret":"s3cret"}}}');
    assert.equal(deploy.status, 400);
    assert.match(deploy.error?.message ?? '', /env TOKEN must be a string, got object/);
    assert.doesNotMatch(deploy.error?.message ?? '', /s3cret/);
  });
});

describe('CLI parameters checked before calling the daemon', () => {
  it('zdd history -n takes 1 to 500: anything else exits 2 with a usage message', { timeout: 30_000 }, async () => {
    for (const n of ['-5', '0', '501', 'ten']) {
      const r = await zdd(project.dir, ['history', 'web', '-n', n]);
      assert.equal(r.code, 2, `-n ${n}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`-n/--limit expects a whole number from 1 to 500, got "${n}"`));
    }
    assert.equal((await zdd(project.dir, ['history', 'web', '-n', '3'])).code, 0);
  });

  it('zdd logs -n and -r take whole numbers', { timeout: 30_000 }, async () => {
    const lines = await zdd(project.dir, ['logs', 'web', '-n', 'lots']);
    assert.equal(lines.code, 2);
    assert.match(lines.stderr, /-n\/--lines expects a whole number/);
    const release = await zdd(project.dir, ['logs', 'web', '-r', 'latest']);
    assert.equal(release.code, 2);
    assert.match(release.stderr, /-r\/--release expects a release number/);
  });
});
