// Load over TLS for bench/tls.ts: h2load (HTTP/2, or HTTP/1.1 with --h1) for throughput and for latency at a
// fixed rate, `openssl s_time` for handshakes (new, or resuming one session), and a Node client that checks
// whether a server resumes a session at all.
import { constants } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { ThroughputResult } from './load.ts';
import { runCommand } from './procs.ts';
import { percentile } from './stats.ts';
import { benchHost } from './tls-peers.ts';

/** Where a load generator sends its requests: a TLS target (bench.test on 127.0.0.1) or the plain app. */
export interface Endpoint {
  port: number;
  tls: boolean;
}

export type Protocol = 'h2' | 'h1';

/** h2load's URL and options for an endpoint: TLS targets get SNI and :authority bench.test, connected to 127.0.0.1. */
function h2loadTarget(e: Endpoint, protocol: Protocol): string[] {
  const proto = protocol === 'h1' ? ['--h1'] : [];
  if (!e.tls) return [...proto, `http://127.0.0.1:${e.port}/`];
  return [...proto, '--connect-to', `127.0.0.1:${e.port}`, `https://${benchHost}:${e.port}/`];
}

/** What one h2load run says. */
export interface H2loadSummary {
  rps: number;
  done: number;
  succeeded: number;
  failed: number;
  non2xx: number;
  protocol: string;
}

export function parseH2load(text: string): H2loadSummary {
  const finished = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(text);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed/.exec(text);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  if (!finished || !req || !codes) throw new Error(`could not read h2load's output:\n${text}`);
  const alpn = /Application protocol: (\S+)/.exec(text);
  return {
    rps: Number(finished[1]),
    done: Number(req[3]),
    succeeded: Number(req[4]),
    failed: Number(req[5]),
    non2xx: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
    protocol: alpn?.[1] ?? 'http/1.1',
  };
}

/**
 * Max throughput: `h2load -t1 -c<connections> -m<streams> -D<duration>`. HTTP/2 carries `streams` requests at
 * once on each connection; HTTP/1.1 one (no pipelining).
 */
