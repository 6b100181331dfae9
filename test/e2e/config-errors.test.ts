// Items 7 and 9 of the hardening issue through the CLI: config mistakes that used to misbehave at run
// time (a timer firing after 1 ms, a stack trace, a canary failing at its deadline) are exit-2 errors
// naming the key and line.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { zdd, zddJson } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, serviceYaml, type Project } from '../helpers/project.ts';
import type { StatusJson } from '../helpers/status.ts';

const projects: Project[] = [];
const daemons: DaemonProcess[] = [];
after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  for (const p of projects) p.remove();
});

async function project(yaml: (port: number) => string): Promise<Project> {
  const p = makeProject(yaml(await freePort()));
  projects.push(p);
  return p;
}

describe('config errors caught before anything runs', () => {
  it('zdd serve refuses stopTimeout: 600h (2^31 ms overflow Node timers): exit 2, key and line', { timeout: 20_000 }, async () => {
    const p = await project((port) => serviceYaml({ port, stopTimeout: '600h' }));
    const r = await zdd(p.dir, ['serve']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /zdd\.yaml:\d+: services\.web\.stopTimeout: "600h" is longer than the longest duration zdd accepts, 576h \(24 days\)/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('zdd serve refuses two services without hosts on one listen address, naming both: exit 2, no stack trace, no daemon.json left', { timeout: 20_000 }, async () => {
    const p = await project(
      (port) => `services:
  api:
    listen: 127.0.0.1:${port}
    command: node app.js
  web:
    listen: 127.0.0.1:${port}
    command: node app.js
`,
    );
    const r = await zdd(p.dir, ['serve']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /zdd\.yaml:6: services\.web\.listen: 127\.0\.0\.1:\d+ is also services\.api\.listen \(line 3\), and neither services\.api nor services\.web has hosts/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(existsSync(`${p.dir}/.zdd/daemon.json`), false);
  });

  it('zdd serve refuses one host and path routed to two services on a shared address, and ACME for a wildcard: exit 2, every line', { timeout: 20_000 }, async () => {
    const p = await project(
      (port) => `services:
  api:
    listen: 127.0.0.1:${port}
    command: node app.js
    hosts: [app.example.com]
    paths: [/api]
  web:
    listen: 127.0.0.1:${port}
    command: node app.js
    hosts: [App.Example.com]
    paths: [/api/]
  secure:
    listen: 127.0.0.1:${port + 1}
    command: node app.js
    hosts: ["*.example.com"]
    tls: { acme: { email: ops@example.com } }
`,
    );
    const r = await zdd(p.dir, ['serve']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /zdd\.yaml:10: services\.web\.hosts\.0: on 127\.0\.0\.1:\d+, app\.example\.com\/api is routed to both services\.api and services\.web \(hosts on lines 5 and 10\)/);
    assert.match(r.stderr, /zdd\.yaml:15: services\.secure\.hosts\.0: "\*\.example\.com": ACME validates a wildcard name only over DNS/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(existsSync(`${p.dir}/.zdd/daemon.json`), false);
  });

  it('zdd deploy refuses canary steps whose weights fall or reach 100% (exit 2); the live release keeps serving, and status shows what the proxy refused', { timeout: 30_000 }, async () => {
    let port = 0;
    const p = await project((n) => serviceYaml({ port: (port = n), replicas: 1 }));
    const d = await startDaemon(p.dir);
    daemons.push(d);
    assert.equal((await zdd(p.dir, ['deploy', 'web'])).code, 0);
    p.write(serviceYaml({ port, replicas: 1, strategy: '{ type: canary, steps: [{ weight: 50, pause: 1s }, { weight: 20 }, { weight: 100 }] }' }));
    const r = await zdd(p.dir, ['deploy', 'web']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /services\.web\.strategy\.steps\.1\.weight: 20 is lower than the step before \(50\)/);
    assert.match(r.stderr, /services\.web\.strategy\.steps\.2\.weight: must be less than 100/);
    assert.equal((await request(`http://127.0.0.1:${port}/`)).status, 200);

    // What the proxy refused itself shows in status, apart from the release's own numbers.
    assert.equal((await request(`http://127.0.0.1:${port}/`, { method: 'TRACE' })).status, 405);
    const status = await zddJson<StatusJson>(p.dir, ['status']);
    assert.deepEqual(status.services[0]!.rejected, { 405: 1 });
    const human = await zdd(p.dir, ['status']);
    assert.match(human.stdout, /refused\s+1 request\(s\) the proxy answered itself: 405×1/);
  });
});
