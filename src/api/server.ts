import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.ts';
import type { DeployEngine, Started } from '../deploy/engine.ts';
import type { DeployEvent } from '../deploy/events.ts';
import { ZddError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import { absolutePath, badRequest, env, limitParam, optionalBoolean, optionalRelease, optionalString, pathParam } from './params.ts';
import { redactEnv } from './redact.ts';
import { serviceStatus } from './status.ts';

export interface ApiContext {
  engine: DeployEngine;
  store: Store;
  /** Hand over to a new daemon without a gap (zdd restart); `output`: where the new one's output goes, in words. */
  restart: () => Promise<{ from: number; to: number; output: string }>;
  /** Drain and stop, once this answer has gone out (zdd stop). */
  stop: () => { pid: number };
  log: Logger;
  daemon: { pid: number; startedAt: number; config: string; dataDir: string; version: string };
}

type Handler = (ctx: ApiContext, req: IncomingMessage, res: ServerResponse, params: { service: string; body: Record<string, unknown>; query: URLSearchParams }) => Promise<void> | void;

const routes: { method: string; pattern: RegExp; handler: Handler }[] = [
  { method: 'GET', pattern: /^\/v1\/status$/, handler: (ctx, _req, res) => json(res, 200, statusOf(ctx)) },
  { method: 'POST', pattern: /^\/v1\/daemon\/restart$/, handler: async (ctx, _req, res) => json(res, 200, await ctx.restart()) },
  { method: 'POST', pattern: /^\/v1\/daemon\/stop$/, handler: (ctx, _req, res) => json(res, 200, ctx.stop()) },
  {
    method: 'GET',
    pattern: /^\/v1\/services\/([^/]+)$/,
    handler: (ctx, _req, res, { service }) => {
      const s = ctx.engine.services.get(service);
      if (!s) throw unknown(ctx, service);
      json(res, 200, serviceStatus(s));
    },
  },
  {
    method: 'POST',
    pattern: /^\/v1\/services\/([^/]+)\/deploy$/,
    handler: (ctx, _req, res, { service, body }) =>
      stream(res, (listener) =>
        ctx.engine.deploy(
          service,
          {
            version: optionalString(body.version, 'version'),
            env: env(body.env),
            command: optionalString(body.command, 'command'),
            cwd: optionalString(body.cwd, 'cwd'),
            source: absolutePath(body.source, 'source'),
            gitRef: optionalString(body.gitRef, 'gitRef'),
          },
          listener,
        ),
      ),
  },
  {
    method: 'POST',
    pattern: /^\/v1\/services\/([^/]+)\/rollback$/,
    handler: (ctx, _req, res, { service, body }) =>
      stream(res, (listener) => ctx.engine.rollback(service, optionalRelease(body.to, 'to'), listener)),
  },
  {
    method: 'POST',
    pattern: /^\/v1\/services\/([^/]+)\/promote$/,
    handler: (ctx, _req, res, { service, body }) => json(res, 200, { message: ctx.engine.promote(service, optionalBoolean(body.full, 'full') === true) }),
  },
  {
    method: 'POST',
    pattern: /^\/v1\/services\/([^/]+)\/abort$/,
    handler: async (ctx, _req, res, { service }) => json(res, 200, await ctx.engine.abort(service)),
  },
  {
    method: 'GET',
    pattern: /^\/v1\/services\/([^/]+)\/follow$/,
    handler: (ctx, _req, res, { service }) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const active = ctx.engine.follow(service, (e) => {
        res.write(`${JSON.stringify(e)}\n`);
        if (e.type === 'finished') res.end();
      });
      if (!active) res.end();
    },
  },
  {
    method: 'GET',
    pattern: /^\/v1\/services\/([^/]+)\/history$/,
    handler: (ctx, _req, res, { service, query }) => {
      // Every release once: the newest are listed, all of them name the deployments' releases.
      const limit = limitParam(query);
      const all = ctx.store.releases(service, 10_000);
      if (!ctx.engine.services.has(service) && all.length === 0) throw unknown(ctx, service);
      const releases = all.slice(0, limit).map((r) => ({
        number: r.number,
        version: r.version,
        state: r.state,
        createdAt: r.createdAt,
        command: r.spec.command,
        cwd: r.spec.cwd,
        env: redactEnv(r.spec.env),
        folder: r.folder,
        prunedAt: r.prunedAt,
        source: r.source,
        hooks: r.hooks,
      }));
      const numbers = new Map(all.map((r) => [r.id, r.number]));
      const deployments = ctx.store.deployments(service, limit).map((d) => ({
        id: d.id,
        kind: d.kind,
        strategy: d.strategy,
        release: numbers.get(d.releaseId) ?? null,
        from: d.fromReleaseId === null ? null : (numbers.get(d.fromReleaseId) ?? null),
        status: d.status,
        reason: d.reason,
        startedAt: d.startedAt,
        finishedAt: d.finishedAt,
        steps: ctx.store.steps(d.id),
      }));
      const events = ctx.store.events(service, limit).map((e) => ({ at: e.at, type: e.type, message: e.message, deployment: e.deploymentId }));
      json(res, 200, { service, releases, deployments, events });
    },
  },
];

