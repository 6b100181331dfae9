// Live canary runs: a real zdd, the example app, ~1000 req/s of keep-alive GETs at a fixed rate.
//
// 1. A canary failing 30% of requests at 20% weight, with and without retry on stable: time from the
//    canary getting traffic to the rollback, and the share of all requests in that window users saw fail.
// 2. A canary identical to stable (A/A), held for a while: how often it is wrongly rolled back.
//
// Run: node_modules/.bin/node bench/canary-live.ts [--runs 5] [--aa 10] [--rate 1000] [--weight 20]
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { commandLine, readOptions } from './lib/args.ts';
import { machineLines } from './lib/machine.ts';
import { cleanup, freePort, makeTempDir, runCommand, runMain, startProcess, waitForLine } from './lib/procs.ts';
import { mean, median, percentile } from './lib/stats.ts';
import { fmtPercent, markdownTable } from './lib/table.ts';
import { zddBin } from './lib/zdd.ts';

const exampleApp = fileURLToPath(new URL('../examples/app/', import.meta.url));

interface Outcome {
  due: number;
  ok: boolean;
}

/** Open-loop GETs at a fixed rate over keep-alive connections; every outcome kept with its due time. */
function startTraffic(url: string, rate: number): { outcomes: Outcome[]; stop(): Promise<void> } {
  const pool = new Pool(url, { connections: 64 });
  const outcomes: Outcome[] = [];
  const start = Date.now();
  let n = 0;
  let stopped = false;
  let inFlight = 0;
  let onIdle: (() => void) | undefined;
  const one = (due: number) => {
    inFlight++;
    pool
      .request({ path: '/', method: 'GET' })
      .then(async (res) => {
        await res.body.dump();
        outcomes.push({ due, ok: res.statusCode < 400 });
      })
      .catch(() => outcomes.push({ due, ok: false }))
      .finally(() => {
        if (--inFlight === 0 && stopped) onIdle?.();
      });
  };
  const timer = setInterval(() => {
    const now = Date.now();
    while (start + (n * 1000) / rate <= now) one(start + (n++ * 1000) / rate);
  }, 1);
  return {
    outcomes,
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (inFlight > 0) await new Promise<void>((resolve) => (onIdle = resolve));
      await pool.close();
    },
  };
}

interface StepEvent {
  type: string;
  step?: string;
  status?: string;
  at?: number;
  detail?: string | null;
}

interface RunResult {
  status: string;
  reason: string | null;
  /** From the canary getting traffic to the end of the deployment (rollback or promotion). */
  detectionMs: number;
  windowRequests: number;
  windowFailed: number;
}

function yaml(port: number, weight: number, pause: string, retryOnStable: boolean): string {
  return `services:
  web:
    listen: 127.0.0.1:${port}
    command: ${JSON.stringify([process.execPath, 'server.js'])}
    cwd: ${JSON.stringify(exampleApp)}
    env: { APP_VERSION: stable }
    replicas: 5
    health: { path: /healthz, interval: 200ms, timeout: 1s, startTimeout: 10s }
    strategy: { type: canary, steps: [{ weight: ${weight}, pause: ${pause} }], retryOnStable: ${retryOnStable} }
    drainTimeout: 2s
    stopTimeout: 2s
`;
}

