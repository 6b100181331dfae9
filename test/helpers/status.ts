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

/** Polls `zdd status` until the condition holds (a state to reach, not a time to wait). */
export async function waitForStatus(dir: string, condition: (s: ServiceStatus) => boolean, what: string, timeoutMs = 30_000): Promise<ServiceStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: ServiceStatus | undefined;
  while (Date.now() < deadline) {
    last = await serviceStatus(dir);
    if (condition(last)) return last;
  }
  throw new Error(`timed out waiting for: ${what}; last status: ${JSON.stringify(last)}`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
