// Deploys under load: zdd serves bench/upstream-app.js (blue-green) while autocannon drives steady
// traffic of several kinds and `zdd deploy` runs back to back. Counts every failed request (connection
// errors, timeouts, non-2xx) per kind of traffic, and times the deploys. Zero failed requests is the target.
//
//   node_modules/.bin/node bench/deploys.ts [--deploys 20] [--replicas 2]
//
// See bench/README.md. Progress goes to stderr, the report (markdown) to stdout.
import autocannon from 'autocannon';
import { readOptions } from './lib/args.ts';
import { startFreshConnectionLoad, type Failure, type Sample } from './lib/fresh-connections.ts';
import { BackgroundMeter, reportHeader, waitForIdle } from './lib/machine.ts';
import { freePort, runMain, sleep } from './lib/procs.ts';
import { mean, percentile } from './lib/stats.ts';
import { fmtInt, fmtMs, fmtPercent, fmtSeconds, markdownTable, print, progress } from './lib/table.ts';
import { startZdd } from './lib/zdd.ts';

const opts = readOptions('Usage: node_modules/.bin/node bench/deploys.ts [options]', {
  deploys: { default: 20, help: 'back-to-back `zdd deploy` runs under load' },
  replicas: { default: 2, help: 'instances per release' },
  'get-rate': { default: 400, help: 'keep-alive GET / requests per second' },
  'close-rate': { default: 100, help: 'GET / requests per second with `connection: close` (a new connection each)' },
  'post-rate': { default: 100, help: 'POST /echo requests per second with a 2 KB JSON body' },
  'slow-ms': { default: 300, help: 'duration of each /slow request (4 connections back to back: requests in flight at every switch)' },
  settle: { default: 3, help: 'seconds of load before the first deploy (the no-deploy baseline) and after the last' },
  'rollback-window': { default: '200ms', help: 'blue-green rollbackWindow' },
  'drain-timeout': { default: '5s', help: 'drainTimeout' },
});
const deploys = opts.deploys as number;
const replicas = opts.replicas as number;
const settleMs = (opts.settle as number) * 1000;
/** The first second of load (JIT warm-up of zdd, the app and the clients) is left out of the baseline p99. */
const warmupMs = Math.min(1000, settleMs / 2);

interface LoadSpec {
  name: string;
  connections: number;
  rate: number | undefined;
  path: string;
  method?: 'GET' | 'POST';
  body?: string;
  /** New connection for every request (`connection: close`): Node's http client, not autocannon. */
  fresh?: boolean;
}

interface LoadCounts {
  requests: number;
  connErrors: number;
  timeouts: number;
  non2xx: number;
  /** Fresh-connection load only: due requests not sent because too many were still waiting. */
  skipped: number;
}

interface RunningLoad {
  spec: LoadSpec;
  samples: Sample[];
  failures: Failure[];
  stop(): Promise<LoadCounts>;
}

function startLoad(base: string, spec: LoadSpec): RunningLoad {
  if (spec.fresh) {
    const l = startFreshConnectionLoad({ url: base + spec.path, rate: spec.rate ?? 100, maxInFlight: spec.connections, timeoutMs: 10_000 });
    return {
      spec,
      samples: l.samples,
      failures: l.failures,
      async stop() {
        const r = await l.stop();
        return { requests: r.requests, connErrors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx, skipped: r.skipped };
      },
    };
  }
  const samples: Sample[] = [];
  const failures: Failure[] = [];
  let resolveDone!: (r: autocannon.Result) => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  const instance = autocannon(
    {
      url: base + spec.path,
      connections: spec.connections,
      duration: 3600,
      method: spec.method ?? 'GET',
      ...(spec.body !== undefined ? { body: spec.body, headers: { 'content-type': 'application/json' } } : {}),
      // Latencies are taken from the 'response' events below; autocannon's own histogram is not used.
      ...(spec.rate !== undefined ? { overallRate: spec.rate, ignoreCoordinatedOmission: true } : {}),
      timeout: 10,
    },
    (err: unknown, result: autocannon.Result) => (err ? rejectDone(err) : resolveDone(result)),
  );
  instance.on('response', (_client, status, _bytes, ms) => {
    const at = performance.now();
    samples.push({ at, ms });
    if (status < 200 || status > 299) failures.push({ at, what: `HTTP ${status}` });
  });
  instance.on('reqError', (err: unknown) => {
    failures.push({ at: performance.now(), what: err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err) });
  });
  return {
    spec,
    samples,
    failures,
    async stop() {
      instance.stop();
      const r = await done;
      // autocannon's errors include its timeouts.
      return { requests: r.requests.total, connErrors: r.errors - r.timeouts, timeouts: r.timeouts, non2xx: r.non2xx, skipped: 0 };
    },
  };
}

