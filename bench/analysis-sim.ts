// Simulation benchmark for src/analysis: false-rollback rates (A/A), detection
// times (A/B), and what "peeking" does to a fixed-sample test.
//
//   node_modules/.bin/node bench/analysis-sim.ts
//   RUNS=50 AA_RUNS=200 node_modules/.bin/node bench/analysis-sim.ts   (quick look)
//
// Simulated time only: 1000 req/s in 250 ms ticks, evaluate() after every
// tick, 60 s per run. Every run is seeded, so the tables are reproducible.
// Runs are spread over worker threads (WORKERS, default: up to 2 cores).

import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { CanaryAnalyzer, type AnalysisSettings } from '../src/analysis/index.ts';
import { mulberry32 } from '../test/analysis/prng.ts';

const RUNS = Number(process.env['RUNS'] ?? 150); // per A/B table cell
const AA_RUNS = Number(process.env['AA_RUNS'] ?? 600); // per A/A row: false-alarm rates need the resolution
const WORKERS = Number(process.env['WORKERS'] ?? Math.min(2, availableParallelism()));
const CHUNK = 25; // runs per job handed to a worker

const REQ_PER_S = 1000;
const TICK_S = 0.25;
const PER_TICK = REQ_PER_S * TICK_S;
const TICKS = 60 / TICK_S;
const STABLE_ERR = 0.005; // the worst case of "stable ~0–0.5% errors"
const IDEMPOTENT = 0.9;
const Z_99 = 2.3263478740408408; // one-sided 1% normal quantile
const Z_95 = 1.6448536269514722; // one-sided 5%

// ---------------------------------------------------------------- randomness

// The same seeded generator the analysis tests use.

/** Stable latency: log-normal, median 12 ms, p99 ≈ 20 ms. */
const MEDIAN_MS = 12;
const SIGMA = 0.22;
// Sampled by inverse CDF from a table of 2^16 exact quantiles: much cheaper
// than Box–Muller per request, and indistinguishable at these sample sizes.
const LATENCY_TABLE = Float64Array.from({ length: 1 << 16 }, (_, i) => MEDIAN_MS * Math.exp(SIGMA * normalQuantile((i + 0.5) / (1 << 16))));
function baseLatency(rand: () => number): number {
  return LATENCY_TABLE[(rand() * (1 << 16)) | 0]!;
}

/** Acklam's rational approximation of the standard normal quantile (|error| < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const poly = (k: number[], x: number) => k.reduce((acc, v) => acc * x + v, 0);
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(c, q) / (poly(d, q) * q + 1);
  }
  if (p > 1 - 0.02425) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}

// ----------------------------------------------------------------- scenarios

interface Scenario {
  weight: (tick: number) => number;
  canaryErr: (tick: number) => number;
  stableErr: (tick: number) => number;
  canaryLatency: (rand: () => number, tick: number) => number;
  stableLatency: (rand: () => number, tick: number) => number;
}

const constant = (x: number) => () => x;
/** 20% → 50% → 80%, changing at 20 s and 40 s. */
const stepWeights = (tick: number): number => (tick <= 80 ? 0.2 : tick <= 160 ? 0.5 : 0.8);
const slowTail = (share: number, extraMs: number) => (rand: () => number) => baseLatency(rand) + (rand() < share ? extraMs : 0);

function scenario(over: Partial<Scenario>): Scenario {
  return {
    weight: constant(0.2),
    canaryErr: constant(STABLE_ERR),
    stableErr: constant(STABLE_ERR),
    canaryLatency: baseLatency,
    stableLatency: baseLatency,
    ...over,
  };
}

// ------------------------------------------------------------------ watchers

/** Something that watches the request stream and may fail the canary after a tick. */
interface Watcher {
  /** Called before each tick's requests with the weight the proxy applies to them. */
  start?(weight: number): void;
  record(canary: boolean, ok: boolean, latencyMs: number): void;
  /** Called after each tick; returns true when it fails the canary. */
  tick(tick: number): boolean;
  /** For analyzers: whether the last verdict was `pass`. */
  passed?(): boolean;
}

