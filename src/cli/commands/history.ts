import { Command } from 'commander';
import { historyLimit, integerIn } from '../../api/params.ts';
import { formatDuration } from '../../config/duration.ts';
import { ZddError } from '../../errors.ts';
import type { DeploymentStatus, DeploymentStep, HookRecord, ReleaseSource, ReleaseState } from '../../store/store.ts';
import { bad, bold, clock, dim, marks, ok, table, warn } from '../format.ts';
import { withClient, withCommonOptions, withRemote, type CommonOptions } from '../context.ts';

interface HistoryResponse {
  service: string;
  releases: {
    number: number;
    version: string;
    state: ReleaseState;
    createdAt: number;
    command: string | string[];
    cwd: string;
    env: Record<string, string>;
    folder?: string | null;
    prunedAt?: number | null;
    source?: ReleaseSource | null;
    hooks?: HookRecord[];
  }[];
  deployments: {
    id: number;
    kind: string;
    strategy: string;
    release: number | null;
    from: number | null;
    status: DeploymentStatus;
    reason: string | null;
    startedAt: number;
    finishedAt: number | null;
    steps: DeploymentStep[];
    notifications?: NotificationOutcome[];
  }[];
  events: { at: number; type: string; message: string; deployment: number | null }[];
  /** Notifications about no deployment (instance crashes). */
  notifications?: NotificationOutcome[];
}

/** What became of one notification (zdd.yaml's notify). */
interface NotificationOutcome {
  at: number;
  event: string;
  endpoint: string;
  ok: boolean;
  attempts: number;
  status: number | null;
  detail: string;
}

/** "deploy.succeeded → https://hooks.slack.com/… delivered (HTTP 200) after 1 attempt". */
function notificationLine(n: NotificationOutcome): string {
  return `${n.event} → ${n.endpoint} ${n.ok ? ok(n.detail) : bad(n.detail)}`;
}

export function historyCommand(): Command {
  return withRemote(withCommonOptions(new Command('history')))
    .description('releases and deployments of a service, with every step and outcome')
    .argument('<service>', 'service name from zdd.yaml')
    .option('-n, --limit <n>', `how many releases and deployments (${historyLimit.min} to ${historyLimit.max})`, '10')
    .option('--steps', 'show every step of every deployment (default: steps of the latest one and of failures)')
    .action(async (service: string, o: CommonOptions & { limit: string; steps?: boolean }) => {
      const limit = integerIn(o.limit, historyLimit.min, historyLimit.max);
      if (limit === undefined) throw new ZddError('USAGE', `-n/--limit expects a whole number from ${historyLimit.min} to ${historyLimit.max}, got "${o.limit}"`);
      const h = await withClient(o, (c) => c.call<HistoryResponse>('history', { service }, { query: { limit } }));
      process.stdout.write(o.json ? `${JSON.stringify(h, null, 2)}\n` : render(h, o.steps === true));
    });
}

/** Longest env line and value shown; `--json` has them whole. */
const envLineMax = 160;
const envValueMax = 40;

/**
 * A release's env on one line, KEY=value (values of secret-looking names arrive as [redacted]): long
 * values are cut, and keys past the line's length are counted, not shown.
 */
export function envLine(env: Record<string, string>): string {
  const pairs = Object.entries(env).map(([k, v]) => {
    const short = v.length > envValueMax ? `${v.slice(0, envValueMax - 1)}…` : v;
    return `${k}=${/[\s"]/.test(short) || short === '' ? JSON.stringify(short) : short}`;
  });
  let line = '';
  for (const [i, pair] of pairs.entries()) {
    if (line && line.length + pair.length + 1 > envLineMax) return `${line} ${dim(`(+${pairs.length - i} more: zdd history --json)`)}`;
    line = line ? `${line} ${pair}` : pair;
  }
  return line;
}

/** Where a release's code came from: folder, commit (dirty or not, or the ref), content hash, and whether its folder is gone. */
export function sourceLine(src: ReleaseSource, prunedAt: number | null): string {
  const git = src.commit ? ` @ ${src.commit.slice(0, 12)}${src.ref ? ` (${src.ref})` : ''}${src.dirty ? warn(' +uncommitted changes') : ''}` : '';
  return `${src.dir}${git} ${dim(src.hash.slice(0, 19))}${prunedAt ? dim(' · folder deleted (keepReleases)') : ''}`;
}

