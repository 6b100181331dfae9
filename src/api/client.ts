import http from 'node:http';
import { readDaemonInfo, socketPathFor } from '../daemon/paths.ts';
import type { DeployEvent } from '../deploy/events.ts';
import { ZddError } from '../errors.ts';

interface ApiErrorBody {
  error?: { code?: string; message?: string; hint?: string };
}

type Finished = Extract<DeployEvent, { type: 'finished' }>;

/** How long a command waits for a daemon socket that is missing or refusing. */
const connectGraceMs = 1_500;

/**
 * The CLI's side of the control API: finds the daemon through the data dir and speaks JSON to it over
 * its Unix socket. Built on node:http so that a CLI command starts fast.
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

  /**
   * The socket can be missing for a moment, while a daemon starts or hands over to its successor
   * (zdd restart): a refused or missing socket is tried again for a short while before giving up.
   */
  async #request(method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
    const deadline = Date.now() + connectGraceMs;
    for (;;) {
      try {
        return await this.#send(method, path, body);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw err;
        if (Date.now() >= deadline) {
          throw new ZddError('NO_DAEMON', `no zdd daemon is running for data dir ${this.#dataDir}`, 'start it with: zdd serve (in the folder holding zdd.yaml)');
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  #send(method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const socketPath = readDaemonInfo(this.#dataDir)?.socket ?? socketPathFor(this.#dataDir);
    return new Promise((resolve, reject) => {
      const headers = payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {};
      const req = http.request({ socketPath, method, path, headers }, resolve);
      req.once('error', reject);
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
