// The report of bench/tls.ts, from the measured values alone: markdown tables, their notes, zdd's ratios to
// each peer, and how to read them.
import type { ThroughputResult } from './load.ts';
import type { BackgroundTally } from './quiet.ts';
import { median } from './stats.ts';
import { fmtDeltaMs, fmtInt, fmtMs, fmtPercent, fmtRatio, markdownTable } from './table.ts';
import type { HandshakeResult, Protocol, RateLatency, ResumeCheck, ResumeWay } from './tls-load.ts';

export interface Throughput {
  runs: ThroughputResult[];
  /** Proxy CPU over all kept runs; undefined for direct or without /proc. */
  proxyCpuMs: number | undefined;
  /** Errors and non-2xx, discarded attempts included. */
  failed: number;
}

export interface Handshakes {
  result: HandshakeResult;
  proxyCpuMs: number | undefined;
}

export type LatencyRun = RateLatency & { target: string; protocol: Protocol; tls: boolean; share: number | undefined };

export const resumeWays: [ResumeWay, string][] = [
  ['tls1.3', 'TLS 1.3 (ticket)'],
  ['tls1.2', 'TLS 1.2 (ticket)'],
  ['tls1.2-id', 'TLS 1.2 (session ID, client takes no ticket)'],
];

export interface TlsResults {
  /** In measuring order; `tls` false for direct. */
  targets: { name: string; tls: boolean }[];
  settings: { runs: number; concurrency: number; h2Connections: number; streams: number; rateShare: number; latencyConnections: number; handshakeClients: number };
  /** Per protocol, per target; absent without h2load. */
  throughput: Map<Protocol, Map<string, Throughput>>;
  latency: LatencyRun[];
  rate: number;
  /** Per `<target>/<on|off>` (resumption). */
  handshakes: Map<string, Handshakes>;
  /** Per `<target>/<way>`. */
  resumption: Map<string, ResumeCheck>;
  tallies: Record<'h2' | 'h1' | 'latency' | 'handshakes', BackgroundTally>;
}

const protocolName: Record<Protocol, string> = { h2: 'HTTP/2', h1: 'HTTP/1.1' };

/** The median req/s of a target's throughput runs; NaN if none. */
export function typicalRps(r: TlsResults, protocol: Protocol, name: string): number {
  return median(r.throughput.get(protocol)?.get(name)?.runs.map((x) => x.rps) ?? []);
}

function cpuPerRequest(r: TlsResults, protocol: Protocol, name: string): number {
  const m = r.throughput.get(protocol)?.get(name);
  const served = m?.runs.reduce((s, x) => s + x.requests, 0) ?? 0;
  return m?.proxyCpuMs === undefined || served === 0 ? Number.NaN : (m.proxyCpuMs * 1000) / served;
}

function cpuPerConnection(h: Handshakes | undefined): number {
  return h?.proxyCpuMs === undefined || !h.result.connections ? Number.NaN : (h.proxyCpuMs * 1000) / h.result.connections;
}

/** The report's sections after its header, as markdown lines. */
export function tlsReport(r: TlsResults): string[] {
  return [...throughputSections(r), ...latencySection(r), ...handshakeSection(r), ...resumptionSection(r), ...ratioSection(r), ...howToRead()];
}

function section(title: string, intro: string | undefined, table: string, notes: (string | undefined)[]): string[] {
  const out = ['', `## ${title}`, ''];
  if (intro) out.push(intro, '');
  out.push(table);
  for (const n of notes) if (n) out.push('', n);
  return out;
}

