// When a failed attempt is sent again, and where; otherwise what the client is answered. Pure: the proxy
// gathers the facts, acts on the verdict, and keeps the side effects (numbers, logs, passive health).
import { DrainDeadlineError, type AttemptResult } from './forward.ts';
import { classifyUpstreamError } from './upstream-errors.ts';

/** Attempts per request at most (the first one and its retries), so a failing release cannot loop it. */
export const maxAttempts = 3;

/** What retries read of the route table (a RouteTable is one): its releases, newest first. */
export interface SplitTable {
  readonly routes: readonly { readonly targets: { readonly release: number } }[];
  /** Failures of the newest release (the canary) go to the oldest (stable). */
  readonly retryOnOlder: boolean;
}

/** The request and where its attempt went. */
export interface AttemptContext {
  /** The table the request was routed by (not the current one: a split may have changed since). */
  table: SplitTable;
  /** The release the attempt went to. */
  release: number;
  /** A tester named the release: it answers, whatever it answers. */
  forced: boolean;
  idempotent: boolean;
  /** The body is streamed: it cannot be sent twice. */
  streamed: boolean;
}

export type RetryDecision =
  /** Again on the stable release: the canary failed it (or its 5xx was held back for this). */
  | { kind: 'retry-stable' }
  /** Again on the release it went to (another instance): nothing unsafe reached the upstream. */
  | { kind: 'retry-same' }
  /** The upstream failed it and it cannot go again: 504 when it timed out, else 502. */
  | { kind: 'upstream-failed'; status: 502 | 504; message: string }
  /** The release was stopped at its drain deadline before it answered: 503, worth trying again. */
  | { kind: 'release-stopped'; status: 503; message: string }
  /** The client's fault (it sent what cannot be forwarded, or its body too slowly): counted as a rejection. */
  | { kind: 'client-fault'; status: 400 | 408; message: string }
  /** The client went away: there is no one to answer. */
  | { kind: 'client-gone' };

/** The facts of an attempt that ended without answering the client (`responded` false). */
export type FailedAttempt = Pick<AttemptResult, 'error' | 'retryable' | 'replaced' | 'clientFault'>;

/** What to do after an attempt that reached nothing of the client. */
export function afterFailedAttempt(ctx: AttemptContext, r: FailedAttempt): RetryDecision {
  // The client's failures come first: no release is to blame, and no retry would help.
  if (r.clientFault === 'invalid') return { kind: 'client-fault', status: 400, message: `the request cannot be forwarded: ${r.error?.message}` };
  if (r.clientFault === 'body-timeout') return { kind: 'client-fault', status: 408, message: r.error!.message };
  if (r.clientFault === 'gone') return { kind: 'client-gone' };
  if (r.replaced || (r.retryable && stableMayStepIn(ctx))) return { kind: 'retry-stable' };
  if (r.retryable) return { kind: 'retry-same' };
  if (r.error instanceof DrainDeadlineError) return { kind: 'release-stopped', status: 503, message: r.error.message };
  if (classifyUpstreamError(r.error) === 'timeout') return { kind: 'upstream-failed', status: 504, message: 'upstream timed out' };
  return { kind: 'upstream-failed', status: 502, message: 'upstream connection failed' };
}

/**
 * An upstream answered 5xx and nothing reached the client yet: hold it back so the stable release answers
 * instead? Only a request that can safely go twice, and only when stable has room: `stableHasRoom` is
 * asked last, because picking a target rotates the release's round robin.
 */
export function holdBackForStable(ctx: AttemptContext, stableHasRoom: () => boolean): boolean {
  return stableMayStepIn(ctx) && ctx.idempotent && !ctx.streamed && stableHasRoom();
}

/** The attempt went to the canary of a split that retries on stable, and no tester pinned the request to it. */
function stableMayStepIn(ctx: AttemptContext): boolean {
  const { routes, retryOnOlder } = ctx.table;
  return retryOnOlder && !ctx.forced && routes.length > 1 && routes[0]!.targets.release === ctx.release;
}