/** The real thing, told about weight changes like the proxy would (unless `tellWeight` is false). */
class AnalyzerWatcher implements Watcher {
  readonly analyzer: CanaryAnalyzer;
  readonly tellWeight: boolean;
  #last = 'inconclusive';
  constructor(settings?: Partial<AnalysisSettings>, tellWeight = true) {
    this.analyzer = new CanaryAnalyzer(settings);
    this.tellWeight = tellWeight;
  }
  start(weight: number): void {
    if (this.tellWeight) this.analyzer.setWeight(weight);
  }
  record(canary: boolean, ok: boolean, latencyMs: number): void {
    this.analyzer.record(canary ? 'canary' : 'stable', ok, latencyMs);
  }
  tick(): boolean {
    this.#last = this.analyzer.evaluate().outcome;
    return this.#last === 'fail';
  }
  passed(): boolean {
    return this.#last === 'pass';
  }
}

/**
 * The tempting baseline: a one-sided pooled two-proportion z-test on error
 * rates, re-run after every tick ("peeking"). `onlyAt` makes it the honest
 * fixed-sample version that looks once.
 */
class NaiveZWatcher implements Watcher {
  nc = 0;
  ec = 0;
  ns = 0;
  es = 0;
  readonly z: number;
  readonly onlyAt: number | undefined;
  constructor(z: number, onlyAt?: number) {
    this.z = z;
    this.onlyAt = onlyAt;
  }
  record(canary: boolean, ok: boolean): void {
    if (canary) {
      this.nc++;
      if (!ok) this.ec++;
    } else {
      this.ns++;
      if (!ok) this.es++;
    }
  }
  tick(tick: number): boolean {
    if (this.onlyAt !== undefined && tick !== this.onlyAt) return false;
    if (this.nc === 0 || this.ns === 0) return false;
    const pooled = (this.ec + this.es) / (this.nc + this.ns);
    const variance = pooled * (1 - pooled) * (1 / this.nc + 1 / this.ns);
    if (variance === 0) return false;
    return (this.ec / this.nc - this.es / this.ns) / Math.sqrt(variance) > this.z;
  }
}

// ----------------------------------------------------------------- one run

interface RunResult {
  failTick: number[]; // per watcher; Infinity if never
  passTick: number; // first `pass` of watcher 0
  canaryFailures: number; // canary errors until watcher 0 failed (or the end)
  requests: number; // requests served until then
}

function run(sc: Scenario, watchers: Watcher[], seed: number, stopOnFirstFail: boolean): RunResult {
  const rand = mulberry32(seed);
  const failTick = watchers.map(() => Infinity);
  const first = watchers[0]!;
  let canaryFailures = 0;
  let requests = 0;
  let passTick = Infinity;
  for (let tick = 1; tick <= TICKS; tick++) {
    const w = sc.weight(tick);
    const pc = sc.canaryErr(tick);
    const ps = sc.stableErr(tick);
    for (const watcher of watchers) watcher.start?.(w);
    for (let i = 0; i < PER_TICK; i++) {
      const canary = rand() < w;
      const ok = rand() >= (canary ? pc : ps);
      const latency = canary ? sc.canaryLatency(rand, tick) : sc.stableLatency(rand, tick);
      for (const watcher of watchers) watcher.record(canary, ok, latency);
      if (canary && !ok) canaryFailures++;
    }
    requests += PER_TICK;
    for (let k = 0; k < watchers.length; k++) {
      if (failTick[k] === Infinity && watchers[k]!.tick(tick)) failTick[k] = tick;
    }
    if (passTick === Infinity && first.passed?.()) passTick = tick;
    if (stopOnFirstFail && failTick[0] !== Infinity) break;
  }
  return { failTick, passTick, canaryFailures, requests };
}

