// How long a deploy of a real npm app takes when each release is its own folder: snapshot, `npm ci`
// (or the build cache copying the previous release's node_modules), start, switch. Three deploys of
// an Express app: the first (cold: npm ci), a code-only change (the lockfile is the same: cache hit),
// and the same code-only change with the cache turned off (npm ci again). Needs the npm registry.
//
//   node_modules/.bin/node bench/release-deploys.ts [--runs 3]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readOptions } from './lib/args.ts';
import { makeTempDir, runCommand, runMain, startProcess, waitForLine, freePort } from './lib/procs.ts';
import { fmtSeconds, markdownTable } from './lib/table.ts';
import { repoRoot, zddBin } from './lib/zdd.ts';

interface Step {
  step: string;
  status: string;
  at: number;
}

const server = `const express = require('express');
const app = express();
app.get('/healthz', (_req, res) => res.send('ok'));
app.get('/', (_req, res) => res.json({ version: process.env.APP_VERSION, note: NOTE }));
const s = app.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => s.close());
`;

runMain(async () => {
  const { runs } = readOptions('node_modules/.bin/node bench/release-deploys.ts [options]', { runs: { default: 3, help: 'runs of the three deploys' } }) as { runs: number };
  process.stderr.write('preparing an Express app with a lockfile (npm install --package-lock-only)…\n');
  const template = makeTempDir('zdd-bench-app-');
  writeFileSync(path.join(template, 'package.json'), JSON.stringify({ name: 'bench-app', version: '1.0.0', private: true, dependencies: { express: '^5' } }, null, 2));
  execFileSync('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund'], { cwd: template, stdio: 'ignore' });

  const rows: string[][] = [];
  const totals = new Map<string, number[]>();
  for (let run = 1; run <= runs; run++) {
    const dir = makeTempDir('zdd-bench-release-');
    const app = path.join(dir, 'app');
    mkdirSync(app);
    execFileSync('cp', [path.join(template, 'package.json'), path.join(template, 'package-lock.json'), app]);
    const port = await freePort();
    const yaml = (cache: boolean) => `services:
  web:
    listen: 127.0.0.1:${port}
    source: ./app
    command: ${JSON.stringify([process.execPath, 'server.js'])}
    install: npm ci --omit=dev --no-audit --no-fund
${cache ? '    buildCache: { key: [package-lock.json], paths: [node_modules] }\n' : ''}    replicas: 2
    health: { path: /healthz, interval: 100ms, timeout: 1s, startTimeout: 10s }
    strategy: { type: blue-green, rollbackWindow: 1s }
    keepReleases: 10
`;
    const deploy = async (label: string, note: string, cache: boolean) => {
      writeFileSync(path.join(app, 'server.js'), server.replace('NOTE', JSON.stringify(note)));
      writeFileSync(path.join(dir, 'zdd.yaml'), yaml(cache));
      const t0 = performance.now();
      const r = await runCommand(zddBin, ['deploy', 'web', '--json'], { cwd: dir, env: { NO_COLOR: '1' } });
      const ms = performance.now() - t0;
      if (r.code !== 0) throw new Error(`${label}: zdd deploy exited ${r.code}: ${r.stderr}${r.stdout}`);
      const events = (JSON.parse(r.stdout) as { events: ({ type: string } & Step)[] }).events.filter((e) => e.type === 'step');
      const took = (name: string) => {
        const start = events.find((e) => e.step === name && e.status === 'started');
        const end = events.find((e) => e.step === name && (e.status === 'done' || e.status === 'failed'));
        return start && end ? end.at - start.at : undefined;
      };
      const cacheLine = events.find((e) => e.step === 'cache');
      rows.push([String(run), label, fmtSeconds(ms), fmtOpt(took('snapshot')), fmtOpt(took('install')), cacheLine ? ((cacheLine as unknown as { detail: string }).detail.startsWith('no reuse') ? 'miss' : 'hit') : 'off', fmtOpt(took('start'))]);
      totals.set(label, [...(totals.get(label) ?? []), ms]);
    };
    writeFileSync(path.join(dir, 'zdd.yaml'), yaml(true));
    const daemon = startProcess('zdd serve', zddBin, ['serve', '--log-format', 'json'], { cwd: dir, env: { NO_COLOR: '1' } });
    await waitForLine(daemon, (line) => / ready"/.test(line));
    await deploy('first deploy (npm ci)', 'one', true);
    await deploy('code-only change, build cache on', 'two', true);
    await deploy('code-only change, build cache off', 'three', false);
    await daemon.stop();
    process.stderr.write(`run ${run}/${runs} done\n`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  process.stdout.write(`# zdd release deploys: snapshot, install, start\n\ncommand: \`node_modules/.bin/node bench/release-deploys.ts --runs ${runs}\` (repo ${repoRoot})\n\n`);
  process.stdout.write('Express 5 app (its lockfile, no node_modules in source), 2 replicas, blue-green; `install: npm ci --omit=dev`; times from `zdd deploy --json` events.\n\n');
  process.stdout.write(`${markdownTable(['run', 'deploy', 'zdd deploy took', 'snapshot', 'install', 'cache', 'start (healthy)'], rows, ['r', 'l', 'r', 'r', 'r', 'l', 'r'])}\n\n`);
  process.stdout.write(`${markdownTable(['deploy', 'median of runs'], [...totals].map(([k, v]) => [k, fmtSeconds(median(v))]), ['l', 'r'])}\n`);
});

function fmtOpt(ms: number | undefined): string {
  return ms === undefined ? '–' : fmtSeconds(ms);
}