function throughputSections(r: TlsResults): string[] {
  const s = r.settings;
  const out: string[] = [];
  for (const protocol of ['h2', 'h1'] as const) {
    const results = r.throughput.get(protocol);
    if (!results) continue;
    const rows = [...results].map(([name, m]) => {
      const tls = r.targets.find((t) => t.name === name)?.tls ?? true;
      const rps = typicalRps(r, protocol, name);
      const all = m.runs.map((x) => x.rps);
      return [
        tls ? name : `${name} (plain HTTP)`,
        fmtInt(rps),
        `${fmtInt(Math.min(...all))}–${fmtInt(Math.max(...all))}`,
        results.has('nginx') && tls ? fmtRatio(rps / typicalRps(r, protocol, 'nginx')) : '–',
        ...(protocol === 'h1' ? [results.has('direct') ? fmtRatio(rps / typicalRps(r, protocol, 'direct')) : '–'] : []),
        tls ? fmtInt(cpuPerRequest(r, protocol, name)) : '–',
        fmtInt(m.failed),
      ];
    });
    const headers = ['target', 'req/s (median)', `${s.runs} runs min–max`, 'vs nginx', ...(protocol === 'h1' ? ['vs direct'] : []), 'proxy CPU µs/req', 'failed'];
    const title = protocol === 'h2' ? `HTTP/2 over TLS: max throughput (${s.h2Connections} connections × ${s.streams} streams)` : `HTTP/1.1 over TLS: max throughput (${s.concurrency} connections)`;
    out.push(...section(title, undefined, markdownTable(headers, rows, ['l', ...headers.slice(1).map(() => 'r' as const)]), [r.tallies[protocol].note()]));
  }
  return out;
}

