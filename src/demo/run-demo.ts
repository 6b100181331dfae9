import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { formatDuration } from '../config/duration.ts';
import { Daemon } from '../daemon/daemon.ts';
import { ControlClient } from '../api/client.ts';
import { pathFor, type DeployRequest } from '../api/contract.ts';
import { allocatePort } from '../runtime/ports.ts';
import { bad, bold, dim, ok, table } from '../cli/format.ts';
import { ProgressPrinter } from '../cli/progress.ts';
import { DemoTraffic } from './traffic.ts';

const exampleApp = fileURLToPath(new URL('../../examples/app/', import.meta.url));

interface Act {
  title: string;
  strategy: string;
  env?: Record<string, string>;
  version?: string;
  /** What the act should end with; the demo says so when it did not. */
  expect: 'succeeded' | 'failed' | 'rolled-back';
  rollback?: boolean;
  /** Edit the app's code in the source folder first (and show that the live release does not change). */
  editCode?: boolean;
  /** Show what the app answers after the act. */
  show?: boolean;
}

const acts: Act[] = [
  { title: 'Blue-green: v2 starts beside v1, takes all traffic at once', strategy: 'blue-green', version: 'v2', expect: 'succeeded' },
  { title: 'Blue-green: v3, while users keep clicking', strategy: 'blue-green', version: 'v3', expect: 'succeeded' },
  { title: 'A broken release (it exits at start): it never gets traffic', strategy: 'blue-green', version: 'v4-broken', env: { CRASH_ON_START: '1' }, expect: 'failed' },
  { title: 'Instant rollback: v2 is still warm', strategy: 'blue-green', expect: 'succeeded', rollback: true },
  { title: 'Canary: v5 fails 30% of requests; analysis rolls it back', strategy: 'canary', version: 'v5-bad', env: { ERROR_RATE: '0.3' }, expect: 'rolled-back' },
  { title: 'Canary: v6 is as good as stable; promoted step by step', strategy: 'canary', version: 'v6', expect: 'succeeded' },
  { title: 'Rolling: v7 replaces instances one at a time', strategy: 'rolling', version: 'v7', expect: 'succeeded' },
  { title: "A code change: server.js is edited; the live release runs its own copy until v8 is deployed", strategy: 'blue-green', version: 'v8', editCode: true, show: true, expect: 'succeeded' },
  { title: 'Rollback: the old code comes back, not just the old env', strategy: 'blue-green', rollback: true, show: true, expect: 'succeeded' },
];

/** The edit the demo makes to the example app's code: one more field in its answer. */
const codeChange = { from: 'path: url.pathname }', to: "path: url.pathname, greeting: 'hello from the edited code' }" };

const strategies: Record<string, string> = {
  'blue-green': '{ type: blue-green, rollbackWindow: 1m }',
  canary: '{ type: canary, steps: [{ weight: 20, pause: 2s }, { weight: 50, pause: 2s }], analysis: { minRequests: 150 } }',
  rolling: '{ type: rolling, maxSurge: 1, maxUnavailable: 0 }',
};

function configYaml(port: number, strategy: string): string {
  return `services:
  web:
    listen: 127.0.0.1:${port}
    source: ./app
    command: ${JSON.stringify([process.execPath, 'server.js'])}
    env: { APP_VERSION: v1 }
    replicas: 3
    health: { path: /healthz, interval: 100ms, timeout: 1s, startTimeout: 5s }
    strategy: ${strategies[strategy]}
    drainTimeout: 3s
    stopTimeout: 2s
`;
}

