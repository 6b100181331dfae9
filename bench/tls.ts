// TLS benchmark (issue 9): zdd terminating TLS next to nginx (ssl + http2) and Caddy, the same certificate and
// the same upstream app behind each, one worker / one thread each, in one run: HTTP/2 and HTTP/1.1 throughput
// over TLS, the latency each adds at a fixed rate, and the cost of a handshake with and without resumption.
//
//   node_modules/.bin/node bench/tls.ts [--duration 3] [--runs 3] [--targets direct,nginx,caddy,zdd]
//
// See bench/README.md for what is measured and how to read the output. Progress goes to stderr, the report
// (markdown) to stdout.
import { readOptions } from './lib/args.ts';
import { CpuMeter, reportHeader, withChildren } from './lib/machine.ts';
import { freePort, runMain, sleep } from './lib/procs.ts';
import { BackgroundTally, QuietMeasurer, backgroundBeforeLine } from './lib/quiet.ts';
import { fmtInt, print, progress } from './lib/table.ts';
import { checkResumption, h2loadLatency, h2loadThroughput, handshakes, type Endpoint, type Protocol } from './lib/tls-load.ts';
import { benchHost, detectTlsTool, makeBenchCertificate, startCaddy, startNginxTls, installHint, toolLine, waitForHttps, type TlsTool } from './lib/tls-peers.ts';
import { resumeWays, tlsReport, typicalRps, type Handshakes, type LatencyRun, type Throughput, type TlsResults } from './lib/tls-report.ts';
import { startUpstreamApp, startZdd } from './lib/zdd.ts';

const opts = readOptions('Usage: node_modules/.bin/node bench/tls.ts [options]', {
  duration: { default: 3, help: 'seconds of each max-throughput run' },
  runs: { default: 3, help: 'max-throughput runs per target and protocol; the median is reported' },
  concurrency: { default: 50, help: 'requests in flight in the max-throughput runs (HTTP/1.1: connections; HTTP/2: concurrency/streams connections)' },
  streams: { default: 5, help: 'HTTP/2 streams in flight per connection in the max-throughput runs (h2load -m)' },
  warmup: { default: 1, help: 'seconds of warm-up load per target and protocol' },
  'latency-duration': { default: 4, help: 'seconds of each fixed-rate latency run' },
  'latency-connections': { default: 10, help: 'connections of the fixed-rate latency runs' },
  'rate-share': { default: 0.5, float: true, help: "fixed rate as a share of the slowest TLS target's median max throughput" },
  'handshake-duration': { default: 3, help: 'seconds of each handshake run (openssl s_time -time)' },
  'handshake-clients': { default: 4, help: 'openssl s_time processes side by side in a handshake run' },
  targets: { default: 'direct,nginx,caddy,zdd', help: 'targets to measure, comma-separated' },
  'idle-wait': { default: 15, zero: true, help: 'before each measurement, wait up to this many seconds for other processes to leave the CPU alone (0: never wait)' },
  retries: { default: 2, zero: true, help: 'measure again (up to this many times) when other processes used more than 10% of the CPU meanwhile' },
});
const durationS = opts.duration as number;
const runs = opts.runs as number;
const concurrency = opts.concurrency as number;
const streams = Math.min(opts.streams as number, concurrency);
const h2Connections = Math.max(1, Math.round(concurrency / streams));
const warmupS = opts.warmup as number;
const latencyS = opts['latency-duration'] as number;
const latencyConnections = opts['latency-connections'] as number;
const rateShare = opts['rate-share'] as number;
const handshakeS = opts['handshake-duration'] as number;
const handshakeClients = opts['handshake-clients'] as number;

const measurer = new QuietMeasurer({ idleWaitMs: (opts['idle-wait'] as number) * 1000, retries: opts.retries as number, retryAbove: 0.1, progress });

interface Target {
  name: string;
  /** direct: the app over plain HTTP/1.1; the others: TLS on 127.0.0.1, SNI and Host bench.test. */
  endpoint: Endpoint;
  /** Processes whose CPU is the proxy's (none for direct). */
  proxyPids: number[];
}

const protocolName: Record<Protocol, string> = { h2: 'HTTP/2', h1: 'HTTP/1.1' };

