import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseListen } from '../../src/config/listen.ts';
import { zdd } from '../helpers/cli.ts';
import { DaemonProcess } from '../helpers/daemon.ts';
import { version } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, repoRoot, serviceYaml, testAppDir, type Project } from '../helpers/project.ts';

const dir = path.join(repoRoot, 'examples', 'systemd');

/** A unit file's settings in one section (a key given twice, as ListenStream may be, keeps every value). */
function section(text: string, name: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[')) current = line;
    else if (current === `[${name}]`) {
      const i = line.indexOf('=');
      out.set(line.slice(0, i), [...(out.get(line.slice(0, i)) ?? []), line.slice(i + 1)]);
    }
  }
  return out;
}

describe('examples/systemd/zdd.socket', () => {
  let project: Project | undefined;
  let daemon: DaemonProcess | undefined;
  after(async () => {
    await daemon?.stop();
    project?.remove();
  });

  const socket = section(readFileSync(path.join(dir, 'zdd.socket'), 'utf8'), 'Socket');
  const unit = section(readFileSync(path.join(dir, 'zdd.service'), 'utf8'), 'Unit');

  it('pairs with zdd.service: TCP addresses zdd.yaml can name, for the service of its name', { timeout: 5_000 }, () => {
    const streams = socket.get('ListenStream') ?? [];
    assert.ok(streams.length > 0);
    for (const s of streams) assert.ok(parseListen(s.replace(/^\d+$/, ':$&')), `ListenStream=${s} is an address and port`);
    assert.equal(socket.get('Service')?.[0], 'zdd-myapp.service');
    for (const key of ['Wants', 'After']) assert.match(unit.get(key)?.join(' ') ?? '', /\bzdd-myapp\.socket\b/, `zdd.service ${key}= the socket`);
  });

  it('its first ListenStream, handed in as systemd would, is what zdd serves from', { timeout: 60_000 }, async () => {
    const first = parseListen(socket.get('ListenStream')![0]!)!;
    // The example's address on a port free here.
    const port = await freePort();
    project = makeProject(serviceYaml({ port, replicas: 1 }).replace(`listen: 127.0.0.1:${port}`, `listen: ${first.host}:${port}`));
    const name = socket.get('FileDescriptorName')![0]!;
    daemon = new DaemonProcess(project.dir, [], {}, ['/usr/bin/python3', path.join(testAppDir, 'socket-launcher.py'), `tcp,${first.host},${port},${name}`, '--']);
    await daemon.ready();
    assert.ok(daemon.lines.some((l) => l.msg.includes(`serving from the socket handed in by the service manager (LISTEN_FDS, fd 3 "${name}"`)));
    assert.equal((await zdd(project.dir, ['deploy', 'web'])).code, 0);
    assert.equal(await version(`http://${first.host}:${port}`), 'v1');
  });
});
