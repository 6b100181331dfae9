// How an upstream failure is classified decides whether a request may be retried elsewhere.

const connectCodes = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  // The pool was closed before the request was dispatched.
  'UND_ERR_CLOSED',
]);
// UND_ERR_DESTROYED: the pool was torn down (its instance died), possibly with the request already sent.
const resetCodes = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_DESTROYED']);

export type UpstreamFailure =
  /** No connection was made (or the pool was closed): the request never left, any request may go elsewhere. */
  | 'connect'
  /** The connection broke before a response: only idempotent requests may be sent again. */
  | 'reset'
  | 'timeout'
  | 'other';

export function classifyUpstreamError(err: unknown): UpstreamFailure {
  const code = (err as { code?: string } | null)?.code;
  if (code === undefined) return 'other';
  if (connectCodes.has(code)) return 'connect';
  if (resetCodes.has(code)) return 'reset';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  return 'other';
}

const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function isIdempotent(method: string): boolean {
  return idempotent.has(method);
}
