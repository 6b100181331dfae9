import { ZddError } from '../errors.ts';
import { lastLines, listHookLogs, listLogs, logDir, splitStamp, type InstanceLog } from './log-files.ts';
import { LogFollower } from './log-follow.ts';

// What `zdd logs` shows, chosen from the log files of a data dir: used by the CLI on the daemon's
// machine and by the control API for a remote CLI, so that both choose and cut the same way.

export interface LogsQuery {
  release?: number | undefined;
  instance?: string | undefined;
  lines: number;
  /** The release's hooks' output instead of its instances'. */
  build?: boolean | undefined;
  /** Also what is written from now on (instances of newer releases included, unless instance/release pins them). */
  follow?: boolean | undefined;
}

export interface LogsLine {
  /** The instance's id, or "build" for hooks' output. */
  instance: string;
  at: string | null;
  text: string;
}

export interface LogsSelection {
  release: number;
  /** The instances (or "build") whose lines these are, in order. */
  instances: string[];
  lines: LogsLine[];
  /** With follow: call start(onLine, onNewInstance) once the lines above were shown; stop() ends it. */
  follower?: { start: (onLine: (l: LogsLine) => void, onNewInstance: (id: string) => void) => void; stop: () => void };
}

export function readLogs(dataDir: string, service: string, q: LogsQuery): LogsSelection {
  const dir = logDir(dataDir, service);
  if (q.build) return hookLogs(dir, service, q);
  const files = listLogs(dir, service);
  if (files.length === 0) throw new ZddError('NO_LOGS', `no instance logs for ${service}`, `deploy it first: zdd deploy ${service} (an instance's log file appears with its first output)`);
  const release = q.release ?? Math.max(...files.map((f) => f.release));
  const chosen = q.instance ? files.filter((f) => f.id === q.instance) : files.filter((f) => f.release === release);
  if (chosen.length === 0) throw new ZddError('USAGE', `no logs for ${q.instance ?? `release ${release}`} of ${service}`);
  let onLine: ((l: LogsLine) => void) | undefined;
  let onNew: ((id: string) => void) | undefined;
  const follower = q.follow
    ? new LogFollower({
        dir,
        service,
        // The release asked for (its replacements included), or the newest and every release after it.
        wants: (log) => (q.instance ? log.id === q.instance : q.release !== undefined ? log.release === q.release : log.release >= release),
        onLine: (log: InstanceLog, line: string) => onLine?.(toLine(log.id, line)),
        onNewFile: (log: InstanceLog) => onNew?.(log.id),
      })
    : undefined;
  const lines: LogsLine[] = [];
  for (const f of chosen) {
    // Read up to where following begins: no line twice, none missed.
    const end = follower?.track(f);
    for (const line of lastLines(f.file, q.lines, end)) lines.push(toLine(f.id, line));
  }
  const selection: LogsSelection = { release, instances: chosen.map((f) => f.id), lines };
  if (follower) {
    selection.follower = {
      start: (line, fresh) => {
        onLine = line;
        onNew = fresh;
        follower.start();
      },
      stop: () => follower.stop(),
    };
  }
  return selection;
}

/** The hooks' log of one release (hooks-r<n>.log): the newest release that has one, unless release says which. */
function hookLogs(dir: string, service: string, q: LogsQuery): LogsSelection {
  const logs = listHookLogs(dir);
  const chosen = q.release === undefined ? logs.at(-1) : logs.find((l) => l.release === q.release);
  if (!chosen) {
    throw new ZddError(
      'NO_LOGS',
      q.release === undefined ? `no build output for ${service}` : `no build output for release ${q.release} of ${service}`,
      'releases with a source folder and install, build, release or smoke commands have one',
    );
  }
  return { release: chosen.release, instances: ['build'], lines: lastLines(chosen.file, q.lines).map((l) => toLine('build', l)) };
}

function toLine(instance: string, raw: string): LogsLine {
  const { at, text } = splitStamp(raw);
  return { instance, at: at ?? null, text };
}
