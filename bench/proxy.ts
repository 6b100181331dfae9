// Proxy overhead benchmark: the same upstream app measured directly and through zdd, nginx and haproxy,
// side by side in one run, for a trivial route (the proxy's own cost dominates) and a route that does
// ~0.4 ms of CPU work per request (the app's cost dominates).
//
//   node_modules/.bin/node bench/proxy.ts [--duration 4] [--connections 50] [--runs 3]
//
// See bench/README.md for what is measured and how to read the output. Progress goes to stderr, the
// report (markdown) to stdout.
import { readOptions } from './lib/args.ts';
import { chooseLoadTool, type LatencyResult, type ThroughputResult } from './lib/load.ts';
import { CpuMeter, detect, installHint, reportHeader, withChildren } from './lib/machine.ts';
import { freePort, runMain, sleep, waitForHttp } from './lib/procs.ts';
import { startHaproxy, startNginx } from './lib/proxies.ts';
import { BackgroundTally, QuietMeasurer, backgroundBeforeLine } from './lib/quiet.ts';
import { median } from './lib/stats.ts';
import { fmtDeltaMs, fmtInt, fmtMs, fmtPercent, fmtRatio, markdownTable, print, progress } from './lib/table.ts';
import { startUpstreamApp, startZdd } from './lib/zdd.ts';

const opts = readOptions('Usage: node_modules/.bin/node bench/proxy.ts [options]', {
  duration: { default: 4, help: 'seconds of each max-throughput run' },
  connections: { default: 50, help: 'concurrent connections (wrk -c)' },
  runs: { default: 3, help: 'max-throughput runs per target and scenario; the median is reported' },
  warmup: { default: 1, help: 'seconds of warm-up load per target and scenario' },
  'latency-duration': { default: 4, help: 'seconds of the fixed-rate latency run' },
  'rate-share': { default: 0.5, float: true, help: "fixed rate as a share of nginx's (else direct's) max throughput" },
  'fixed-rate': { default: 1000, zero: true, help: 'a second latency run at this fixed rate (req/s, paced), for every target (0: none)' },
  targets: { default: 'direct,nginx,haproxy,zdd,zdd-w1,zdd-w2', help: 'targets to measure, comma-separated (zdd: requests served in the daemon; zdd-wN: by N data-plane worker processes)' },
  scenarios: { default: 'hello,render', help: 'scenarios to run, comma-separated' },
  'idle-wait': { default: 15, zero: true, help: 'before each measurement, wait up to this many seconds for other processes to leave the CPU alone (0: never wait)' },
  retries: { default: 2, zero: true, help: 'measure again (up to this many times) when other processes used more than 10% of the CPU meanwhile' },
  'load-tool': { default: 'auto', help: 'auto (wrk if installed), wrk, or node (autocannon + bench/lib/paced.ts)' },
});
const durationS = opts.duration as number;
const connections = opts.connections as number;
const runs = opts.runs as number;
const warmupS = opts.warmup as number;
const latencyS = opts['latency-duration'] as number;
const rateShare = opts['rate-share'] as number;
const fixedRate = opts['fixed-rate'] as number;
const idleWaitMs = (opts['idle-wait'] as number) * 1000;
const retries = opts.retries as number;
const retryAbove = 0.1;
const measurer = new QuietMeasurer({ idleWaitMs, retries, retryAbove, progress });

interface Scenario {
  name: string;
  path: string;
  what: string;
}
const allScenarios: Scenario[] = [
  { name: 'hello', path: '/', what: 'GET / — hello world, 13-byte body: the proxy’s own cost dominates' },
  { name: 'render', path: '/render', what: 'GET /render — ~2 KB JSON rendered per request (fixed CPU work): the app’s cost dominates' },
];

interface Target {
  name: string;
  url: string;
  /** Processes whose CPU is the proxy's (none for direct). */
  proxyPids: number[];
  /** The upstream app process(es) this target's traffic ends up in. */
  appPids: number[];
  /** zdd with data-plane workers: the daemon itself (its share of proxyPids' CPU is reported apart). */
  daemonPid?: number;
}

