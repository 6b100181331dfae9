import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { formatDuration } from '../config/duration.ts';

/** `sha256=<hex HMAC-SHA256(secret, body)>`: GitHub's webhook convention, over the raw body only. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** What one POST came to. */
export type Attempt = { ok: true; status: number } | { ok: false; status: number | null; error: string; retry: boolean; retryAfterMs?: number };

/** Retried: no answer, 408, 429 and 5xx. Not: other 4xx (the request itself is wrong) and 3xx (redirects are not followed). */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Retry-After in seconds (an HTTP date is not worth a clock comparison here), capped at a minute. */
function retryAfter(value: string | string[] | undefined): number | undefined {
  const s = Array.isArray(value) ? value[0] : value;
  if (s === undefined || !/^\s*\d+\s*$/.test(s)) return undefined;
  return Math.min(Number(s) * 1000, 60_000);
}

/**
 * POST `body` once, on a connection of its own. Settles with the answer's status (the body is read and
 * dropped), or with what went wrong: no connection, a reset, no answer within `timeoutMs`, or `signal`.
 */
export function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<Attempt> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (a: Attempt): void => {
      if (settled) return;
      settled = true;
      resolve(a);
    };
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? https : http).request(u, {
      method: 'POST',
      agent: false,
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' },
    });
    const timer = setTimeout(() => {
      settle({ ok: false, status: null, error: `no answer within ${formatDuration(timeoutMs)}`, retry: true });
      req.destroy();
    }, timeoutMs);
    const onAbort = (): void => {
      settle({ ok: false, status: null, error: 'zdd stopped', retry: false });
      req.destroy();
    };
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      if (status >= 200 && status < 300) settle({ ok: true, status });
      else {
        const wait = status === 429 || status === 503 ? retryAfter(res.headers['retry-after']) : undefined;
        settle({ ok: false, status, error: `HTTP ${status}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}`, retry: retryableStatus(status), ...(wait === undefined ? {} : { retryAfterMs: wait }) });
      }
    });
    req.on('error', (err: NodeJS.ErrnoException) => settle({ ok: false, status: null, error: err.code ?? err.message, retry: true }));
    req.on('close', () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      settle({ ok: false, status: null, error: 'connection closed without an answer', retry: true });
    });
    req.end(body);
  });
}
