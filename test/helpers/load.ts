import autocannon from 'autocannon';

export interface LoadResult {
  requests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
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
