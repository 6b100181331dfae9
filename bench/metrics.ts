// Does scraping /metrics slow the data plane? The same zdd (one daemon, one replica of
// bench/upstream-app.js) at max throughput on hello world, with GET /metrics scraped every second (as
// Prometheus would, with a read token, on the control listener) and without, in alternating runs; and
// what one scrape costs the daemon.
//
//   node_modules/.bin/node bench/metrics.ts [--runs 5] [--duration 5] [--connections 50]
//
// See bench/README.md. Progress goes to stderr, the report (markdown) to stdout.
import { readOptions } from './lib/args.ts';
import { chooseLoadTool, type ThroughputResult } from './lib/load.ts';
import { BackgroundMeter, CpuMeter, detect, reportHeader, waitForIdle } from './lib/machine.ts';
import { freePort, runMain, sleep, waitForHttp } from './lib/procs.ts';
import { median, percentile } from './lib/stats.ts';
import { fmtInt, fmtMs, fmtPercent, fmtRatio, markdownTable, print, progress } from './lib/table.ts';
import { fetchMetrics, startZdd } from './lib/zdd.ts';

const opts = readOptions('Usage: node_modules/.bin/node bench/metrics.ts [options]', {
  runs: { default: 5, help: 'max-throughput runs with and without scraping each, alternating; medians are reported' },
  duration: { default: 5, help: 'seconds of each max-throughput run' },
  connections: { default: 50, help: 'concurrent connections (wrk -c)' },
  warmup: { default: 2, help: 'seconds of warm-up load (scraped) before measuring' },
  'scrape-interval': { default: 1, float: true, help: 'seconds between scrapes while scraping' },
  scrapes: { default: 200, help: 'back-to-back scrapes of an idle daemon, for the cost of one' },
  'idle-wait': { default: 15, zero: true, help: 'before each run, wait up to this many seconds for other processes to leave the CPU alone (0: never)' },
  'load-tool': { default: 'auto', help: 'auto (wrk if installed), wrk, or node (autocannon)' },
});
const runs = opts.runs as number;
const durationS = opts.duration as number;
const connections = opts.connections as number;
const warmupS = opts.warmup as number;
const intervalMs = (opts['scrape-interval'] as number) * 1000;
const idleWaitMs = (opts['idle-wait'] as number) * 1000;

/** Scrapes /metrics every `intervalMs` while started, as Prometheus does: one scrape at a time. */
class Scraper {
  readonly #url: string;
  readonly #token: string;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  times: number[] = [];
  failed = 0;
  bytes = 0;

  constructor(url: string, token: string) {
    this.#url = url;
    this.#token = token;
  }