// ------------------------------------------------------------------- cells
// Every table cell is declared up front, identically in the main thread and in
// the workers, so workers can be handed (cell, run range) jobs by index.

interface Cell {
  scenario: Scenario;
  watchers: () => Watcher[];
  runs: number;
  stop: boolean;
}

interface CellResult {
  failTicks: number[][]; // [watcher][run]
  passTicks: number[];
  canaryFailures: number;
  requests: number;
}

const cells: Cell[] = [];
function cell(c: Cell): number {
  cells.push(c);
  return cells.length - 1;
}

function runChunk(id: number, from: number, to: number): CellResult {
  const c = cells[id]!;
  const out: CellResult = { failTicks: [], passTicks: [], canaryFailures: 0, requests: 0 };
  for (let r = from; r < to; r++) {
    const res = run(c.scenario, c.watchers(), (Math.imul(id + 1, 0x9e3779b1) ^ (r * 7919)) >>> 0, c.stop);
    res.failTick.forEach((t, k) => (out.failTicks[k] ??= []).push(t));
    out.passTicks.push(res.passTick);
    out.canaryFailures += res.canaryFailures;
    out.requests += res.requests;
  }
  return out;
}

// ------------------------------------------------------------------ output

const strict: Partial<AnalysisSettings> = { maxErrorRateIncrease: 0, latencyRatio: 1, latencyMinIncreaseMs: 0 };

function pct(x: number, digits = 1): string {
  return `${(100 * x).toFixed(digits)}%`;
}

const failed = (ticks: number[]): number => ticks.filter((t) => t !== Infinity).length;

function seconds(ticks: number[], q: number): string {
  const sorted = [...ticks].sort((a, b) => a - b);
  const t = sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return t === Infinity ? '> 60 s' : `${(t * TICK_S).toFixed(2)} s`;
}

function beforePass(r: CellResult): number {
  return r.failTicks[0]!.filter((t, i) => t < r.passTicks[i]!).length / r.passTicks.length;
}

/** 95% Wilson upper limit, to read small simulated rates honestly. */
function upper95(k: number, n: number): string {
  const z = 1.96;
  const p = k / n;
  const centre = p + (z * z) / (2 * n);
  const spread = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return pct((centre + spread) / (1 + (z * z) / n));
}

function table(header: string[], rows: string[][]): void {
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log();
}

type Results = (id: number) => CellResult;
const sections: ((results: Results) => void)[] = [];

// 1. A/A: how often is an identical canary rolled back?
{
  const cases: [string, Scenario][] = [
    ['5%', scenario({ weight: constant(0.05) })],
    ['20%', scenario({ weight: constant(0.2) })],
    ['50%', scenario({ weight: constant(0.5) })],
    ['20→50→80% (steps at 20 s, 40 s)', scenario({ weight: stepWeights })],
  ];
  const ids = cases.map(([, sc]) =>
    cell({
      scenario: sc,
      runs: AA_RUNS,
      stop: false,
      watchers: () => [
        new AnalyzerWatcher(),
        new AnalyzerWatcher(strict),
        new NaiveZWatcher(Z_99),
        new NaiveZWatcher(Z_95),
        new NaiveZWatcher(Z_99, TICKS),
      ],
    }),
  );
  sections.push((results) => {
    console.log(`## A/A: false-rollback rate over 60 s, evaluated every 250 ms (${AA_RUNS} runs per row)\n`);
    const rows = cases.map(([label], i) => {
      const r = results(ids[i]!);
      const k = r.failTicks.map(failed);
      const n = r.passTicks.length;
      return [
        label,
        `**${pct(k[0]! / n)}** (≤ ${upper95(k[0]!, n)})`,
        `${pct(k[1]! / n)} (≤ ${upper95(k[1]!, n)})`,
        seconds(r.passTicks, 0.5),
        pct(k[2]! / n),
        pct(k[3]! / n),
        pct(k[4]! / n),
      ];
    });
    table(
      [
        'canary weight',
        'zdd, defaults',
        'zdd, strict nulls¹',
        'zdd: first `pass` (median)',
        'naive z-test at 1%, every 250 ms',
        'naive z-test at 5%, every 250 ms',
        'naive z-test at 1%, one look at 60 s',
      ],
      rows,
    );
    console.log(
      '¹ error margin 0, p99 ratio 1, +0 ms: the truth sits exactly on the null boundary, the hardest case for the budget. ' +
        'In parentheses: 95% upper confidence limit of the simulated rate. Naive = one-sided pooled two-proportion z-test ' +
        'on error rates only (so it has fewer ways to fail than zdd, which also tests latency).\n',
    );
  });
}

