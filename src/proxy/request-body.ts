import type { ClientRequest } from './client-exchange.ts';

/** The client paused or took too long sending its request body: it gets a 408. */
export class ClientBodyTimeout extends Error {
  readonly code = 'ZDD_CLIENT_BODY_TIMEOUT';
}

export interface BodyLimits {
  /** Longest pause between two pieces of the body. */
  idleMs: number;
  /** Longest time for the whole body, from the request's headers. */
  totalMs: number;
}

/**
 * Bodies up to this size are read in full before an upstream connection is taken, so a client that
 * sends slowly holds only its own connection, never one of the app's (nginx buffers the same way).
 */
export const maxBufferedBody = 1024 * 1024;

export type ReceivedBody =
  | { kind: 'buffered'; buffer: Buffer }
  /** Too large to hold: what was read so far, then the rest as it comes (the factory is called once per attempt). */
  | { kind: 'streamed'; prefix: Buffer[]; rest: () => AsyncIterable<Buffer> };

/**
 * Reads a request body under the idle and total limits: in full when it fits in maxBufferedBody, else as
 * a stream. Rejects with ClientBodyTimeout, or with the stream's error when the client goes away.
 */
export async function receiveBody(req: ClientRequest, limits: BodyLimits): Promise<ReceivedBody> {
  const reader = new TimedReader(req, limits);
  const declared = Number(req.headers['content-length']);
  if (Number.isInteger(declared) && declared > maxBufferedBody) return { kind: 'streamed', prefix: [], rest: () => reader.remaining() };
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const chunk = await reader.next();
    if (chunk === undefined) return { kind: 'buffered', buffer: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) };
    chunks.push(chunk);
    size += chunk.length;
    // A chunked body that turned out large: send what is here, then stream the rest.
    if (size > maxBufferedBody) return { kind: 'streamed', prefix: chunks, rest: () => reader.remaining() };
  }
}

/** Pulls chunks from the request, failing when the client pauses or dawdles past the limits. */
class TimedReader {
  readonly #it: AsyncIterator<Buffer>;
  readonly #idleMs: number;
  readonly #deadline: number;

  constructor(req: ClientRequest, limits: BodyLimits) {
    this.#it = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    this.#idleMs = limits.idleMs;
    this.#deadline = Date.now() + limits.totalMs;
  }

  async next(): Promise<Buffer | undefined> {
    const left = this.#deadline - Date.now();
    const idle = left > this.#idleMs;
    const wait = Math.max(0, Math.min(this.#idleMs, left));
    let timer: NodeJS.Timeout | undefined;
    const pending = this.#it.next();
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // The pending read fails when the connection is torn down; nobody waits for it any more.
        pending.catch(() => undefined);
        reject(new ClientBodyTimeout(idle ? `the client sent no body data for ${this.#idleMs} ms` : 'the client did not send the whole body in time'));
      }, wait);
    });
    try {
      const r = await Promise.race([pending, expired]);
      return r.done ? undefined : r.value;
    } finally {
      clearTimeout(timer);
    }
  }

  async *remaining(): AsyncGenerator<Buffer> {
    for (let chunk = await this.next(); chunk !== undefined; chunk = await this.next()) yield chunk;
  }
}
