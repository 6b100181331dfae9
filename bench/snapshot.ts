// Source snapshots: how long does `snapshotSource` take on a 50 MB tree of 5,000 files, cold, and again
// after 10 files changed with and without the previous snapshot to hard-link from; next to `cp -a` of
// the same tree and `git archive HEAD | tar -x` of the same commit. Everything lives in a temp dir that
// is removed at the end (also on error or Ctrl-C). The page cache is warm throughout (the tree was just
// written); the kinds of run take turns, so that noise from other processes and the writeback of earlier
// runs fall on all of them alike.
//
//   node_modules/.bin/node bench/snapshot.ts [--runs 3] [--files 5000] [--mb 50]
//
// Progress goes to stderr, the report (markdown) to stdout.
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { snapshotSource, type Snapshot } from '../src/release/snapshot.ts';
import { commandLine, readOptions } from './lib/args.ts';
import { BackgroundMeter, machineLines } from './lib/machine.ts';
import { makeTempDir, runCommand, runMain } from './lib/procs.ts';
import { fmtInt, fmtPercent, markdownTable } from './lib/table.ts';

const opts = readOptions('Usage: node_modules/.bin/node bench/snapshot.ts [options]', {
  runs: { default: 3, help: 'timed runs of each kind; the median is reported, min–max beside it' },
  files: { default: 5000, help: 'files in the generated tree' },
  mb: { default: 50, help: 'size of the generated tree, MB (10^6 bytes)' },
});
const runs = opts.runs as number;
const fileCount = opts.files as number;
const totalBytes = (opts.mb as number) * 1e6;
const changed = 10;

const log = (s: string) => process.stderr.write(`${s}\n`);

/** A small deterministic PRNG (mulberry32): the same tree on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A tree shaped like an app with its dependencies: ~98% small files (code, 0.5–12 KB), ~2% medium ones
 * (assets, 50–500 KB) and 5 large ones (bundles, images: a few MB), in folders 1 to 5 deep, with a few
 * executable scripts. Sizes are scaled so that the total is exactly `bytes`.
 */
function generateTree(dir: string, files: number, bytes: number): { rels: string[]; sizes: number[] } {
  const rnd = prng(42);
  const raw: number[] = [];
  for (let i = 0; i < files; i++) {
    if (i < 5) raw.push(2_000_000 + rnd() * 4_000_000);
    else if (i < 5 + Math.round(files * 0.02)) raw.push(50_000 + rnd() * 450_000);
    else raw.push(500 + rnd() * rnd() * 23_000);
  }
  const scale = bytes / raw.reduce((a, b) => a + b, 0);
  const sizes = raw.map((s) => Math.max(1, Math.round(s * scale)));
  sizes[sizes.length - 1]! += bytes - sizes.reduce((a, b) => a + b, 0);
  // Text-like content (letters and newlines) from a pool, at a different offset for each file.
  const pool = Buffer.alloc(8 << 20);
  for (let i = 0; i < pool.length; i++) pool[i] = rnd() < 0.02 ? 10 : 97 + Math.floor(rnd() * 26);
  const tops = ['src', 'lib', 'public', 'node_modules', 'views', 'config'];
  const rels: string[] = [];
  for (let i = 0; i < files; i++) {
    const depth = 1 + Math.floor(rnd() * 5);
    const parts = [tops[Math.floor(rnd() * tops.length)]!];
    for (let d = 1; d < depth; d++) parts.push(`d${Math.floor(rnd() * 6)}`);
    const ext = i < 5 ? '.bin' : i % 50 === 0 ? '.sh' : '.js';
    const rel = `${parts.join('/')}/f${i}${ext}`;
    const size = sizes[i]!;
    const header = Buffer.from(`// file ${i}\n`);
    const body = Buffer.alloc(size);
    header.copy(body, 0, 0, Math.min(header.length, size));
    let at = header.length;
    let from = Math.floor(rnd() * pool.length);
    while (at < size) {
      const n = Math.min(size - at, pool.length - from);
      pool.copy(body, at, from, from + n);
      at += n;
      from = 0;
    }
    const file = path.join(dir, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, body, { mode: ext === '.sh' ? 0o755 : 0o644 });
    rels.push(rel);
  }
  return { rels, sizes };
}

interface Row {
  name: string;
  ms: number[];
  linked?: number;
  /** Bytes written (not linked). */
  written: number;
}

/** Runs each of `kinds` once per round, round after round: under noise from other processes, every kind sees the same conditions. */
async function rounds(n: number, kinds: { row: Row; run: () => Promise<void> }[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    for (const k of kinds) {
      const t = performance.now();
      await k.run();
      k.row.ms.push(performance.now() - t);
    }
  }
}

