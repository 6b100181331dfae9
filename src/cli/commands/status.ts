import { Command } from 'commander';
import type { DaemonHealth, ReleaseStatus, ServiceStatus } from '../../api/status.ts';
import type { DaemonInfo } from '../../daemon/paths.ts';
import { formatDuration } from '../../config/duration.ts';
import { bad, bold, dim, ms, ok, percent, table, warn } from '../format.ts';
import { withClient, withCommonOptions, withRemote, type CommonOptions } from '../context.ts';
import { hooksLine, sourceLine } from './history.ts';

interface StatusResponse {
  daemon: Omit<DaemonInfo, 'socket'> & { dataDir: string; health?: DaemonHealth | null };
  services: ServiceStatus[];
}

export function statusCommand(): Command {
  return withRemote(withCommonOptions(new Command('status')))
    .description('what runs: live release, instances and health, traffic, and any deployment in progress')
    .argument('[service]', 'only this service')
    .option('-w, --watch', 'refresh every second until interrupted')
    .action(async (service: string | undefined, o: CommonOptions & { watch?: boolean }) => {
      await withClient(o, async (c) => {
        const fetch = async (): Promise<StatusResponse> => {
          const s = await c.call<StatusResponse>('status', {});
          if (service) {
            s.services = s.services.filter((x) => x.name === service);
            if (s.services.length === 0) await c.call('service', { service }); // throws SERVICE_UNKNOWN
          }
          return s;
        };
        if (!o.watch) {
          const s = await fetch();
          process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : render(s));
          return;
        }
        for (;;) {
          const s = await fetch();
          process.stdout.write(o.json ? `${JSON.stringify(s)}\n` : `\x1b[2J\x1b[H${render(s)}${dim('\n(refreshing every second; Ctrl-C to stop)')}\n`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      });
    });
}

/** Hosts and paths it answers for, the certificate it serves, the https redirect. */
function frontDoorLines(svc: StatusResponse['services'][number], now: number): string[] {
  const out: string[] = [];
  if (svc.hosts.length > 0 || svc.paths.length > 0) {
    out.push(`  routes    ${svc.hosts.length > 0 ? svc.hosts.join(', ') : 'any host'}${svc.paths.length > 0 ? ` · paths ${svc.paths.join(', ')}` : ''}`);
  }
  const c = svc.tls;
  if (c) {
    const until = `valid until ${c.notAfter.slice(0, 10)} (${formatDuration(Date.parse(c.notAfter) - now)})`;
    if (c.source === 'self-signed') {
      out.push(warn(`  tls       self-signed stand-in${c.ordering ? ', ordering a certificate from ACME' : ''}: browsers will warn until ACME succeeds`));
    } else {
      out.push(`  tls       ${c.source === 'acme' ? 'ACME' : 'files'}: ${c.subject}, issued by ${c.issuer}, ${until}${c.renewAt ? `, renews ${c.renewAt.slice(0, 10)}` : ''}`);
    }
    if (c.error) out.push(warn(`  ⚠ ${c.error}${c.nextAttempt ? `; next attempt in ${formatDuration(Math.max(0, Date.parse(c.nextAttempt) - now))}` : ''}`));
  }
  if (svc.redirectHttp) out.push(dim(`  http      ${svc.redirectHttp} redirects to https (308) and answers ACME HTTP-01`));
  return out;
}

export function render(s: StatusResponse, now = Date.now()): string {
  const out: string[] = [dim(`zdd ${s.daemon.version} · pid ${s.daemon.pid} · up ${formatDuration(now - s.daemon.startedAt)} · ${s.daemon.dataDir}`)];
  out.push(...healthWarnings(s.daemon.health, s.daemon.dataDir, now), '');
  for (const svc of s.services) {
    out.push(`${bold(svc.name)}  ${svc.listen}  ${svc.strategy}  ${svc.replicas} replica(s)`);
    if (svc.pendingListen) out.push(warn(`  ⚠ zdd.yaml says listen ${svc.pendingListen}; the proxy listens on ${svc.listen} until zdd restart`));
    if (svc.pendingFrontDoor) out.push(warn(`  ⚠ ${svc.pendingFrontDoor.join(', ')} changed in zdd.yaml; applied at zdd restart`));
    out.push(...frontDoorLines(svc, now));
    if (svc.paused) {
      const since = `since ${new Date(svc.paused.since).toISOString().slice(0, 19).replace('T', ' ')} (${formatDuration(Math.max(0, now - svc.paused.since))})`;
      out.push(warn(svc.paused.maintenance === null ? `  paused (holding requests) ${since}` : `  paused ${since}; maintenance: ${svc.paused.maintenance}`));
      out.push(dim(`            end it with: zdd resume ${svc.name}`));
    }
    if (svc.held) out.push(warn(`  held      ${svc.held} request(s) waiting for an instance`));
    if (svc.workers) out.push(dim(`  workers   ${svc.workers.map((w) => `pid ${w.pid ?? '–'}: ${w.connections} conn${w.loopDelayMs ? `, loop p99 ${w.loopDelayMs.p99.toFixed(1)} ms` : ''}${w.rssBytes ? `, ${Math.round(w.rssBytes / 1048576)} MB` : ''}`).join(' · ')}`));
    if (svc.split.length > 1) out.push(`  traffic   ${svc.split.map((r) => `release ${r.release}: ${r.weight}%`).join(' · ')}`);
    const rows: string[][] = [];
    const release = (label: string, r: ReleaseStatus, note = '') => {
      const healthy = r.instances.filter((i) => i.health === 'healthy').length;
      const t = r.traffic;
      const health = `${healthy}/${r.instances.length} healthy`;
      rows.push([
        label,
        `release ${r.number} (${r.version})`,
        healthy === r.instances.length && healthy > 0 ? ok(health) : warn(health),
        `${t.requestsPerSecond.toFixed(1)} req/s`,
        `${percent(t.errorRate)} errors`,
        `p99 ${ms(t.p99Ms)}`,
        note,
      ]);
      if (r.source) rows.push(['', dim(`  code ${sourceLine(r.source, null)}`), r.hooks.length ? dim(hooksLine(r.hooks)) : '']);
      for (const i of r.instances) {
        const notes = [i.restarts ? warn(`${i.restarts} restart(s)`) : '', i.logDrops?.lines ? warn(`${i.logDrops.lines} log line(s) dropped`) : ''].filter(Boolean);
        rows.push(['', dim(`  ${i.id}`), i.health === 'healthy' ? i.health : warn(i.health), dim(`pid ${i.pid ?? '–'}`), dim(`port ${i.port}`), dim(`in flight ${i.inFlight}`), notes.join(' · ')]);
      }
    };
    if (svc.live) release('live', svc.live);
    else rows.push(['live', bad('nothing is live'), dim(`deploy with: zdd deploy ${svc.name}`)]);
    for (const r of svc.incoming) release('new', r);
    if (svc.standby) release('standby', svc.standby, dim(`warm for ${formatDuration(Math.max(0, svc.standby.until - now))} (instant rollback)`));
    for (const r of svc.retiring) release('draining', r);
    out.push(table(rows, '  '));
    if (svc.logDrops?.lines) {
      const error = [svc.live, svc.standby, ...svc.incoming, ...svc.retiring].flatMap((r) => r?.instances ?? []).find((i) => i.logDrops.error)?.logDrops.error;
      out.push(warn(`  ⚠ ${svc.logDrops.lines} line(s) (${bytes(svc.logDrops.bytes)}) of ${svc.name}'s output could not be written to its log files${error ? `: ${error}` : ''}`));
      out.push(dim(`    → free space under ${s.daemon.dataDir}; logging resumes by itself, traffic is not affected`));
    }
    const rejected = Object.entries(svc.rejected ?? {});
    if (rejected.length > 0) {
      const total = rejected.reduce((n, [, c]) => n + c, 0);
      out.push(dim(`  refused   ${total} request(s) the proxy answered itself: ${rejected.map(([status, c]) => `${status}×${c}`).join(' ')} (see Security in the README)`));
    }
    const d = svc.deployment;
    if (d) {
      out.push(warn(`  deploying #${d.id}: ${d.kind} of release ${d.release} (${d.strategy}), step "${d.step}", for ${formatDuration(now - d.startedAt)}`));
      if (d.paused) out.push(warn(`  ${d.paused}`), dim(`            decide with: zdd promote ${svc.name} or zdd abort ${svc.name}`));
      const a = d.analysis;
      if (a) {
        const side = (x: typeof a.canary) => `${percent(x.errorRate)} errors, p99 ${ms(x.p99Ms)} (n=${x.requests})`;
        out.push(`  analysis  ${a.outcome}: canary at ${a.canaryWeight}% ${side(a.canary)} · stable ${side(a.stable)}`);
        if (a.units) out.push(dim(`            ${a.units.canary} canary and ${a.units.stable} stable clients in this step; ${a.detectable}`));
        if (a.heavyHitter) out.push(dim(`            ${a.heavyHitter}`));
        out.push(dim(`            ${a.reason}`));
      }
    }
    out.push('');
  }
  return `${out.join('\n')}\n`;
}

/** What the daemon could not write: its database, its own log. */
function healthWarnings(h: DaemonHealth | null | undefined, dataDir: string, now: number): string[] {
  const out: string[] = [];
  if (h?.store.failedWrites) {
    const last = h.store.lastFailure;
    out.push(bad(`⚠ ${h.store.failedWrites} write(s) to zdd's database failed${last ? `; the last, ${formatDuration(now - last.at)} ago: ${last.message}` : ''}`));
    if (h.store.unsaved.length > 0) out.push(warn(`  not saved yet (zdd keeps trying): ${h.store.unsaved.join('; ')}`));
    out.push(dim(`  → free space on the filesystem that holds ${dataDir}: while writes fail, deploys and rollbacks cannot start and history has gaps`));
  }
  if (h?.droppedLogLines) out.push(warn(`⚠ ${h.droppedLogLines} line(s) of zdd's own log could not be written to its stdout`));
  return out;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