export async function h2loadThroughput(h2load: string, e: Endpoint, o: { protocol: Protocol; connections: number; streams: number; durationS: number }): Promise<ThroughputResult & { protocol: string }> {
  const streams = o.protocol === 'h2' ? o.streams : 1;
  const args = ['-t1', `-c${o.connections}`, `-m${streams}`, '-D', `${o.durationS}`, ...h2loadTarget(e, o.protocol)];
  const r = await runCommand(h2load, args);
  if (r.code !== 0) throw new Error(`h2load ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  const s = parseH2load(r.stdout);
  if (e.tls && s.protocol !== o.protocol.replace('h1', 'http/1.1')) throw new Error(`h2load negotiated ${s.protocol}, not ${o.protocol}, with port ${e.port}`);
  return { rps: s.rps, requests: s.done, errors: s.failed, non2xx: s.non2xx, protocol: s.protocol };
}

export interface RateLatency {
  /** The rate asked for (clients × per-client rate). */
  rate: number;
  achievedRps: number;
  requests: number;
  errors: number;
  non2xx: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** At least 97% of the rate was served without errors: the latencies are service time, not queueing. */
  keptUp: boolean;
}

/**
 * Latency at a fixed rate: `h2load --rps` (each of `clients` connections sends rate/clients requests per
 * second) with `--log-file`, whose rows give each request's time from being sent to its response's end.
 * One request at a time per connection, HTTP/2 too: with `-m5`, h2load's paced HTTP/2 client measured
 * 0.3–0.6 ms more at the p50 against nginx answering by itself, where `-m1` matched HTTP/1.1.
 */
export async function h2loadLatency(h2load: string, e: Endpoint, o: { protocol: Protocol; clients: number; rate: number; durationS: number }): Promise<RateLatency> {
  const perClient = Math.max(1, Math.round(o.rate / o.clients));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zdd-bench-h2load-'));
  try {
    const log = path.join(dir, 'requests.tsv');
    const args = ['-t1', `-c${o.clients}`, '-m1', '--rps', String(perClient), '-D', `${o.durationS}`, '--log-file', log, ...h2loadTarget(e, o.protocol)];
    const r = await runCommand(h2load, args);
    if (r.code !== 0) throw new Error(`h2load ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    const s = parseH2load(r.stdout);
    const latencies: number[] = [];
    let failed = 0;
    for (const line of readFileSync(log, 'utf8').split('\n')) {
      const [, status, us] = line.split('\t');
      if (status === undefined || us === undefined) continue;
      if (Number(status) < 0) failed++;
      else latencies.push(Number(us) / 1000);
    }
    latencies.sort((a, b) => a - b);
    const rate = perClient * o.clients;
    const achievedRps = s.succeeded / o.durationS;
    const errors = Math.max(failed, s.failed);
    return {
      rate,
      achievedRps,
      requests: latencies.length,
      errors,
      non2xx: s.non2xx,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies.at(-1) ?? Number.NaN,
      keptUp: errors === 0 && achievedRps >= rate * 0.97,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface HandshakeResult {
  connections: number;
  /** Connections whose handshake resumed the session (s_time prints an `r` for each). */
  resumed: number;
  perS: number;
}

/**
 * `processes` `openssl s_time` side by side for `durationS` seconds, TLS 1.3, each connection a full handshake
 * (`-new`) or one resuming the session of the process's first connection (`-reuse`), then one
 * `GET / HTTP/1.1` with `Host: bench.test` and `Connection: close` (s_time writes `GET <path> HTTP/1.0`: the
 * path carries the rest of the request), read to the end: TLS 1.3 sends session tickets after the
 * handshake, so a client that does not read gets none to resume with. s_time sends no SNI.
 */
export async function handshakes(openssl: string, port: number, o: { reuse: boolean; processes: number; durationS: number }): Promise<HandshakeResult> {
  const request = `/ HTTP/1.1\r\nHost: ${benchHost}\r\nConnection: close\r\nX-Bench:`;
  const args = ['s_time', '-connect', `127.0.0.1:${port}`, o.reuse ? '-reuse' : '-new', '-tls1_3', '-time', String(o.durationS), '-www', request];
  const runs = await Promise.all(
    Array.from({ length: o.processes }, async () => {
      const r = await runCommand(openssl, args);
      if (r.code !== 0) throw new Error(`openssl s_time exited ${r.code}: ${r.stderr}${r.stdout.slice(-2000)}`);
      return { ...parseSTime(r.stdout), ms: r.ms };
    }),
  );
  const connections = runs.reduce((s, r) => s + r.connections, 0);
  return {
    connections,
    resumed: runs.reduce((s, r) => s + r.resumed, 0),
    perS: runs.reduce((s, r) => s + r.connections / (r.ms / 1000), 0),
  };
}

/** s_time prints one character per connection (`r`: resumed, `*`: TLS 1.2 or newer, new) and a summary. */
export function parseSTime(text: string): { connections: number; resumed: number } {
  let connections = 0;
  let resumed = 0;
  for (const line of text.split('\n')) {
    if (!/^[*rt3]+$/.test(line)) continue;
    connections += line.length;
    for (const c of line) if (c === 'r') resumed++;
  }
  const summary = [...text.matchAll(/(\d+) connections in [\d.]+ real seconds/g)].at(-1);
  if (!summary) throw new Error(`could not read openssl s_time's output:\n${text.slice(-2000)}`);
  return { connections: Number(summary[1]), resumed: Math.min(resumed, Number(summary[1])) };
}

/** `not resumable`: the server gave the first connection nothing to resume with (no ticket, no session ID). */
export type ResumeCheck = 'resumed' | 'not resumed' | 'not resumable' | `error: ${string}`;

/** TLS 1.3 and 1.2 by session ticket (what browsers use), and TLS 1.2 by session ID (a client that takes no tickets). */
export type ResumeWay = 'tls1.3' | 'tls1.2' | 'tls1.2-id';

/**
 * Whether a server resumes a session: one connection (SNI bench.test, a request read to its end, so TLS 1.3
 * tickets arrive), then a second one offering its session. Node's TLS client, which says for certain.
 */
export async function checkResumption(port: number, way: ResumeWay): Promise<ResumeCheck> {
  try {
    const first = await oneRequest(port, way, undefined);
    if (!first.session) return 'not resumable';
    const second = await oneRequest(port, way, first.session);
    return second.reused ? 'resumed' : 'not resumed';
  } catch (err) {
    return `error: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function oneRequest(port: number, way: ResumeWay, session: Buffer | undefined): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let latest: Buffer | undefined;
    let reused = false;
    const version: tls.SecureVersion = way === 'tls1.3' ? 'TLSv1.3' : 'TLSv1.2';
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: benchHost,
      rejectUnauthorized: false,
      minVersion: version,
      maxVersion: version,
      ALPNProtocols: ['http/1.1'],
      ...(way === 'tls1.2-id' ? { secureOptions: constants.SSL_OP_NO_TICKET } : {}),
      ...(session ? { session } : {}),
    });
    const timer = setTimeout(() => socket.destroy(new Error('no answer in 5 s')), 5000);
    socket.on('session', (s: Buffer) => (latest = s));
    socket.once('secureConnect', () => {
      reused = socket.isSessionReused();
      socket.write(`GET /healthz HTTP/1.1\r\nHost: ${benchHost}\r\nConnection: close\r\n\r\n`);
    });
    socket.on('data', () => undefined);
    socket.once('end', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ reused, session: latest });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