// 2. Shared (non-stationary) trouble while the weight changes.
{
  const errIncident = (tick: number): number => (tick > 168 && tick <= 188 ? 0.1 : STABLE_ERR); // 10% errors, 42–47 s
  const spike = (rand: () => number, tick: number): number => baseLatency(rand) + (tick > 168 && tick <= 172 ? 200 : 0); // +200 ms, 42–43 s
  const cases: [string, Scenario][] = [
    ['both releases at 10% errors for 5 s at 42 s', scenario({ weight: stepWeights, canaryErr: errIncident, stableErr: errIncident })],
    ['both releases +200 ms for 1 s at 42 s', scenario({ weight: stepWeights, canaryLatency: spike, stableLatency: spike })],
  ];
  const ids = cases.map(([, sc]) =>
    cell({
      scenario: sc,
      runs: RUNS,
      stop: false,
      watchers: () => [new AnalyzerWatcher(), new AnalyzerWatcher({}, false), new AnalyzerWatcher(strict), new AnalyzerWatcher(strict, false)],
    }),
  );
  sections.push((results) => {
    console.log(`## A/A with a shared incident while the weight steps 20→50→80% (${RUNS} runs per row)\n`);
    const rows = cases.map(([label], i) => {
      const r = results(ids[i]!);
      return [label, ...r.failTicks.map((t) => pct(failed(t) / t.length))];
    });
    table(['shared incident', 'defaults, with setWeight()', 'defaults, no setWeight()', 'strict, with setWeight()', 'strict, no setWeight()'], rows);
    console.log(
      'Without setWeight() the window is one comparison: after the step to 80% the canary has a larger share of its ' +
        'requests inside the incident than stable has. With it, each weight step is compared within itself.\n',
    );
  });
}

// 3. A/B: error-rate regressions.
{
  const grid: { weight: number; err: number; id: number }[] = [];
  for (const weight of [0.05, 0.2, 0.5]) {
    for (const err of [0.02, 0.05, 0.1, 0.3, 1]) {
      const id = cell({ scenario: scenario({ weight: constant(weight), canaryErr: constant(err) }), runs: RUNS, stop: true, watchers: () => [new AnalyzerWatcher()] });
      grid.push({ weight, err, id });
    }
  }
  sections.push((results) => {
    console.log(`## Error-rate regression: time to fail and user-visible errors (${RUNS} runs per row)\n`);
    const rows = grid.map(({ weight, err, id }) => {
      const r = results(id);
      const ticks = r.failTicks[0]!;
      // Retry model: idempotent failures are retried once on stable and then fail only at stable's rate.
      const withRetry = r.canaryFailures * (1 - IDEMPOTENT + IDEMPOTENT * STABLE_ERR);
      return [
        pct(weight, 0),
        pct(err, 0),
        pct(failed(ticks) / ticks.length, 0),
        seconds(ticks, 0.5),
        seconds(ticks, 0.95),
        pct(beforePass(r), 0),
        (r.canaryFailures / ticks.length).toFixed(1),
        pct(r.canaryFailures / r.requests, 2),
        pct(withRetry / r.requests, 3),
      ];
    });
    table(
      ['weight', 'canary errors', 'failed ≤ 60 s', 'time to fail, median', 'p95', 'failed before any `pass`', 'failed canary requests (mean)', 'user-visible errors', 'with retry on stable'],
      rows,
    );
    console.log(
      'Time = since the canary started receiving traffic until evaluate() first returned `fail`. User-visible errors = ' +
        'canary failures before the rollback, as a share of all requests served in that window (until the fail, or 60 s); ' +
        `"with retry": ${pct(IDEMPOTENT, 0)} of requests are idempotent and retried once on stable, which fails ` +
        `${pct(STABLE_ERR)} of the time. "Failed before any pass": the first non-inconclusive verdict was \`fail\`. ` +
        "2% errors is only 0.5 point beyond the 1-point margin over stable's 0.5%, so it is slow by design.\n",
    );
  });
}