function latencySection(r: TlsResults): string[] {
  if (r.latency.length === 0) return [];
  const s = r.settings;
  const base = r.latency.find((l) => !l.tls);
  const notes: string[] = [];
  const rows = r.latency.map((l) => {
    const where = `${l.target}'s ${protocolName[l.protocol]}`;
    const disturbed = (l.share ?? 0) > 0.05;
    if (!l.keptUp) notes.push(`⚠ ${where} run did not serve ${fmtInt(l.rate)} req/s cleanly (${fmtInt(l.achievedRps)} req/s, ${l.errors} errors): its latency is queueing, not service time.`);
    if (disturbed) notes.push(`† other processes used ${fmtPercent(l.share)} of the CPU during ${where} latency run.`);
    const mark = (l.keptUp ? '' : ' ⚠') + (disturbed ? ' †' : '');
    const added = (f: (x: RateLatency) => number) => (base && l !== base ? fmtDeltaMs(f(l) - f(base)) : '–');
    return [
      l.target,
      l.tls ? `${protocolName[l.protocol]}, TLS` : 'HTTP/1.1, plain',
      fmtMs(l.p50Ms) + mark,
      fmtMs(l.p99Ms) + mark,
      fmtMs(l.maxMs),
      added((x) => x.p50Ms),
      added((x) => x.p99Ms),
      fmtInt(l.errors + l.non2xx),
    ];
  });
  const intro =
    `${Math.round(s.rateShare * 100)}% of the slowest TLS target's median max throughput, the same rate for every target over ${s.latencyConnections} connections, ` +
    `one request at a time on each; baseline: ${base ? '`direct`, the app over plain HTTP/1.1' : 'none (direct was not measured)'}`;
  const table = markdownTable(['target', 'protocol', 'p50 ms', 'p99 ms', 'max ms', 'p50 added ms', 'p99 added ms', 'failed'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r']);
  return section(`Added latency at ${fmtInt(r.rate)} req/s`, intro, table, [...notes, r.tallies.latency.note()]);
}

function handshakeSection(r: TlsResults): string[] {
  const shakes = r.handshakes;
  const rate = (h: Handshakes | undefined) => h?.result.perS ?? Number.NaN;
  const vsNginx = (name: string, mode: 'off' | 'on', f: (h: Handshakes | undefined) => number) =>
    shakes.has(`nginx/${mode}`) ? fmtRatio(f(shakes.get(`${name}/${mode}`)) / f(shakes.get(`nginx/${mode}`))) : '–';
  const rows = r.targets
    .filter((t) => t.tls)
    .map(({ name }) => {
      const off = shakes.get(`${name}/off`);
      const on = shakes.get(`${name}/on`);
      return [
        name,
        fmtInt(rate(off)),
        vsNginx(name, 'off', rate),
        fmtInt(cpuPerConnection(off)),
        fmtInt(rate(on)),
        vsNginx(name, 'on', rate),
        fmtInt(cpuPerConnection(on)),
        on ? fmtPercent(on.result.resumed / Math.max(1, on.result.connections)) : '–',
        fmtRatio(cpuPerConnection(on) / cpuPerConnection(off)),
      ];
    });
  const intro =
    `Each connection: a handshake, one \`GET /\` (HTTP/1.1, \`Connection: close\`) read to its end, close; ${r.settings.handshakeClients} \`openssl s_time\` ` +
    `processes side by side, no SNI. "resumed": every connection offers the session of its process's first one.`;
  const table = markdownTable(
    ['target', 'new: conn/s', 'vs nginx', 'new: proxy CPU µs/conn', 'resumed: conn/s', 'vs nginx', 'resumed: proxy CPU µs/conn', 'share resumed', 'CPU resumed / new'],
    rows,
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
  return section('Handshakes: TLS 1.3, new sessions and resumed ones', intro, table, [r.tallies.handshakes.note()]);
}

function resumptionSection(r: TlsResults): string[] {
  const rows = r.targets.filter((t) => t.tls).map(({ name }) => [name, ...resumeWays.map(([way]) => r.resumption.get(`${name}/${way}`) ?? '–')]);
  const intro = 'Node’s TLS client with SNI bench.test: a first connection (one request read to its end), then a second offering its session. `not resumable`: the server gave nothing to resume with.';
  return section('Does the server resume sessions?', intro, markdownTable(['target', ...resumeWays.map(([, label]) => label)], rows), []);
}

function ratioSection(r: TlsResults): string[] {
  const tlsNames = r.targets.filter((t) => t.tls).map((t) => t.name);
  const peers = tlsNames.filter((n) => n !== 'zdd');
  if (!tlsNames.includes('zdd') || peers.length === 0) return [];
  const metrics: [string, (name: string) => number][] = [
    ['HTTP/2 req/s (higher is better)', (n) => typicalRps(r, 'h2', n)],
    ['HTTP/1.1 req/s (higher is better)', (n) => typicalRps(r, 'h1', n)],
    ['HTTP/2 proxy CPU per request (lower is better)', (n) => cpuPerRequest(r, 'h2', n)],
    ['HTTP/1.1 proxy CPU per request (lower is better)', (n) => cpuPerRequest(r, 'h1', n)],
    ['new TLS connections/s (higher is better)', (n) => r.handshakes.get(`${n}/off`)?.result.perS ?? Number.NaN],
    ['proxy CPU per new TLS connection (lower is better)', (n) => cpuPerConnection(r.handshakes.get(`${n}/off`))],
    ['proxy CPU per resumed TLS connection (lower is better)', (n) => cpuPerConnection(r.handshakes.get(`${n}/on`))],
  ];
  const rows = metrics.map(([label, f]) => [label, ...peers.map((p) => fmtRatio(f('zdd') / f(p)))]).filter((row) => row.slice(1).some((c) => c !== '–'));
  return section('zdd next to the others: ratios from this run', undefined, markdownTable(['measure', ...peers.map((p) => `zdd ÷ ${p}`)], rows, ['l', ...peers.map(() => 'r' as const)]), []);
}

function howToRead(): string[] {
  return [
    '',
    '## How to read it',
    '',
    'Ratios are from this one run, the targets taking turns, so slow drifts of the machine hit them alike. `vs nginx` above 1 is better for req/s and conn/s. ' +
      '`proxy CPU µs/req` (and `/conn`) is the least noisy figure and the one that says what terminating TLS costs each server: load generator, proxy and app share ' +
      'the same cores, so req/s is bounded by all three together (and nginx’s conn/s by the s_time clients). `p50/p99 added` is each target’s latency minus the app’s ' +
      'own over plain HTTP/1.1 at the same rate: what TLS and the proxy hop add. In the handshake table each connection also carries one proxied request (the ' +
      'HTTP/1.1 table says what a request costs on its own). `share resumed` says whether the server took the offered session (100%: every time; 0%: never). ' +
      'A TLS 1.3 resumption still does an (EC)DHE key exchange: it saves the certificate and its signature, not the key exchange, so `CPU resumed / new` of ' +
      '0.6–0.9 is what working resumption looks like with a P-256 certificate (an RSA key would save more). `failed` should be 0 everywhere. ⚠ marks a latency ' +
      'figure taken at a rate the target did not serve, † one disturbed by other processes.',
  ];
}