async function main(): Promise<void> {
  const started = Date.now();
  const wanted = new Set(String(opts.targets).split(',').map((s) => s.trim()));
  const nginxTool = detectTlsTool('nginx');
  const caddyTool = detectTlsTool('caddy');
  const h2loadTool = detectTlsTool('h2load');
  const opensslTool = detectTlsTool('openssl');
  if (!opensslTool.file) throw new Error(`openssl is not installed, and it makes the certificate and the handshakes: ${installHint('openssl')}`);

  for (const l of reportHeader('zdd TLS benchmark', [])) print(l);
  for (const t of [nginxTool, caddyTool, h2loadTool, opensslTool]) print(toolLine(t));
  const before = await backgroundBeforeLine();
  if (before !== undefined) print(before);

  const cert = makeBenchCertificate(opensslTool.file);
  print(`- certificate: ${cert.describe}`);

  // One upstream app process behind direct, nginx and Caddy; zdd starts its own identical instance.
  const { port: appPort } = await startUpstreamApp();
  print(`- upstream: bench/upstream-app.js (Node ${process.version}), \`GET /\` (a 13-byte body: the proxy's own cost dominates), plain HTTP/1.1 with keep-alive behind every proxy`);

  const targets: Target[] = [];
  const skipped: string[] = [];
  if (wanted.has('direct')) targets.push({ name: 'direct', endpoint: { port: appPort, tls: false }, proxyPids: [] });
  const peer = async (tool: TlsTool, start: () => Promise<{ port: number; pids: number[] }>) => {
    if (!wanted.has(tool.name)) return;
    if (!tool.file) return void skipped.push(`${tool.name} (not installed: ${installHint(tool.name)})`);
    if (tool.unusable) return void skipped.push(`${tool.name} (${tool.unusable})`);
    progress(`starting ${tool.name} …`);
    const { port, pids } = await start();
    targets.push({ name: tool.name, endpoint: { port, tls: true }, proxyPids: pids });
  };
  await peer(nginxTool, async () => {
    const n = await startNginxTls(nginxTool, appPort, cert);
    return { port: n.port, pids: withChildren(n.proc.pid) };
  });
  await peer(caddyTool, async () => {
    const c = await startCaddy(caddyTool, appPort, cert);
    return { port: c.port, pids: [c.proc.pid] };
  });
  if (wanted.has('zdd')) {
    progress('starting zdd serve and deploying …');
    const port = await freePort();
    const z = await startZdd({ port, replicas: 1, rollbackWindow: '1s', drainTimeout: '5s', healthInterval: '200ms', hosts: [benchHost], tls: { cert: cert.certFile, key: cert.keyFile } });
    await z.deployOrThrow();
    await waitForHttps(port, cert, z.proc);
    targets.push({ name: 'zdd', endpoint: { port, tls: true }, proxyPids: [z.proc.pid] });
  }
  const tlsTargets = targets.filter((t) => t.endpoint.tls);
  if (tlsTargets.length === 0) throw new Error(`no TLS target to measure (--targets ${opts.targets})`);
  if (!h2loadTool.file) skipped.push(`throughput and latency (h2load not installed: ${installHint('h2load')}); only handshakes are measured`);
  for (const s of skipped) print(`- skipped: ${s}`);
  const loadMethod = h2loadTool.file
    ? `max throughput = median of ${runs} runs of \`h2load -t1 -D ${durationS}\` (HTTP/2: ${h2Connections} connections × ${streams} streams; HTTP/1.1: ${concurrency} connections, no pipelining) ` +
      `after ${warmupS} s of warm-up; CPU/req = the proxy process's user+system CPU over all throughput runs / requests served; ` +
      `latency: \`h2load -m1 --rps\` at one fixed rate for every target over ${latencyConnections} connections for ${latencyS} s; `
    : '';
  print(`- method: targets are loaded one at a time, taking turns run by run; ${loadMethod}handshakes: ${handshakeClients} \`openssl s_time\` side by side for ${handshakeS} s, TLS 1.3`);
  const oneWorker: Record<string, string> = { nginx: 'nginx `worker_processes 1`', caddy: 'Caddy `GOMAXPROCS=1`', zdd: "zdd's one daemon process (`zdd serve`, one replica, its own instance of the app)" };
  print(`- one worker/thread each: ${tlsTargets.map((t) => oneWorker[t.name]).join(', ')}`);

  const tallies = { h2: new BackgroundTally(), h1: new BackgroundTally(), latency: new BackgroundTally(), handshakes: new BackgroundTally() };
  const results: TlsResults = {
    targets: targets.map((t) => ({ name: t.name, tls: t.endpoint.tls })),
    settings: { runs, concurrency, h2Connections, streams, rateShare, latencyConnections, handshakeClients },
    throughput: new Map(),
    latency: [],
    rate: 0,
    handshakes: new Map(),
    resumption: new Map(),
    tallies,
  };

  if (h2loadTool.file) {
    // 1 and 2: max throughput per protocol (direct, plain HTTP/1.1, in the HTTP/1.1 table as the app's own ceiling).
    for (const protocol of ['h2', 'h1'] as const) {
      const group = protocol === 'h2' ? tlsTargets : targets;
      results.throughput.set(protocol, await measureThroughput(h2loadTool.file, protocol, group, tallies[protocol]));
    }
    // 3: latency at one fixed rate, a share of the slowest TLS target's max throughput, so that none is near saturation.
    const medians = tlsTargets.flatMap((t) => (['h2', 'h1'] as const).map((p) => typicalRps(results, p, t.name))).filter((x) => x > 0);
    results.rate = Math.max(latencyConnections, Math.round((medians.length ? Math.min(...medians) : 1000) * rateShare));
    const runsOf = [...targets.filter((t) => !t.endpoint.tls).map((t) => [t, 'h1'] as const), ...tlsTargets.flatMap((t) => (['h2', 'h1'] as const).map((p) => [t, p] as const))];
    for (const [t, protocol] of runsOf) results.latency.push(await measureLatency(h2loadTool.file, t, protocol, results.rate, tallies.latency));
  }

  // 4: handshakes, new and resumed; 5: does each server resume at all (SNI, tickets and session IDs).
  for (const reuse of [false, true]) {
    for (const t of tlsTargets) results.handshakes.set(`${t.name}/${reuse ? 'on' : 'off'}`, await measureHandshakes(opensslTool.file, t, reuse, tallies.handshakes));
  }
  for (const t of tlsTargets) for (const [way] of resumeWays) results.resumption.set(`${t.name}/${way}`, await checkResumption(t.endpoint.port, way));

  for (const line of tlsReport(results)) print(line);
  print();
  print(`total time: ${Math.round((Date.now() - started) / 1000)} s`);
}

