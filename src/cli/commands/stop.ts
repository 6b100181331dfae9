import { existsSync, readFileSync } from 'node:fs';
import { Command } from 'commander';
import { formatDuration } from '../../config/duration.ts';
import { socketPathFor } from '../../daemon/paths.ts';
import { dataDir, withClient, withCommonOptions, type CommonOptions } from '../context.ts';
import { dim } from '../format.ts';

/** How often the waiting command says it still waits: a drain can take each service's drainTimeout. */
const progressEveryMs = 2_000;

export function stopCommand(): Command {
  return withCommonOptions(new Command('stop'))
    .description('drain and stop the daemon: it stops accepting, lets requests in flight finish, stops the instances and exits')
    .action(async (o: CommonOptions) => {
      const startedAt = Date.now();
      const { pid } = await withClient(o, (c) => c.post<{ pid: number }>('/v1/daemon/stop'));
      const say = (line: string) => o.json || process.stdout.write(`${line}\n`);
      say(`stopping zdd (pid ${pid}): requests in flight finish, then the instances stop`);
      const socket = socketPathFor(dataDir(o));
      let nextProgress = startedAt + progressEveryMs;
      // The socket goes first, the process a moment later: stopped means both are gone.
      while (isRunning(pid) || existsSync(socket)) {
        if (Date.now() >= nextProgress) {
          say(dim(`  … still stopping (${formatDuration(Date.now() - startedAt)})`));
          nextProgress += progressEveryMs;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      const tookMs = Date.now() - startedAt;
      process.stdout.write(o.json ? `${JSON.stringify({ pid, stopped: true, tookMs })}\n` : `zdd stopped (pid ${pid}, ${formatDuration(tookMs)})\n`);
    });
}

/** A process that has exited but not been reaped by its parent yet (a zombie) has stopped. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true; // no /proc: kill(0) is all there is
  }
}
