// Clients without keep-alive: each request on a new connection (`connection: close`), at a fixed rate,
// with Node's http client.
//
// Why not autocannon with a `connection: close` header: once the server closes the connection after a
// response, autocannon writes its next request on the closing socket, then reconnects on 'end' without
// counting anything: that request is lost silently (measured here: 608 sent, 264 answered, 0 errors) and
// the next response is timed against the lost request's start, so it reports about half the rate and
// latencies of seconds, and would hide a server that drops connections too.
import http from 'node:http';

export interface Sample {
  at: number;
  ms: number;
}

export interface Failure {
  at: number;
  what: string;
}

export interface FreshResult {
  requests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Due requests not sent because `maxInFlight` were still waiting (the target or this client lagging). */
  skipped: number;
}

export interface FreshLoad {
  samples: Sample[];
  failures: Failure[];
  stop(): Promise<FreshResult>;
}

export function startFreshConnectionLoad(o: { url: string; rate: number; maxInFlight: number; timeoutMs: number }): FreshLoad {
  const samples: Sample[] = [];
  const failures: Failure[] = [];
  const result: FreshResult = { requests: 0, errors: 0, timeouts: 0, non2xx: 0, skipped: 0 };
  const interval = 1000 / o.rate;
  const start = performance.now();
  let n = 0;
  let inFlight = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let onIdle: (() => void) | undefined;

  const one = () => {
    inFlight++;
    const sent = performance.now();
    let settled = false;
    const settle = (failure?: string, timeout = false) => {
      if (settled) return;
      settled = true;
      inFlight--;
      const at = performance.now();
      if (failure !== undefined) {
        if (timeout) result.timeouts++;
        else result.errors++;
        failures.push({ at, what: failure });
      }
      if (stopped && inFlight === 0) onIdle?.();
    };
    const req = http.request(o.url, { agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => {
        result.requests++;
        samples.push({ at: performance.now(), ms: performance.now() - sent });
        if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode > 299) {
          result.non2xx++;
          failures.push({ at: performance.now(), what: `HTTP ${res.statusCode}` });
        }
        settle();
      });
      res.on('error', (err: NodeJS.ErrnoException) => settle(err.code ?? err.message));
    });
    req.setTimeout(o.timeoutMs, () => {
      settle('timeout', true);
      req.destroy();
    });
    req.on('error', (err: NodeJS.ErrnoException) => settle(err.code ?? err.message));
    req.end();
  };

  const tick = () => {
    const now = performance.now();
    while (start + n * interval <= now) {
      n++;
      if (inFlight < o.maxInFlight) one();
      else result.skipped++;
    }
    if (!stopped) timer = setTimeout(tick, Math.max(0, start + n * interval - performance.now()));
  };
  tick();

  return {
    samples,
    failures,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      if (inFlight > 0) await new Promise<void>((resolve) => (onIdle = resolve));
      return result;
    },
  };
}
