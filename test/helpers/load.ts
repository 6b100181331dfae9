import autocannon from 'autocannon';
import { Pool } from 'undici';

export interface LoadResult {
  requests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** startKeepAliveLoad: when each failed request (an error or a non-2xx answer) was sent and ended, ms since the epoch. */
  failures?: { sentAt: number; at: number; what: string }[];
}

export interface Load {
  stop(): Promise<LoadResult>;
}

/**
 * Sustained keep-alive load from autocannon until stop(). For clients without keep-alive use
 * startFreshConnectionLoad (bench/lib/fresh-connections.ts): autocannon loses requests silently when
 * the server closes connections.
 */
export function startLoad(o: {
  url: string;
  connections?: number;
  method?: 'GET' | 'POST';
  path?: string;
  body?: string;
  headers?: Record<string, string>;
  /** Requests per second across all connections (default: as fast as possible). */
  rate?: number;
}): Load {
  let resolveDone!: (r: LoadResult) => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<LoadResult>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  const statusCodes: Record<string, number> = {};
  const instance = autocannon(
    {
      url: o.url + (o.path ?? '/'),
      connections: o.connections ?? 4,
      duration: 3600,
      method: o.method ?? 'GET',
      body: o.body,
      headers: o.body ? { 'content-type': 'application/json', ...o.headers } : o.headers,
      overallRate: o.rate,
      timeout: 20,
    },
    (err, r) => {
      if (err) return rejectDone(err);
      resolveDone({ requests: r.requests.total, errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx, statusCodes });
    },
  );
  instance.on('response', (_client, statusCode) => {
    statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
  });
  return {
    stop() {
      instance.stop();
      return done;
    },
  };
}

export { startFreshConnectionLoad } from '../../bench/lib/fresh-connections.ts';

/**
 * Keep-alive GETs at a fixed rate with undici, every outcome counted exactly: unlike autocannon it
 * handles a server's `Connection: close` (a daemon handing over) without losing a request silently.
 */
export function startKeepAliveLoad(o: {
  url: string;
  rate: number;
  connections: number;
  path?: string;
  headers?: Record<string, string>;
  /** TLS: the CA to trust and the server name to ask for. */
  tls?: { ca: string; servername: string };
  /** Speak HTTP/2 (over TLS, by ALPN). */
  h2?: boolean;
}): { stop(): Promise<LoadResult> } {
  const pool = new Pool(o.url, {
    connections: o.connections,
    ...(o.tls ? { connect: { ca: o.tls.ca, servername: o.tls.servername } } : {}),
    ...(o.h2 ? { allowH2: true } : {}),
  });
  const failures: { sentAt: number; at: number; what: string }[] = [];
  const result: LoadResult = { requests: 0, errors: 0, timeouts: 0, non2xx: 0, statusCodes: {}, failures };
  const start = performance.now();
  let sent = 0;
  let inFlight = 0;
  let onIdle: (() => void) | undefined;
  const timer = setInterval(() => {
    while (start + (sent * 1000) / o.rate <= performance.now()) {
      sent++;
      inFlight++;
      const sentAt = Date.now();
      pool
        .request({ path: o.path ?? '/', method: 'GET', headers: o.headers })
        .then(async (res) => {
          await res.body.dump();
          result.requests++;
          result.statusCodes[res.statusCode] = (result.statusCodes[res.statusCode] ?? 0) + 1;
          if (res.statusCode < 200 || res.statusCode > 299) {
            result.non2xx++;
            failures.push({ sentAt, at: Date.now(), what: String(res.statusCode) });
          }
        })
        .catch((err: unknown) => {
          result.errors++;
          failures.push({ sentAt, at: Date.now(), what: (err as { code?: string }).code ?? String(err) });
        })
        .finally(() => {
          if (--inFlight === 0) onIdle?.();
        });
    }
  }, 2);
  return {
    async stop() {
      clearInterval(timer);
      if (inFlight > 0) await new Promise<void>((resolve) => (onIdle = resolve));
      await pool.close();
      return result;
    },
  };
}
