// Does control-plane work stall requests? zdd with the data plane in the daemon (proxy.workers 0) and
// in a worker process (proxy.workers 1), each measured at a fixed, paced rate twice: quiet, and while
// blue-green deploys run back to back (instances starting and stopping, health checks, SQLite writes,
// log piping, status polls). Reports the clients' latency and the data plane's event-loop delay.
//
//   node_modules/.bin/node bench/isolation.ts [--rate 1000] [--duration 15]
import { readOptions } from './lib/args.ts';
import { chooseLoadTool, type LatencyResult } from './lib/load.ts';
import { detect, reportHeader, waitForIdle } from './lib/machine.ts';
import { freePort, runMain, sleep, waitForHttp } from './lib/procs.ts';
import { median } from './lib/stats.ts';
import { fmtInt, fmtMs, fmtRatio, markdownTable, print, progress } from './lib/table.ts';
import { loopDelay, startZdd, type LoopDelay, type ZddDaemon } from './lib/zdd.ts';

const opts = readOptions('Usage: node_modules/.bin/node bench/isolation.ts [options]', {
  rate: { default: 1000, help: 'requests per second, paced' },
  duration: { default: 15, help: 'seconds of each latency run' },
  connections: { default: 50, help: 'connections of the load' },
  rounds: { default: 2, help: 'rounds; each measures every setup quiet and busy, the median of rounds is reported' },
});
const rate = opts.rate as number;
const durationS = opts.duration as number;
const connections = opts.connections as number;
const rounds = opts.rounds as number;

type Loop = Pick<LoopDelay, 'mean' | 'p99' | 'max'>;

/** The data plane's event-loop delay over the run: the daemon's (from /metrics) or its worker's (from status). */
async function dataPlaneLoopDelay(z: ZddDaemon, workers: number): Promise<Loop | undefined> {
  if (workers > 0) return (await z.status())?.workers?.[0]?.loopDelayMs ?? undefined;
  // prom-client measures the daemon's loop between scrapes (1 ms resolution).
  const l = loopDelay(await z.metrics());
  return Number.isFinite(l.p99) && Number.isFinite(l.max) ? l : undefined;
}

/** Runs `step` again and again in the background until stop(), which waits for the step under way. */
function repeatUntilStopped<T>(step: () => Promise<void>, result: () => T): { stop(): Promise<T> } {
  let stopped = false;
  const done = (async () => {
    while (!stopped) await step();
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return result();
    },
  };
}

/** Loop delay is reported per interval: sample it every second of the run and keep the worst. */
function sampleLoops(z: ZddDaemon, workers: number): { stop(): Promise<Loop | undefined> } {
  let worst: Loop | undefined;
  return repeatUntilStopped(
    async () => {
      await sleep(1000);
      const l = await dataPlaneLoopDelay(z, workers).catch(() => undefined);
      if (l) worst = worst ? { mean: Math.max(worst.mean, l.mean), p99: Math.max(worst.p99, l.p99), max: Math.max(worst.max, l.max) } : l;
    },
    () => worst,
  );
}

/** Blue-green deploys back to back until stopped; resolves with how many ran. */
function churn(z: ZddDaemon): { stop(): Promise<number> } {
  let n = 0;
  return repeatUntilStopped(
    async () => {
      await z.deployOrThrow(['--env', `APP_VERSION=v${++n}`]);
      await z.run(['status']);
    },
    () => n,
  );
}

interface Row {
  setup: string;
  quiet: LatencyResult[];
  busy: LatencyResult[];
  quietLoop: (Loop | undefined)[];
  busyLoop: (Loop | undefined)[];
  deploys: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  const wrk = detect('wrk');
  const load = chooseLoadTool('auto', wrk);
  for (const l of reportHeader('zdd data-plane isolation', [wrk])) print(l);
  print(`- load: ${load.describe}; ${fmtInt(rate)} req/s paced over ${connections} connections for ${durationS} s, hello world (bench/upstream-app.js)`);
  print(`- busy: blue-green deploys back to back (+ zdd status after each) during the run; quiet: nothing else`);
  print(`- ${rounds} rounds, the setups taking turns; medians of the rounds`);

  const setups: { name: string; workers: number; z?: ZddDaemon }[] = [
    { name: 'zdd, data plane in the daemon (workers 0)', workers: 0 },
    { name: 'zdd, data plane in a worker (workers 1)', workers: 1 },
  ];
  for (const s of setups) {
    progress(`starting ${s.name} …`);
    s.z = await startZdd({ port: await freePort(), replicas: 2, rollbackWindow: '0s', drainTimeout: '2s', healthInterval: '100ms', workers: s.workers });
    await s.z.deployOrThrow();
    await waitForHttp(`${s.z.url}/healthz`, s.z.proc);
  }
  const rows = new Map<string, Row>(setups.map((s) => [s.name, { setup: s.name, quiet: [], busy: [], quietLoop: [], busyLoop: [], deploys: 0 }]));
  for (let round = 1; round <= rounds; round++) {
    for (const s of setups) {
      const z = s.z!;
      const row = rows.get(s.name)!;
      await waitForIdle(10_000, 0.1);
      progress(`round ${round}: ${s.name}: quiet …`);
      let loops = sampleLoops(z, s.workers);
      row.quiet.push(await load.latency(`${z.url}/`, { connections, durationS, rate }));
      row.quietLoop.push(await loops.stop());
      progress(`round ${round}: ${s.name}: while deploying …`);
      loops = sampleLoops(z, s.workers);
      const c = churn(z);
      row.busy.push(await load.latency(`${z.url}/`, { connections, durationS, rate }));
      row.deploys += await c.stop();
      row.busyLoop.push(await loops.stop());
    }
  }
  const table: string[][] = [];
  const base = rows.get(setups[0]!.name)!;
  for (const row of rows.values()) {
    const failed = [...row.quiet, ...row.busy].reduce((n, r) => n + r.errors + r.non2xx, 0);
    const loop = (ls: (Loop | undefined)[]) => (ls.every((l) => l) ? `${fmtMs(median(ls.map((l) => l!.p99)))} / ${fmtMs(median(ls.map((l) => l!.max)))}` : '–');
    table.push([
      row.setup,
      fmtMs(median(row.quiet.map((r) => r.p99Ms))),
      fmtMs(median(row.busy.map((r) => r.p99Ms))),
      fmtMs(median(row.busy.map((r) => r.maxMs))),
      row === base ? '–' : fmtRatio(median(row.busy.map((r) => r.p99Ms)) / median(base.busy.map((r) => r.p99Ms))),
      loop(row.quietLoop),
      loop(row.busyLoop),
      fmtInt(row.deploys),
      fmtInt(failed),
    ]);
  }
  print();
  print(
    markdownTable(
      ['setup', 'p99 quiet ms', 'p99 deploying ms', 'max deploying ms', 'p99 deploying vs workers 0', 'data-plane loop delay p99 / max quiet ms', 'data-plane loop delay p99 / max deploying ms', 'deploys', 'failed'],
      table,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  print();
  print('Loop delay: workers 0 = the daemon\'s (nodejs_eventloop_lag_* on /metrics, sampled each second); workers 1 = the worker\'s, as it reports each second (zdd status). Worst second of each run, median of rounds.');
  print();
  print(`total time: ${Math.round((Date.now() - started) / 1000)} s`);
}

runMain(main);
