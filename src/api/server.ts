import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.ts';
import type { DeployEngine, Started } from '../deploy/engine.ts';
import type { DeployEvent } from '../deploy/events.ts';
import { ZddError } from '../errors.ts';
import { DeliveryTable, type DeliveryRecord } from '../store/deliveries.ts';
import type { Store } from '../store/store.ts';
import { readLogs } from '../logs/read-logs.ts';
import type { TokenRegistry } from '../control/tokens.ts';
import { allows, matchRoute, statusFor, type LogsResponse, type RouteName, type TokenInfo, type WhoAmI } from './contract.ts';
import { absolutePath, badRequest, env, integerIn, limitParam, optionalBoolean, optionalRelease, optionalString, pathParam } from './params.ts';
import { pauseService, resumeService } from './pause.ts';
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
  tokens: TokenRegistry;
  /** Prometheus metrics, when the daemon keeps them. */
  metrics?: { contentType: string; render: () => Promise<string> } | undefined;
  /** Resolves once the daemon has started (its socket answers from the first moment, as its lock). */
  ready?: Promise<void>;
}

/** Who is asking: a local user on the Unix socket, or a token holder over HTTP. */
export type Caller = { via: 'socket' } | { via: 'http'; token: TokenInfo; address: string };

interface Call {
  params: Record<string, string>;
  body: Record<string, unknown>;
  query: URLSearchParams;
  caller: Caller;
}

type Handler = (ctx: ApiContext, req: IncomingMessage, res: ServerResponse, call: Call) => Promise<void> | void;

const service = (ctx: ApiContext, call: Call): string => {
  const name = call.params.service!;
  if (!ctx.engine.services.has(name)) throw unknown(ctx, name);
  return name;
};

