// Runs bench/analysis-sim.ts's cases on worker threads, a chunk of runs per job. The script's module is
// loaded again in each worker, which builds the same list of cases from the same options (workerData)
// and answers jobs by case index; results come back in run order, whichever worker ran them.

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { runOnce, type RunResult, type SimCase } from './analysis-runs.ts';

/** Runs per job: small enough to share the tail of the work out evenly, big enough to cost little. */
const chunk = 20;

type Job = [caseIndex: number, from: number, to: number];

export const inWorker = !isMainThread;

/** In a worker: the options the main thread started it with. */
export function workerOptions<T>(): T {
  return workerData as T;
}

/** In a worker: answer jobs until terminated. */
export function serveJobs(cases: readonly SimCase[]): void {
  parentPort!.on('message', ([index, from, to]: Job) => {
    const c = cases[index]!;
    const results: RunResult[] = [];
    for (let run = from; run < to; run++) results.push(runOnce(c, run));
    parentPort!.postMessage(results);
  });
}

/**
 * Every run of every case, on `workers` threads each running `script` with `options` as workerData.
 * `onCase` is told when all runs of a case are in (for progress on stderr).
 */
export async function runAll(script: URL, options: unknown, cases: readonly SimCase[], workers: number, onCase?: (c: SimCase, done: number) => void): Promise<Map<string, RunResult[]>> {
  const jobs: Job[] = [];
  cases.forEach((c, i) => {
    for (let from = 0; from < c.runs; from += chunk) jobs.push([i, from, Math.min(c.runs, from + chunk)]);
  });
  const parts = cases.map(() => [] as [number, RunResult[]][]);
  const left = cases.map((c) => c.runs);
  let casesDone = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, workers) }, async () => {
      const worker = new Worker(script, { workerData: options });
      try {
        while (next < jobs.length) {
          const job = jobs[next++]!;
          const results = await new Promise<RunResult[]>((resolve, reject) => {
            const fail = (err: Error) => reject(err);
            worker.once('error', fail);
            worker.once('message', (m: RunResult[]) => {
              worker.off('error', fail);
              resolve(m);
            });
            worker.postMessage(job);
          });
          const [index, from] = job;
          parts[index]!.push([from, results]);
          left[index]! -= results.length;
          if (left[index] === 0) onCase?.(cases[index]!, ++casesDone);
        }
      } finally {
        await worker.terminate();
      }
    }),
  );
  const out = new Map<string, RunResult[]>();
  cases.forEach((c, i) => out.set(c.id, parts[i]!.sort((a, b) => a[0] - b[0]).flatMap(([, r]) => r)));
  return out;
}