interface DeployRun {
  n: number;
  start: number;
  end: number;
  code: number | string;
  output: string;
}

async function main(): Promise<void> {
  const started = Date.now();
  for (const l of reportHeader('zdd deploys-under-load benchmark', [])) print(l);

  progress('starting zdd serve …');
  const port = await freePort();
  const z = await startZdd({
    port,
    replicas,
    rollbackWindow: String(opts['rollback-window']),
    drainTimeout: String(opts['drain-timeout']),
    healthInterval: '100ms',
  });
  await z.deployOrThrow(['--version', 'v0']);
  print(
    `- zdd: blue-green, ${replicas} replica(s) per release, rollbackWindow ${opts['rollback-window']}, drainTimeout ${opts['drain-timeout']}, ` +
      `health interval 100ms; app bench/upstream-app.js; every deploy changes APP_VERSION, so new instances start each time`,
  );

  const body = JSON.stringify({ payload: 'x'.repeat(2048) });
  const specs: LoadSpec[] = [
    { name: 'GET keep-alive', connections: 8, rate: opts['get-rate'] as number, path: '/' },
    { name: 'GET connection: close', connections: 16, rate: opts['close-rate'] as number, path: '/', fresh: true },
    { name: 'POST 2 KB body', connections: 4, rate: opts['post-rate'] as number, path: '/echo', method: 'POST', body },
    { name: `GET /slow (${opts['slow-ms']} ms)`, connections: 4, rate: undefined, path: `/slow?ms=${opts['slow-ms']}` },
  ];
  print(
    `- load (from the bench process, for the whole run): ${specs
      .map((s) =>
        s.fresh
          ? `${s.name} ${s.rate} req/s, a new connection each (Node http client, at most ${s.connections} in flight)`
          : `${s.name} ${s.rate !== undefined ? `${s.rate} req/s` : 'back to back'} over ${s.connections} keep-alive connections (autocannon)`,
      )
      .join('; ')}`,
  );
  print();

  const share = await waitForIdle(15_000);
  if (share !== undefined && share > 0.1) progress(`other processes keep ${fmtPercent(share)} of the CPU busy: starting anyway`);
  const background = new BackgroundMeter();
  background.start();
  const loads = specs.map((s) => startLoad(z.url, s));
  const loadStart = performance.now();
  progress(`load running; ${settleMs / 1000} s without deploys …`);
  await sleep(settleMs);

  const runs: DeployRun[] = [];
  for (let n = 1; n <= deploys; n++) {
    const start = performance.now();
    const r = await z.deploy(['--version', `v${n}`, '--env', `APP_VERSION=v${n}`]);
    const end = performance.now();
    runs.push({ n, start, end, code: r.code, output: r.stdout + r.stderr });
    progress(`deploy ${n}/${deploys}: ${r.code === 0 ? 'live' : `FAILED (exit ${r.code})`} in ${fmtSeconds(end - start)}`);
  }
  const deploysEnd = performance.now();
  await sleep(settleMs);
  const live = await fetch(`${z.url}/`);
  await live.arrayBuffer();
  const liveVersion = live.headers.get('x-app-version');
  const results = await Promise.all(loads.map((l) => l.stop()));
  const loadEnd = performance.now();
  background.stop();

  const firstDeploy = runs[0]?.start ?? deploysEnd;
  const ok = runs.filter((r) => r.code === 0);
  const durations = runs.map((r) => r.end - r.start);

  print(`## ${deploys} deploys under load`);
  print();
  print(
    markdownTable(
      ['deploys', 'succeeded', 'failed', 'mean duration', 'max duration', 'live version at the end'],
      [[String(runs.length), String(ok.length), String(runs.length - ok.length), fmtSeconds(mean(durations)), fmtSeconds(Math.max(...durations)), `${liveVersion ?? '?'} (expected v${deploys})`]],
      ['r', 'r', 'r', 'r', 'r', 'l'],
    ),
  );
  print();
  print(`## requests (${fmtSeconds(loadEnd - loadStart)} of load; deploys ran for ${fmtSeconds(deploysEnd - firstDeploy)} of it)`);
  print();
  const rows: string[][] = [];
  let totalRequests = 0;
  let totalFailed = 0;
  let totalSkipped = 0;
  for (const [i, l] of loads.entries()) {
    const r = results[i]!;
    const failed = r.connErrors + r.timeouts + r.non2xx;
    totalRequests += r.requests;
    totalFailed += failed;
    totalSkipped += r.skipped;
    const all = l.samples.map((s) => s.ms).sort((a, b) => a - b);
    const base = l.samples.filter((s) => s.at >= loadStart + warmupMs && s.at < firstDeploy).map((s) => s.ms).sort((a, b) => a - b);
    const during = l.samples.filter((s) => s.at >= firstDeploy && s.at <= deploysEnd).map((s) => s.ms).sort((a, b) => a - b);
    rows.push([
      l.spec.name,
      fmtInt(r.requests),
      fmtInt(r.connErrors),
      fmtInt(r.timeouts),
      fmtInt(r.non2xx),
      fmtInt(failed) + (failed > 0 ? ' ✗' : ''),
      fmtMs(percentile(base, 99)),
      fmtMs(percentile(during, 99)),
      fmtMs(percentile(all, 99)),
      fmtMs(all.at(-1)),
    ]);
  }
  rows.push(['all', fmtInt(totalRequests), '', '', '', fmtInt(totalFailed) + (totalFailed > 0 ? ' ✗' : ''), '', '', '', '']);
  print(
    markdownTable(
      ['load', 'requests', 'conn errors', 'timeouts', 'non-2xx', 'failed', 'p99 ms before deploys', 'p99 ms during deploys', 'p99 ms whole run', 'max ms'],
      rows,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );

  if (totalSkipped > 0) {
    print();
    print(`⚠ ${totalSkipped} fresh-connection request(s) were not sent: too many earlier ones were still waiting (zdd or this machine lagging).`);
  }
  const failures = loads.flatMap((l) => l.failures.map((f) => ({ ...f, load: l.spec.name }))).sort((a, b) => a.at - b.at);
  if (failures.length > 0) {
    print();
    print(`First failures (of ${failures.length}), with the deploy that was running:`);
    for (const f of failures.slice(0, 15)) {
      const d = runs.find((r) => f.at >= r.start && f.at <= r.end + 1000);
      print(`- t=${fmtSeconds(f.at - loadStart)} ${f.load}: ${f.what}${d ? ` — deploy ${d.n} (+${fmtSeconds(f.at - d.start)} after it started)` : ''}`);
    }
  }
  const failedRuns = runs.filter((r) => r.code !== 0);
  for (const r of failedRuns.slice(0, 3)) {
    print();
    print(`deploy ${r.n} exited ${r.code}:`);
    print('```');
    print(r.output.trim());
    print('```');
  }
  const bg = background.share();
  print();
  if (bg !== undefined) print(`Other processes on this machine used ${fmtPercent(bg)} of its CPU during the run${bg > 0.05 ? ' ⚠ — latencies are disturbed by them' : ''}.`);
  print(
    totalFailed === 0 && failedRuns.length === 0 && liveVersion === `v${deploys}`
      ? `Result: zero failed requests over ${deploys} deploys. ✓`
      : `Result: ${totalFailed} failed request(s), ${failedRuns.length} failed deploy(s). ✗`,
  );
  print();
  print(`total time: ${Math.round((Date.now() - started) / 1000)} s`);
  if (totalFailed > 0 || failedRuns.length > 0) process.exitCode = 1;
}

runMain(main);