// 4. A/B: latency regressions.
{
  const variants: [string, (rand: () => number) => number][] = [
    ['5% of requests +300 ms (p99 ≈ 310 ms)', slowTail(0.05, 300)],
    ['2% of requests +300 ms (p99 ≈ 310 ms)', slowTail(0.02, 300)],
    ['all requests +150 ms (p99 ≈ 170 ms)', (rand) => baseLatency(rand) + 150],
    ['all requests +50 ms (p99 ≈ 70 ms: within the rule, must not fail)', (rand) => baseLatency(rand) + 50],
  ];
  const grid: { label: string; weight: number; id: number }[] = [];
  for (const [label, latency] of variants) {
    for (const weight of [0.05, 0.2, 0.5]) {
      const id = cell({ scenario: scenario({ weight: constant(weight), canaryLatency: latency }), runs: RUNS, stop: true, watchers: () => [new AnalyzerWatcher()] });
      grid.push({ label, weight, id });
    }
  }
  sections.push((results) => {
    console.log(`## p99 latency regression (stable p99 ≈ 20 ms; ${RUNS} runs per row)\n`);
    const rows = grid.map(({ label, weight, id }) => {
      const r = results(id);
      const ticks = r.failTicks[0]!;
      return [label, pct(weight, 0), pct(failed(ticks) / ticks.length, 0), seconds(ticks, 0.5), seconds(ticks, 0.95), pct(beforePass(r), 0)];
    });
    table(['canary latency', 'weight', 'failed ≤ 60 s', 'time to fail, median', 'p95', 'failed before any `pass`'], rows);
  });
}

// 5. What minRequests buys: how often a bad canary is failed before it could pass.
{
  const bad: [string, Scenario][] = [
    ['10% errors, weight 5%', scenario({ weight: constant(0.05), canaryErr: constant(0.1) })],
    ['10% errors', scenario({ canaryErr: constant(0.1) })],
    ['5% errors', scenario({ canaryErr: constant(0.05) })],
    ['5% of requests +300 ms', scenario({ canaryLatency: slowTail(0.05, 300) })],
    ['5% of requests +300 ms, weight 5%', scenario({ weight: constant(0.05), canaryLatency: slowTail(0.05, 300) })],
  ];
  const options = [100, 200, 500, 1000];
  const ids = bad.map(([, sc]) => options.map((minRequests) => cell({ scenario: sc, runs: RUNS, stop: true, watchers: () => [new AnalyzerWatcher({ minRequests })] })));
  const good = options.map((minRequests) => cell({ scenario: scenario({}), runs: Math.ceil(RUNS / 4), stop: false, watchers: () => [new AnalyzerWatcher({ minRequests })] }));
  sections.push((results) => {
    console.log(`## Choosing minRequests: bad canaries failed before any \`pass\` (weight 20% unless noted; ${RUNS} runs per cell)\n`);
    const rows = bad.map(([label], i) => [label, ...ids[i]!.map((id) => pct(beforePass(results(id)), 0))]);
    rows.push(['A/A: first `pass` at (median)', ...good.map((id) => seconds(results(id).passTicks, 0.5))]);
    table(['scenario', ...options.map((m) => `minRequests ${m}`)], rows);
  });
}

