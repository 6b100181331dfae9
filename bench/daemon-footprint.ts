// The daemon's footprint: memory (RSS) of `zdd serve` with one hello-world service, idle and through a
// minute of full load, and its event-loop delay under that load; from the TypeScript sources (Node strips
// the types) and from the compiled build (dist/, what the npm package runs) side by side, with ratios.
//
//   node_modules/.bin/node bench/daemon-footprint.ts [--duration 60] [--settle 10] [--after 10]
//
// See bench/README.md. Progress goes to stderr, the report (markdown) to stdout.
import { readOptions } from './lib/args.ts';
import { cmdline, daemonTree, smapsMb, sumMb } from './lib/footprint.ts';
import { chooseLoadTool, type LoadTool, type ThroughputResult } from './lib/load.ts';
import { CpuMeter, detect, reportHeader, waitForIdle } from './lib/machine.ts';
import { freePort, runCommand, runMain, sleep, waitForHttp } from './lib/procs.ts';
import { median } from './lib/stats.ts';
import { fmtInt, fmtMs, fmtPercent, fmtRatio, markdownTable, print, progress } from './lib/table.ts';
import { loopDelay, repoRoot, scrape, startZdd, zddBin, type LoopDelay } from './lib/zdd.ts';
import { buildIsCurrent } from '../src/entry-point.ts';

const opts = readOptions('Usage: node_modules/.bin/node bench/daemon-footprint.ts [options]', {
  duration: { default: 60, zero: true, help: 'seconds of full load (0: idle figures only)' },
  settle: { default: 10, help: 'seconds the daemon idles after the deploy before its idle RSS is read' },
  after: { default: 10, help: 'seconds after the load before RSS is read again' },
  'lag-window': { default: 5, help: 'seconds of idle between two scrapes, for the idle event-loop delay' },
  connections: { default: 50, help: 'concurrent connections of the load (wrk -c)' },
  builds: { default: 'src,dist', help: 'src (TypeScript sources, type stripping), dist (compiled build), comma-separated' },
  runs: { default: 1, help: 'rounds (each build once per round, in turn); medians are reported' },
  'version-runs': { default: 5, help: '`zdd --version` runs per build, for the CLI start-up time (median)' },
  'idle-wait': { default: 5, zero: true, help: 'before the load, wait up to this many seconds for other processes to leave the CPU alone (0: never)' },
  'load-tool': { default: 'auto', help: 'auto (wrk if installed), wrk, or node (autocannon)' },
  workers: { default: 'auto', help: 'proxy.workers of the service: auto, or a number (0: requests served in the daemon process)' },
});
const durationS = opts.duration as number;
const settleS = opts.settle as number;
const afterS = opts.after as number;
const lagWindowS = opts['lag-window'] as number;
const connections = opts.connections as number;
const runs = opts.runs as number;
const idleWaitMs = (opts['idle-wait'] as number) * 1000;
const workers = String(opts.workers) === 'auto' ? undefined : Number(opts.workers);
if (workers !== undefined && !(Number.isInteger(workers) && workers >= 0)) throw new Error(`--workers ${opts.workers}: write auto or a whole number`);

/** The issue's targets on the 2-core development machine. */
const targets = { idleMb: 80, afterLoadMb: 150 };

type Build = 'src' | 'dist';
const builds = String(opts.builds)
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is Build => s === 'src' || s === 'dist');
if (builds.length === 0) throw new Error(`--builds ${opts.builds}: name src, dist or both`);
/** bin/zdd runs the sources with ZDD_FROM_SOURCE=1, and dist/ without it once it is current. */
const buildEnv: Record<Build, Record<string, string>> = { src: { ZDD_FROM_SOURCE: '1' }, dist: { ZDD_FROM_SOURCE: '0' } };
const buildEntry: Record<Build, string> = { src: '/src/cli/main.ts', dist: '/dist/cli/main.js' };
const buildLabel: Record<Build, string> = { src: 'src (type stripping)', dist: 'dist (compiled)' };

interface Measured {
  versionMs: number;
  readyMs: number;
  deployMs: number;
  zddProcesses: number;
  idleMb: number;
  /** The daemon process alone (without its data-plane workers). */
  idleDaemonMb: number;
  idlePssMb: number;
  idlePrivateMb: number;
  idleHwmMb: number;
  idleCpuShare: number | undefined;
  scrapedIdleMb: number;
  /** CPU over the idle delay window: the metrics (and their 1 ms event-loop sampling) are on. */
  scrapedIdleCpuShare: number | undefined;
  idleDelay: LoopDelay;
  load?: {
    r: ThroughputResult;
    cpuUsPerReq: number | undefined;
    peakMb: number;
    afterMb: number;
    afterDaemonMb: number;
    afterPssMb: number;
    afterPrivateMb: number;
    laterMb: number;
    hwmMb: number;
    appMb: number;
    delay: LoopDelay;
  };
}

