import { ExitCode } from '../errors.ts';

// The control API in one place: its routes (who may call them, how they answer) and its error codes
// (HTTP status and CLI exit code). The daemon's server, the CLI's client (over the Unix socket or over
// HTTP with a token) and the dashboard all go through this table, so they cannot drift apart.

/**
 * Who may call a route. `read` and `deploy` are token roles on the HTTP control listener (a deploy token
 * may do everything a read token may); `local` routes are only served on the Unix socket, whose file
 * permissions are its authentication (tokens, daemon restart and stop).
 */
export type Access = 'read' | 'deploy' | 'local';
export type Role = 'read' | 'deploy';
export const roles: readonly Role[] = ['read', 'deploy'];

/** How a route answers: one JSON value, NDJSON deployment events, server-sent events, or plain text. */
export type Answer = 'json' | 'ndjson' | 'sse' | 'text';

export interface RouteSpec {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** With `:param` segments. */
  readonly path: string;
  readonly access: Access;
  readonly answer: Answer;
  /** Changes something: recorded in the history with who asked (the token's name and address). */
  readonly mutating: boolean;
  /** One line for the API's own documentation. */
  readonly summary: string;
}

export const routes = {
  status: { method: 'GET', path: '/v1/status', access: 'read', answer: 'json', mutating: false, summary: 'daemon and every service: releases, instances, traffic, deployment in progress' },
  service: { method: 'GET', path: '/v1/services/:service', access: 'read', answer: 'json', mutating: false, summary: 'one service, as in status' },
  history: { method: 'GET', path: '/v1/services/:service/history', access: 'read', answer: 'json', mutating: false, summary: 'releases, deployments with their steps, events (?limit=1–500)' },
  logs: { method: 'GET', path: '/v1/services/:service/logs', access: 'read', answer: 'json', mutating: false, summary: "instances' output (?release=N&instance=ID&lines=N&build=1)" },
  follow: { method: 'GET', path: '/v1/services/:service/follow', access: 'read', answer: 'ndjson', mutating: false, summary: 'the deployment in progress, as NDJSON events until it finishes' },
  events: { method: 'GET', path: '/v1/events', access: 'read', answer: 'sse', mutating: false, summary: 'status once a second and deployment events as they happen (server-sent events)' },
  whoami: { method: 'GET', path: '/v1/whoami', access: 'read', answer: 'json', mutating: false, summary: "the caller: the token's name and role (the dashboard shows deploy buttons to role deploy)" },
  metrics: { method: 'GET', path: '/metrics', access: 'read', answer: 'text', mutating: false, summary: 'Prometheus metrics, text exposition format' },
  deploy: { method: 'POST', path: '/v1/services/:service/deploy', access: 'deploy', answer: 'ndjson', mutating: true, summary: 'deploy a new release; NDJSON events until it finishes or pauses' },
  rollback: { method: 'POST', path: '/v1/services/:service/rollback', access: 'deploy', answer: 'ndjson', mutating: true, summary: 'back to the previous release (or {to: N})' },
  promote: { method: 'POST', path: '/v1/services/:service/promote', access: 'deploy', answer: 'json', mutating: true, summary: 'move a canary past its waiting step ({full: true}: to 100%)' },
  abort: { method: 'POST', path: '/v1/services/:service/abort', access: 'deploy', answer: 'json', mutating: true, summary: 'stop the deployment in progress' },
  pause: { method: 'POST', path: '/v1/services/:service/pause', access: 'deploy', answer: 'json', mutating: true, summary: 'hold new requests until resume ({maintenance: text}: answer them 503 with the text)' },
  resume: { method: 'POST', path: '/v1/services/:service/resume', access: 'deploy', answer: 'json', mutating: true, summary: 'end a pause: held requests go on' },
  restart: { method: 'POST', path: '/v1/daemon/restart', access: 'local', answer: 'json', mutating: true, summary: 'hand over to a new daemon' },
  stop: { method: 'POST', path: '/v1/daemon/stop', access: 'local', answer: 'json', mutating: true, summary: 'drain and stop the daemon' },
  tokenCreate: { method: 'POST', path: '/v1/tokens', access: 'local', answer: 'json', mutating: true, summary: 'create a token ({name, role}); the answer holds it, once' },
  tokenList: { method: 'GET', path: '/v1/tokens', access: 'local', answer: 'json', mutating: false, summary: 'tokens: name, role, created, last used' },
  tokenRevoke: { method: 'DELETE', path: '/v1/tokens/:name', access: 'local', answer: 'json', mutating: true, summary: 'revoke a token' },
} as const satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof routes;

type ParamsOf<P extends string> = P extends `${string}:${infer Name}/${infer Rest}` ? Name | ParamsOf<`/${Rest}`> : P extends `${string}:${infer Name}` ? Name : never;
export type RouteParams<N extends RouteName> = { [K in ParamsOf<(typeof routes)[N]['path']>]: string };