  /** One scrape; its time in ms. */
  async once(): Promise<number> {
    const t0 = performance.now();
    const body = await fetchMetrics(this.#url, this.#token, 5_000);
    this.bytes = Buffer.byteLength(body);
    return performance.now() - t0;
  }

  start(): void {
    const tick = () => {
      if (this.#busy) return;
      this.#busy = true;
      this.once().then(
        (ms) => this.times.push(ms),
        () => this.failed++,
      ).finally(() => (this.#busy = false));
    };
    tick();
    this.#timer = setInterval(tick, intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

interface Run {
  scraped: boolean;
  r: ThroughputResult;
  cpuMs: number | undefined;
  background: number | undefined;
  scrapes: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  const wrkInfo = detect('wrk');
  const load = chooseLoadTool(String(opts['load-tool']), wrkInfo);
  for (const l of reportHeader('zdd metrics benchmark: the data plane with /metrics scraped and without', [wrkInfo])) print(l);
  print(`- load generator: ${load.describe}`);

  // zdd as a user runs it: zdd.yaml with a control listener, zdd serve, zdd deploy, a read token.
  progress('starting zdd serve and deploying …');
  const controlPort = await freePort();
  const z = await startZdd({ port: await freePort(), replicas: 1, rollbackWindow: '1s', drainTimeout: '5s', healthInterval: '200ms' }, { controlPort });
  await z.deployOrThrow();
  const url = `${z.url}/`;
  await waitForHttp(`${url}healthz`, z.proc);
  const token = await z.readToken('prometheus');
  const metricsUrl = `http://127.0.0.1:${controlPort}/metrics`;
  await new Scraper(metricsUrl, token).once();

  print(
    `- method: \`zdd serve\` with one replica of bench/upstream-app.js, GET / (hello world); ${runs} max-throughput runs (${load.throughputHow({ connections, durationS })}) ` +
      `without scraping and ${runs} with GET /metrics every ${intervalMs / 1000} s (read token, control listener), alternating (not, scraped, not, …), ` +
      `after ${warmupS} s of warm-up; CPU µs/req = the zdd process's user+system CPU during the run / requests served` +
      (idleWaitMs > 0 ? `; before each run, up to ${idleWaitMs / 1000} s of waiting for other processes to leave the CPU alone` : ''),
  );

  const warm = new Scraper(metricsUrl, token);
  warm.start();
  progress(`warming up (${warmupS} s) …`);
  await load.throughput(url, { connections, durationS: warmupS });
  warm.stop();

  const results: Run[] = [];
  const scrapeTimes: number[] = [];
  for (let i = 0; i < 2 * runs; i++) {
    const scraped = i % 2 === 1;
    if (idleWaitMs > 0) await waitForIdle(idleWaitMs);
    const scraper = new Scraper(metricsUrl, token);
    const background = new BackgroundMeter();
    const cpu = new CpuMeter([z.proc.pid]);
    background.start();
    cpu.start();
    if (scraped) scraper.start();
    const r = await load.throughput(url, { connections, durationS });
    scraper.stop();
    const cpuMs = cpu.stop();
    background.stop();
    if (scraper.failed > 0) throw new Error(`${scraper.failed} scrape(s) failed during the run`);
    results.push({ scraped, r, cpuMs, background: background.share(), scrapes: scraper.times.length });
    if (scraped) scrapeTimes.push(...scraper.times);
    progress(`run ${i + 1}/${2 * runs} ${scraped ? 'scraped    ' : 'not scraped'} ${fmtInt(r.rps).padStart(7)} req/s${scraped ? `, ${scraper.times.length} scrapes` : ''}`);
    await sleep(300);
  }

  // What one scrape costs an idle daemon.
  progress(`${opts.scrapes} back-to-back scrapes of the idle daemon …`);
  if (idleWaitMs > 0) await waitForIdle(idleWaitMs);
  const one = new Scraper(metricsUrl, token);
  const cpu = new CpuMeter([z.proc.pid]);
  cpu.start();
  const idleTimes: number[] = [];
  for (let k = 0; k < (opts.scrapes as number); k++) idleTimes.push(await one.once());
  const scrapeCpuMs = cpu.stop();

  const rows: string[][] = [];
  const summary = (scraped: boolean) => {
    const mine = results.filter((x) => x.scraped === scraped);
    const rps = mine.map((x) => x.r.rps);
    const perReq = mine.map((x) => (x.cpuMs === undefined || x.r.requests === 0 ? Number.NaN : (x.cpuMs * 1000) / x.r.requests));
    return { rps: median(rps), min: Math.min(...rps), max: Math.max(...rps), cpu: median(perReq), failed: mine.reduce((s, x) => s + x.r.errors + x.r.non2xx, 0), scrapes: mine.reduce((s, x) => s + x.scrapes, 0), background: Math.max(...mine.map((x) => x.background ?? 0)) };
  };
  const off = summary(false);
  const on = summary(true);
  const sorted = [...scrapeTimes].sort((a, b) => a - b);
  rows.push(['not scraped', String(runs), fmtInt(off.rps), `${fmtInt(off.min)}–${fmtInt(off.max)}`, '1.00×', fmtInt(off.cpu), '–', '–', fmtInt(off.failed)]);
  rows.push([`every ${intervalMs / 1000} s`, String(runs), fmtInt(on.rps), `${fmtInt(on.min)}–${fmtInt(on.max)}`, fmtRatio(on.rps / off.rps), fmtInt(on.cpu), fmtInt(on.scrapes), `${fmtMs(percentile(sorted, 50))} / ${fmtMs(percentile(sorted, 100))}`, fmtInt(on.failed)]);
  print();
  print('## hello world at max throughput, /metrics scraped and not');
  print();
  print(
    markdownTable(
      ['/metrics', 'runs', 'req/s (median)', 'min–max', 'vs not scraped', 'zdd CPU µs/req (median)', 'scrapes', 'scrape ms p50 / max (under load)', 'failed'],
      rows,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  print();
  const spread = (off.max - off.min) / off.rps;
  const delta = on.rps / off.rps - 1;
  // Within noise: the scraped median falls inside the range the not-scraped runs covered by themselves.
  const withinNoise = on.rps >= off.min && on.rps <= off.max;
  print(
    `Scraped vs not: ${delta >= 0 ? '+' : ''}${fmtPercent(delta)} req/s (medians); the not-scraped runs alone spread over ${fmtPercent(spread)} of their median ` +
      `(${fmtInt(off.min)}–${fmtInt(off.max)}), and the scraped median ${withinNoise ? 'lies inside that range: **within noise**' : 'lies outside it ⚠'}. ` +
      `CPU per request: ${fmtInt(off.cpu)} µs not scraped, ${fmtInt(on.cpu)} µs scraped.` +
      (Math.max(off.background, on.background) > 0.05 ? ` ⚠ other processes used up to ${fmtPercent(Math.max(off.background, on.background))} of the CPU during a run.` : ''),
  );
  print();
  const perScrape = scrapeCpuMs === undefined ? undefined : scrapeCpuMs / idleTimes.length;
  const idleSorted = [...idleTimes].sort((a, b) => a - b);
  print(
    `One scrape of the idle daemon (${idleTimes.length} back to back): ${perScrape === undefined ? '–' : fmtMs(perScrape)} ms of the daemon's CPU, ` +
      `${fmtMs(percentile(idleSorted, 50))} ms p50 / ${fmtMs(percentile(idleSorted, 99))} ms p99 to answer, ${fmtInt(one.bytes)} bytes` +
      (perScrape === undefined ? '.' : `: scraped every ${intervalMs / 1000} s, ${fmtPercent(perScrape / intervalMs)} of one core.`),
  );
  print();
  print(`Took ${Math.round((Date.now() - started) / 1000)} s.`);
}

runMain(main);