function statusOf(ctx: ApiContext) {
  return { daemon: ctx.daemon, services: [...ctx.engine.services.values()].map(serviceStatus) };
}

/** The control API: JSON over HTTP on the daemon's Unix socket. */
export function createApiServer(ctx: ApiContext): http.Server {
  return http.createServer((req, res) => {
    void handle(ctx, req, res).catch((err: unknown) => sendError(ctx, res, err));
  });
}

async function handle(ctx: ApiContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = URL.parse(req.url ?? '/', 'http://zdd');
  if (!url) throw badRequest(`not a valid request target: ${JSON.stringify(req.url)}`);
  for (const route of routes) {
    const m = route.pattern.exec(url.pathname);
    if (!m || route.method !== req.method) continue;
    const service = pathParam(m[1] ?? '', 'service name');
    const body = req.method === 'POST' ? await readJson(req) : {};
    await route.handler(ctx, req, res, { service, body, query: url.searchParams });
    return;
  }
  json(res, 404, { error: { code: 'NOT_FOUND', message: `no API route ${req.method} ${url.pathname}` } });
}

/** A deployment as NDJSON: its events as they happen, ending with the "finished" one. */
function stream(res: ServerResponse, start: (listener: (e: DeployEvent) => void) => Started): void {
  const buffered: DeployEvent[] = [];
  let open = false;
  const listener = (e: DeployEvent) => {
    if (!open) return void buffered.push(e);
    if (!res.writableEnded) res.write(`${JSON.stringify(e)}\n`);
    if (e.type === 'finished') res.end();
  };
  // start() throws for refusals (busy, unknown service, bad config) before anything is streamed.
  start(listener);
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  open = true;
  for (const e of buffered) listener(e);
}

function sendError(ctx: ApiContext, res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    ctx.log.error({ err }, 'control API failed after answering');
    return void res.destroy();
  }
  if (err instanceof ConfigError) {
    return json(res, 422, { error: { code: err.code, message: err.message, hint: err.hint, issues: err.issues } });
  }
  if (err instanceof ZddError) {
    const status = err.code === 'SERVICE_UNKNOWN' || err.code === 'RELEASE_UNKNOWN' ? 404 : err.code === 'BAD_REQUEST' ? 400 : 409;
    return json(res, status, { error: { code: err.code, message: err.message, hint: err.hint } });
  }
  ctx.log.error({ err }, 'control API request failed');
  json(res, 500, { error: { code: 'INTERNAL', message: (err as Error).message } });
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 1_000_000) throw badRequest('request body too large');
  }
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw badRequest('request body must be a JSON object');
}

function unknown(ctx: ApiContext, service: string): ZddError {
  return ctx.engine.unknownService(service);
}