// ---------------------------------------------------------------- drivers

function measureCost(): void {
  const analyzer = new CanaryAnalyzer();
  const rand = mulberry32(99);
  const n = 2_000_000;
  const latencies = Float64Array.from({ length: 4096 }, () => baseLatency(rand));
  const oks = Uint8Array.from({ length: 4096 }, () => (rand() < STABLE_ERR ? 0 : 1));
  let t0 = performance.now();
  for (let i = 0; i < n; i++) analyzer.record(rand() < 0.2 ? 'canary' : 'stable', oks[i & 4095] === 1, latencies[(i * 7) & 4095]!);
  const recordNs = ((performance.now() - t0) * 1e6) / n;
  const evals = 20_000;
  t0 = performance.now();
  for (let i = 0; i < evals; i++) analyzer.evaluate();
  const evalUs = ((performance.now() - t0) * 1e3) / evals;
  console.log('## Cost\n');
  console.log(
    `record(): ~${recordNs.toFixed(0)} ns per request (including the benchmark's PRNG); evaluate(): ~${evalUs.toFixed(0)} µs ` +
      `per call (verdict ${analyzer.evaluate().outcome} after ${n} requests). This machine, Node ${process.versions.node}.\n`,
  );
}

async function main(): Promise<void> {
  const started = performance.now();
  const jobs: [number, number, number][] = [];
  cells.forEach((c, id) => {
    for (let from = 0; from < c.runs; from += CHUNK) jobs.push([id, from, Math.min(c.runs, from + CHUNK)]);
  });
  const parts = new Map<number, [number, CellResult][]>();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, WORKERS) }, async () => {
      const worker = new Worker(new URL(import.meta.url));
      try {
        while (next < jobs.length) {
          const job = jobs[next++]!;
          const result = await new Promise<CellResult>((resolve, reject) => {
            worker.once('message', resolve);
            worker.once('error', reject);
            worker.postMessage(job);
          });
          worker.removeAllListeners('error');
          const list = parts.get(job[0]) ?? [];
          list.push([job[1], result]);
          parts.set(job[0], list);
        }
      } finally {
        await worker.terminate();
      }
    }),
  );
  const results: Results = (id) => {
    const merged: CellResult = { failTicks: [], passTicks: [], canaryFailures: 0, requests: 0 };
    for (const [, r] of (parts.get(id) ?? []).sort((a, b) => a[0] - b[0])) {
      r.failTicks.forEach((t, k) => (merged.failTicks[k] ??= []).push(...t));
      merged.passTicks.push(...r.passTicks);
      merged.canaryFailures += r.canaryFailures;
      merged.requests += r.requests;
    }
    return merged;
  };

  console.log('# zdd canary analysis — simulation\n');
  console.log(
    `${REQ_PER_S} req/s, evaluate() every ${TICK_S * 1000} ms of simulated time, 60 s per run; stable errors ` +
      `${pct(STABLE_ERR)}; latency log-normal (median ${MEDIAN_MS} ms, p99 ≈ 20 ms) for both unless noted. zdd defaults: ` +
      'alpha 0.01, error margin 1 point, p99 rule 2× and +100 ms, minRequests 500. The proxy reports weight changes ' +
      'with setWeight() unless noted.\n',
  );
  for (const section of sections) section(results);
  measureCost();
  console.log(`_${cells.reduce((s, c) => s + c.runs, 0)} simulated runs on ${WORKERS} worker(s) in ${((performance.now() - started) / 1000).toFixed(0)} s._`);
}

if (isMainThread) {
  await main();
} else {
  parentPort!.on('message', ([id, from, to]: [number, number, number]) => parentPort!.postMessage(runChunk(id, from, to)));
}
