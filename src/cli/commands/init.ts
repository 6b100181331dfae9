import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { formatListen, parseListen } from '../../config/listen.ts';
import { ZddError } from '../../errors.ts';
import { dim } from '../format.ts';
import { detectApp, renderConfig, type Folder } from '../init-template.ts';

const service = 'web';

export function initCommand(): Command {
  return new Command('init')
    .description('write a commented zdd.yaml for the app in this folder (a Node or Python app is recognised); never overwrites one')
    .option('--listen <address>', "where zdd's proxy accepts the service's traffic", '127.0.0.1:8080')
    .option('--json', 'machine-readable output')
    .action((o: { listen: string; json?: boolean }) => {
      const listen = parseListen(o.listen);
      if (!listen) throw new ZddError('USAGE', `--listen expects host:port (e.g. 127.0.0.1:8080) or a port, got "${o.listen}"`);
      const dir = process.cwd();
      const file = path.join(dir, 'zdd.yaml');
      const app = detectApp(folder(dir));
      try {
        // wx: a zdd.yaml written meanwhile is not overwritten either.
        writeFileSync(file, renderConfig(app, { service, listen: formatListen(listen) }), { flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        throw new ZddError('CONFIG_EXISTS', `${file} already exists; zdd init does not overwrite it`, 'edit it, or move it away and run zdd init again');
      }
      if (o.json) return void process.stdout.write(`${JSON.stringify({ file, service, kind: app.kind, command: app.command, from: app.from, notes: app.notes })}\n`);
      const what = app.kind === 'unknown' ? 'no Node or Python app found' : `a ${app.kind} app (${app.from})`;
      process.stdout.write(`wrote ${file}: service ${service}, ${what}\n  command: ${app.command}\n`);
      for (const n of app.notes) process.stdout.write(dim(`  · ${n}\n`));
      process.stdout.write(`next: check it, then run zdd serve here and zdd deploy ${service} in another terminal\n`);
    });
}

function folder(dir: string): Folder {
  return {
    read: (name) => {
      try {
        return readFileSync(path.join(dir, name), 'utf8');
      } catch {
        return undefined;
      }
    },
    has: (name) => existsSync(path.join(dir, name)),
  };
}
