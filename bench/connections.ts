// A new connection for every request (`Connection: close`): how many a second each proxy takes and what
// each costs it, next to nginx. This is the path where zdd's data-plane workers cost the daemon
// something per connection (accept, the client-limit check, handing the socket to a worker over IPC),
// so it is where the design's ceiling shows; keep-alive traffic is bench/proxy.ts.
//
//   node_modules/.bin/node bench/connections.ts [--duration 5] [--connections 20] [--runs 3]
import { readOptions } from './lib/args.ts';
import { CpuMeter, detect, installHint, reportHeader, withChildren } from './lib/machine.ts';
import { freePort, runCommand, runMain, waitForHttp } from './lib/procs.ts';
import { startNginx } from './lib/proxies.ts';
import { median } from './lib/stats.ts';
import { fmtInt, fmtRatio, markdownTable, print, progress } from './lib/table.ts';
import { startUpstreamApp, startZdd } from './lib/zdd.ts';

const opts = readOptions('Usage: node_modules/.bin/node bench/connections.ts [options]', {
  duration: { default: 5, help: 'seconds of each run' },
  connections: { default: 20, help: 'clients at once (wrk -c), each opening a new connection per request' },
  runs: { default: 3, help: 'runs per target (the targets take turns); medians are reported' },
});
const durationS = opts.duration as number;
const connections = opts.connections as number;
const runs = opts.runs as number;

interface Target {
  name: string;
  url: string;
  /** The proxy's processes (zdd: the daemon and its data-plane workers). */
  proxyPids: number[];
  /** zdd with workers: the daemon itself, whose share is reported apart. */
  daemonPid?: number;
}

interface Run {
  rps: number;
  errors: number;
  proxyUsPerConn: number | undefined;
  daemonUsPerConn: number | undefined;
}

async function wrkClose(url: string): Promise<{ rps: number; requests: number; errors: number }> {
  const r = await runCommand('wrk', ['-t1', `-c${connections}`, `-d${durationS}s`, '-H', 'Connection: close', url]);
  if (r.code !== 0) throw new Error(`wrk exited ${r.code}: ${r.stderr}`);
  const num = (re: RegExp) => Number(re.exec(r.stdout)?.[1] ?? 0);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    errors: (errors ? errors.slice(1).reduce((n, v) => n + Number(v), 0) : 0) + num(/Non-2xx or 3xx responses: (\d+)/),
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const nginx = detect('nginx');
  const wrk = detect('wrk');
  if (!wrk.file) throw new Error(`wrk is needed: ${installHint}`);
  for (const l of reportHeader('zdd proxy benchmark: a new connection per request', [nginx, wrk])) print(l);

  const { port: appPort, url: appUrl } = await startUpstreamApp();
  const targets: Target[] = [{ name: 'direct', url: appUrl, proxyPids: [] }];
  if (nginx.file) {
    progress('starting nginx …');
    const n = await startNginx(nginx.file, appPort);
    targets.push({ name: 'nginx', url: n.url, proxyPids: withChildren(n.proc.pid) });
  } else print(`- skipped: nginx (not installed: ${installHint})`);
  for (const [name, workers] of [['zdd', 0], ['zdd-w1', 1]] as const) {
    progress(`starting zdd serve (proxy.workers ${workers}) and deploying …`);
    const z = await startZdd({ port: await freePort(), replicas: 1, rollbackWindow: '1s', drainTimeout: '5s', healthInterval: '200ms', workers });
    await z.deployOrThrow();
    await waitForHttp(`${z.url}/healthz`, z.proc);
    const workerPids = await z.workerPids();
    targets.push({ name, url: z.url, proxyPids: [z.proc.pid, ...workerPids], ...(workerPids.length > 0 ? { daemonPid: z.proc.pid } : {}) });
  }
  print(
    `- method: \`wrk -t1 -c${connections} -d${durationS}s -H 'Connection: close'\` on GET / (hello world), ${runs} runs per target, the targets taking turns; ` +
      `CPU per connection = the proxy's processes' user+system CPU over the run / requests (each request is one connection); zdd (workers 0) serves in the daemon, zdd-w1 in one data-plane worker`,
  );

  const results = new Map<string, Run[]>(targets.map((t) => [t.name, []]));
  for (let run = 1; run <= runs; run++) {
    for (const t of targets) {
      progress(`run ${run}/${runs}: ${t.name} …`);
      const cpu = new CpuMeter(t.proxyPids);
      const daemonCpu = t.daemonPid === undefined ? undefined : new CpuMeter([t.daemonPid]);
      cpu.start();
      daemonCpu?.start();
      const r = await wrkClose(`${t.url}/`);
      const ms = cpu.stop();
      const daemonMs = daemonCpu?.stop();
      const per = (v: number | undefined) => (v === undefined || r.requests === 0 ? undefined : (v * 1000) / r.requests);
      results.get(t.name)!.push({ rps: r.rps, errors: r.errors, proxyUsPerConn: per(ms), daemonUsPerConn: per(daemonMs) });
    }
  }

  const med = (name: string, f: (r: Run) => number | undefined) => median(results.get(name)!.map((r) => f(r) ?? Number.NaN));
  const ref = targets.find((t) => t.name === 'nginx') ?? targets[0]!;
  const refRps = med(ref.name, (r) => r.rps);
  const rows = targets.map((t) => {
    const rps = med(t.name, (r) => r.rps);
    const cpu = med(t.name, (r) => r.proxyUsPerConn);
    const daemon = med(t.name, (r) => r.daemonUsPerConn);
    return [
      t.name,
      fmtInt(rps),
      fmtRatio(rps / refRps),
      Number.isFinite(cpu) ? fmtInt(cpu) : '–',
      Number.isFinite(daemon) ? fmtInt(daemon) : '–',
      fmtInt(results.get(t.name)!.reduce((n, r) => n + r.errors, 0)),
    ];
  });
  print();
  print(markdownTable(['target', 'connections/s (median)', `vs ${ref.name}`, 'proxy CPU µs per connection', '… of it the daemon (with workers)', 'errors'], rows, ['l', 'r', 'r', 'r', 'r', 'r']));
  print();
  print(`total time: ${Math.round((Date.now() - started) / 1000)} s`);
}

runMain(main);
