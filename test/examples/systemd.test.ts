import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { zdd } from '../helpers/cli.ts';
import { version } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, repoRoot, serviceYaml, zddBin, type Project } from '../helpers/project.ts';

const unitFile = path.join(repoRoot, 'examples', 'systemd', 'zdd.service');

/** The [Service] section's settings (a key given twice, as Environment may be, keeps every value). */
function serviceSection(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[')) section = line;
    else if (section === '[Service]') {
      const i = line.indexOf('=');
      const key = line.slice(0, i);
      out.set(key, [...(out.get(key) ?? []), line.slice(i + 1)]);
    }
  }
  return out;
}

/** An Exec line as systemd splits it (no quoting in ours), with the zdd it names replaced by this checkout's. */
function command(line: string): [string, string[]] {
  const [file, ...args] = line.split(/\s+/);
  assert.match(file!, /\/zdd$/, `the unit runs zdd: ${line}`);
  return [zddBin, args];
}

describe('examples/systemd/zdd.service', () => {
  let project: Project | undefined;
  after(() => project?.remove());

  it('its ExecStart runs a daemon that serves, and its ExecStop drains it until it exits 0 and frees the port', { timeout: 60_000 }, async () => {
    const unit = serviceSection(readFileSync(unitFile, 'utf8'));
    assert.equal(unit.get('Delegate')?.[0], 'yes');
    assert.equal(unit.get('KillMode')?.[0], 'mixed');
    assert.ok(unit.get('WorkingDirectory')?.[0], 'it sets the project folder');
    const env = Object.fromEntries((unit.get('Environment') ?? []).map((e) => e.split('=', 2) as [string, string]));

    const port = await freePort();
    project = makeProject(serviceYaml({ port, replicas: 1 }));
    // WorkingDirectory is the project: the daemon finds zdd.yaml and .zdd/ there, as under systemd.
    const [startFile, startArgs] = command(unit.get('ExecStart')![0]!);
    const daemon = spawn(startFile, startArgs, { cwd: project.dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = once(daemon, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    let stderr = '';
    daemon.stderr!.on('data', (d: Buffer) => (stderr += d));
    const ready = new Promise<void>((resolve, reject) => {
      createInterface({ input: daemon.stdout! }).on('line', (line) => / ready$/.test((JSON.parse(line) as { msg: string }).msg) && resolve());
      void exited.then(([code]) => reject(new Error(`the daemon exited (${code}) before it was ready: ${stderr}`)));
    });
    await ready;

    const deploy = await zdd(project.dir, ['deploy', 'web']);
    assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr);
    assert.equal(await version(`http://127.0.0.1:${port}`), 'v1', 'it serves');

    const [stopFile, stopArgs] = command(unit.get('ExecStop')![0]!);
    const stop = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(stopFile, stopArgs, { cwd: project!.dir, env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d));
      p.stderr.on('data', (d: Buffer) => (out += d));
      p.once('close', (code) => resolve({ code, out }));
    });
    assert.equal(stop.code, 0, stop.out);
    assert.match(stop.out, /zdd stopped/);
    assert.deepEqual(await exited, [0, null], 'the daemon exited 0, by itself');
    // ExecStop returned only once the daemon had gone: the port is free at once.
    const server = net.createServer();
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    server.close();
  });
});
