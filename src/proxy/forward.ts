import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { responseGone, writeBody, writeHead, type ClientRequest, type ClientResponse } from './client-exchange.ts';
import { downstreamHeaders } from './headers.ts';
import { ClientBodyTimeout } from './request-body.ts';
import type { Target, Cancellable } from './target.ts';
import { classifyUpstreamError } from './upstream-errors.ts';

/** The release stopped (its drain deadline passed) before it answered. */
export class DrainDeadlineError extends Error {
  readonly code = 'ZDD_DRAIN_DEADLINE';
  constructor() {
    super('the release was stopped at its drain deadline before it answered');
  }
}

/** The client went away, or stopped reading the response: the exchange ends, and it is not the release's fault. */
export class ClientGoneError extends Error {
  readonly code = 'ZDD_CLIENT_GONE';
}

/** A request body larger than zdd buffers: what was read, then the rest as it arrives. */
export interface StreamedBody {
  prefix: Buffer[];
  rest: () => AsyncIterable<Buffer>;
  /** The upstream began reading it: it cannot be sent again. */
  pulled: boolean;
}

/** One client request on its way through the proxy, across retries. */
export interface Exchange {
  req: ClientRequest;
  res: ClientResponse;
  /** The request target sent upstream (the route's prefix stripped, when it says so). */
  path: string;
  /** Strict-Transport-Security for the response, when the service sets hsts. */
  hsts: string | undefined;
  requestId: string;
  headers: string[];
  /** The request body: read in advance (so it can be sent twice), streamed, or none. */
  body: Buffer | StreamedBody | null;
  idempotent: boolean;
  setCookie: string | undefined;
  /** A trusted tester named the release (header or cookie): it answers, no other release steps in. */
  forced: boolean;
  tried: Set<Target>;
  /** How long a response may wait for a client that reads nothing before the connection is closed. */
  sendTimeoutMs: number;
}

/** Why an attempt ended on the client's side rather than the upstream's; such attempts count against no release. */
export type ClientFault = 'gone' | 'body-timeout' | 'invalid';

export interface AttemptResult {
  /** The upstream's status, 0 when it never answered. */
  status: number;
  latencyMs: number;
  /** The connection to the upstream failed or broke. */
  error: Error | undefined;
  /** Something of the response reached the client: the exchange cannot be sent again. */
  responded: boolean;
  /** Nothing reached the upstream that makes a second attempt unsafe. */
  retryable: boolean;
  /** The upstream's 5xx was held back (interceptStatus) so another release can answer. */
  replaced: boolean;
  clientFault: ClientFault | undefined;
}

/** What the proxy decides for an attempt: it owns retries, error responses and the numbers. */
export interface AttemptOutcome {
  /** The upstream answered a 5xx, before anything went to the client: return true to retry it elsewhere. */
  interceptStatus(ex: Exchange, target: Target, status: number): boolean;
  /** The attempt is over; when `responded` is false the proxy must still answer the client. */
  attemptDone(ex: Exchange, target: Target, result: AttemptResult): void;
}

export function isStreamed(body: Exchange['body']): body is StreamedBody {
  return body !== null && !Buffer.isBuffer(body);
}

/** Streams one attempt of an exchange to one target and its response back to the client. */
export class ForwardAttempt implements Dispatcher.DispatchHandler, Cancellable {
  readonly #ex: Exchange;
  readonly #target: Target;
  readonly #outcome: AttemptOutcome;
  readonly #streamed: boolean;
  #controller: Dispatcher.DispatchController | undefined;
  #status = 0;
  #done = false;
  #intercepted = false;
  #startedAt = 0;
  #sendTimer: NodeJS.Timeout | undefined;
  /** Body bytes the upstream's Content-Length still promises; -1 when it sent none (chunked, or until close). */
  #left = -1;
  /** The chunk that completed the body: it goes out with the end of the response, in one write. */
  #last: Buffer | undefined;

  constructor(ex: Exchange, target: Target, outcome: AttemptOutcome) {
    this.#ex = ex;
    this.#target = target;
    this.#outcome = outcome;
    this.#streamed = isStreamed(ex.body);
  }

  /** The caller checked that the target has room; the connection is taken here. */
  start(): void {
    const { req, path } = this.#ex;
    this.#startedAt = performance.now();
    this.#target.occupy(this.#streamed);
    this.#target.track(this);
    this.#ex.tried.add(this.#target);
    this.#target.pool.dispatch(
      { path, method: req.method as Dispatcher.HttpMethod, headers: this.#ex.headers, body: bodyFor(this.#ex.body) },
      this,
    );
  }