/** The path of a route with its parameters filled in (encoded), and an optional query. */
export function pathFor<N extends RouteName>(name: N, params: RouteParams<N>, query?: Record<string, string | number | boolean | undefined>): string {
  const values = params as Record<string, string>;
  const path = routes[name].path.replace(/:([a-z]+)/g, (_, key: string) => encodeURIComponent(values[key] ?? ''));
  const q = Object.entries(query ?? {}).filter((e): e is [string, string | number | boolean] => e[1] !== undefined && e[1] !== false);
  return q.length === 0 ? path : `${path}?${new URLSearchParams(q.map(([k, v]): [string, string] => [k, v === true ? '1' : String(v)])).toString()}`;
}

const compiled = Object.entries(routes).map(([name, r]) => ({
  name: name as RouteName,
  route: r as RouteSpec,
  keys: [...r.path.matchAll(/:([a-z]+)/g)].map((m) => m[1]!),
  pattern: new RegExp(`^${r.path.replace(/:([a-z]+)/g, '([^/]+)')}$`),
}));

export interface RouteMatch {
  name: RouteName;
  route: RouteSpec;
  /** Decoded path parameters. */
  params: Record<string, string>;
}

/** The route for a request; `wrongMethod` when the path exists with other methods (405). */
export function matchRoute(method: string, pathname: string): RouteMatch | { wrongMethod: string[] } | undefined {
  const allowed: string[] = [];
  for (const c of compiled) {
    const m = c.pattern.exec(pathname);
    if (!m) continue;
    if (c.route.method !== method) {
      allowed.push(c.route.method);
      continue;
    }
    const params: Record<string, string> = {};
    c.keys.forEach((k, i) => {
      params[k] = safeDecode(m[i + 1]!);
    });
    return { name: c.name, route: c.route, params };
  }
  return allowed.length > 0 ? { wrongMethod: allowed } : undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Whether a token of `role` may call a route of `access`. */
export function allows(role: Role, access: Access): boolean {
  if (access === 'local') return false;
  return access === 'read' || role === 'deploy';
}

/** Every error code the API answers with: its HTTP status, and the exit code the CLI ends with. */
export const errorCodes = {
  BAD_REQUEST: { status: 400, exit: ExitCode.usage },
  USAGE: { status: 400, exit: ExitCode.usage },
  CONFIG_INVALID: { status: 422, exit: ExitCode.usage },
  CONFIG_NOT_FOUND: { status: 422, exit: ExitCode.usage },
  CONFIG_UNREADABLE: { status: 422, exit: ExitCode.usage },
  SERVICE_UNKNOWN: { status: 404, exit: ExitCode.usage },
  RELEASE_UNKNOWN: { status: 404, exit: ExitCode.usage },
  TOKEN_UNKNOWN: { status: 404, exit: ExitCode.usage },
  TOKEN_EXISTS: { status: 409, exit: ExitCode.failed },
  NOT_FOUND: { status: 404, exit: ExitCode.failed },
  METHOD_NOT_ALLOWED: { status: 405, exit: ExitCode.failed },
  /** No token, or one that is not (or no longer) valid. */
  UNAUTHORIZED: { status: 401, exit: ExitCode.failed },
  /** A valid token whose role does not allow the route. */
  FORBIDDEN: { status: 403, exit: ExitCode.failed },
  /** Too many failed attempts from this address. */
  RATE_LIMITED: { status: 429, exit: ExitCode.failed },
  NO_LOGS: { status: 404, exit: ExitCode.failed },
  DEPLOYMENT_IN_PROGRESS: { status: 409, exit: ExitCode.failed },
  STORE_WRITE_FAILED: { status: 503, exit: ExitCode.failed },
  INTERNAL: { status: 500, exit: ExitCode.failed },
} as const satisfies Record<string, { status: number; exit: number }>;

export type ErrorCode = keyof typeof errorCodes;

/** HTTP status for an error code; codes not in the table are refusals of the operation (409). */
export function statusFor(code: string): number {
  return (errorCodes as Record<string, { status: number }>)[code]?.status ?? 409;
}

/** The error body every failed request answers with. */
export interface ApiErrorBody {
  error: { code: string; message: string; hint?: string; issues?: unknown };
}

/** Body of POST deploy. Paths are on the daemon's machine; nothing is uploaded. */
export interface DeployRequest {
  version?: string;
  env?: Record<string, string>;
  command?: string;
  cwd?: string;
  source?: string;
  gitRef?: string;
}

export interface TokenInfo {
  name: string;
  role: Role;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface TokenCreated extends TokenInfo {
  /** The token itself: shown once, only a hash of it is kept. */
  token: string;
}

/** GET /v1/whoami: the token's name and role; over the Unix socket, no name and every right. */
export interface WhoAmI {
  name: string | null;
  role: Role;
}

/** One line an instance (or a release's hooks) wrote. */
export interface LogLine {
  instance: string;
  at: string | null;
  text: string;
}

export interface LogsResponse {
  service: string;
  release: number;
  instances: string[];
  lines: LogLine[];
}
