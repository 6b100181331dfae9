// What survives a deploy: acknowledged writes sent through zdd across a blue-green deploy, counted in
// what the next release serves. Two releases run side by side during every deploy (and replicas run
// side by side always), so an app that keeps its data in its own memory or files loses writes; one that
// keeps it in a database outside the release does not.
//
//   node_modules/.bin/node bench/state-loss.ts [--runs 3] [--rate 100] [--before 50] [--after 50]
//
// Each run: `zdd serve` in a temp project, deploy v1, then one write at a time (POST /notes {"seq": n})
// at --rate per second: --before acknowledged writes, `zdd deploy` of v2 while writing, --after more. In
// the rollback scenarios then, with no write in flight, `zdd rollback` (instant, to the warm v1) and
// --after more. Last, a deploy of v3 with no writes (every instance starts from what is stored) and
// GET /notes. A write is lost when it was acknowledged (201) but v3 does not have it; when v3 cannot start
// from what is stored (json-server: a db.json torn by two processes writing it at once), every write is
// lost. A failed deploy is counted, not an error; so are writes answered with an error (json-server: a
// 502 when an instance crashed mid-request), listed per run. Needs the devDependencies json-server and
// express.
// Progress goes to stderr, the report (markdown) to stdout.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { startWriter, storedSeqs } from '../test/apps/writer.ts';
import { commandLine, readOptions } from './lib/args.ts';
import { freePort, makeTempDir, runCommand, runMain, startProcess, waitForLine, type Managed } from './lib/procs.ts';
import { fmtInt, markdownTable } from './lib/table.ts';
import { repoRoot, zddBin } from './lib/zdd.ts';

const opts = readOptions('Usage: node_modules/.bin/node bench/state-loss.ts [options]', {
  runs: { default: 3, help: 'runs per scenario' },
  rate: { default: 100, help: 'writes per second, one at a time' },
  before: { default: 50, help: 'acknowledged writes before the deploy starts' },
  after: { default: 50, help: 'acknowledged writes after the deploy ended' },
  scenarios: { default: 'json-2,json-1,json-1-rollback,sqlite-1,sqlite-2,sqlite-1-rollback', help: 'which scenarios (comma-separated)' },
});
const runs = opts.runs as number;
const appsDir = path.join(repoRoot, 'test', 'fixtures', 'apps');
const binDir = path.join(repoRoot, 'node_modules', '.bin');

interface Scenario {
  key: string;
  label: string;
  replicas: number;
  /** After the deploy and --after writes: `zdd rollback` to the warm v1, then --after writes more. */
  rollback: boolean;
  /** The service's command, cwd, env and health path, for a project in `dir`. */
  service(dir: string): { command: string; cwd: string; env: Record<string, string>; health: string };
}

function jsonServer(replicas: number, rollback: boolean): Scenario {
  return {
    key: `json-${replicas}${rollback ? '-rollback' : ''}`,
    label: 'json-server, db.json in its own folder',
    replicas,
    rollback,
    service(dir) {
      writeFileSync(path.join(dir, 'db.json'), '{ "notes": [] }\n');
      return { command: 'json-server --host $HOST --port $PORT db.json', cwd: dir, env: {}, health: '/notes' };
    },
  };
}

function sqlite(replicas: number, rollback: boolean): Scenario {
  return {
    key: `sqlite-${replicas}${rollback ? '-rollback' : ''}`,
    label: 'Express, SQLite file outside the release',
    replicas,
    rollback,
    service() {
      const shared = makeTempDir('zdd-state-shared-');
      return { command: 'node notes-sqlite.js', cwd: appsDir, env: { NOTES_DB: path.join(shared, 'notes.db') }, health: '/healthz' };
    },
  };
}

const scenarios: Scenario[] = [jsonServer(2, false), jsonServer(1, false), jsonServer(1, true), sqlite(1, false), sqlite(2, false), sqlite(1, true)];
const phases = ['before', 'during', 'after', 'after rollback'] as const;
type Phase = (typeof phases)[number];

