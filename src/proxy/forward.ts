import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { downstreamHeaders } from './headers.ts';
import type { Target, Cancellable } from './target.ts';
import { classifyUpstreamError } from './upstream-errors.ts';

/** The release stopped (its drain deadline passed) before it answered. */
export class DrainDeadlineError extends Error {
  readonly code = 'ZDD_DRAIN_DEADLINE';
  constructor() {
    super('the release was stopped at its drain deadline before it answered');
  }
}

/** One client request on its way through the proxy, across retries. */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  headers: string[];
  /** The request body: a stream, a buffer read in advance (so it can be sent twice), or null. */
  body: IncomingMessage | Buffer | null;
  idempotent: boolean;
  setCookie: string | undefined;
  /** A tester named the release (header or cookie): it answers, no other release steps in. */
  forced: boolean;
  tried: Set<Target>;
}

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
}

/** What the proxy decides for an attempt: it owns retries, error responses and the numbers. */
export interface AttemptOutcome {
  /** The upstream answered a 5xx, before anything went to the client: return true to retry it elsewhere. */
  interceptStatus(ex: Exchange, target: Target, status: number): boolean;
  /** The attempt is over; when `responded` is false the proxy must still answer the client. */
  attemptDone(ex: Exchange, target: Target, result: AttemptResult): void;
}

/** Streams one attempt of an exchange to one target and its response back to the client. */
export class ForwardAttempt implements Dispatcher.DispatchHandler, Cancellable {
  readonly #ex: Exchange;
  readonly #target: Target;
  readonly #outcome: AttemptOutcome;
  #controller: Dispatcher.DispatchController | undefined;
  #status = 0;
  #done = false;
  #intercepted = false;
  #startedAt = 0;

  constructor(ex: Exchange, target: Target, outcome: AttemptOutcome) {
    this.#ex = ex;
    this.#target = target;
    this.#outcome = outcome;
  }

  start(): void {
    const { req } = this.#ex;
    this.#startedAt = performance.now();
    this.#target.track(this);
    this.#ex.tried.add(this.#target);
    this.#target.pool.dispatch(
      { path: req.url!, method: req.method as Dispatcher.HttpMethod, headers: this.#ex.headers, body: this.#ex.body },
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
    if (!this.#done) this.#controller?.abort(new Error('client closed the connection'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, _headers: unknown, statusMessage?: string): void {
    const { res } = this.#ex;
    if (res.destroyed) {
      controller.abort(new Error('client closed the connection'));
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
    res.writeHead(statusCode, statusMessage || undefined, downstreamHeaders(raw, this.#ex.requestId, this.#ex.setCookie));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#ex.res.write(chunk)) {
      controller.pause();
      this.#ex.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.#ex.res.end();
    this.#finish({ status: this.#status, error: undefined, responded: true, retryable: false });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.#intercepted) {
      this.#finish({ status: this.#status, error: undefined, responded: false, retryable: true });
      return;
    }
    const { res, req } = this.#ex;
    if (res.headersSent || res.destroyed) {
      // Mid-response (or the client left): this response is already broken; end the connection so it shows.
      res.destroy();
      this.#finish({ status: this.#status, error: err, responded: true, retryable: false });
      return;
    }
    const kind = classifyUpstreamError(err);
    const body = this.#ex.body;
    const bodyUnread = body === null || Buffer.isBuffer(body) || !req.readableDidRead;
    const retryable = bodyUnread && (kind === 'connect' || (kind === 'reset' && this.#ex.idempotent));
    this.#finish({ status: 0, error: err, responded: false, retryable });
  }

  #finish(r: Omit<AttemptResult, 'latencyMs' | 'replaced'>): void {
    if (this.#done) return;
    this.#done = true;
    this.#target.untrack(this);
    this.#outcome.attemptDone(this.#ex, this.#target, { ...r, latencyMs: performance.now() - this.#startedAt, replaced: this.#intercepted });
  }
}