  cancel(): void {
    this.#controller?.abort(new DrainDeadlineError());
    // Mid-response there is no way to tell the client but to end the connection.
    if (!this.#done && this.#ex.res.headersSent) this.#ex.res.destroy();
  }

  /** The client went away: stop the upstream work too. */
  clientClosed(): void {
    if (!this.#done) this.#controller?.abort(new ClientGoneError('the client closed the connection'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    const { res } = this.#ex;
    if (responseGone(res)) {
      controller.abort(new ClientGoneError('the client closed the connection'));
      return;
    }
    if (statusCode >= 500 && this.#outcome.interceptStatus(this.#ex, this.#target, statusCode)) {
      this.#intercepted = true;
      this.#status = statusCode;
      controller.abort(new Error('response replaced by a retry'));
      return;
    }
    if (statusCode < 200) return; // 1xx informational: Node answers 100 Continue itself
    this.#status = statusCode;
    const raw = (controller.rawHeaders ?? []) as (Buffer | string)[];
    this.#left = contentLength(headers['content-length']);
    writeHead(res, statusCode, statusMessage, downstreamHeaders(raw, this.#ex.requestId, this.#ex.setCookie, this.#ex.hsts, headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const { res } = this.#ex;
    if (this.#left >= 0 && (this.#left -= chunk.length) === 0) {
      // The body is complete: the end of the message follows at once (undici reads it from the same
      // bytes), and the chunk goes out with it.
      this.#last = chunk;
      return;
    }
    if (writeBody(res, chunk)) return;
    controller.pause();
    // A client that stops reading would otherwise hold this upstream connection forever.
    this.#sendTimer ??= setTimeout(() => {
      res.destroy();
      controller.abort(new ClientGoneError(`the client read nothing for ${this.#ex.sendTimeoutMs} ms`));
    }, this.#ex.sendTimeoutMs);
    res.once('drain', () => {
      clearTimeout(this.#sendTimer);
      this.#sendTimer = undefined;
      controller.resume();
    });
  }

  onResponseEnd(): void {
    const { res } = this.#ex;
    const last = this.#last;
    if (last === undefined) res.end();
    else {
      this.#last = undefined;
      res.end(last);
      // As after any chunk the client's socket could not take: a client that reads nothing has sendTimeout to start.
      if (res.writableLength >= res.writableHighWaterMark) closeUnlessSent(res, this.#ex.sendTimeoutMs);
    }
    this.#finish(this.#status, undefined, true, false, undefined);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    clearTimeout(this.#sendTimer);
    this.#last = undefined;
    if (this.#intercepted) {
      this.#finish(this.#status, undefined, false, true, undefined);
      return;
    }
    const clientFault = faultOf(err);
    const { res, body } = this.#ex;
    if (res.headersSent || responseGone(res)) {
      // Mid-response (or the client left): this response is already broken; end the connection so it shows.
      res.destroy();
      this.#finish(this.#status, err, true, false, clientFault);
      return;
    }
    const kind = classifyUpstreamError(err);
    const bodyUnread = !isStreamed(body) || !body.pulled;
    const retryable = clientFault === undefined && bodyUnread && (kind === 'connect' || (kind === 'reset' && this.#ex.idempotent));
    this.#finish(0, err, false, retryable, clientFault);
  }

  #finish(status: number, error: Error | undefined, responded: boolean, retryable: boolean, clientFault: ClientFault | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#target.untrack(this);
    this.#target.vacate(this.#streamed);
    const result: AttemptResult = { status, latencyMs: performance.now() - this.#startedAt, error, responded, retryable, replaced: this.#intercepted, clientFault };
    this.#outcome.attemptDone(this.#ex, this.#target, result);
  }
}

/** The body length a Content-Length value promises; -1 for none (or anything but digits, which undici refuses anyway). */
function contentLength(value: string | string[] | undefined): number {
  if (typeof value !== 'string' || value.length === 0 || value.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    n = n * 10 + digit;
  }
  return n;
}

/** The response is complete but still queued for a client that reads nothing: it gets `ms` to take it, then the connection closes. */
function closeUnlessSent(res: ClientResponse, ms: number): void {
  const timer = setTimeout(() => res.destroy(), ms);
  const stop = () => clearTimeout(timer);
  res.once('finish', stop);
  res.once('close', stop);
}

function faultOf(err: Error): ClientFault | undefined {
  if (err instanceof ClientGoneError) return 'gone';
  if (err instanceof ClientBodyTimeout) return 'body-timeout';
  // undici refused the request itself (e.g. a header it will not send): the client's request was malformed.
  if ((err as { code?: string }).code === 'UND_ERR_INVALID_ARG') return 'invalid';
  return undefined;
}

/** What undici sends: a buffer as is; a streamed body as a stream that notes when it is first read. */
function bodyFor(body: Exchange['body']): Buffer | Readable | null {
  if (!isStreamed(body)) return body;
  return Readable.from(
    (async function* () {
      body.pulled = true;
      yield* body.prefix;
      yield* body.rest();
    })(),
    { objectMode: false },
  );
}
