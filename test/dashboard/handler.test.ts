// The dashboard's file handler, over real sockets: a fixed list of files served from memory, the right
// content types, HEAD without a body, 405 for other methods, 404 for anything else under /assets/ —
// traversal attempts included — and everything outside its paths left to the API.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDashboard, dashboardFiles, loadAssets, publicDir } from '../../src/dashboard/handler.ts';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('dashboard handler', () => {
  let server: http.Server;
  let base: string;

  before(async () => {
    const dashboard = createDashboard();
    // What the control listener does: the dashboard first, then the API (here a stand-in asking for a token).
    server = http.createServer((req, res) => {
      if (dashboard(req, res)) return;
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"UNAUTHORIZED","message":"api"}}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** The request target is sent exactly as written: no client-side normalisation of `..` or `%2e`. */
  const send = (target: string, method = 'GET', body?: string): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = http.request(`${base}/`, { method, path: target, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      });
      req.once('error', reject);
      req.end(body);
    });

  it('serves the page and every listed file with its content type', { timeout: 10_000 }, async () => {
    const page = await send('/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(page.body, /<script type="module" src="\/assets\/main\.js"><\/script>/);
    assert.equal((await send('/?from=notification')).status, 200, 'a query does not change the file');
    const types: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.html': 'text/html; charset=utf-8' };
    for (const [urlPath, file] of Object.entries(dashboardFiles)) {
      const r = await send(urlPath);
      assert.equal(r.status, 200, urlPath);
      assert.equal(r.headers['content-type'], types[path.extname(file)], urlPath);
      assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body), urlPath);
    }
  });

  it('lists exactly the files of its folder: none forgotten, none served that is not there', { timeout: 10_000 }, () => {
    const onDisk = ['index.html', ...readdirSync(path.join(publicDir, 'assets')).map((f) => `assets/${f}`)].sort();
    assert.deepEqual(Object.values(dashboardFiles).sort(), onDisk);
    assert.equal(loadAssets().size, onDisk.length);
  });

  it('answers HEAD with the headers and no body', { timeout: 10_000 }, async () => {
    const get = await send('/assets/main.js');
    const head = await send('/assets/main.js', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['content-type'], get.headers['content-type']);
    assert.equal(head.headers['content-length'], get.headers['content-length']);
  });

  it('refuses other methods on its paths with 405 and Allow', { timeout: 10_000 }, async () => {
    for (const [method, target] of [['POST', '/'], ['PUT', '/assets/main.js'], ['DELETE', '/assets/dashboard.css'], ['POST', '/assets/nope.js']] as const) {
      const r = await send(target, method, method === 'POST' ? 'token=zdd_x' : undefined);
      assert.equal(r.status, 405, `${method} ${target}`);
      assert.equal(r.headers.allow, 'GET, HEAD');
      assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'METHOD_NOT_ALLOWED');
    }
  });

  it('answers 404 for anything else under /assets/: traversal, encoded dots and slashes, case, folders', { timeout: 10_000 }, async () => {
    const attempts = [
      '/assets/../zdd.db',
      '/assets/../../package.json',
      '/assets/%2e%2e/zdd.db',
      '/assets/%2E%2E/%2E%2E/package.json',
      '/assets/..%2fzdd.db',
      '/assets/..%2F..%2Fpackage.json',
      '/assets/%2e%2e%5czdd.db',
      '/assets/main.js/..',
      '/assets/main.js%00.png',
      '/assets/./main.js',
      '/assets//main.js',
      '/assets/MAIN.JS',
      '/assets/',
      '/assets/handler.ts',
      '/assets/..',
    ];
    for (const target of attempts) {
      const r = await send(target);
      assert.equal(r.status, 404, target);
      assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'NOT_FOUND', target);
      assert.ok(!r.body.includes('SQLite') && !r.body.includes('"name"'), `${target} leaked a file`);
    }
  });

  it('leaves every other path to the API, which asks for a token', { timeout: 10_000 }, async () => {
    for (const target of ['/v1/status', '/metrics', '/index.html', '/x/../assets/main.js', '/%61ssets/main.js', '/assets', '//']) {
      assert.equal((await send(target)).status, 401, target);
    }
  });
});
