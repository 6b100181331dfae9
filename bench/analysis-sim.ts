// Simulation of zdd's canary analysis (src/analysis/), for the claims of issue #8:
//
// 1. A/A: an identical canary is rolled back at most 1% of the time (with a 95% interval), with
//    (a) independent requests, (b) one sticky client at 1% of traffic with 50% errors on both releases,
//    (c) one sticky client at 0.5% of traffic 400 ms slower on both, (d) errors in bursts of 50, and
//    (e) a steady 5% of 404s; at 5%, 20% and 50% weight, and with the weight stepping 5→20→50%. How
//    often, and how soon, an identical canary is shown non-inferior (pass). 1b: the same with the error,
//    4xx and 3xx margins at 0, where an identical canary sits on the tests' null: validity, not slack.
// 2. Power at 1000 req/s: +30, +10 and +2 points of errors, a 404 for every route, +50 ms on every
//    request; time to rollback, and whether any of them passed first.
// 3. Low traffic, 2 req/s: a good canary is not failed (it passes or zdd pauses it); a canary failing
//    50% of requests is rolled back within 30 s.
// 4. For contrast: a naive request-level z-test re-run at every look, on the same A/A runs.
//
//   node_modules/.bin/node bench/analysis-sim.ts                  # defaults, a few minutes on 2 cores
//   node_modules/.bin/node bench/analysis-sim.ts --runs-aa 60 --runs-power 40 --runs-low 100   # a quick look
//
// Simulated time only, with the traffic simulator of the analysis tests (test/analysis/traffic.ts):
// zdd's bucket routing, evaluate() every 250 ms. Every run is seeded from its row's name and its number,
// so each row is reproducible on its own. Runs are spread over worker threads.

import { availableParallelism } from 'node:os';
import { defaultAnalysisSettings } from '../src/analysis/index.ts';
import { commandLine, readOptions } from './lib/args.ts';
import {
  aaId,
  aaScenarios,
  aaWeights,
  boundaryId,
  boundaryRows,
  buildCases,
  lowBadErrors,
  lowRate,
  lowWeight,
  powerRows,
  stableErrors,
  stepped,
  steppedKeys,
  type SimOptions,
} from './lib/analysis-cases.ts';
import { inWorker, runAll, serveJobs, workerOptions } from './lib/analysis-pool.ts';
import { canaryErrorsToFail, errorAlphaShare, naiveZ, type RunResult } from './lib/analysis-runs.ts';
import { clopperPearson, shareWithin, timeQuantile } from './lib/analysis-stats.ts';
import { machineLines } from './lib/machine.ts';
import { fmtInt, markdownTable } from './lib/table.ts';

// ------------------------------------------------------------------ formatting

const pct = (x: number, digits = 2): string => (Number.isFinite(x) ? `${(100 * x).toFixed(digits)}%` : '–');
const weightLabel = (w: number | string): string => (typeof w === 'number' ? pct(w, 0) : '5→20→50%');
const count = (results: RunResult[], pick: (r: RunResult) => boolean): number => results.filter(pick).length;

function interval(k: number, n: number): string {
  const [lo, hi] = clopperPearson(k, n);
  return `${pct(lo)} – ${pct(hi)}`;
}

function seconds(t: number, window: number): string {
  return Number.isNaN(t) ? '–' : t === Infinity ? `> ${window} s` : `${t.toFixed(2)} s`;
}

const passedFirst = (r: RunResult): boolean => r.firstPassAt !== undefined && (r.failedAt === undefined || r.firstPassAt < r.failedAt);

// ------------------------------------------------------------------ the report

type Results = (id: string) => RunResult[];

/** Lines for the verdict against the claims, collected while the tables are written. */
const checks: string[] = [];

