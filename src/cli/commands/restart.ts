import { Command } from 'commander';
import { withClient, withCommonOptions, type CommonOptions } from '../context.ts';

export function restartCommand(): Command {
  return withCommonOptions(new Command('restart'))
    .description('restart the daemon without a gap (e.g. after upgrading zdd): a new one takes over the sockets once its instances are healthy')
    .action(async (o: CommonOptions) => {
      const r = await withClient(o, (c) => c.post<{ from: number; to: number; output?: string }>('/v1/daemon/restart'));
      if (o.json) return void process.stdout.write(`${JSON.stringify(r)}\n`);
      process.stdout.write(`zdd restarted: pid ${r.from} → pid ${r.to}; the old daemon drains and exits\n`);
      // A foreground `zdd serve` ends here: the new daemon is a process of its own, outside that terminal's Ctrl-C.
      const output = r.output ? `; its output goes to ${r.output}` : '';
      process.stdout.write(`the new daemon (pid ${r.to}) runs detached${output}; stop it with: zdd stop\n`);
    });
}
