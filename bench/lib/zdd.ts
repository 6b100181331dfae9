// Driving zdd as a user would: a zdd.yaml in a temp folder, `zdd serve`, `zdd deploy`, `zdd status`.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, runCommand, startProcess, waitForLine, type CommandResult, type Managed } from './procs.ts';

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

export interface ZddDaemon {
  dir: string;
  /** ms from spawning `zdd serve` to its "… ready" line. */
  readyMs: number;
  /** http://127.0.0.1:<port>, or https:// with `tls` (then send the Host (and SNI) of one of `hosts`). */
  url: string;
  proc: Managed;
  deploy(args?: string[]): Promise<CommandResult>;
  /** Any other zdd command, from the project's folder, with the daemon's environment. */
  run(args: string[]): Promise<CommandResult>;
  /** Pids of the live release's instances. */
  livePids(): Promise<number[]>;
  /** Pids of the data-plane worker processes (none when the daemon serves requests itself). */
  workerPids(): Promise<number[]>;
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
  return {
    dir,
    readyMs,
    run,
    url: `${o.tls ? 'https' : 'http'}://127.0.0.1:${o.port}`,
    proc,
    deploy: (args = []) => run(['deploy', 'web', ...args]),
    async livePids() {
      const r = await run(['status', '--json']);
      if (r.code !== 0) throw new Error(`zdd status failed (${r.code}): ${r.stderr}${r.stdout}`);
      const s = JSON.parse(r.stdout) as { services: { name: string; live: { instances: InstanceStatus[] } | null }[] };
      return s.services.find((x) => x.name === 'web')?.live?.instances.map((i) => i.pid) ?? [];
    },
    async workerPids() {
      const r = await run(['status', '--json']);
      if (r.code !== 0) throw new Error(`zdd status failed (${r.code}): ${r.stderr}${r.stdout}`);
      const s = JSON.parse(r.stdout) as { services: { name: string; workers: { pid: number }[] | null }[] };
      return s.services.find((x) => x.name === 'web')?.workers?.map((w) => w.pid) ?? [];
    },
  };
}
