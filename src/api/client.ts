import http from 'node:http';
import type { DeployEvent } from '../deploy/events.ts';
import { errnoOf } from '../daemon/socket-trust.ts';
import { ZddError } from '../errors.ts';
import { connectionError, trustedSocket } from './daemon-socket.ts';

interface ApiErrorBody {
  error?: { code?: string; message?: string; hint?: string };
}

type Finished = Extract<DeployEvent, { type: 'finished' }>;
type Paused = Extract<DeployEvent, { type: 'paused' }>;

/** How long a command waits for a daemon socket that is missing or refusing. */
const connectGraceMs = 1_500;

/**
 * The CLI's side of the control API: finds the daemon through the data dir and speaks JSON to it over
 * its Unix socket. Built on node:http so that a CLI command starts fast. Every failure is a ZddError.
 */
export class ControlClient {
  readonly #dataDir: string;

  constructor(dataDir: string) {
    this.#dataDir = dataDir;
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
    let buffer = '';
    let finished: Finished | undefined;
    res.setEncoding('utf8');
    try {
      for await (const chunk of res) {
        buffer += chunk as string;
        let i: number;
        while ((i = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, i);
          buffer = buffer.slice(i + 1);
          if (!line.trim()) continue;
          const event = parse<DeployEvent>(line);
          if (event.type === 'finished') finished = event;
          onEvent(event);
          if (event.type === 'paused') {
            res.destroy();
            return event;
          }
        }
      }
    } catch (err) {
      if (err instanceof ZddError) throw err;
      throw stoppedAnswering();
    }
    if (!finished && method === 'POST') throw stoppedAnswering();
    return finished;
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#request(method, path, body);
    const value = parse<T & ApiErrorBody>(await text(res));
    if ((res.statusCode ?? 500) >= 400) throw toError(res.statusCode ?? 500, value);
    return value;
  }

  /**
   * The socket can be missing for a moment, while a daemon starts or hands over to its successor
   * (zdd restart): a refused or missing socket is tried again for a short while before giving up.
   */
  async #request(method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
    const deadline = Date.now() + connectGraceMs;
    for (;;) {
      // Checked on every try: the socket may appear (or change hands) while we wait.
      const socketPath = trustedSocket(this.#dataDir);
      try {
        return await send(socketPath, method, path, body);
      } catch (err) {
        const code = errnoOf(err);
        if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw connectionError(err, this.#dataDir, socketPath);
        if (Date.now() >= deadline) {
          throw new ZddError('NO_DAEMON', `no zdd daemon is running for data dir ${this.#dataDir}`, 'start it with: zdd serve (in the folder holding zdd.yaml)');
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}

function send(socketPath: string, method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const headers = payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {};
    const req = http.request({ socketPath, method, path, headers }, resolve);
    req.once('error', reject);
    req.end(payload);
  });
}

export class ApiError extends ZddError {
  readonly status: number;
  constructor(status: number, code: string, message: string, hint?: string) {
    super(code, message, hint);
    this.status = status;
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
