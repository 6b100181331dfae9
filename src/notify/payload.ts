import { formatDuration } from '../config/duration.ts';
import type { NotifyEvent } from '../config/notify.ts';
import type { DeploymentKind, DeploymentStatus } from '../store/store.ts';

// What a notification says: the JSON body zdd POSTs, built from plain values. Its `text` is a one-line
// summary, so a Slack (or Mattermost, Rocket.Chat) incoming-webhook URL works as it is.

export type Outcome = 'running' | 'paused' | DeploymentStatus | 'crashed';

export interface NotifyPayload {
  event: NotifyEvent;
  /** Unique per notification, the same on every attempt (also in the x-zdd-delivery header). */
  delivery: string;
  service: string;
  /** The deployment it is about; null for an instance crash. */
  deployment: number | null;
  /** deploy, rollback or restore (the daemon bringing back the live release); null for a crash. */
  kind: DeploymentKind | null;
  release: number;
  version: string;
  /** The release live before the deployment began. */
  previous: { release: number; version: string } | null;
  /** blue-green, canary, rolling, initial (a service's first release), instant (a rollback to a warm release). */
  strategy: string | null;
  outcome: Outcome;
  reason: string | null;
  /** totalMs so far, and each measured step: snapshotMs, buildMs, startMs, smokeMs, step1Ms, switchMs… (crashes: uptimeMs). */
  durations: Record<string, number>;
  instance?: string;
  /** The service in zdd's dashboard, when the daemon has a control listener. */
  link?: string;
  /** When it happened (ISO 8601). */
  at: string;
  /** One line for people (Slack's field). */
  text: string;
}

/** What the engine told about one deployment so far. */
export interface DeploymentFacts {
  service: string;
  deployment: number;
  kind: DeploymentKind;
  strategy: string;
  release: { number: number; version: string };
  previous: { number: number; version: string } | null;
  startedAt: number;
  durations: Record<string, number>;
}

export type DeploymentMoment =
  | { event: 'deploy.started' }
  | { event: 'deploy.paused'; reason: string }
  | { event: 'deploy.succeeded' | 'deploy.failed' | 'deploy.rolled_back'; status: DeploymentStatus; reason: string | null };

/** The notification a finished deployment makes; restores (a daemon starting) only when they did not succeed. */
export function finishedEvent(kind: DeploymentKind, status: DeploymentStatus): 'deploy.succeeded' | 'deploy.failed' | 'deploy.rolled_back' | undefined {
  if (kind === 'restore' && status === 'succeeded') return undefined;
  if (status === 'succeeded') return 'deploy.succeeded';
  if (status === 'rolled-back') return 'deploy.rolled_back';
  return status === 'running' ? undefined : 'deploy.failed';
}

export function deploymentPayload(f: DeploymentFacts, m: DeploymentMoment, o: { delivery: string; now: number; dashboardUrl?: string | undefined }): NotifyPayload {
  const outcome: Outcome = m.event === 'deploy.started' ? 'running' : m.event === 'deploy.paused' ? 'paused' : m.status;
  const reason = m.event === 'deploy.started' ? null : m.reason;
  const durations = m.event === 'deploy.started' ? {} : { totalMs: o.now - f.startedAt, ...f.durations };
  return {
    event: m.event,
    delivery: o.delivery,
    service: f.service,
    deployment: f.deployment,
    kind: f.kind,
    release: f.release.number,
    version: f.release.version,
    previous: f.previous && { release: f.previous.number, version: f.previous.version },
    strategy: f.strategy,
    outcome,
    reason,
    durations,
    ...link(f.service, o.dashboardUrl),
    at: new Date(o.now).toISOString(),
    text: deploymentText(f, outcome, reason, o.now - f.startedAt),
  };
}

export function crashPayload(
  c: { service: string; release: { number: number; version: string }; instance: string; how: string; uptimeMs: number },
  o: { delivery: string; now: number; dashboardUrl?: string | undefined },
): NotifyPayload {
  const reason = `${c.instance} ${c.how} while serving`;
  return {
    event: 'instance.crashed',
    delivery: o.delivery,
    service: c.service,
    deployment: null,
    kind: null,
    release: c.release.number,
    version: c.release.version,
    previous: null,
    strategy: null,
    outcome: 'crashed',
    reason,
    durations: { uptimeMs: c.uptimeMs },
    instance: c.instance,
    ...link(c.service, o.dashboardUrl),
    at: new Date(o.now).toISOString(),
    text: `${c.service} ${releaseName(c.release)}: instance ${reason} (up ${formatDuration(c.uptimeMs)}); zdd replaces it`,
  };
}

/** "web r5 (v2) deployed by canary in 42s", "web r5 (v2) rolled back after 3.2s: error rate 30% on canary vs 0%…". */
export function deploymentText(f: Pick<DeploymentFacts, 'service' | 'kind' | 'strategy' | 'release' | 'previous'>, outcome: Outcome, reason: string | null, ms: number): string {
  const who = `${f.service} ${releaseName(f.release)}`;
  const took = formatDuration(ms);
  const why = reason ? `: ${firstLine(reason)}` : '';
  switch (outcome) {
    case 'running':
      return `${who}: ${f.kind} started (${f.strategy})${f.previous ? `, from ${releaseName(f.previous)}` : ''}`;
    case 'paused': {
      // A canary waits for either; a paused rolling update only for zdd abort (which reverts it).
      const next = f.strategy === 'rolling' ? `revert with zdd abort ${f.service}` : `decide with zdd promote ${f.service} or zdd abort ${f.service}`;
      return `${who} paused${reason ? `: ${firstLine(reason).replace(/^paused:\s*/, '').replace(/: zdd abort to revert$/, '')}` : ''}; ${next}`;
    }
    case 'succeeded':
      return f.kind === 'deploy' ? `${who} deployed by ${f.strategy} in ${took}` : `${who} live again by ${f.kind} (${f.strategy}) in ${took}`;
    case 'rolled-back':
      return `${who} rolled back after ${took}${why}`;
    case 'aborted':
      return `${who} ${f.kind} aborted after ${took}${why}`;
    default:
      return `${who} ${f.kind} failed after ${took}${why}`;
  }
}

/** A step's key in `durations`: "start" → startMs, "step 1/3" → step1Ms, "batch 2" → batch2Ms. */
export function durationKey(step: string): string {
  const words = step.replace(/\/\d+$/, '').toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
  return `${words.map((w, i) => (i === 0 ? w : w[0]!.toUpperCase() + w.slice(1))).join('')}Ms`;
}

function releaseName(r: { number: number; version: string }): string {
  return r.version === `r${r.number}` ? `r${r.number}` : `r${r.number} (${r.version})`;
}

/** A reason's first line, at most 300 characters: the whole one is in `reason`. */
function firstLine(s: string): string {
  const line = s.split('\n')[0]!;
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}

function link(service: string, dashboardUrl: string | undefined): { link?: string } {
  return dashboardUrl === undefined ? {} : { link: `${dashboardUrl}#/services/${encodeURIComponent(service)}` };
}