interface Measured {
  runs: ThroughputResult[];
  proxyCpuMs: number | undefined;
  appCpuMs: number | undefined;
  daemonCpuMs?: number | undefined;
  latency?: LatencyResult;
  /** At --fixed-rate. */
  fixed?: LatencyResult;
  /** Share of the CPU other processes used during the latency run. */
  latencyBackground?: number | undefined;
  /** Errors and non-2xx, discarded attempts included. */
  failed: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  const wanted = new Set(String(opts.targets).split(',').map((s) => s.trim()));
  const scenarios = allScenarios.filter((s) => String(opts.scenarios).split(',').includes(s.name));
  if (scenarios.length === 0) throw new Error(`no known scenario in --scenarios ${opts.scenarios} (known: hello, render)`);
  const nginxTool = detect('nginx');
  const haproxyTool = detect('haproxy');
  const wrkInfo = detect('wrk');
  const load = chooseLoadTool(String(opts['load-tool']), wrkInfo);

  for (const l of reportHeader('zdd proxy benchmark', [nginxTool, haproxyTool, wrkInfo])) print(l);
  print(`- load generator: ${load.describe}`);
  const before = await backgroundBeforeLine();
  if (before !== undefined) print(before);

  // One upstream app process for direct, nginx and haproxy; zdd starts its own identical instance.
  const { port: appPort, url: appUrl, proc: app } = await startUpstreamApp();
  const cost = (await (await fetch(`${appUrl}/cost`)).json()) as { renderMs: number; renderBytes: number };
  print(`- upstream: bench/upstream-app.js (Node ${process.version}); /render costs ${fmtMs(cost.renderMs)} ms CPU in-process and answers ${fmtInt(cost.renderBytes)} bytes`);

  const targets: Target[] = [];
  const skipped: string[] = [];
  if (wanted.has('direct')) targets.push({ name: 'direct', url: appUrl, proxyPids: [], appPids: [app.pid] });
  if (wanted.has('nginx')) {
    if (nginxTool.file) {
      progress('starting nginx …');
      const n = await startNginx(nginxTool.file, appPort);
      targets.push({ name: 'nginx', url: n.url, proxyPids: withChildren(n.proc.pid), appPids: [app.pid] });
    } else skipped.push(`nginx (not installed: ${installHint})`);
  }
  if (wanted.has('haproxy')) {
    if (haproxyTool.file) {
      progress('starting haproxy …');
      const h = await startHaproxy(haproxyTool.file, appPort);
      targets.push({ name: 'haproxy', url: h.url, proxyPids: [h.proc.pid], appPids: [app.pid] });
    } else skipped.push(`haproxy (not installed: ${installHint})`);
  }
  for (const [name, workers] of [['zdd', 0], ['zdd-w1', 1], ['zdd-w2', 2]] as const) {
    if (!wanted.has(name)) continue;
    progress(`starting zdd serve (proxy.workers ${workers}) and deploying …`);
    const z = await startZdd({ port: await freePort(), replicas: 1, rollbackWindow: '1s', drainTimeout: '5s', healthInterval: '200ms', workers });
    await z.deployOrThrow();
    await waitForHttp(`${z.url}/healthz`, z.proc);
    // The proxy's CPU: the daemon's and its data-plane workers' (the app instances are counted apart).
    const workerPids = await z.workerPids();
    targets.push({ name, url: z.url, proxyPids: [z.proc.pid, ...workerPids], appPids: await z.livePids(), ...(workerPids.length > 0 ? { daemonPid: z.proc.pid } : {}) });
  }
  if (targets.length === 0) throw new Error('no target to measure');
  for (const s of skipped) print(`- skipped: ${s}`);
  const ref = targets.find((t) => t.name === 'nginx') ?? targets.find((t) => t.name === 'direct') ?? targets[0]!;
  print(
    `- method: max throughput = median of ${runs} runs (${load.throughputHow({ connections, durationS })}), the targets taking turns run by run, ` +
      `after ${warmupS} s of warm-up per target; latency = one ${latencyS} s run at a fixed rate of ${Math.round(rateShare * 100)}% of ${ref.name}'s ` +
      `median max throughput, over ${connections} connections; targets are loaded one at a time; CPU/req = the process's user+system CPU over all throughput runs / requests served` +
      (idleWaitMs > 0 ? `; before each measurement, up to ${idleWaitMs / 1000} s of waiting for other processes to leave the CPU alone` : '') +
      (retries > 0 ? `; a measurement during which they used more than ${retryAbove * 100}% of it is repeated (up to ${retries}×), the least disturbed kept` : ''),
  );

