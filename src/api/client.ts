import http from 'node:http';
import https from 'node:https';
import type { DeployEvent } from '../deploy/events.ts';
import { errnoOf } from '../daemon/socket-trust.ts';
import { ZddError } from '../errors.ts';
import { pathFor, routes, type RouteName, type RouteParams } from './contract.ts';
import { connectionError, trustedSocket } from './daemon-socket.ts';

interface ApiErrorBody {
  error?: { code?: string; message?: string; hint?: string };
}

type Finished = Extract<DeployEvent, { type: 'finished' }>;
type Paused = Extract<DeployEvent, { type: 'paused' }>;

/** How long a command waits for a daemon socket that is missing or refusing. */
const connectGraceMs = 1_500;

/** Where the daemon is: its Unix socket (found through the data dir), or its HTTP control listener with a token. */
export type DaemonAddress = { dataDir: string } | { url: URL; token: string };

/**
 * The CLI's side of the control API: speaks JSON to the daemon over its Unix socket (found through the
 * data dir), or over HTTP(S) to its control listener with a bearer token. Built on node:http so that a
 * CLI command starts fast. Every failure is a ZddError, with the code the daemon answered.
 */
export class ControlClient {
  readonly #address: DaemonAddress;

  constructor(address: DaemonAddress) {
    this.#address = address;
  }

  get remote(): boolean {
    return 'url' in this.#address;
  }

  /** A route of the contract, by name: its method and path come from the table. */
  async call<T>(name: RouteName, params: Record<string, string>, o: { body?: unknown; query?: Record<string, string | number | boolean | undefined> } = {}): Promise<T> {
    const method = routes[name].method;
    return this.#call<T>(method, pathFor(name, params as RouteParams<typeof name>, o.query), o.body ?? (method === 'GET' ? undefined : {}));
  }

  async get<T>(path: string): Promise<T> {
    return this.#call<T>('GET', path);
  }

  async post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.#call<T>('POST', path, body);
  }

  /**
   * A deployment's NDJSON events, each passed to onEvent; resolves with the "finished" event, or with a
   * "paused" one (the deployment waits for a person; it goes on in the daemon, and this stops watching).
   */
  async stream(method: 'GET' | 'POST', path: string, body: unknown, onEvent: (e: DeployEvent) => void): Promise<Finished | Paused | undefined> {
    const res = await this.#request(method, path, body);
    if ((res.statusCode ?? 500) >= 400) throw toError(res.statusCode ?? 500, parse<ApiErrorBody>(await text(res)));
    let finished: Finished | undefined;
    let paused: Paused | undefined;
    try {
      await readNdjson(res, (value) => {
        const event = value as DeployEvent;
        if (event.type === 'finished') finished = event;
        onEvent(event);
        if (event.type === 'paused') paused = event;
        return paused !== undefined;
      });
    } catch (err) {
      if (err instanceof ZddError) throw err;
      throw stoppedAnswering();
    }
    if (paused) return paused;
    if (!finished && method === 'POST') throw stoppedAnswering();
    return finished;
  }

  /** A GET answered with NDJSON (followed logs): each value to onValue, until the daemon ends the answer. */
  async ndjson(path: string, onValue: (v: unknown) => void): Promise<void> {
    const res = await this.#request('GET', path);
    if ((res.statusCode ?? 500) >= 400) throw toError(res.statusCode ?? 500, parse<ApiErrorBody>(await text(res)));
    try {
      await readNdjson(res, (v) => void onValue(v));
    } catch (err) {
      if (err instanceof ZddError) throw err;
      throw new ZddError('DAEMON_GONE', 'the daemon stopped answering', 'see whether it still runs: zdd status');
    }
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#request(method, path, body);
    const value = parse<T & ApiErrorBody>(await text(res));
    if ((res.statusCode ?? 500) >= 400) throw toError(res.statusCode ?? 500, value);
    return value;
  }

  /**
   * The socket can be missing for a moment, while a daemon starts or hands over to its successor
   * (zdd restart): a refused or missing socket (or control listener) is tried again for a short while.
   */
  async #request(method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
    const deadline = Date.now() + connectGraceMs;
    const a = this.#address;
    for (;;) {
      // Checked on every try: the socket may appear (or change hands) while we wait.
      const socketPath = 'dataDir' in a ? trustedSocket(a.dataDir) : undefined;
      try {
        return await send(a, socketPath, method, path, body);
      } catch (err) {
        const code = errnoOf(err);
        if ('url' in a) {
          if (code !== 'ECONNREFUSED' && code !== 'ECONNRESET') throw remoteError(err, a.url);
        } else if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw connectionError(err, a.dataDir, socketPath!);
        if (Date.now() >= deadline) {
          throw 'url' in a
            ? new ZddError('NO_DAEMON', `no zdd daemon answers at ${a.url.origin}`, "check ZDD_URL (or --url) and that the daemon's zdd.yaml has control: { listen: … }")
            : new ZddError('NO_DAEMON', `no zdd daemon is running for data dir ${a.dataDir}`, 'start it with: zdd serve (in the folder holding zdd.yaml)');
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}

function send(a: DaemonAddress, socketPath: string | undefined, method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {};
    let req: http.ClientRequest;
    if ('url' in a) {
      headers.authorization = `Bearer ${a.token}`;
      const base = a.url.pathname.replace(/\/+$/, '');
      const target = { protocol: a.url.protocol, hostname: a.url.hostname.replace(/^\[|\]$/g, ''), port: a.url.port || undefined, method, path: `${base}${path}`, headers, agent: false as const };
      req = a.url.protocol === 'https:' ? https.request(target, resolve) : http.request(target, resolve);
    } else {
      req = http.request({ socketPath, method, path, headers }, resolve);
    }
    req.once('error', reject);
    req.end(payload);
  });
}

