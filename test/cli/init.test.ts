import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { detectApp, renderConfig, type Folder } from '../../src/cli/init-template.ts';
import { loadConfig, parseConfig } from '../../src/config/load.ts';
import { zdd, zddJson } from '../helpers/cli.ts';
import { startDaemon } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';

const root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'zdd-init-')));
after(() => rmSync(root, { recursive: true, force: true }));

/** A folder holding these files (a value of '' is an empty file). */
function folder(files: Record<string, string>): Folder {
  return { read: (name) => files[name], has: (name) => name in files };
}

function newDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(root, 'app-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

describe('zdd init recognises the app', () => {
  it('Node: a `node …` start script as it is, another start script through npm, else main or server.js', { timeout: 5_000 }, () => {
    assert.equal(detectApp(folder({ 'package.json': '{"scripts":{"start":"node server.js"}}' })).command, 'node server.js');
    assert.equal(detectApp(folder({ 'package.json': '{"scripts":{"start":"next start"}}' })).command, 'npm start');
    assert.equal(detectApp(folder({ 'package.json': '{"scripts":{"start":"node a.js && node b.js"}}' })).command, 'npm start');
    assert.equal(detectApp(folder({ 'package.json': '{"main":"lib/index.js"}' })).command, 'node lib/index.js');
    assert.equal(detectApp(folder({ 'package.json': '{}', 'server.js': '' })).command, 'node server.js');
    const node = detectApp(folder({ 'package.json': 'not json', 'index.js': '' }));
    assert.deepEqual([node.kind, node.command], ['Node', 'node index.js']);
    assert.match(node.notes.join('\n'), /process\.env\.PORT/);
  });

  it('Python: uvicorn for ASGI apps, gunicorn for WSGI ones, bound to $HOST:$PORT', { timeout: 5_000 }, () => {
    assert.equal(detectApp(folder({ 'main.py': '', 'requirements.txt': 'fastapi==0.110\nuvicorn[standard]\n' })).command, 'uvicorn main:app --host $HOST --port $PORT');
    assert.equal(detectApp(folder({ 'app.py': '', 'requirements.txt': 'Flask>=3\ngunicorn\n' })).command, 'gunicorn --bind $HOST:$PORT app:app');
    assert.equal(detectApp(folder({ 'wsgi.py': '' })).command, 'gunicorn --bind $HOST:$PORT wsgi:application');
    assert.equal(detectApp(folder({ 'asgi.py': '' })).command, 'uvicorn asgi:application --host $HOST --port $PORT');
    const flask = detectApp(folder({ 'app.py': '', 'requirements.txt': 'flask\n', '.venv/bin/python': '' }));
    assert.equal(flask.command, '.venv/bin/gunicorn --bind $HOST:$PORT app:app', 'the virtualenv in the folder');
    assert.match(flask.notes.join('\n'), /needs gunicorn/, 'gunicorn is not in requirements.txt');
    assert.equal(detectApp(folder({ 'app.py': '' })).command, 'python3 app.py');
    assert.equal(detectApp(folder({ 'requirements.txt': 'Flask==3.0\nflask-cors\n' })).command, 'gunicorn --bind $HOST:$PORT app:app');
  });

  it('anything else: a template whose command is to be replaced', { timeout: 5_000 }, () => {
    const app = detectApp(folder({ 'README.md': '' }));
    assert.equal(app.kind, 'unknown');
    assert.match(app.notes.join('\n'), /replace/);
  });

  it('writes a valid config for every kind, the keys to come only as comments', { timeout: 5_000 }, () => {
    const cases: Record<string, string>[] = [{ 'package.json': '{"scripts":{"start":"node server.js --port=3000"}}' }, { 'main.py': '', 'requirements.txt': 'fastapi\n' }, {}];
    for (const files of cases) {
      const app = detectApp(folder(files));
      const text = renderConfig(app, { service: 'web', listen: '[::1]:8080' });
      const web = parseConfig(text, '/p/zdd.yaml').services.get('web')!;
      assert.equal(web.command, app.command);
      assert.deepEqual(web.listen, { host: '::1', port: 8080 });
      for (const key of ['source', 'install', 'build', 'buildCache', 'release', 'smoke', 'shared', 'keepReleases', 'envFile', 'logs']) {
        assert.match(text, new RegExp(`^ {4}# ${key}: `, 'm'), `${key} is there, as a comment`);
      }
    }
  });
});

describe('zdd init', () => {
  it('writes a commented zdd.yaml in this folder and never overwrites one (exit 1, saying what to do)', { timeout: 20_000 }, async () => {
    const dir = newDir({ 'app.py': 'app = None\n', 'requirements.txt': 'flask\ngunicorn\n' });
    const r = await zdd(dir, ['init']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote .*zdd\.yaml: service web, a Python app/);
    const config = loadConfig(path.join(dir, 'zdd.yaml'));
    assert.equal(config.services.get('web')!.command, 'gunicorn --bind $HOST:$PORT app:app');
    const written = readFileSync(path.join(dir, 'zdd.yaml'), 'utf8');
    assert.match(written, /^# /, 'commented');

    const again = await zdd(dir, ['init']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /zdd\.yaml already exists; zdd init does not overwrite it\n {2}→ edit it, or move it away/);
    assert.equal(readFileSync(path.join(dir, 'zdd.yaml'), 'utf8'), written);

    const bad = await zdd(newDir({}), ['init', '--listen', 'nowhere']);
    assert.equal(bad.code, 2, bad.stderr);
  });

  it('the first hour: init, serve, deploy and stop a Node app without writing any config', { timeout: 60_000 }, async () => {
    const dir = newDir({
      'package.json': JSON.stringify({ name: 'hello', scripts: { start: 'node server.js' } }),
      'server.js': "require('node:http').createServer((req, res) => res.end('hello from ' + process.env.ZDD_INSTANCE)).listen(process.env.PORT, process.env.HOST);\n",
    });
    const port = await freePort();
    const init = await zddJson<{ command: string }>(dir, ['init', '--listen', String(port)]);
    assert.equal(init.command, 'node server.js');
    mkdirSync(path.join(dir, 'src'));
    const daemon = await startDaemon(path.join(dir, 'src'));
    try {
      const deploy = await zdd(dir, ['deploy', 'web']);
      assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr);
      assert.equal((await request(`http://127.0.0.1:${port}/`)).body, 'hello from web-r1-1');
      const stop = await zdd(path.join(dir, 'src'), ['stop']);
      assert.equal(stop.code, 0, stop.stderr);
      assert.equal(await daemon.exited, 0);
    } finally {
      await daemon.stop();
    }
  });
});
