import { availableParallelism } from 'node:os';

/**
 * How many data-plane processes an address gets. `auto`: one on a machine with fewer than four cores
 * (requests then never wait behind the daemon's own work: bench/isolation.ts measured p99 during deploys
 * 0.66× and quiet 0.3× of the in-daemon proxy's on 2 cores), otherwise half the cores, up to 8.
 * `daemonOnly`: the address is served by the daemon itself for now (TLS, or a plain address that also
 * carries another service's redirect to https, whose ACME HTTP-01 answers the daemon holds).
 */
export function workerCount(setting: 'auto' | number, daemonOnly: boolean, cores = availableParallelism(), env = process.env.ZDD_PROXY_WORKERS): number {
  if (daemonOnly) return 0;
  if (typeof setting === 'number') return setting;
  // What auto means on this machine, set by whoever runs the daemon (the test suite runs both ways).
  if (env !== undefined && /^\d+$/.test(env)) return Math.min(64, Number(env));
  return cores < 4 ? 1 : Math.min(8, Math.floor(cores / 2));
}