async function versionMs(env: Record<string, string>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < (opts['version-runs'] as number); i++) {
    const r = await runCommand(zddBin, ['--version'], { env });
    if (r.code !== 0) throw new Error(`zdd --version exited ${r.code}: ${r.stderr}`);
    times.push(r.ms);
  }
  return median(times);
}

async function measure(build: Build, load: LoadTool): Promise<Measured> {
  const env = buildEnv[build];
  if (build === 'dist' && !buildIsCurrent(repoRoot)) throw new Error('dist/ went stale during the bench (a file under src/ changed): run it again');
  const version = await versionMs(env);
  const port = await freePort();
  const controlPort = await freePort();
  progress(`${build}: zdd serve, zdd deploy web …`);
  const z = await startZdd({ port, replicas: 1, rollbackWindow: '1s', drainTimeout: '5s', healthInterval: '200ms', ...(workers !== undefined ? { workers } : {}) }, { env, controlPort });
  const argv = cmdline(z.proc.pid);
  if (!argv.some((a) => a.endsWith(buildEntry[build]))) throw new Error(`${build}: the daemon runs ${argv.join(' ')}, not …${buildEntry[build]}`);
  const deployed = await z.deployOrThrow();
  await waitForHttp(`${z.url}/healthz`, z.proc);
  const daemon = z.proc.pid;

  // Idle: what a one-service daemon nobody scrapes holds.
  progress(`${build}: idle for ${settleS} s …`);
  const settleCpu = new CpuMeter(daemonTree(daemon).zdd);
  settleCpu.start();
  const t0 = performance.now();
  await sleep(settleS * 1000);
  const settleCpuMs = settleCpu.stop();
  const idleTree = daemonTree(daemon);
  const idleMb = sumMb(idleTree.zdd);
  const idleDaemonMb = sumMb([daemon]);
  const idlePssMb = smapsMb(idleTree.zdd, 'Pss');
  const idlePrivateMb = smapsMb(idleTree.zdd, 'Private');
  const idleHwmMb = sumMb(idleTree.zdd, 'VmHWM');
  const idleCpuShare = settleCpuMs === undefined ? undefined : settleCpuMs / (performance.now() - t0);

  // The event-loop delay, from /metrics on the control listener with a read token. The first scrape
  // starts the daemon's metrics (they are loaded then) and the delay histogram; each scrape reports the
  // delays since the one before.
  const token = await z.readToken('footprint');
  const metricsUrl = `http://127.0.0.1:${controlPort}/metrics`;
  await scrape(metricsUrl, token);
  const windowCpu = new CpuMeter(idleTree.zdd);
  windowCpu.start();
  const t1 = performance.now();
  await sleep(lagWindowS * 1000);
  const windowCpuMs = windowCpu.stop();
  const scrapedIdleCpuShare = windowCpuMs === undefined ? undefined : windowCpuMs / (performance.now() - t1);
  const idleDelay = loopDelay(await scrape(metricsUrl, token));
  const scrapedIdleMb = sumMb(daemonTree(daemon).zdd);
  const m: Measured = {
    versionMs: version,
    readyMs: z.readyMs,
    deployMs: deployed.ms,
    zddProcesses: idleTree.zdd.length,
    idleMb,
    idleDaemonMb,
    idlePssMb,
    idlePrivateMb,
    idleHwmMb,
    idleCpuShare,
    scrapedIdleMb,
    scrapedIdleCpuShare,
    idleDelay,
  };

  if (durationS > 0) {
    if (idleWaitMs > 0) await waitForIdle(idleWaitMs);
    await scrape(metricsUrl, token); // the delay window starts with the load
    const tree = daemonTree(daemon);
    const cpu = new CpuMeter(tree.zdd);
    let peakMb = sumMb(tree.zdd);
    const sampler = setInterval(() => (peakMb = Math.max(peakMb, sumMb(daemonTree(daemon).zdd))), 1000);
    progress(`${build}: ${durationS} s of load (${connections} connections) …`);
    cpu.start();
    let r: ThroughputResult;
    try {
      r = await load.throughput(`${z.url}/`, { connections, durationS });
    } finally {
      clearInterval(sampler);
    }
    const cpuMs = cpu.stop();
    const afterTree = daemonTree(daemon);
    const afterMb = sumMb(afterTree.zdd);
    const afterDaemonMb = sumMb([daemon]);
    const afterPssMb = smapsMb(afterTree.zdd, 'Pss');
    const afterPrivateMb = smapsMb(afterTree.zdd, 'Private');
    peakMb = Math.max(peakMb, afterMb);
    const delay = loopDelay(await scrape(metricsUrl, token));
    progress(`${build}: ${fmtInt(r.rps)} req/s; ${afterS} s after the load …`);
    await sleep(afterS * 1000);
    const laterTree = daemonTree(daemon);
    m.load = {
      r,
      cpuUsPerReq: cpuMs === undefined || r.requests === 0 ? undefined : (cpuMs * 1000) / r.requests,
      peakMb,
      afterMb,
      afterDaemonMb,
      afterPssMb,
      afterPrivateMb,
      laterMb: sumMb(laterTree.zdd),
      hwmMb: sumMb(laterTree.zdd, 'VmHWM'),
      appMb: sumMb(laterTree.apps),
      delay,
    };
  }
  await z.proc.stop();
  return m;
}