  for (const scenario of scenarios) {
    const background = new BackgroundTally();
    const results = new Map<string, Measured>(targets.map((t) => [t.name, { runs: [], proxyCpuMs: undefined, appCpuMs: undefined, failed: 0 }]));
    for (const t of targets) {
      progress(`${scenario.name}: warming up ${t.name} (${warmupS} s) …`);
      await load.throughput(t.url + scenario.path, { connections, durationS: warmupS });
    }
    for (let run = 1; run <= runs; run++) {
      for (const t of targets) {
        const m = results.get(t.name)!;
        const { value } = await measurer.measure(
          background,
          async () => {
            const proxyCpu = new CpuMeter(t.proxyPids);
            const appCpu = new CpuMeter(t.appPids);
            const daemonCpu = new CpuMeter(t.daemonPid === undefined ? [] : [t.daemonPid]);
            proxyCpu.start();
            appCpu.start();
            daemonCpu.start();
            const r = await load.throughput(t.url + scenario.path, { connections, durationS });
            progress(`${scenario.name}: run ${run}/${runs} ${t.name.padEnd(8)} ${fmtInt(r.rps).padStart(7)} req/s${r.errors + r.non2xx > 0 ? ` (${r.errors} errors, ${r.non2xx} non-2xx)` : ''}`);
            return { r, proxyMs: proxyCpu.stop(), appMs: appCpu.stop(), daemonMs: t.daemonPid === undefined ? undefined : daemonCpu.stop() };
          },
          (d) => (m.failed += d.r.errors + d.r.non2xx),
        );
        m.runs.push(value.r);
        m.failed += value.r.errors + value.r.non2xx;
        if (value.proxyMs !== undefined) m.proxyCpuMs = (m.proxyCpuMs ?? 0) + value.proxyMs;
        if (value.appMs !== undefined) m.appCpuMs = (m.appCpuMs ?? 0) + value.appMs;
        if (value.daemonMs !== undefined) m.daemonCpuMs = (m.daemonCpuMs ?? 0) + value.daemonMs;
        await sleep(200);
      }
    }
    const typical = (name: string) => median(results.get(name)?.runs.map((r) => r.rps) ?? []);
    const rate = Math.max(1, Math.round(typical(ref.name) * rateShare));
    for (const t of targets) {
      progress(`${scenario.name}: latency of ${t.name} at ${fmtInt(rate)} req/s (${latencyS} s) …`);
      const m = results.get(t.name)!;
      const { value, share } = await measurer.measure(
        background,
        () => load.latency(t.url + scenario.path, { connections, durationS: latencyS, rate }),
        (d) => (m.failed += d.errors + d.non2xx),
      );
      m.latency = value;
      m.latencyBackground = share;
      m.failed += value.errors + value.non2xx;
      await sleep(200);
      if (fixedRate > 0) {
        progress(`${scenario.name}: latency of ${t.name} at ${fmtInt(fixedRate)} req/s (${latencyS} s) …`);
        const fixed = await measurer.measure(
          background,
          () => load.latency(t.url + scenario.path, { connections, durationS: latencyS, rate: fixedRate }),
          (d) => (m.failed += d.errors + d.non2xx),
        );
        m.fixed = fixed.value;
        m.failed += fixed.value.errors + fixed.value.non2xx;
        await sleep(200);
      }
    }
    print();
    print(`## ${scenario.name}: ${scenario.what}`);
    print();
    print(`latency measured at ${fmtInt(rate)} req/s (${Math.round(rateShare * 100)}% of ${ref.name}'s max throughput)`);
    print();
    const direct = results.get('direct');
    const nginx = results.get('nginx');
    const rows: string[][] = [];
    const notes: string[] = [];
    for (const t of targets) {
      const m = results.get(t.name)!;
      const rps = typical(t.name);
      const rpsAll = m.runs.map((r) => r.rps);
      const served = m.runs.reduce((s, r) => s + r.requests, 0);
      const lat = m.latency!;
      const failed = m.failed;
      const behind = !lat.keptUp;
      const disturbed = (m.latencyBackground ?? 0) > 0.05;
      if (disturbed) notes.push(`† other processes used ${fmtPercent(m.latencyBackground)} of the CPU during ${t.name}'s latency run.`);
      const mark = (behind ? ' ⚠' : '') + (disturbed ? ' †' : '');
      if (behind) notes.push(`⚠ ${t.name} did not keep up with ${fmtInt(rate)} req/s (${fmtInt(lat.achievedRps)} req/s done, late ${lat.late}): its latency is queueing, not service time.`);
      const perReq = (cpuMs: number | undefined) => (cpuMs === undefined || served === 0 ? '–' : fmtInt((cpuMs * 1000) / served));
      if (m.daemonCpuMs !== undefined) notes.push(`${t.name}: of its proxy CPU per request, the daemon itself (accepting connections, merging the workers' records) spent ${perReq(m.daemonCpuMs)} µs, the workers the rest.`);
      rows.push([
        t.name,
        fmtInt(rps),
        `${fmtInt(Math.min(...rpsAll))}–${fmtInt(Math.max(...rpsAll))}`,
        nginx ? fmtRatio(rps / typical('nginx')) : '–',
        direct ? fmtRatio(rps / typical('direct')) : '–',
        t.proxyPids.length ? perReq(m.proxyCpuMs) : '–',
        perReq(m.appCpuMs),
        fmtMs(lat.p50Ms) + mark,
        fmtMs(lat.p99Ms) + mark,
        direct?.latency && t.name !== 'direct' ? fmtDeltaMs(lat.p99Ms - direct.latency.p99Ms) : '–',
        fmtMs(lat.maxMs),
        ...(fixedRate > 0 ? [m.fixed ? fmtMs(m.fixed.p99Ms) : '–', direct?.fixed && m.fixed && t.name !== 'direct' ? fmtDeltaMs(m.fixed.p99Ms - direct.fixed.p99Ms) : '–'] : []),
        fmtInt(failed),
      ]);
    }
    print(
      markdownTable(
        [
          'target',
          'req/s (median)',
          `${runs} runs min–max`,
          'vs nginx',
          'vs direct',
          'proxy CPU µs/req',
          'app CPU µs/req',
          'p50 ms',
          'p99 ms',
          'p99 vs direct ms',
          'max ms',
          ...(fixedRate > 0 ? [`p99 at ${fmtInt(fixedRate)}/s ms`, `p99 at ${fmtInt(fixedRate)}/s vs direct ms`] : []),
          'failed',
        ],
        rows,
        ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', ...(fixedRate > 0 ? ['r' as const, 'r' as const] : []), 'r'],
      ),
    );
    const backgroundNote = background.note();
    if (backgroundNote !== undefined) notes.push(backgroundNote);
    for (const n of notes) {
      print();
      print(n);
    }
  }
  print();
  print(`total time: ${Math.round((Date.now() - started) / 1000)} s`);
}

runMain(main);
