// The test side of store-child.ts: starts it with an environment (NODE_EXTRA_CA_CERTS) and waits for statuses.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { CertificateStatus } from '../../src/tls/index.ts';
import type { ChildInput } from './store-child.ts';

const node = path.resolve(import.meta.dirname, '../../node_modules/.bin/node');
const script = path.join(import.meta.dirname, 'store-child.ts');

export interface StoreProcess {
  /** Every status the child reported, oldest first. */
  readonly statuses: CertificateStatus[][];
  /** When the child reported each of them (its Date.now()). */
  readonly times: number[];
  /** The first status (already reported or to come) that satisfies `ok`; rejects if the child exits first. */
  waitFor(ok: (s: CertificateStatus[]) => boolean, what: string): Promise<CertificateStatus[]>;
  /** The child's log (pino JSON lines). */
  stderr(): string;
  stop(): Promise<void>;
}

const running = new Set<ReturnType<typeof spawn>>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function startStoreProcess(input: ChildInput, env: Record<string, string | undefined> = {}): StoreProcess {
  const child = spawn(node, [script, JSON.stringify(input)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const exited = once(child, 'exit').finally(() => running.delete(child));
  let errText = '';
  child.stderr.on('data', (c: Buffer) => (errText += c.toString()));
  const statuses: CertificateStatus[][] = [];
  const times: number[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    const report = JSON.parse(line) as { at: number; status: CertificateStatus[] };
    times.push(report.at);
    statuses.push(report.status);
    for (const w of waiters) w();
  });
  return {
    statuses,
    times,
    stderr: () => errText,
    waitFor(ok, what) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = statuses.find(ok);
          if (!hit) return;
          waiters.delete(check);
          resolve(hit);
        };
        waiters.add(check);
        check();
        void exited.then(() => {
          if (!waiters.has(check)) return;
          waiters.delete(check);
          reject(new Error(`the store process exited before ${what}; last status ${JSON.stringify(statuses.at(-1))}\n${errText}`));
        });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