/** dist/ must be a build of src/ as it is: made now when it is missing or older. */
async function ensureBuild(): Promise<string> {
  if (buildIsCurrent(repoRoot)) return 'current (no file under src/ changed since it was built)';
  progress('dist/ is missing or older than src/: npm run build …');
  const r = await runCommand('npm', ['run', 'build'], { cwd: repoRoot });
  if (r.code !== 0 || !buildIsCurrent(repoRoot)) throw new Error(`npm run build exited ${r.code}:\n${r.stdout}${r.stderr}`);
  return `built by this run (npm run build, ${(r.ms / 1000).toFixed(1)} s)`;
}

async function main(): Promise<void> {
  const started = Date.now();
  const wrkInfo = detect('wrk');
  const load = chooseLoadTool(String(opts['load-tool']), wrkInfo);
  // Stops by itself: generous room for every phase, then it fails (and cleans up) rather than hang.
  const budgetS = runs * builds.length * (settleS + lagWindowS + durationS + afterS + idleWaitMs / 1000 + 90) + 180;
  setTimeout(() => {
    throw new Error(`the bench took more than ${budgetS} s`);
  }, budgetS * 1000).unref();

  for (const l of reportHeader('zdd daemon footprint: memory and event-loop delay, sources and compiled build', [wrkInfo])) print(l);
  if (durationS > 0) print(`- load generator: ${load.describe}`);
  if (builds.includes('dist')) print(`- dist/: ${await ensureBuild()}`);
  print(
    `- method: per build, \`bin/zdd serve\` (JSON log) with a control listener and one service (one replica of bench/upstream-app.js, proxy.workers ${workers ?? 'auto'}), \`zdd deploy web\`; ` +
      `idle RSS after ${settleS} s of idling; then ${durationS > 0 ? `${durationS} s of ${load.throughputHow({ connections, durationS })} on GET / (hello world), RSS sampled every second, read right after and ${afterS} s after; ` : ''}` +
      `RSS = VmRSS summed over zdd's own processes (the daemon and any child of it that is not an app instance, i.e. its data-plane workers: an app instance's environment carries ZDD_INSTANCE); PSS and private memory from /proc/<pid>/smaps_rollup over the same processes; ` +
      `event-loop delay: the daemon's (with workers, requests are served in their loops, not in this one): ` +
      `nodejs_eventloop_lag_* from GET /metrics (read token), sampled every 1 ms, over ${lagWindowS} s of idle and over the load; ` +
      `the builds take turns${runs > 1 ? `, ${runs} rounds: median (min–max)` : ''}`,
  );

  const results = new Map<Build, Measured[]>(builds.map((b) => [b, []]));
  for (let round = 1; round <= runs; round++) {
    for (const build of round % 2 === 1 ? builds : [...builds].reverse()) {
      if (runs > 1) progress(`round ${round}/${runs}`);
      results.get(build)!.push(await measure(build, load));
    }
  }

  const values = (b: Build, f: (m: Measured) => number | undefined) => results.get(b)!.map((m) => f(m) ?? Number.NaN);
  const mb = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');
  const delay = (d: (m: Measured) => LoopDelay | undefined, k: keyof LoopDelay) => (m: Measured) => d(m)?.[k];
  type Row = { label: string; f: (m: Measured) => number | undefined; fmt: (n: number) => string; target?: number };
  const rows: Row[] = [
    { label: 'CLI start-up: `zdd --version` (ms)', f: (m) => m.versionMs, fmt: fmtInt },
    { label: '`zdd serve` to ready (ms)', f: (m) => m.readyMs, fmt: fmtInt },
    { label: '`zdd deploy web` (ms)', f: (m) => m.deployMs, fmt: fmtInt },
    { label: "zdd's processes", f: (m) => m.zddProcesses, fmt: fmtInt },
    { label: `idle RSS, ${settleS} s after the deploy (MB)`, f: (m) => m.idleMb, fmt: mb, target: targets.idleMb },
    { label: '… of it the daemon process alone (MB)', f: (m) => m.idleDaemonMb, fmt: mb },
    { label: 'idle PSS (MB): pages shared with other processes counted as shares', f: (m) => m.idlePssMb, fmt: mb },
    { label: 'idle private memory (MB): pages no other process maps', f: (m) => m.idlePrivateMb, fmt: mb },
    { label: 'idle VmHWM (MB)', f: (m) => m.idleHwmMb, fmt: mb },
    { label: 'idle CPU (share of one core)', f: (m) => m.idleCpuShare, fmt: fmtPercent },
    { label: 'idle RSS once /metrics was scraped (MB)', f: (m) => m.scrapedIdleMb, fmt: mb },
    { label: 'idle CPU once scraped (1 ms event-loop sampling on)', f: (m) => m.scrapedIdleCpuShare, fmt: fmtPercent },
    { label: 'idle event-loop delay p50 (ms)', f: delay((m) => m.idleDelay, 'p50'), fmt: fmtMs },
    { label: 'idle event-loop delay p99 (ms)', f: delay((m) => m.idleDelay, 'p99'), fmt: fmtMs },
    { label: 'idle event-loop delay max (ms)', f: delay((m) => m.idleDelay, 'max'), fmt: fmtMs },
  ];
  if (durationS > 0) {
    rows.push(
      { label: 'load: req/s', f: (m) => m.load?.r.rps, fmt: fmtInt },
      { label: "load: zdd's CPU µs/req", f: (m) => m.load?.cpuUsPerReq, fmt: fmtInt },
      { label: 'load: failed requests', f: (m) => (m.load ? m.load.r.errors + m.load.r.non2xx : undefined), fmt: fmtInt },
      { label: 'RSS peak during the load (MB, sampled 1/s)', f: (m) => m.load?.peakMb, fmt: mb },
      { label: `RSS right after ${durationS} s of load (MB)`, f: (m) => m.load?.afterMb, fmt: mb, target: targets.afterLoadMb },
      { label: '… of it the daemon process alone (MB)', f: (m) => m.load?.afterDaemonMb, fmt: mb },
      { label: 'PSS right after the load (MB)', f: (m) => m.load?.afterPssMb, fmt: mb },
      { label: 'private memory right after the load (MB)', f: (m) => m.load?.afterPrivateMb, fmt: mb },
      { label: `RSS ${afterS} s after the load (MB)`, f: (m) => m.load?.laterMb, fmt: mb },
      { label: 'VmHWM at the end (MB)', f: (m) => m.load?.hwmMb, fmt: mb },
      { label: 'load: event-loop delay min (ms)', f: delay((m) => m.load?.delay, 'min'), fmt: fmtMs },
      { label: 'load: event-loop delay mean (ms)', f: delay((m) => m.load?.delay, 'mean'), fmt: fmtMs },
      { label: 'load: event-loop delay p50 (ms)', f: delay((m) => m.load?.delay, 'p50'), fmt: fmtMs },
      { label: 'load: event-loop delay p99 (ms)', f: delay((m) => m.load?.delay, 'p99'), fmt: fmtMs },
      { label: 'load: event-loop delay max (ms)', f: delay((m) => m.load?.delay, 'max'), fmt: fmtMs },
      { label: "the app instance's RSS after the load (MB), for scale", f: (m) => m.load?.appMb, fmt: mb },
    );
  }
  const both = builds.length === 2;
  const headers = ['', ...builds.map((b) => buildLabel[b]), ...(both ? ['dist / src'] : []), 'target'];
  const table = rows.map((row) => {
    const medians = builds.map((b) => median(values(b, row.f)));
    const check = (v: number) => (row.target === undefined || !Number.isFinite(v) ? '' : v <= row.target ? ' ✓' : ' ✗');
    // With several rounds, the range beside the median.
    const range = (b: Build) => (runs > 1 ? ` (${row.fmt(Math.min(...values(b, row.f)))}–${row.fmt(Math.max(...values(b, row.f)))})` : '');
    return [
      row.label,
      ...medians.map((v, i) => row.fmt(v) + range(builds[i]!) + check(v)),
      ...(both ? [fmtRatio(medians[1]! / medians[0]!)] : []),
      row.target === undefined ? '' : `≤ ${row.target}`,
    ];
  });
  print();
  print(markdownTable(headers, table, ['l', ...builds.map(() => 'r' as const), ...(both ? ['r' as const] : []), 'r']));
  print();
  print(
    'Event-loop delay: prom-client samples the loop every 1 ms (monitorEventLoopDelay), so each figure includes that 1 ms; ' +
      'the stall beyond it is the figure minus 1 ms. ✓/✗: within the issue’s target or not.',
  );
  print();
  print(`Took ${Math.round((Date.now() - started) / 1000)} s.`);
}

runMain(main);
