import { Command } from 'commander';
import { withClient, withCommonOptions, type CommonOptions } from '../context.ts';

export function restartCommand(): Command {
  return withCommonOptions(new Command('restart'))
    .description('restart the daemon without a gap (e.g. after upgrading zdd): a new one takes over the sockets once its instances are healthy')
    .action(async (o: CommonOptions) => {
      const r = await withClient(o, (c) => c.post<{ from: number; to: number }>('/v1/daemon/restart'));
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `zdd restarted: pid ${r.from} → pid ${r.to}; the old daemon drains and exits\n`);
    });
}