runMain(async () => {
  const o = readOptions('node_modules/.bin/node bench/canary-live.ts [options]', {
    runs: { default: 5, help: 'runs of the failing canary, for each retry setting' },
    aa: { default: 10, help: 'runs of a canary identical to stable' },
    rate: { default: 1000, help: 'requests per second' },
    weight: { default: 20, help: 'canary weight in percent' },
    'error-rate': { default: 0.3, float: true, help: "the failing canary's share of 500 answers" },
    hold: { default: 10, help: 'seconds an identical canary is held (it must pass, not be rolled back)' },
  });
  const runs = Number(o.runs);
  const aaRuns = Number(o.aa);
  const rate = Number(o.rate);
  const weight = Number(o.weight);
  const errorRate = Number(o['error-rate']);
  const hold = Number(o.hold);

  const dir = makeTempDir('zdd-canary-bench-');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const configFile = path.join(dir, 'zdd.yaml');
  writeFileSync(configFile, yaml(port, weight, '30s', true));
  const daemon = startProcess('zdd serve', zddBin, ['serve', '--log-format', 'json'], { cwd: dir, env: { NO_COLOR: '1' } });
  await waitForLine(daemon, (line) => / ready"/.test(line) || / ready$/.test(line));
  const zdd = (args: string[]) => runCommand(zddBin, args, { cwd: dir, env: { NO_COLOR: '1' } });
  const first = await zdd(['deploy', 'web', '--version', 'stable']);
  if (first.code !== 0) throw new Error(`first deploy failed: ${first.stdout}${first.stderr}`);

  const traffic = startTraffic(url, rate);
  await new Promise((r) => setTimeout(r, 2000)); // steady state before the first canary

  const once = async (env: string[]): Promise<RunResult> => {
    const r = await zdd(['deploy', 'web', '--json', ...env.flatMap((e) => ['--env', e])]);
    const out = JSON.parse(r.stdout) as { status: string; reason: string | null; events: StepEvent[] };
    const onCanary = out.events.find((e) => e.type === 'step' && e.step === 'step 1/1' && e.status === 'started')?.at;
    const last = out.events.filter((e) => e.type === 'step').at(-1)?.at;
    if (onCanary === undefined || last === undefined) throw new Error(`no canary step in ${r.stdout}`);
    const inWindow = traffic.outcomes.filter((x) => x.due >= onCanary && x.due <= last);
    return {
      status: out.status,
      reason: out.reason,
      detectionMs: last - onCanary,
      windowRequests: inWindow.length,
      windowFailed: inWindow.filter((x) => !x.ok).length,
    };
  };

  const bad: Record<string, RunResult[]> = {};
  for (const retry of [true, false]) {
    writeFileSync(configFile, yaml(port, weight, '30s', retry));
    const key = retry ? 'retry on stable (default)' : 'retryOnStable: false';
    bad[key] = [];
    for (let i = 0; i < runs; i++) {
      process.stderr.write(`failing canary, ${key}, run ${i + 1}/${runs}\n`);
      bad[key].push(await once([`ERROR_RATE=${errorRate}`]));
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  writeFileSync(configFile, yaml(port, weight, `${hold}s`, true));
  const aa: RunResult[] = [];
  for (let i = 0; i < aaRuns; i++) {
    process.stderr.write(`identical canary, run ${i + 1}/${aaRuns}\n`);
    aa.push(await once([]));
  }
  await traffic.stop();
  const total = traffic.outcomes.length;
  await daemon.stop();
  await cleanup();

  const out: string[] = ['# Live canary runs', '', `\`${commandLine()}\``, '', ...machineLines([]), ''];
  out.push(`${rate} req/s of keep-alive GETs (open loop), 5 replicas, canary at ${weight}%, example app; ${total} requests in all.`, '');
  out.push(`## A canary failing ${fmtPercent(errorRate)} of requests`, '');
  out.push(
    markdownTable(
      ['setting', 'runs', 'rolled back', 'time to rollback, median', 'p95 (of runs)', 'max', 'requests in the window', 'users saw failed (share of the window)', 'share of a 3 s window'],
      Object.entries(bad).map(([key, rs]) => {
        const times = rs.map((r) => r.detectionMs).sort((a, b) => a - b);
        const failed = rs.reduce((n, r) => n + r.windowFailed, 0);
        const requests = rs.reduce((n, r) => n + r.windowRequests, 0);
        return [
          key,
          String(rs.length),
          String(rs.filter((r) => r.status === 'rolled-back').length),
          `${median(times).toFixed(0)} ms`,
          `${percentile(times, 95).toFixed(0)} ms`,
          `${times.at(-1)!.toFixed(0)} ms`,
          `${Math.round(mean(rs.map((r) => r.windowRequests)))} per run`,
          `${failed} of ${requests} (${fmtPercent(requests ? failed / requests : 0)})`,
          fmtPercent(failed / rs.length / (rate * 3)),
        ];
      }),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  const reasons = Object.values(bad).flat().map((r) => r.reason);
  out.push('', `Example verdict: \`${reasons[0] ?? ''}\``, '');
  out.push(`## A canary identical to stable, held ${hold} s`, '');
  out.push(
    markdownTable(
      ['runs', 'promoted', 'rolled back (false alarm)', 'other'],
      [[String(aa.length), String(aa.filter((r) => r.status === 'succeeded').length), String(aa.filter((r) => r.status === 'rolled-back').length), String(aa.filter((r) => r.status !== 'succeeded' && r.status !== 'rolled-back').length)]],
      ['r', 'r', 'r', 'r'],
    ),
  );
  const wrong = aa.filter((r) => r.status !== 'succeeded');
  if (wrong.length) out.push('', ...wrong.map((r) => `- ${r.status}: ${r.reason}`));
  process.stdout.write(`${out.join('\n')}\n`);
});
