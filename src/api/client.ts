import { Client } from 'undici';
import { readDaemonInfo, socketPathFor } from '../daemon/paths.ts';
import type { DeployEvent } from '../deploy/events.ts';
import { ZddError } from '../errors.ts';

interface ApiErrorBody {
  error?: { code?: string; message?: string; hint?: string };
}

/** The CLI's side of the control API: finds the daemon through the data dir and speaks JSON to it. */
export class ControlClient {
  readonly #client: Client;
  readonly #dataDir: string;

  constructor(dataDir: string) {
    this.#dataDir = dataDir;
    const socketPath = readDaemonInfo(dataDir)?.socket ?? socketPathFor(dataDir);
    this.#client = new Client('http://zdd', { socketPath, headersTimeout: 0, bodyTimeout: 0 });
  }

  async close(): Promise<void> {
    await this.#client.close();
  }

  async get<T>(path: string): Promise<T> {
    return this.#call<T>('GET', path);
  }

  async post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.#call<T>('POST', path, body);
  }

  /** A deployment's NDJSON events, each passed to onEvent; resolves with the "finished" event. */
  async stream(method: 'GET' | 'POST', path: string, body: unknown, onEvent: (e: DeployEvent) => void): Promise<Extract<DeployEvent, { type: 'finished' }> | undefined> {
    const res = await this.#request(method, path, body);
    if (res.statusCode >= 400) throw toError(res.statusCode, (await res.body.json()) as ApiErrorBody);
    let buffer = '';
    let finished: Extract<DeployEvent, { type: 'finished' }> | undefined;
    for await (const chunk of res.body) {
      buffer += chunk.toString();
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
    const value = (await res.body.json()) as T & ApiErrorBody;
    if (res.statusCode >= 400) throw toError(res.statusCode, value);
    return value;
  }

  async #request(method: string, path: string, body?: unknown) {
    try {
      return await this.#client.request({
        method: method as 'GET',
        path,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        throw new ZddError('NO_DAEMON', `no zdd daemon is running for data dir ${this.#dataDir}`, 'start it with: zdd serve (in the folder holding zdd.yaml)');
      }
      throw err;
    }
  }
}

export class ApiError extends ZddError {
  readonly status: number;
  constructor(status: number, code: string, message: string, hint?: string) {
    super(code, message, hint);
    this.status = status;
  }
}

function toError(status: number, body: ApiErrorBody): ApiError {
  const e = body.error ?? {};
  return new ApiError(status, e.code ?? 'API_ERROR', e.message ?? `daemon answered ${status}`, e.hint);
}