interface RunResult {
  /** Acknowledged writes by phase: before the deploy, while it ran, after it, after the rollback. */
  acked: Record<Phase, number[]>;
  failed: { seq: number; error: string }[];
  deployMs: number;
  present: Set<number>;
  /** Deploys that failed, and why. */
  failures: string[];
}

async function startDaemon(dir: string): Promise<Managed> {
  const proc = startProcess('zdd serve', zddBin, ['serve', '--log-format', 'json'], { cwd: dir, env: { NO_COLOR: '1', PATH: `${binDir}:${process.env.PATH ?? ''}` } });
  await waitForLine(proc, (line) => / ready"/.test(line));
  return proc;
}

async function zdd(dir: string, args: string[]): Promise<number> {
  const r = await runCommand(zddBin, args, { cwd: dir, env: { NO_COLOR: '1' } });
  if (r.code !== 0) throw new Error(`zdd ${args.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  return r.ms;
}

/**
 * `zdd deploy` of a release labelled `label`. A deploy that fails (exit 1: the new release did not start,
 * the old one serves on) is a result, not an error: an app can make its own next release unable to start.
 */
async function deploy(dir: string, label: string): Promise<{ ms: number; failure?: string }> {
  const r = await runCommand(zddBin, ['deploy', 'web', '--version', label, '--env', `APP_VERSION=${label}`], { cwd: dir, env: { NO_COLOR: '1' } });
  if (r.code === 0) return { ms: r.ms };
  if (r.code !== 1) throw new Error(`zdd deploy ${label} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  const why = /^\s*(SyntaxError: .*)$/m.exec(r.stdout)?.[1] ?? r.stdout.trim().split('\n').slice(-12).join('\n');
  return { ms: r.ms, failure: `${label} could not start (${why})` };
}

async function run(s: Scenario): Promise<RunResult> {
  const dir = makeTempDir('zdd-state-');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const svc = s.service(dir);
  writeFileSync(
    path.join(dir, 'zdd.yaml'),
    `services:
  web:
    listen: 127.0.0.1:${port}
    command: ${svc.command}
    cwd: ${svc.cwd}
    env: ${JSON.stringify({ APP_VERSION: 'v1', ...svc.env })}
    replicas: ${s.replicas}
    health: { path: ${svc.health}, interval: 50ms, timeout: 1s, startTimeout: 15s }
    strategy: { type: blue-green, rollbackWindow: ${s.rollback ? '1m' : '0s'} }
    drainTimeout: 5s
    stopTimeout: 5s
`,
  );
  const daemon = await startDaemon(dir);
  try {
    const failures: string[] = [];
    const v1 = await deploy(dir, 'v1');
    if (v1.failure) throw new Error(v1.failure);
    const rate = opts.rate as number;
    let writer = startWriter(url, { rate });
    await writer.untilAcked(opts.before as number);
    const atDeploy = writer.outcome.acked.length;
    const v2 = await deploy(dir, 'v2');
    if (v2.failure) failures.push(v2.failure);
    const atDeployed = writer.outcome.acked.length;
    await writer.untilAcked(atDeployed + (opts.after as number));
    const first = await writer.stop();
    const acked: Record<Phase, number[]> = {
      before: first.acked.slice(0, atDeploy),
      during: first.acked.slice(atDeploy, atDeployed),
      after: first.acked.slice(atDeployed),
      'after rollback': [],
    };
    const failed = [...first.failed];
    if (s.rollback && !v2.failure) {
      // No write in flight while the rollback switches: each write is on one side of it.
      await zdd(dir, ['rollback', 'web']);
      writer = startWriter(url, { rate, firstSeq: first.acked.length + first.failed.length + 1 });
      await writer.untilAcked(opts.after as number);
      const second = await writer.stop();
      acked['after rollback'] = second.acked;
      failed.push(...second.failed);
    }
    // Every instance of v3 starts from what is stored: what a later release, or a restart, would see. When
    // it cannot start from it, nothing stored is usable.
    const v3 = await deploy(dir, 'v3');
    if (v3.failure) failures.push(v3.failure);
    const present = v3.failure ? new Set<number>() : await storedSeqs(url);
    return { acked, failed, deployMs: v2.ms, present, failures };
  } finally {
    await daemon.stop();
  }
}

const lost = (seqs: number[], present: Set<number>) => seqs.filter((s) => !present.has(s)).length;
const ofCell = (l: number, n: number) => `${fmtInt(l)} of ${fmtInt(n)}`;

runMain(async () => {
  const chosen = (opts.scenarios as string).split(',').map((k) => {
    const s = scenarios.find((x) => x.key === k.trim());
    if (!s) throw new Error(`unknown scenario ${k}; known: ${scenarios.map((x) => x.key).join(', ')}`);
    return s;
  });
  const rows: string[][] = [];
  const perRun: string[] = [];
  for (const s of chosen) {
    const results: RunResult[] = [];
    const name = `${s.label}, replicas ${s.replicas}${s.rollback ? ', then rollback' : ''}`;
    for (let i = 1; i <= runs; i++) {
      process.stderr.write(`${s.key}: run ${i}/${runs} … `);
      const r = await run(s);
      results.push(r);
      const all = phases.flatMap((p) => r.acked[p]);
      process.stderr.write(`${lost(all, r.present)} of ${all.length} lost\n`);
      const parts = phases.filter((p) => p !== 'after rollback' || s.rollback).map((p) => `${lost(r.acked[p], r.present)}/${r.acked[p].length} ${p}`);
      const failures = r.failures.length > 0 ? `; ${r.failures.join('; ')}` : '';
      const failedWrites = r.failed.length > 0 ? ` (${r.failed.map((f) => `#${f.seq}: ${f.error}`).join('; ')})` : '';
      perRun.push(`${name}, run ${i}: lost ${parts.join(', ')} (deploy ${Math.round(r.deployMs)} ms); ${r.failed.length} writes failed${failedWrites}${failures}`);
    }
    const sum = (f: (r: RunResult) => number) => results.reduce((a, r) => a + f(r), 0);
    const cell = (p: Phase) => (p === 'after rollback' && !s.rollback ? '–' : ofCell(sum((r) => lost(r.acked[p], r.present)), sum((r) => r.acked[p].length)));
    const all = (r: RunResult) => phases.flatMap((p) => r.acked[p]);
    const failedDeploys = sum((r) => r.failures.length);
    rows.push([s.label, String(s.replicas), s.rollback ? 'yes' : 'no', String(runs), ...phases.map(cell), ofCell(sum((r) => lost(all(r), r.present)), sum((r) => all(r).length)), fmtInt(sum((r) => r.failed.length)), fmtInt(failedDeploys)]);
  }
  const require = createRequire(import.meta.url);
  const versions = ['json-server', 'express'].map((p) => `${p} ${(require(`${p}/package.json`) as { version: string }).version}`).join(', ');
  process.stdout.write(
    [
      `## Acknowledged writes lost across a blue-green deploy`,
      '',
      `\`${commandLine()}\` — ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${versions}; ` +
        `one write at a time at ${opts.rate}/s: ${opts.before} before \`zdd deploy\`, the rest while it ran and ${opts.after} after ` +
        `(and ${opts.after} after \`zdd rollback\` where it applies); counted in the next release.`,
      '',
      markdownTable(
        ['app, where its data lives', 'replicas', 'rollback', 'runs', 'lost: before the deploy', 'during', 'after', 'after the rollback', 'lost in all', 'writes answered with an error', 'deploys that failed'],
        rows,
        ['l', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
      ...perRun.map((l) => `- ${l}`),
      '',
    ].join('\n'),
  );
});
