// Load generators: max throughput (wrk, or autocannon without it) and latency at a fixed rate (wrk with
// a pacing script, or a small Node generator without it).
import autocannon from 'autocannon';
import { fileURLToPath } from 'node:url';
import { installHint, type Tool } from './machine.ts';
import { pacedLoad } from './paced.ts';
import { runCommand } from './procs.ts';

export interface ThroughputResult {
  rps: number;
  requests: number;
  /** Connection errors, read/write errors and timeouts. */
  errors: number;
  non2xx: number;
}

export interface LatencyResult {
  achievedRps: number;
  requests: number;
  errors: number;
  non2xx: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** wrk: times the schedule fell >100 ms behind; node: requests that waited for a free connection. */
  late: number;
  /** The target served the rate: latency is service time, not queueing. */
  keptUp: boolean;
}

export interface LoadTool {
  /** What the output says was used. */
  describe: string;
  /** How one max-throughput run is made, for the method line. */
  throughputHow(o: { connections: number; durationS: number }): string;
  throughput(url: string, o: { connections: number; durationS: number }): Promise<ThroughputResult>;
  latency(url: string, o: { connections: number; durationS: number; rate: number }): Promise<LatencyResult>;
}

const pacedScript = fileURLToPath(new URL('./wrk-paced.lua', import.meta.url));

const unitsToS: Record<string, number> = { us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** The numbers in wrk's summary. */
export function parseWrk(text: string): ThroughputResult & { durationS: number } {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h)/.exec(text);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (!total || !rps) throw new Error(`could not read wrk's output:\n${text}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const errors = sock ? [1, 2, 3, 4].reduce((sum, i) => sum + Number(sock[i]), 0) : 0;
  return {
    requests: Number(total[1]),
    durationS: Number(total[2]) * (unitsToS[total[3] ?? 's'] ?? 1),
    rps: Number(rps[1]),
    errors,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

/** The line wrk-paced.lua prints. */
export function parsePaced(text: string, rate: number): LatencyResult {
  const line = /^PACED (.*)$/m.exec(text);
  if (!line) throw new Error(`wrk-paced.lua printed no result:\n${text}`);
  const f: Record<string, number> = {};
  for (const [, k, v] of (line[1] ?? '').matchAll(/(\w+)=(\d+)/g)) f[k!] = Number(v);
  const n = (k: string) => f[k] ?? Number.NaN;
  return {
    requests: n('requests'),
    achievedRps: n('requests') / (n('duration_us') / 1e6),
    errors: n('connect') + n('read') + n('write') + n('timeout'),
    non2xx: n('status'),
    p50Ms: n('p50_us') / 1000,
    p90Ms: n('p90_us') / 1000,
    p99Ms: n('p99_us') / 1000,
    p999Ms: n('p999_us') / 1000,
    maxMs: n('max_us') / 1000,
    late: n('late'),
    keptUp: n('late') === 0 && n('requests') / (n('duration_us') / 1e6) >= rate * 0.97,
  };
}

export function wrkTool(wrk: string): LoadTool {
  return {
    describe: `wrk (${wrk}); fixed rate: wrk + bench/lib/wrk-paced.lua`,
    throughputHow: (o) => `\`wrk -t1 -c${o.connections} -d${o.durationS}s\``,
    async throughput(url, o) {
      const r = await runCommand(wrk, ['-t1', `-c${o.connections}`, `-d${o.durationS}s`, '--timeout', '10s', url]);
      if (r.code !== 0) throw new Error(`wrk exited ${r.code}: ${r.stderr}${r.stdout}`);
      return parseWrk(r.stdout);
    },
    async latency(url, o) {
      const r = await runCommand(wrk, ['-t1', `-c${o.connections}`, `-d${o.durationS}s`, '--timeout', '10s', '-s', pacedScript, url, '--', String(o.rate)]);
      if (r.code !== 0) throw new Error(`wrk exited ${r.code}: ${r.stderr}${r.stdout}`);
      return parsePaced(r.stdout, o.rate);
    },
  };
}

export function nodeTool(): LoadTool {
  return {
    describe: 'autocannon (in this process); fixed rate: bench/lib/paced.ts (Node, open loop)',
    throughputHow: (o) => `autocannon, ${o.connections} connections, ${o.durationS} s`,
    async throughput(url, o) {
      const r = await autocannon({ url, connections: o.connections, duration: o.durationS, timeout: 10 });
      return { rps: r.requests.total / r.duration, requests: r.requests.total, errors: r.errors /* timeouts included */, non2xx: r.non2xx };
    },
    async latency(url, o) {
      const r = await pacedLoad({ url, rate: o.rate, durationS: o.durationS, connections: o.connections });
      return { ...r, keptUp: r.late <= r.requests * 0.01 && r.achievedRps >= o.rate * 0.97 };
    },
  };
}

/** The load generator a bench's --load-tool asks for: auto (wrk if installed), wrk (or fail), or node. */
export function chooseLoadTool(choice: string, wrk: Tool): LoadTool {
  if (choice === 'wrk' && !wrk.file) throw new Error(`--load-tool wrk: wrk is not installed: ${installHint}`);
  return choice !== 'node' && wrk.file ? wrkTool(wrk.file) : nodeTool();
}
