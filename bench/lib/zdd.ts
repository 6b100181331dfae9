// Driving zdd as a user would: a zdd.yaml in a temp folder, `zdd serve`, `zdd deploy`, `zdd status`; and
// reading what the daemon reports in /metrics.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { socketPathFor } from '../../src/daemon/paths.ts';
import { freePort, makeTempDir, runCommand, startProcess, waitForHttp, waitForLine, type CommandResult, type Managed } from './procs.ts';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const zddBin = path.join(repoRoot, 'bin', 'zdd');
export const upstreamApp = path.join(repoRoot, 'bench', 'upstream-app.js');

export interface ZddServiceOptions {
  port: number;
  replicas: number;
  rollbackWindow: string;
  drainTimeout: string;
  healthInterval: string;
  env?: Record<string, string>;
  /** Host names the service answers (zdd.yaml `hosts`); none: every host. */
  hosts?: string[];
  /** Terminate TLS with these PEM files (zdd.yaml `tls`): the service speaks HTTPS, HTTP/2 and HTTP/1.1 by ALPN. */
  tls?: { cert: string; key: string };
  /** zdd.yaml `proxy.workers` (data-plane processes); unset: auto. */
  workers?: number;
}

/** zdd.yaml for one service `web` running bench/upstream-app.js with this Node (24). */
export function zddYaml(o: ZddServiceOptions, cwd: string): string {
  return `services:
  web:
    listen: 127.0.0.1:${o.port}
${o.hosts ? `    hosts: ${JSON.stringify(o.hosts)}\n` : ''}${o.tls ? `    tls: { cert: ${JSON.stringify(o.tls.cert)}, key: ${JSON.stringify(o.tls.key)} }\n` : ''}    command: ${JSON.stringify([process.execPath, upstreamApp])}
    cwd: ${JSON.stringify(cwd)}
    env: ${JSON.stringify({ BENCH_QUIET: '1', APP_VERSION: 'v0', ...o.env })}
    replicas: ${o.replicas}
    health: { path: /healthz, interval: ${o.healthInterval}, timeout: 1s, startTimeout: 10s }
    strategy: { type: blue-green, rollbackWindow: ${o.rollbackWindow} }
    drainTimeout: ${o.drainTimeout}
    stopTimeout: 2s
${o.workers !== undefined ? `    proxy: { workers: ${o.workers} }\n` : ''}`;
}

export interface InstanceStatus {
  id: string;
  pid: number;
  port: number;
  health: string;
}

/** The parts of service `web` in `zdd status --json` the benches read. */
export interface WebStatus {
  name: string;
  live: { instances: InstanceStatus[] } | null;
  /** The data-plane worker processes; null when the daemon serves requests itself. */
  workers: { pid: number; loopDelayMs: { mean: number; p99: number; max: number } | null }[] | null;
}