/** Each hook run of a release with its outcome and time: "build ok 3.2s · release ok 0.4s". */
export function hooksLine(hooks: HookRecord[]): string {
  return hooks.map((h) => `${h.hook} ${h.ok ? ok('ok') : bad('failed')} ${dim(formatDuration(h.ms))}`).join(' · ');
}

const stateColor: Record<ReleaseState, (s: string) => string> = {
  live: ok,
  canary: warn,
  standby: (s) => s,
  pending: warn,
  retired: dim,
  failed: bad,
};

const statusColor: Record<DeploymentStatus, (s: string) => string> = {
  succeeded: ok,
  running: warn,
  failed: bad,
  aborted: warn,
  'rolled-back': bad,
};

function render(h: HistoryResponse, allSteps: boolean): string {
  const out: string[] = [bold(`${h.service} — releases`)];
  if (h.releases.length === 0) out.push(dim('  none yet: deploy one with zdd deploy ' + h.service));
  out.push(
    table(
      [
        [dim('#'), dim('version'), dim('state'), dim('created'), dim('command')],
        ...h.releases.flatMap((r) => [
          [String(r.number), r.version, stateColor[r.state](r.state), clock(r.createdAt), Array.isArray(r.command) ? r.command.join(' ') : r.command],
          ...(Object.keys(r.env).length > 0 ? [['', '', '', '', `${dim('env')} ${envLine(r.env)}`]] : []),
          ...(r.source ? [['', '', '', '', `${dim('code')} ${sourceLine(r.source, r.prunedAt ?? null)}`]] : []),
          ...(r.hooks && r.hooks.length > 0 ? [['', '', '', '', `${dim('hooks')} ${hooksLine(r.hooks)}`]] : []),
        ]),
      ],
      '  ',
    ),
  );
  out.push('', bold('deployments'));
  if (h.deployments.length === 0) out.push(dim('  none yet'));
  h.deployments.forEach((d, i) => {
    const took = d.finishedAt ? formatDuration(d.finishedAt - d.startedAt) : 'running';
    const route = d.from ? `r${d.from} → r${d.release}` : `→ r${d.release}`;
    out.push(`  #${d.id}  ${clock(d.startedAt)}  ${d.kind.padEnd(8)} ${d.strategy.padEnd(10)} ${route.padEnd(10)} ${statusColor[d.status](d.status)} ${dim(took)}`);
    if (d.reason) out.push(`      ${d.status === 'succeeded' ? dim(d.reason) : bad(d.reason.split('\n').join('\n      '))}`);
    if (allSteps || i === 0 || d.status !== 'succeeded') {
      for (const s of d.steps) {
        if (s.status === 'started' && !s.detail) continue;
        const offset = formatDuration(s.at - d.startedAt);
        out.push(dim(`      +${offset.padEnd(6)} `) + `${marks[s.status]} ${s.step.padEnd(8)} ${(s.detail ?? '').split('\n').join('\n' + ' '.repeat(24))}`);
      }
    }
    for (const n of d.notifications ?? []) out.push(`      ${dim('notified')} ${notificationLine(n)}`);
  });
  if (h.notifications && h.notifications.length > 0) {
    out.push('', bold('notifications'));
    for (const n of h.notifications) out.push(`  ${clock(n.at)}  ${notificationLine(n)}`);
  }
  // Who asked, over the HTTP control listener (the Unix socket's user is the daemon's own).
  const requests = h.events.filter((e) => e.type === 'api');
  if (requests.length > 0) {
    out.push('', bold('requests over the control listener'));
    for (const e of requests) out.push(`  ${clock(e.at)}  ${e.message}`);
  }
  const instanceEvents = h.events.filter((e) => e.type === 'instance');
  if (instanceEvents.length > 0) {
    out.push('', bold('instance events'));
    for (const e of instanceEvents) out.push(`  ${clock(e.at)}  ${e.message}`);
  }
  return `${out.join('\n')}\n`;
}