function pipeArchive(repo: string, into: string): Promise<void> {
  mkdirSync(into);
  return new Promise((resolve, reject) => {
    const git = spawn('git', ['-C', repo, 'archive', '--format=tar', 'HEAD'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const tar = spawn('tar', ['-x', '-f', '-', '-C', into], { stdio: ['pipe', 'ignore', 'inherit'] });
    git.stdout.pipe(tar.stdin);
    let left = 2;
    const done = (code: number | null) => {
      if (code !== 0) reject(new Error(`git archive | tar -x exited ${code}`));
      else if (--left === 0) resolve();
    };
    git.once('close', done);
    tar.once('close', done);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const tmp = makeTempDir('zdd-bench-snapshot-');
  const app = path.join(tmp, 'app');
  const out = path.join(tmp, 'out');
  mkdirSync(out);
  // The repository lives beside the work tree (app/.git is a file naming it), so `cp -a app` copies the tree, not git's objects.
  execFileSync('git', ['init', '-q', `--separate-git-dir=${path.join(tmp, 'app.git')}`, app]);
  log(`generating ${fmtInt(fileCount)} files, ${opts.mb} MB in ${app} …`);
  const setupStarted = performance.now();
  const { rels, sizes } = generateTree(app, fileCount, totalBytes);
  const g = (...args: string[]) => execFileSync('git', ['-C', app, '-c', 'user.name=bench', '-c', 'user.email=b@b', ...args], { stdio: 'ignore' });
  g('add', '-A');
  g('commit', '-q', '-m', 'tree');
  // Files written less than a second before a snapshot are never linked from it (see snapshot-copy.ts):
  // let the tree settle, as a real one has between deploys.
  await sleep(1100);

  execFileSync('sync');
  log(`set up in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);

  const meter = new BackgroundMeter();
  meter.start();
  let k = 0;
  const next = () => path.join(out, String(++k));
  const row = (name: string, written = totalBytes): Row => ({ name, ms: [], written });

  log('first snapshots, cp -a, git archive …');
  let first: Snapshot | undefined;
  const cold = row('snapshotSource, first (no previous)');
  const cp = row('cp -a');
  const archive = row('git archive HEAD \\| tar -x');
  const fromRef = row('snapshotSource, gitRef HEAD');
  await rounds(runs, [
    {
      row: cold,
      run: async () => {
        const s = await snapshotSource({ source: app, dest: next() });
        first ??= s;
      },
    },
    {
      row: cp,
      run: async () => {
        const r = await runCommand('cp', ['-a', app, next()]);
        if (r.code !== 0) throw new Error(`cp -a: ${r.stderr}`);
      },
    },
    { row: archive, run: () => pipeArchive(app, next()) },
    { row: fromRef, run: async () => void (await snapshotSource({ source: app, dest: next(), gitRef: 'HEAD' })) },
  ]);

  // 10 small files changed in place (a typical commit), spread through the tree.
  const step = Math.floor(rels.length / changed);
  let changedBytes = 0;
  for (let i = 0; i < changed; i++) {
    const idx = 10 + i * step;
    appendFileSync(path.join(app, rels[idx]!), `// changed ${i}\n`);
    changedBytes += sizes[idx]! + `// changed ${i}\n`.length;
  }
  log('second snapshots …');
  const previous = { dir: first!.info.snapshot, manifest: first!.manifest };
  const again = row(`snapshotSource, ${changed} files changed, no previous`);
  const linked = row(`snapshotSource, ${changed} files changed, previous (hard links)`, changedBytes);
  await rounds(runs, [
    { row: again, run: async () => void (await snapshotSource({ source: app, dest: next() })) },
    {
      row: linked,
      run: async () => {
        linked.linked = (await snapshotSource({ source: app, dest: next(), previous })).info.linked;
      },
    },
  ]);
  meter.stop();
  const rows = [cold, again, linked, cp, archive, fromRef];

  const table = markdownTable(
    ['run', 'seconds (median)', 'min – max', 'MB/s', 'files linked', 'data written'],
    rows.map((r) => {
      const m = median(r.ms);
      return [
        r.name,
        (m / 1000).toFixed(3),
        `${(Math.min(...r.ms) / 1000).toFixed(3)} – ${(Math.max(...r.ms) / 1000).toFixed(3)}`,
        ((totalBytes / 1e6) / (m / 1000)).toFixed(0),
        r.linked === undefined ? '–' : fmtInt(r.linked),
        `${(r.written / 1e6).toFixed(2)} MB`,
      ];
    }),
    ['l', 'r', 'r', 'r', 'r', 'r'],
  );
  const fs = execFileSync('df', ['-T', tmp], { encoding: 'utf8' }).split('\n')[1]?.split(/\s+/)[1] ?? 'unknown';
  process.stdout.write(
    [
      '## Source snapshots',
      '',
      `\`${commandLine()}\``,
      '',
      ...machineLines([]),
      `- tree: ${fmtInt(fileCount)} files, ${(totalBytes / 1e6).toFixed(0)} MB (${rels.length - 5 - Math.round(fileCount * 0.02)} small, ${Math.round(fileCount * 0.02)} medium, 5 large), file system ${fs}; warm page cache; ${runs} runs each`,
      `- other processes used ${fmtPercent(meter.share())} of the CPU meanwhile`,
      '',
      table,
      '',
      'MB/s is the tree size over the median time. `snapshotSource` also hashes every file it writes (sha256),',
      'sets modes and mtimes, and asks git for the commit and dirty state; `cp -a` and `git archive` do none of that.',
      '',
    ].join('\n'),
  );
}

runMain(main);
