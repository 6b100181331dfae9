import http from 'node:http';
import { readDaemonInfo, socketPathFor } from '../daemon/paths.ts';
import type { DeployEvent } from '../deploy/events.ts';
import { ZddError } from '../errors.ts';

interface ApiErrorBody {
  error?: { code?: string; message?: string; hint?: string };
}

type Finished = Extract<DeployEvent, { type: 'finished' }>;

/**
 * The CLI's side of the control API: finds the daemon through the data dir and speaks JSON to it over
 * its Unix socket. Built on node:http so that a CLI command starts fast.
 */
export class ControlClient {
  readonly #socketPath: string;
  readonly #dataDir: string;

  constructor(dataDir: string) {
    this.#dataDir = dataDir;
    this.#socketPath = readDaemonInfo(dataDir)?.socket ?? socketPathFor(dataDir);
  }

  async get<T>(path: string): Promise<T> {
    return this.#call<T>('GET', path);
  }

  async post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.#call<T>('POST', path, body);
  }

  /** A deployment's NDJSON events, each passed to onEvent; resolves with the "finished" event. */
  async stream(method: 'GET' | 'POST', path: string, body: unknown, onEvent: (e: DeployEvent) => void): Promise<Finished | undefined> {
    const res = await this.#request(method, path, body);
    if ((res.statusCode ?? 500) >= 400) throw toError(res.statusCode ?? 500, JSON.parse(await text(res)) as ApiErrorBody);
    let buffer = '';
    let finished: Finished | undefined;
    res.setEncoding('utf8');
    for await (const chunk of res) {
      buffer += chunk as string;
      let i: number;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        if (!line.trim()) continue;
        const event = JSON.parse(line) as DeployEvent;
        if (event.type === 'finished') finished = event;
        onEvent(event);
      }
    }
    if (!finished && method === 'POST') {
      throw new ZddError('DAEMON_GONE', 'the daemon stopped answering before the deployment finished', 'see its state with: zdd status');
    }
    return finished;
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#request(method, path, body);
    const value = JSON.parse(await text(res)) as T & ApiErrorBody;
    if ((res.statusCode ?? 500) >= 400) throw toError(res.statusCode ?? 500, value);
    return value;
  }

  #request(method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        { socketPath: this.#socketPath, method, path, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} },
        resolve,
      );
      req.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
          reject(new ZddError('NO_DAEMON', `no zdd daemon is running for data dir ${this.#dataDir}`, 'start it with: zdd serve (in the folder holding zdd.yaml)'));
        } else reject(err);
      });
      req.end(payload);
    });
  }
}

export class ApiError extends ZddError {
  readonly status: number;
  constructor(status: number, code: string, message: string, hint?: string) {
    super(code, message, hint);
    this.status = status;
  }
}

async function text(res: http.IncomingMessage): Promise<string> {
  let s = '';
  res.setEncoding('utf8');
  for await (const chunk of res) s += chunk as string;
  return s;
}

function toError(status: number, body: ApiErrorBody): ApiError {
  const e = body.error ?? {};
  return new ApiError(status, e.code ?? 'API_ERROR', e.message ?? `daemon answered ${status}`, e.hint);
}
