import { Option, type Command } from 'commander';
import { ControlClient } from '../api/client.ts';
import { ZddError } from '../errors.ts';
import { findProject } from './project.ts';

export interface CommonOptions {
  config?: string;
  dataDir?: string;
  json?: boolean;
  /** A daemon's HTTP control listener (--url, ZDD_URL); its token comes from ZDD_TOKEN. */
  url?: string;
}

/** --config / --data-dir / --json on every command, with ZDD_CONFIG / ZDD_DATA_DIR as fallbacks. */
export function withCommonOptions(cmd: Command, json = true): Command {
  cmd.addOption(new Option('-c, --config <file>', 'config file (default: zdd.yaml in this folder or the nearest one above holding zdd.yaml or .zdd/)').env('ZDD_CONFIG'));
  cmd.addOption(new Option('-d, --data-dir <dir>', 'state directory (default: .zdd next to the config file)').env('ZDD_DATA_DIR'));
  if (json) cmd.option('--json', 'machine-readable output');
  return cmd;
}

/** --url / ZDD_URL on the commands that also work from another machine, through the daemon's control listener. */
export function withRemote(cmd: Command): Command {
  return cmd.addOption(new Option('--url <url>', "a zdd daemon's control listener, e.g. https://deploy.example.com:9900 (token: ZDD_TOKEN)").env('ZDD_URL'));
}

export function configPath(o: CommonOptions): string {
  return findProject(o).configPath;
}

export function dataDir(o: CommonOptions): string {
  return findProject(o).dataDir;
}

export function withClient<T>(o: CommonOptions, fn: (client: ControlClient) => Promise<T>): Promise<T> {
  return fn(new ControlClient(o.url ? remoteAddress(o.url) : { dataDir: dataDir(o) }));
}

function remoteAddress(raw: string): { url: URL; token: string } {
  const url = URL.parse(raw);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash) {
    throw new ZddError('USAGE', `--url / ZDD_URL must be an http or https URL such as https://deploy.example.com:9900, got "${raw}"`);
  }
  const token = process.env.ZDD_TOKEN?.trim();
  if (!token) {
    throw new ZddError('USAGE', `a remote daemon (${url.origin}) needs a token in ZDD_TOKEN`, "create one on the daemon's machine: zdd token create --name NAME [--role read], then export ZDD_TOKEN=<the token>");
  }
  return { url, token };
}
