import { Command } from 'commander';
import type { PauseAnswer } from '../../api/pause.ts';
import { withClient, withCommonOptions, withRemote, type CommonOptions } from '../context.ts';

export function pauseCommand(): Command {
  return withRemote(withCommonOptions(new Command('pause')))
    .description('hold new requests (up to proxy.holdTimeout each) until zdd resume; requests in flight finish')
    .argument('<service>', 'service name from zdd.yaml')
    .option('--maintenance <text>', 'answer new requests at once with 503 and this text instead of holding them')
    .action(async (service: string, o: CommonOptions & { maintenance?: string }) => {
      const r = await withClient(o, (c) => c.call<PauseAnswer>('pause', { service }, { body: { maintenance: o.maintenance } }));
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${r.message}\n`);
    });
}
