import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ControlClient } from '../../src/api/client.ts';
import type { ServiceStatus } from '../../src/api/status.ts';
import { zddJson } from './cli.ts';

export interface StatusJson {
  daemon: { pid: number; dataDir: string };
  services: ServiceStatus[];
}

export async function serviceStatus(dir: string, service = 'web'): Promise<ServiceStatus> {
  const s = await zddJson<StatusJson>(dir, ['status']);
  const svc = s.services.find((x) => x.name === service);
  if (!svc) throw new Error(`no service ${service} in status`);
  return svc;
}

/** Polls the daemon's status until the condition holds (a state to reach, not a time to wait). */
export async function waitForStatus(dir: string, condition: (s: ServiceStatus) => boolean, what: string, timeoutMs = 30_000, service = 'web'): Promise<ServiceStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: ServiceStatus | undefined;
  while (Date.now() < deadline) {
    last = await apiStatus(dir, service);
    if (condition(last)) return last;
  }
  throw new Error(`timed out waiting for: ${what}; last status: ${JSON.stringify(last)}`);
}

/** True while the process runs; a zombie (dead, not yet reaped by its parent) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Status straight from the control socket (no CLI process): for sampling many times a second. */
export async function apiStatus(dir: string, service = 'web'): Promise<ServiceStatus> {
  const client = new ControlClient({ dataDir: path.join(dir, '.zdd') });
  return client.get<ServiceStatus>(`/v1/services/${service}`);
}

/** Healthy instances that can take traffic now: the live release's plus those of a release rolling in. */
export function servingInstances(s: ServiceStatus): number {
  const routed = new Set(s.split.filter((r) => r.weight > 0).map((r) => r.release));
  return [s.live, ...s.incoming]
    .filter((r) => r !== null && routed.has(r.number))
    .reduce((n, r) => n + r!.instances.filter((i) => i.health === 'healthy').length, 0);
}

/** Samples the service's status as fast as the socket answers until stopped. */
export function sampleStatus(dir: string): { stop(): Promise<ServiceStatus[]> } {
  const samples: ServiceStatus[] = [];
  let running = true;
  const loop = (async () => {
    while (running) samples.push(await apiStatus(dir));
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}