function remoteError(err: unknown, url: URL): ZddError {
  const e = err as NodeJS.ErrnoException;
  const tls = /CERT|SSL|TLS|self.signed|unable to verify/i.test(`${e.code ?? ''} ${e.message}`);
  return new ZddError(
    'CONTROL_UNREACHABLE',
    `cannot reach the zdd daemon at ${url.origin}: ${e.message}`,
    tls ? "the control listener's certificate is not trusted here: give Node its CA with NODE_EXTRA_CA_CERTS=/path/ca.pem" : 'check ZDD_URL (or --url), and that this machine can reach it',
    { cause: err },
  );
}

export class ApiError extends ZddError {
  readonly status: number;
  constructor(status: number, code: string, message: string, hint?: string) {
    super(code, message, hint);
    this.status = status;
  }
}

/**
 * Each JSON line of an answer to onValue; onValue returning true stops reading (and drops the answer).
 * A connection cut off midway rejects with the socket's error; a line that is not JSON with BAD_ANSWER.
 */
async function readNdjson(res: http.IncomingMessage, onValue: (v: unknown) => boolean | void): Promise<void> {
  let buffer = '';
  res.setEncoding('utf8');
  for await (const chunk of res) {
    buffer += chunk as string;
    let i: number;
    while ((i = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      if (!line.trim()) continue;
      if (onValue(parse<unknown>(line)) === true) return void res.destroy();
    }
  }
}

/** The whole answer; one cut off (the daemon died or reset the connection) is DAEMON_GONE. */
async function text(res: http.IncomingMessage): Promise<string> {
  let s = '';
  res.setEncoding('utf8');
  try {
    for await (const chunk of res) s += chunk as string;
  } catch {
    throw new ZddError('DAEMON_GONE', 'the daemon stopped answering in the middle of its answer', 'see whether it still runs, and what it did: zdd status');
  }
  return s;
}

function parse<T>(s: string): T {
  try {
    return JSON.parse(s) as T;
  } catch {
    throw new ZddError('BAD_ANSWER', `the daemon answered something that is not JSON: ${JSON.stringify(s.slice(0, 80))}`, 'check that the control socket belongs to a zdd daemon of the same version (zdd --version)');
  }
}

function stoppedAnswering(): ZddError {
  return new ZddError('DAEMON_GONE', 'the daemon stopped answering before the deployment finished', 'see its state with: zdd status');
}

function toError(status: number, body: ApiErrorBody): ApiError {
  const e = body.error ?? {};
  return new ApiError(status, e.code ?? 'API_ERROR', e.message ?? `daemon answered ${status}`, e.hint);
}
