// A fixed-rate ("open loop") HTTP/1.1 GET load generator in plain Node, for machines without wrk.
//
// Requests are due at start + n/rate (checked by a 1 ms timer, like wrk's, so rate/1000 requests leave
// together each millisecond) and go out on the first free keep-alive connection of a fixed pool. A request
// that finds every connection busy waits in a queue and its latency counts from when it was due, not from
// when it could be sent: a stalled server cannot hide its stall by slowing the client down (coordinated
// omission). Why not autocannon's overallRate: it sends each connection's quota for the second as fast as
// it can at the top of every second and then idles, so its "fixed rate" is bursts at full speed.
import net from 'node:net';
import type { LatencyResult } from './load.ts';
import { percentile } from './stats.ts';

/** `late`: requests that waited for a free connection (the client or the server could not keep up). */
export type PacedResult = Omit<LatencyResult, 'keptUp'>;

interface Conn {
  socket: net.Socket;
  busy: boolean;
  dead: boolean;
  due: number;
  buf: Buffer;
  /** Bytes of body still expected; -1 while reading headers; -2 for a chunked body. */
  remaining: number;
  status: number;
  close: boolean;
}

export async function pacedLoad(o: { url: string; rate: number; durationS: number; connections: number }): Promise<PacedResult> {
  const url = new URL(o.url);
  const port = Number(url.port || 80);
  const host = url.hostname;
  const request = Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUser-Agent: zdd-bench\r\n\r\n`);
  const interval = 1000 / o.rate;
  const latencies: number[] = [];
  const queue: number[] = [];
  const free: Conn[] = [];
  const all = new Set<Conn>();
  let errors = 0;
  let non2xx = 0;
  let late = 0;
  let inFlight = 0;
  let stopped = false;
  let onIdle: (() => void) | undefined;

  const send = (c: Conn, due: number) => {
    c.busy = true;
    c.due = due;
    c.remaining = -1;
    inFlight++;
    c.socket.write(request);
  };

  /** Hands a free connection the next queued request, or parks it. */
  const next = (c: Conn) => {
    const due = queue.shift();
    if (due !== undefined) send(c, due);
    else free.push(c);
    if (stopped && inFlight === 0 && queue.length === 0) onIdle?.();
  };

  const finish = (c: Conn, ok: boolean) => {
    inFlight--;
    c.busy = false;
    if (ok) {
      latencies.push(performance.now() - c.due);
      if (c.status < 200 || c.status > 299) non2xx++;
    } else errors++;
    if (c.close || !ok) retire(c);
    else next(c);
  };

  /** Drops a connection (closed by the server, or failed) and opens another in its place. */
  const retire = (c: Conn) => {
    if (c.dead) return;
    c.dead = true;
    all.delete(c);
    const i = free.indexOf(c);
    if (i >= 0) free.splice(i, 1);
    c.socket.destroy();
    if (stopped) {
      if (inFlight === 0 && queue.length === 0) onIdle?.();
      return;
    }
    reopen();
  };

  const reopen = () => {
    open().then(next, () => {
      errors++;
      if (!stopped) setTimeout(reopen, 10);
    });
  };

  const parse = (c: Conn) => {
    while (c.busy) {
      if (c.remaining === -1) {
        const end = c.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = c.buf.subarray(0, end).toString('latin1');
        c.buf = c.buf.subarray(end + 4);
        c.status = Number(head.slice(9, 12));
        const lower = head.toLowerCase();
        c.close = /\r\nconnection:\s*close/.test(lower);
        const len = /\r\ncontent-length:\s*(\d+)/.exec(lower);
        c.remaining = len ? Number(len[1]) : /\r\ntransfer-encoding:\s*chunked/.test(lower) ? -2 : 0;
      }
      if (c.remaining === -2) {
        // Chunked (no proxy here sends it for these bodies, but be safe): the body ends with a 0-size chunk.
        const end = c.buf.indexOf('\r\n0\r\n\r\n');
        if (end < 0) return;
        c.buf = c.buf.subarray(end + 7);
      } else {
        if (c.buf.length < c.remaining) return;
        c.buf = c.buf.subarray(c.remaining);
      }
      c.remaining = -1;
      finish(c, true);
    }
  };

  const open = (): Promise<Conn> =>
    new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, noDelay: true });
      const c: Conn = { socket, busy: false, dead: false, due: 0, buf: Buffer.alloc(0), remaining: -1, status: 0, close: false };
      socket.once('connect', () => {
        all.add(c);
        resolve(c);
      });
      socket.on('data', (d: Buffer) => {
        c.buf = c.buf.length === 0 ? d : Buffer.concat([c.buf, d]);
        parse(c);
      });
      socket.on('error', (err) => {
        if (socket.connecting) {
          c.dead = true;
          reject(err);
        }
      });
      socket.on('close', () => {
        if (c.dead) return;
        if (c.busy) finish(c, false);
        else retire(c);
      });
    });

  const conns = await Promise.all(Array.from({ length: o.connections }, open));
  free.push(...conns);

  const start = performance.now();
  const end = start + o.durationS * 1000;
  let n = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (start + n * interval <= now && start + n * interval < end) {
        const due = start + n * interval;
        n++;
        const c = free.pop();
        if (c) send(c, due);
        else {
          late++;
          queue.push(due);
        }
      }
      if (start + n * interval >= end) return resolve();
      setTimeout(tick, Math.max(0, start + n * interval - performance.now()));
    };
    tick();
  });
  const sentAll = performance.now();
  stopped = true;
  // Let what was sent (and queued) finish, for at most 10 s.
  await new Promise<void>((resolve) => {
    if (inFlight === 0 && queue.length === 0) return resolve();
    onIdle = () => queue.length === 0 && inFlight === 0 && resolve();
    setTimeout(resolve, 10_000).unref();
  });
  errors += queue.length + inFlight;
  for (const c of all) {
    c.dead = true;
    c.socket.destroy();
  }
  const elapsed = Math.max(sentAll, performance.now()) - start;

  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    non2xx,
    achievedRps: (latencies.length / elapsed) * 1000,
    p50Ms: percentile(latencies, 50),
    p90Ms: percentile(latencies, 90),
    p99Ms: percentile(latencies, 99),
    p999Ms: percentile(latencies, 99.9),
    maxMs: latencies.at(-1) ?? Number.NaN,
    late,
  };
}