function aaSection(o: SimOptions, results: Results): string[] {
  const rows: string[][] = [];
  const pooled: string[][] = [];
  const falseRollbacks: string[] = [];
  let over = 0;
  let wide = 0;
  let total = 0;
  for (const s of aaScenarios) {
    const weights: (number | string)[] = [...aaWeights, ...(steppedKeys.includes(s.key) ? [stepped] : [])];
    const all: RunResult[] = [];
    for (const w of weights) {
      const rs = results(aaId(s.key, w));
      all.push(...rs);
      const k = count(rs, (r) => r.failedAt !== undefined);
      const [, hi] = clopperPearson(k, rs.length);
      total++;
      if (k / rs.length > 0.01) over++;
      else if (hi > 0.01) wide++;
      const passes = rs.map((r) => r.firstPassAt);
      rows.push([s.label, weightLabel(w), fmtInt(rs.length), fmtInt(k), pct(k / rs.length), interval(k, rs.length), pct(shareWithin(passes), 1), seconds(timeQuantile(passes, 0.5), o.seconds), seconds(timeQuantile(passes, 0.95), o.seconds)]);
      for (const r of rs.filter((x) => x.failedAt !== undefined)) falseRollbacks.push(`- ${s.label}, ${weightLabel(w)}, seed ${r.seed}, at ${r.failedAt} s: ${r.failReason}`);
    }
    const k = count(all, (r) => r.failedAt !== undefined);
    pooled.push([s.label, weights.map(weightLabel).join(', '), fmtInt(all.length), fmtInt(k), pct(k / all.length), interval(k, all.length)]);
  }
  checks.push(
    over > 0
      ? `- ✗ A/A ≤ 1%: ${over} of ${total} rows above 1% (see the false rollbacks listed under table 1)`
      : wide > 0
        ? `- ✓ A/A ≤ 1% in every row; ⚠ in ${wide} of ${total} rows the 95% interval reaches above 1% (more runs, --runs-aa, would narrow it)`
        : `- ✓ A/A ≤ 1% in all ${total} rows, the whole 95% interval included`,
  );
  return [
    `## 1. A/A: an identical canary, 1000 req/s, ${o.seconds} s window (${o.runsAa} runs per row)`,
    '',
    markdownTable(
      ['scenario', 'weight', 'runs', 'false rollbacks', 'rate', '95% interval', 'passed', 'first pass, median', 'p95'],
      rows,
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `False rollback: evaluate() said \`fail\` at any of the ${o.seconds * 4} looks. 95% interval: two-sided Clopper–Pearson. ` +
      `Passed: the canary was shown non-inferior (every metric within its margin, at passAlpha ${defaultAnalysisSettings.passAlpha}) ` +
      `at some look; first pass: when (over all runs, "> ${o.seconds} s" if it did not). 5→20→50%: the weight steps at ` +
      `${+(o.seconds / 3).toFixed(2)} s and ${+((2 * o.seconds) / 3).toFixed(2)} s, setWeight() told; each step must earn its own pass, the first counts here.`,
    '',
    'Pooled over the weights of each scenario:',
    '',
    markdownTable(['scenario', 'weights', 'runs', 'false rollbacks', 'rate', '95% interval'], pooled, ['l', 'l', 'r', 'r', 'r', 'r']),
    '',
    ...(falseRollbacks.length === 0 ? ['No false rollback in any run.'] : ['False rollbacks (reproduce with drive() and the seed):', '', ...falseRollbacks.slice(0, 20)]),
    '',
  ];
}

function boundarySection(o: SimOptions, results: Results): string[] {
  const s = defaultAnalysisSettings;
  // The tests whose null an identical canary sits on with margins 0, and their shares of alpha (analyzer.ts).
  const budget = s.alpha * (errorAlphaShare + 2 / 9 + 1 / 9);
  const rows: string[][] = [];
  const falseRollbacks: string[] = [];
  const all: RunResult[] = [];
  for (const b of boundaryRows) {
    const rs = results(boundaryId(b.key, b.weight));
    all.push(...rs);
    const label = aaScenarios.find((x) => x.key === b.key)!.label;
    const k = count(rs, (r) => r.failedAt !== undefined);
    rows.push([label, weightLabel(b.weight), fmtInt(rs.length), fmtInt(k), pct(k / rs.length), interval(k, rs.length)]);
    for (const r of rs.filter((x) => x.failedAt !== undefined)) falseRollbacks.push(`- ${label}, ${weightLabel(b.weight)}, seed ${r.seed}, at ${r.failedAt} s: ${r.failReason}`);
  }
  const k = count(all, (r) => r.failedAt !== undefined);
  const [lo] = clopperPearson(k, all.length);
  rows.push(['all of the above', '', fmtInt(all.length), fmtInt(k), pct(k / all.length), interval(k, all.length)]);
  checks.push(
    lo > budget
      ? `- ✗ at the null boundary (margins 0): ${k} of ${all.length} runs rolled back, ${pct(k / all.length)} (${interval(k, all.length)}), above the ${pct(budget)} those tests may spend`
      : `- ✓ at the null boundary (margins 0): ${k} of ${all.length} runs rolled back, ${pct(k / all.length)} (${interval(k, all.length)}), within the ${pct(budget)} those tests may spend`,
  );
  return [
    `## 1b. A/A at the null boundary: error, 4xx and 3xx margins 0 (${o.runsBoundary} runs per row)`,
    '',
    markdownTable(['scenario', 'weight', 'runs', 'false rollbacks', 'rate', '95% interval'], rows, ['l', 'l', 'r', 'r', 'r', 'r']),
    '',
    'With the defaults an identical canary is a whole margin away from "worse", so table 1 shows the rate far below alpha. ' +
      'With margins 0 it sits exactly on the null of the error, 4xx and 3xx tests (canary worse by more than 0), where they ' +
      `may spend their share of alpha: (4 + 2 + 1)/9 of ${s.alpha} = ${pct(budget)} over the whole window, however often they look. ` +
      'This is the check that the design (units, propensities across weight steps, bets) is valid, not just conservative. ' +
      '(The latency test cannot be put on its boundary: its margins are the tail shares themselves.)',
    '',
    ...(falseRollbacks.length === 0 ? [] : ['Rollbacks at the boundary:', '', ...falseRollbacks.slice(0, 10), '']),
  ];
}

function powerSection(o: SimOptions, results: Results): string[] {
  const rows: string[][] = [];
  for (const p of powerRows) {
    const rs = results(`power/${p.key}`);
    const fails = rs.map((r) => r.failedAt);
    const rolledBack = shareWithin(fails);
    const passedBefore = count(rs, (r) => r.failedAt !== undefined && passedFirst(r));
    const everPassed = count(rs, (r) => r.firstPassAt !== undefined);
    rows.push([p.label, pct(p.weight, 0), fmtInt(rs.length), pct(rolledBack, 1), seconds(timeQuantile(fails, 0.5), o.seconds), seconds(timeQuantile(fails, 0.95), o.seconds), seconds(timeQuantile(fails, 1), o.seconds), fmtInt(passedBefore), fmtInt(everPassed)]);
    const what = `${p.label} at ${pct(p.weight, 0)}`;
    if (everPassed > 0) checks.push(`- ✗ power, ${what}: passed in ${everPassed} of ${rs.length} runs (${passedBefore} of them before failing)`);
    checks.push(
      rolledBack === 1
        ? `- ✓ power, ${what}: rolled back in every run, median ${seconds(timeQuantile(fails, 0.5), o.seconds)}, p95 ${seconds(timeQuantile(fails, 0.95), o.seconds)}`
        : rolledBack >= 0.5
          ? `- ⚠ power, ${what}: rolled back within ${o.seconds} s in ${pct(rolledBack, 1)} of runs (median ${seconds(timeQuantile(fails, 0.5), o.seconds)})`
          : `- ✗ power, ${what}: rolled back within ${o.seconds} s in only ${pct(rolledBack, 1)} of runs`,
    );
  }
  return [
    `## 2. Power at 1000 req/s: a worse canary (stable at ${pct(stableErrors, 1)} errors, p99 ≈ 20 ms; ${o.runsPower} runs per row, ${o.seconds} s window)`,
    '',
    markdownTable(
      ['canary', 'weight', 'runs', `rolled back ≤ ${o.seconds} s`, 'time to rollback, median', 'p95', 'max', 'passed before failing', 'passed at all'],
      rows,
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `Time: from the canary's first traffic to the first \`fail\` (looks every 250 ms, so 0.25 s is the first look). ` +
      `"> ${o.seconds} s": not rolled back within the window. Margins (defaults): errors +${pct(defaultAnalysisSettings.maxErrorRateIncrease, 0)}, ` +
      `4xx +${pct(defaultAnalysisSettings.maxClientErrorIncrease, 0)}, slow answers: above ${defaultAnalysisSettings.latencyRatio}× stable's p50/p90/p99 ` +
      `and +${defaultAnalysisSettings.latencyMinIncreaseMs} ms at least. +2 points is 1 point beyond the error margin: slow by design. ` +
      '"Passed at all": any look said `pass` (non-inferior) for this worse canary; it should be 0.',
    '',
  ];
}

function lowSection(o: SimOptions, results: Results): string[] {
  const good = results('low/good');
  const bad = results('low/bad');
  const failed = count(good, (r) => r.failedAt !== undefined);
  const passed = count(good, (r) => r.firstPassAt !== undefined);
  const passingAtEnd = count(good, (r) => r.end === 'pass');
  const waiting = count(good, (r) => r.end === 'inconclusive');
  const fails = bad.map((r) => r.failedAt);
  const within30 = shareWithin(fails, 30);
  checks.push(
    failed === 0
      ? `- ✓ low traffic, good canary: never failed (0 of ${good.length}, 95% interval ${interval(0, good.length)}); passed in ${pct(passed / good.length, 1)}, the rest would pause`
      : `- ✗ low traffic, good canary: failed in ${failed} of ${good.length} runs`,
  );
  checks.push(`- ${within30 >= 0.95 ? '✓' : '✗'} low traffic, ${pct(lowBadErrors, 0)}-error canary: rolled back within 30 s in ${pct(within30, 1)} of runs (median ${seconds(timeQuantile(fails, 0.5), o.lowSeconds)}; criterion here: ≥ 95%)`);
  return [
    `## 3. Low traffic: ${lowRate} req/s, ${pct(lowWeight, 0)} weight, ${o.lowSeconds} s window (${o.runsLow} runs per row)`,
    '',
    markdownTable(
      ['good canary', 'runs', 'failed (false rollbacks)', '95% interval', 'passed at some look', 'passing at the end', 'inconclusive at the end (zdd pauses)'],
      [['identical to stable', fmtInt(good.length), fmtInt(failed), interval(failed, good.length), pct(passed / good.length, 1), pct(passingAtEnd / good.length, 1), pct(waiting / good.length, 1)]],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    markdownTable(
      ['bad canary', 'runs', 'rolled back ≤ 30 s', '≤ 60 s', `≤ ${o.lowSeconds} s`, 'time to rollback, median', 'p95', 'passed at all'],
      [
        [
          `${pct(lowBadErrors, 0)} errors`,
          fmtInt(bad.length),
          pct(within30, 1),
          pct(shareWithin(fails, 60), 1),
          pct(shareWithin(fails), 1),
          seconds(timeQuantile(fails, 0.5), o.lowSeconds),
          seconds(timeQuantile(fails, 0.95), o.lowSeconds),
          fmtInt(count(bad, (r) => r.firstPassAt !== undefined)),
        ],
      ],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `At ${lowRate} req/s the canary gets ~${lowRate * lowWeight} req/s, ${Math.round(lowRate * lowWeight * o.lowSeconds)} requests in the window; ` +
      `a pass needs ${defaultAnalysisSettings.minRequests} units on each side in the step, so an inconclusive good canary is the expected ` +
      'outcome here: zdd holds the step and pauses the deployment at its deadline. A bad canary needs a few canary errors: ' +
      `each can raise the error test's evidence about ${+(1 / lowWeight).toFixed(1)}-fold at most (1/π at a ${pct(lowWeight, 0)} weight), and the test fails at ` +
      `an e-value of ${Math.round(1 / (defaultAnalysisSettings.alpha * errorAlphaShare))} (with 3/4 of its bet on the whole rollout and a mixture of bet sizes): ` +
      `${canaryErrorsToFail(lowWeight)} canary errors with no stable error in between, ~${Math.round(canaryErrorsToFail(lowWeight) / (lowRate * lowWeight * lowBadErrors))} s of this canary on average.`,
    '',
  ];
}

function naiveSection(o: SimOptions, results: Results): string[] {
  const rate = (rs: RunResult[], pick: (r: RunResult) => number | undefined) => pct(count(rs, (r) => pick(r) !== undefined) / rs.length, 1);
  const rows = aaScenarios.map((s) => {
    const per = aaWeights.map((w) => results(aaId(s.key, w)));
    return [s.label, ...per.map((rs) => rate(rs, (r) => r.failedAt)), ...per.map((rs) => rate(rs, (r) => r.naiveFailedAt))];
  });
  return [
    `## 4. For contrast: a naive z-test on the same A/A runs (${o.runsAa} runs per cell)`,
    '',
    markdownTable(
      ['scenario', ...aaWeights.map((w) => `zdd, ${pct(w, 0)}`), ...aaWeights.map((w) => `naive, ${pct(w, 0)}`)],
      rows,
      ['l', ...aaWeights.map(() => 'r' as const), ...aaWeights.map(() => 'r' as const)],
    ),
    '',
    `Naive: a one-sided pooled two-proportion z-test of the request error rates (z > ${naiveZ.toFixed(3)}, "1%"), over every ` +
      'request so far, re-run at every look (250 ms). It treats requests as independent, so one sticky client with many ' +
      'errors on the canary looks like a regression, and it ignores that it looks again and again. It tests errors only, ' +
      'so it has fewer ways to fail than zdd, which also tests 4xx, 3xx and latency.',
    '',
  ];
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const started = performance.now();
  const v = readOptions('Usage: node_modules/.bin/node bench/analysis-sim.ts [options]', {
    'runs-aa': { default: 400, help: 'runs per A/A row (0 false rollbacks in 400 runs: 95% interval up to 0.92%)' },
    'runs-boundary': { default: 300, help: 'runs per A/A row with margins 0 (table 1b)' },
    'runs-power': { default: 200, help: 'runs per power row' },
    'runs-low': { default: 500, help: 'runs per low-traffic row' },
    seconds: { default: 60, float: true, help: 'window of the A/A and power runs, in simulated seconds' },
    'low-seconds': { default: 120, float: true, help: 'window of the low-traffic runs' },
    workers: { default: Math.min(2, availableParallelism()), help: 'worker threads' },
  });
  const o: SimOptions = {
    runsAa: v['runs-aa'] as number,
    runsBoundary: v['runs-boundary'] as number,
    runsPower: v['runs-power'] as number,
    runsLow: v['runs-low'] as number,
    seconds: v.seconds as number,
    lowSeconds: v['low-seconds'] as number,
    workers: v.workers as number,
  };
  const cases = buildCases(o);
  const all = await runAll(new URL(import.meta.url), o, cases, o.workers, (c, done) => {
    process.stderr.write(`[${done}/${cases.length}] ${c.id}: ${c.runs} runs (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  });
  const results: Results = (id) => all.get(id) ?? [];
  const s = defaultAnalysisSettings;
  const out = [
    '# zdd canary analysis — simulation',
    '',
    `\`${commandLine()}\``,
    '',
    ...machineLines([]),
    `- analysis: the defaults of src/analysis/config.ts: alpha ${s.alpha}, passAlpha ${s.passAlpha}, margins errors +${pct(s.maxErrorRateIncrease, 0)}, ` +
      `4xx +${pct(s.maxClientErrorIncrease, 0)}, 3xx +${pct(s.maxRedirectIncrease, 0)}, slow = above ${s.latencyRatio}× stable's p50/p90/p99 and ` +
      `+${s.latencyMinIncreaseMs} ms at least, minRequests ${s.minRequests}, guard rails ${s.guardRails ? 'on (no release history here, so none apply)' : 'off'}, no ceilings`,
    '- traffic: test/analysis/traffic.ts: zdd\'s bucket routing (10,000 buckets, the canary owns the lowest), ordinary requests without a ' +
      `cookie (a fresh bucket each), sticky clients keep theirs; 1000 req/s unless noted; stable and canary at ${pct(stableErrors, 1)} errors and ` +
      'log-normal latency (median 12 ms, p99 ≈ 20 ms) unless noted; evaluate() every 250 ms of simulated time',
    `- runs: ${o.runsAa} per A/A row, ${o.runsBoundary} per boundary row, ${o.runsPower} per power row, ${o.runsLow} per low-traffic row; windows ${o.seconds} s (low traffic ${o.lowSeconds} s); ` +
      `${o.workers} worker thread(s); run r of row "id" is seeded with FNV-1a("id#r"), which seeds drive()'s mulberry32`,
    '',
    ...aaSection(o, results),
    ...boundarySection(o, results),
    ...powerSection(o, results),
    ...lowSection(o, results),
    ...naiveSection(o, results),
    '## Against the claims of issue #8',
    '',
    ...checks,
    '',
    `_${fmtInt(cases.reduce((n, c) => n + c.runs, 0))} simulated runs on ${o.workers} worker(s) in ${((performance.now() - started) / 1000).toFixed(0)} s._`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

if (inWorker) serveJobs(buildCases(workerOptions<SimOptions>()));
else await main();
