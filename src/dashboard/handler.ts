import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DashboardHandler } from '../control/listener.ts';

// The web dashboard's files, served by the control listener without a token: they hold no data (the
// page asks for a token and sends it with every API call). A fixed list of files is read into memory
// at start and served by name; no part of a request ever reaches the filesystem, so `..`, encoded
// slashes and the like can only miss.

/** Where the files are: beside this module, in src/ as in dist/ (the build copies them). */
export const publicDir = fileURLToPath(new URL('./public/', import.meta.url));

/** Every file the dashboard serves, by URL path; `/assets/` holds nothing else. */
export const dashboardFiles: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/assets/dashboard.css': 'assets/dashboard.css',
  '/assets/icon.svg': 'assets/icon.svg',
  '/assets/main.js': 'assets/main.js',
  '/assets/dom.js': 'assets/dom.js',
  '/assets/format.js': 'assets/format.js',
  '/assets/token.js': 'assets/token.js',
  '/assets/api.js': 'assets/api.js',
  '/assets/sse.js': 'assets/sse.js',
  '/assets/series.js': 'assets/series.js',
  '/assets/charts.js': 'assets/charts.js',
  '/assets/confirm.js': 'assets/confirm.js',
  '/assets/login-view.js': 'assets/login-view.js',
  '/assets/services-view.js': 'assets/services-view.js',
  '/assets/deployment-view.js': 'assets/deployment-view.js',
  '/assets/history-view.js': 'assets/history-view.js',
};

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  body: Buffer;
  type: string;
}

/** Reads the files once; throws at start when one is missing (a broken package, not a broken request). */
export function loadAssets(dir = publicDir): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [urlPath, file] of Object.entries(dashboardFiles)) {
    const type = contentTypes[path.extname(file)];
    if (!type) throw new Error(`dashboard file ${file} has no known content type`);
    assets.set(urlPath, { body: readFileSync(path.join(dir, file)), type });
  }
  return assets;
}

/** The control listener's dashboard: `/` and `/assets/*`; everything else is the API's (false). */
export function createDashboard(assets = loadAssets()): DashboardHandler {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const target = req.url ?? '/';
    const query = target.indexOf('?');
    const pathname = query === -1 ? target : target.slice(0, query);
    const asset = assets.get(pathname);
    if (!asset && !pathname.startsWith('/assets/')) return false;
    req.resume();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return answer(res, req.method, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed on ${pathname.slice(0, 200)}; use GET` } });
    }
    if (!asset) return answer(res, req.method, 404, { error: { code: 'NOT_FOUND', message: 'no such dashboard file' } });
    res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  };
}

function answer(res: ServerResponse, method: string | undefined, status: number, value: unknown): true {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(method === 'HEAD' ? undefined : body);
  return true;
}