/** bench/upstream-app.js run by the bench itself (not by zdd) on a free loopback port; resolves once it answers. */
export async function startUpstreamApp(): Promise<{ port: number; url: string; proc: Managed }> {
  const port = await freePort();
  const proc = startProcess('upstream-app', process.execPath, [upstreamApp], { env: { PORT: String(port), HOST: '127.0.0.1', BENCH_QUIET: '1' } });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/healthz`, proc);
  return { port, url, proc };
}

export interface ZddDaemon {
  dir: string;
  /** ms from spawning `zdd serve` to its "… ready" line. */
  readyMs: number;
  /** http://127.0.0.1:<port>, or https:// with `tls` (then send the Host (and SNI) of one of `hosts`). */
  url: string;
  proc: Managed;
  deploy(args?: string[]): Promise<CommandResult>;
  /** `zdd deploy web`; throws, with its output and the daemon's, unless it succeeds. */
  deployOrThrow(args?: string[]): Promise<CommandResult>;
  /** Any other zdd command, from the project's folder, with the daemon's environment. */
  run(args: string[]): Promise<CommandResult>;
  /** Pids of the live release's instances. */
  livePids(): Promise<number[]>;
  /** Pids of the data-plane worker processes (none when the daemon serves requests itself). */
  workerPids(): Promise<number[]>;
  /** Service `web` in `zdd status --json`. */
  status(): Promise<WebStatus | undefined>;
  /** GET /metrics over the daemon's Unix socket (no token needed there): the unlabelled samples. */
  metrics(): Promise<Map<string, number>>;
  /** `zdd token create --role read`: the token, for the control listener. */
  readToken(name: string): Promise<string>;
}

export interface StartOptions {
  /** More environment for bin/zdd (the daemon and the commands), e.g. ZDD_FROM_SOURCE. */
  env?: Record<string, string>;
  /** Add a control listener on this loopback port (zdd.yaml `control`). */
  controlPort?: number;
}

/** Writes the project, starts `zdd serve` and waits for its "… ready" log line. */
export async function startZdd(o: ZddServiceOptions, how: StartOptions = {}): Promise<ZddDaemon> {
  const dir = makeTempDir('zdd-bench-');
  const control = how.controlPort === undefined ? '' : `control: { listen: "127.0.0.1:${how.controlPort}" }\n`;
  writeFileSync(path.join(dir, 'zdd.yaml'), control + zddYaml(o, dir));
  const env = { NO_COLOR: '1', ...how.env };
  const t0 = performance.now();
  const proc = startProcess('zdd serve', zddBin, ['serve', '--log-format', 'json'], { cwd: dir, env });
  await waitForLine(proc, (line) => {
    try {
      return / ready$/.test((JSON.parse(line) as { msg?: string }).msg ?? '');
    } catch {
      return false;
    }
  });
  const readyMs = performance.now() - t0;
  const run = (args: string[]) => runCommand(zddBin, args, { cwd: dir, env });
  const deploy = (args: string[] = []) => run(['deploy', 'web', ...args]);
  async function status(): Promise<WebStatus | undefined> {
    const r = await run(['status', '--json']);
    if (r.code !== 0) throw new Error(`zdd status failed (${r.code}): ${r.stderr}${r.stdout}`);
    return (JSON.parse(r.stdout) as { services: WebStatus[] }).services.find((x) => x.name === 'web');
  }
  return {
    dir,
    readyMs,
    run,
    url: `${o.tls ? 'https' : 'http'}://127.0.0.1:${o.port}`,
    proc,
    deploy,
    async deployOrThrow(args = []) {
      const r = await deploy(args);
      if (r.code !== 0) throw new Error(`zdd deploy web exited ${r.code}:\n${r.stdout}${r.stderr}\ndaemon:\n${proc.output()}`);
      return r;
    },
    async livePids() {
      return (await status())?.live?.instances.map((i) => i.pid) ?? [];
    },
    async workerPids() {
      return (await status())?.workers?.map((w) => w.pid) ?? [];
    },
    status,
    async metrics() {
      const text = await new Promise<string>((resolve, reject) => {
        http
          .get({ socketPath: socketPathFor(path.join(dir, '.zdd')), path: '/metrics' }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (body += d));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
      return parseSamples(text);
    },
    async readToken(name: string) {
      const r = await run(['token', 'create', '--name', name, '--role', 'read']);
      if (r.code !== 0) throw new Error(`zdd token create exited ${r.code}: ${r.stderr}`);
      return r.stdout.trim().split('\n').at(-1)!;
    },
  };
}

/** Event-loop delay over the window since the previous scrape, in ms (prom-client's nodejs_eventloop_lag_*). */
export interface LoopDelay {
  min: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/** Unlabelled samples of a Prometheus text exposition, by name. */
export function parseSamples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

export function loopDelay(samples: Map<string, number>): LoopDelay {
  const ms = (name: string) => (samples.get(`nodejs_eventloop_lag_${name}_seconds`) ?? Number.NaN) * 1000;
  return { min: ms('min'), mean: ms('mean'), p50: ms('p50'), p99: ms('p99'), max: ms('max') };
}

/** GET /metrics on the control listener with a bearer token: the exposition's text. */
export async function fetchMetrics(url: string, token: string, timeoutMs = 10_000): Promise<string> {
  const r = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) });
  const body = await r.text();
  if (!r.ok) throw new Error(`GET ${url} answered ${r.status}: ${body}`);
  return body;
}

/** GET /metrics with a bearer token; the unlabelled samples. */
export async function scrape(url: string, token: string): Promise<Map<string, number>> {
  return parseSamples(await fetchMetrics(url, token));
}