async function measureThroughput(h2load: string, protocol: Protocol, group: Target[], tally: BackgroundTally): Promise<Map<string, Throughput>> {
  const results = new Map<string, Throughput>(group.map((t) => [t.name, { runs: [], proxyCpuMs: undefined, failed: 0 }]));
  const load = (t: Target, seconds: number) =>
    h2loadThroughput(h2load, t.endpoint, { protocol: t.endpoint.tls ? protocol : 'h1', connections: protocol === 'h2' ? h2Connections : concurrency, streams, durationS: seconds });
  for (const t of group) {
    progress(`${protocolName[protocol]}: warming up ${t.name} (${warmupS} s) …`);
    await load(t, warmupS);
  }
  for (let run = 1; run <= runs; run++) {
    for (const t of group) {
      const m = results.get(t.name)!;
      const { value } = await measurer.measure(
        tally,
        async () => {
          const cpu = new CpuMeter(t.proxyPids);
          cpu.start();
          const r = await load(t, durationS);
          progress(`${protocolName[protocol]}: run ${run}/${runs} ${t.name.padEnd(7)} ${fmtInt(r.rps).padStart(7)} req/s${r.errors + r.non2xx > 0 ? ` (${r.errors} errors, ${r.non2xx} non-2xx)` : ''}`);
          return { r, proxyMs: cpu.stop() };
        },
        (d) => (m.failed += d.r.errors + d.r.non2xx),
      );
      m.runs.push(value.r);
      m.failed += value.r.errors + value.r.non2xx;
      if (value.proxyMs !== undefined) m.proxyCpuMs = (m.proxyCpuMs ?? 0) + value.proxyMs;
      await sleep(200);
    }
  }
  return results;
}

async function measureLatency(h2load: string, t: Target, protocol: Protocol, rate: number, tally: BackgroundTally): Promise<LatencyRun> {
  progress(`latency: ${t.name} ${protocolName[protocol]} at ${fmtInt(rate)} req/s (${latencyS} s) …`);
  const { value, share } = await measurer.measure(tally, () => h2loadLatency(h2load, t.endpoint, { protocol, clients: latencyConnections, rate, durationS: latencyS }));
  await sleep(200);
  return { ...value, target: t.name, protocol, tls: t.endpoint.tls, share };
}

async function measureHandshakes(openssl: string, t: Target, reuse: boolean, tally: BackgroundTally): Promise<Handshakes> {
  progress(`handshakes: ${t.name} ${reuse ? 'resuming a session' : 'new sessions'} (${handshakeS} s) …`);
  const { value } = await measurer.measure(tally, async () => {
    const cpu = new CpuMeter(t.proxyPids);
    cpu.start();
    const result = await handshakes(openssl, t.endpoint.port, { reuse, processes: handshakeClients, durationS: handshakeS });
    progress(`  ${fmtInt(result.perS)} connections/s, ${fmtInt(result.resumed)} of ${fmtInt(result.connections)} resumed`);
    return { result, proxyCpuMs: cpu.stop() };
  });
  await sleep(200);
  return value;
}

runMain(main);
