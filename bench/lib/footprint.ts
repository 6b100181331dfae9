// A daemon's memory as the kernel sees it: /proc/<pid>/status of zdd's own processes (the daemon and
// whatever it forks that is not an app: data-plane workers), told apart from the apps' by the process
// tree; and the event-loop delay the daemon reports in /metrics.
import { readdirSync, readFileSync } from 'node:fs';

/** A field of /proc/<pid>/status in kB (VmRSS, VmHWM …); undefined once the process is gone. */
export function statusKb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Sum of a status field over processes, in MB (processes gone meanwhile count 0). */
export function sumMb(pids: readonly number[], field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  return pids.reduce((sum, pid) => sum + (statusKb(pid, field) ?? 0), 0) / 1024;
}

function childrenOf(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone
    }
  }
  return children;
}

function isAppInstance(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((v) => v.startsWith('ZDD_INSTANCE='));
  } catch {
    return false;
  }
}

export interface DaemonTree {
  /** The daemon and its descendants that are not apps (data-plane workers, should zdd fork them). */
  zdd: number[];
  /** App instances (a child whose environment carries ZDD_INSTANCE, and everything under it). */
  apps: number[];
}

/** The daemon's process tree, split into zdd's own processes and the apps' (as of now). */
export function daemonTree(daemonPid: number): DaemonTree {
  const children = childrenOf();
  const tree: DaemonTree = { zdd: [daemonPid], apps: [] };
  const below = (pid: number): number[] => (children.get(pid) ?? []).flatMap((c) => [c, ...below(c)]);
  const todo = [...(children.get(daemonPid) ?? [])];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    if (isAppInstance(pid)) tree.apps.push(pid, ...below(pid));
    else {
      tree.zdd.push(pid);
      todo.push(...(children.get(pid) ?? []));
    }
  }
  return tree;
}

/** The argument vector a process was started with. */
export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
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

/** GET /metrics with a bearer token; the unlabelled samples. */
export async function scrape(url: string, token: string): Promise<Map<string, number>> {
  const r = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  const body = await r.text();
  if (!r.ok) throw new Error(`GET ${url} answered ${r.status}: ${body}`);
  return parseSamples(body);
}