/** `zdd demo`: a real daemon, the bundled example app and real traffic, in a temporary folder. */
export async function runDemo(out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const say = (s = '') => out.write(`${s}\n`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zdd-demo-'));
  const port = await allocatePort('127.0.0.1');
  const configPath = path.join(dir, 'zdd.yaml');
  // The app's code in a folder of the project: each release runs from its own snapshot of it.
  const appDir = path.join(dir, 'app');
  mkdirSync(appDir);
  cpSync(path.join(exampleApp, 'server.js'), path.join(appDir, 'server.js'));
  writeFileSync(configPath, configYaml(port, 'blue-green'));
  const log = pino({ level: 'info' }, pino.destination({ dest: path.join(dir, 'zdd.log'), sync: false }));
  const t0 = Date.now();
  say(bold('zdd demo') + dim(` — data in ${dir}, app on http://127.0.0.1:${port}`));
  const daemon = await Daemon.start({ configPath, dataDir: path.join(dir, '.zdd'), log, logFormat: 'json' });
  // The demo drives the daemon the way the CLI does: the same client, over its control socket.
  const client = new ControlClient({ dataDir: path.join(dir, '.zdd') });
  const traffic = new DemoTraffic(`http://127.0.0.1:${port}`);
  const results: { title: string; expected: string; got: string; took: number; failed: number }[] = [];
  let ticker: NodeJS.Timeout | undefined;
  try {
    say(`\n${bold('1.')} First deploy of the example app (3 replicas)`);
    await deployAndPrint(client, 'deploy', { version: 'v1', env: { APP_VERSION: 'v1' } }, out);
    traffic.start();
    ticker = setInterval(() => say(dim(`      traffic: ${traffic.counts.sent} requests, ${traffic.counts.failed} failed`)), 3000);
    for (const [i, act] of acts.entries()) {
      say(`\n${bold(`${i + 2}.`)} ${act.title}`);
      writeFileSync(configPath, configYaml(port, act.strategy));
      if (act.editCode) {
        const file = path.join(appDir, 'server.js');
        writeFileSync(file, readFileSync(file, 'utf8').replace(codeChange.from, codeChange.to));
        say(dim(`   edited ${file}; the live release still answers: ${await answer(port)}`));
      }
      const started = Date.now();
      const failedBefore = traffic.counts.failed;
      const got = act.rollback
        ? await deployAndPrint(client, 'rollback', {}, out)
        : await deployAndPrint(client, 'deploy', { version: act.version, env: { APP_VERSION: act.version!, ...act.env } }, out);
      results.push({ title: act.title, expected: act.expect, got, took: Date.now() - started, failed: traffic.counts.failed - failedBefore });
      if (act.show) say(`   ${bold('GET /')} → ${await answer(port)}`);
    }
  } finally {
    clearInterval(ticker);
  }
  const counts = await traffic.stop();
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });

  const asExpected = results.every((r) => r.got === r.expected);
  say(`\n${bold('Summary')} ${dim(`(${formatDuration(Date.now() - t0)})`)}`);
  say(
    table(
      [
        [dim('act'), dim('outcome'), dim('took'), dim('failed requests')],
        ...results.map((r) => [
          r.title.split(':')[0]!,
          r.got === r.expected ? ok(r.got) : bad(`${r.got} (expected ${r.expected})`),
          formatDuration(r.took),
          r.failed === 0 ? ok('0') : bad(String(r.failed)),
        ]),
      ],
      '  ',
    ),
  );
  const failedLine = `${counts.failed} failed`;
  say(`\n  users sent ${bold(String(counts.sent))} requests: ${counts.ok} answered, ${counts.failed === 0 ? ok(failedLine) : bad(failedLine)}`);
  if (counts.failed > 0) say(bad(`  failures: ${JSON.stringify(counts.failures)}`));
  say(dim(`  answered by: ${Object.entries(counts.versions).map(([v, n]) => `${v} ${n}`).join(', ')}`));
  say(dim('  (the bad canary failed some requests itself: the analysis counted them, and zdd sent those GETs and PUTs to stable)'));
  say(`\n  Next: ${bold('zdd serve')} in a folder with your own zdd.yaml — see README.md`);
  return counts.failed === 0 && asExpected ? 0 : 1;
}

/** Through the control API's client, as `zdd deploy` and `zdd rollback` do. */
async function deployAndPrint(client: ControlClient, kind: 'deploy' | 'rollback', req: DeployRequest, out: NodeJS.WritableStream): Promise<string> {
  const printer = new ProgressPrinter(indented(out));
  const finished = await client.stream('POST', pathFor(kind, { service: 'web' }), req, (e) => printer.print(e));
  return finished?.type === 'paused' ? 'paused' : (finished?.status ?? 'unknown');
}

/** What the app answers now, without its pid (which changes with every instance). */
async function answer(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`);
  const body = (await res.json()) as Record<string, unknown>;
  delete body.pid;
  return JSON.stringify(body);
}

function indented(out: NodeJS.WritableStream): NodeJS.WritableStream {
  return { write: (s: string) => out.write(s.replace(/^(?=.)/gm, '   ')) } as NodeJS.WritableStream;
}