const handlers: Record<RouteName, Handler> = {
  status: async (ctx, _req, res) => {
    await synced(ctx);
    json(res, 200, statusOf(ctx));
  },
  restart: async (ctx, _req, res) => json(res, 200, await ctx.restart()),
  stop: (ctx, _req, res) => json(res, 200, ctx.stop()),
  service: async (ctx, _req, res, call) => {
    const s = ctx.engine.services.get(service(ctx, call))!;
    await s.plane.sync?.();
    json(res, 200, serviceStatus(s));
  },
  deploy: (ctx, _req, res, { params, body }) =>
    stream(res, (listener) =>
      ctx.engine.deploy(
        params.service!,
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
  rollback: (ctx, _req, res, { params, body }) => stream(res, (listener) => ctx.engine.rollback(params.service!, optionalRelease(body.to, 'to'), listener)),
  promote: (ctx, _req, res, { params, body }) => json(res, 200, { message: ctx.engine.promote(params.service!, optionalBoolean(body.full, 'full') === true) }),
  abort: async (ctx, _req, res, { params }) => json(res, 200, await ctx.engine.abort(params.service!)),
  pause: (ctx, _req, res, call) => json(res, 200, pauseService(ctx.engine.services.get(service(ctx, call))!, ctx.store, optionalString(call.body.maintenance, 'maintenance'))),
  resume: (ctx, _req, res, call) => json(res, 200, resumeService(ctx.engine.services.get(service(ctx, call))!, ctx.store)),
  follow: (ctx, _req, res, { params }) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const active = ctx.engine.follow(params.service!, (e) => {
      res.write(`${JSON.stringify(e)}\n`);
      if (e.type === 'finished') res.end();
    });
    if (!active) res.end();
  },
  history: (ctx, _req, res, { params, query }) => {
    const name = params.service!;
    // Every release once: the newest are listed, all of them name the deployments' releases.
    const limit = limitParam(query);
    const all = ctx.store.releases(name, 10_000);
    if (!ctx.engine.services.has(name) && all.length === 0) throw unknown(ctx, name);
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
    const deliveries = new DeliveryTable(ctx.store.db);
    const deployments = ctx.store.deployments(name, limit).map((d) => ({
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
      notifications: deliveries.forDeployment(d.id).map(notification),
    }));
    const events = ctx.store.events(name, limit).map((e) => ({ at: e.at, type: e.type, message: e.message, deployment: e.deploymentId }));
    // Notifications about no deployment: instance crashes.
    const notifications = deliveries.outsideDeployments(name, limit).map(notification);
    json(res, 200, { service: name, releases, deployments, events, notifications });
  },
  logs: (ctx, req, res, call) => {
    const name = service(ctx, call);
    const q = call.query;
    const lines = q.get('lines') === null ? 40 : integerIn(q.get('lines')!, 1, 1_000_000);
    if (lines === undefined) throw badRequest(`lines must be a whole number from 1 to 1000000, got "${q.get('lines')}"`);
    const release = q.get('release') === null ? undefined : integerIn(q.get('release')!, 1, Number.MAX_SAFE_INTEGER);
    if (q.get('release') !== null && release === undefined) throw badRequest(`release must be a release number, got "${q.get('release')}"`);
    const build = q.get('build') === '1';
    const follow = q.get('follow') === '1' && !build;
    const selection = readLogs(ctx.daemon.dataDir, name, { release, instance: q.get('instance') ?? undefined, lines, build, follow });
    if (!selection.follower) {
      const answer: LogsResponse = { service: name, release: selection.release, instances: selection.instances, lines: selection.lines };
      return json(res, 200, answer);
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const send = (v: unknown) => res.write(`${JSON.stringify(v)}\n`);
    send({ instances: selection.instances });
    for (const line of selection.lines) send({ line });
    send({ following: true });
    const { follower } = selection;
    follower.start((line) => send({ line }), (instance) => send({ instance }));
    req.socket.once('close', () => follower.stop());
  },
  events: (ctx, req, res, { caller }) =>
    // A token revoked while its stream is open loses the stream at the next tick, not at the next reconnect.
    liveEvents(ctx, req, res, () => statusOf(ctx), () => caller.via === 'socket' || ctx.tokens.has(caller.token)),
  whoami: (_ctx, _req, res, { caller }) => {
    const me: WhoAmI = caller.via === 'http' ? { name: caller.token.name, role: caller.token.role } : { name: null, role: 'deploy' };
    json(res, 200, me);
  },
  metrics: async (ctx, _req, res) => {
    if (!ctx.metrics) throw new ZddError('NOT_FOUND', 'this daemon has no metrics');
    await synced(ctx);
    const body = await ctx.metrics.render();
    res.writeHead(200, { 'content-type': ctx.metrics.contentType, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  },
  tokenCreate: (ctx, _req, res, { body }) => json(res, 201, ctx.tokens.create(body.name, body.role ?? 'deploy')),
  tokenList: (ctx, _req, res) => json(res, 200, { tokens: ctx.tokens.list() }),
  tokenRevoke: (ctx, _req, res, { params }) => {
    ctx.tokens.revoke(params.name!);
    json(res, 200, { revoked: params.name });
  },
};

/** Data-plane workers report in batches: a reading waits for what they have recorded so far. */
async function synced(ctx: ApiContext): Promise<void> {
  await Promise.all([...ctx.engine.services.values()].map((s) => s.plane.sync?.()));
}

function statusOf(ctx: ApiContext) {
  return { daemon: ctx.daemon, services: [...ctx.engine.services.values()].map(serviceStatus) };
}

/** A notification's outcome as history shows it. */
function notification(d: DeliveryRecord) {
  return { at: d.at, event: d.event, endpoint: d.endpoint, ok: d.ok, attempts: d.attempts, status: d.status, detail: d.detail };
}

/** The control API: JSON over HTTP on the daemon's Unix socket, whose permissions admit its owner only. */
export function createApiServer(ctx: ApiContext): http.Server {
  return http.createServer((req, res) => {
    void handleApi(ctx, req, res, { via: 'socket' }).catch((err: unknown) => sendError(ctx, res, err));
  });
}

/**
 * One request of the control API, from a caller already authenticated (the Unix socket, or a valid
 * token): checks that the caller may call the route, records mutating calls from HTTP, answers.
 */
export async function handleApi(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
  const url = URL.parse(req.url ?? '/', 'http://zdd');
  if (!url) throw badRequest(`not a valid request target: ${JSON.stringify(req.url)}`);
  const match = matchRoute(req.method ?? 'GET', url.pathname);
  if (!match) throw new ZddError('NOT_FOUND', `no API route ${req.method} ${url.pathname}`);
  if ('wrongMethod' in match) {
    res.setHeader('allow', match.wrongMethod.join(', '));
    throw new ZddError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}; use ${match.wrongMethod.join(' or ')}`);
  }
  const { name, route, params } = match;
  // A command given while the daemon starts waits for it: the deploy it asks for then starts on a daemon that listens.
  await ctx.ready;
  if (caller.via === 'http') {
    if (route.access === 'local') throw new ZddError('FORBIDDEN', `${route.method} ${route.path} is only served on the daemon's Unix socket`, "run it on the daemon's machine");
    if (!allows(caller.token.role, route.access)) {
      throw new ZddError('FORBIDDEN', `token "${caller.token.name}" has role ${caller.token.role}, which may not ${route.summary.split(';')[0]}`, 'use a token with role deploy');
    }
  }
  if (params.service !== undefined) pathParam(params.service, 'service name');
  const body = req.method === 'POST' ? await readJson(req) : {};
  if (route.mutating && caller.via === 'http') {
    // Audit: who asked for what, from where, before it happens (it may take minutes, or fail).
    const target = params.service ?? params.name;
    ctx.store.addEvent({
      ...(params.service !== undefined ? { service: params.service } : {}),
      type: 'api',
      message: `${name}${target ? ` ${target}` : ''} requested by token "${caller.token.name}" (${caller.token.role}) from ${caller.address}`,
      data: { route: name, token: caller.token.name, role: caller.token.role, address: caller.address },
    });
  }
  await handlers[name](ctx, req, res, { params, body, query: url.searchParams, caller });
}

/** Server-sent events for the dashboard: the status now and every second, and deployments' events as they happen. */
function liveEvents(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, status: () => unknown, stillAllowed: () => boolean): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const following = new Set<number>();
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    if (!stillAllowed()) {
      clearInterval(timer);
      return void res.end();
    }
    send('status', status());
    for (const [name, s] of ctx.engine.services) {
      const id = s.active?.deployment.id;
      if (id === undefined || following.has(id)) continue;
      following.add(id);
      ctx.engine.follow(name, (e) => {
        if (!res.writableEnded) send('deployment', { service: name, deployment: id, event: e });
      });
    }
  };
  timer = setInterval(tick, 1000);
  tick();
  req.socket.once('close', () => clearInterval(timer));
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

export function sendError(ctx: ApiContext, res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    ctx.log.error({ err }, 'control API failed after answering');
    return void res.destroy();
  }
  if (err instanceof ConfigError) {
    return json(res, 422, { error: { code: err.code, message: err.message, hint: err.hint, issues: err.issues } });
  }
  if (err instanceof ZddError) {
    return json(res, statusFor(err.code), { error: { code: err.code, message: err.message, hint: err.hint } });
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
