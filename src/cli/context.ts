import { Option, type Command } from 'commander';
import { ControlClient } from '../api/client.ts';
import { findProject } from './project.ts';

export interface CommonOptions {
  config?: string;
  dataDir?: string;
  json?: boolean;
}

/** --config / --data-dir / --json on every command, with ZDD_CONFIG / ZDD_DATA_DIR as fallbacks. */
export function withCommonOptions(cmd: Command, json = true): Command {
  cmd.addOption(new Option('-c, --config <file>', 'config file (default: zdd.yaml in this folder or the nearest one above holding zdd.yaml or .zdd/)').env('ZDD_CONFIG'));
  cmd.addOption(new Option('-d, --data-dir <dir>', 'state directory (default: .zdd next to the config file)').env('ZDD_DATA_DIR'));
  if (json) cmd.option('--json', 'machine-readable output');
  return cmd;
}

export function configPath(o: CommonOptions): string {
  return findProject(o).configPath;
}

export function dataDir(o: CommonOptions): string {
  return findProject(o).dataDir;
}

export function withClient<T>(o: CommonOptions, fn: (client: ControlClient) => Promise<T>): Promise<T> {
  return fn(new ControlClient(dataDir(o)));
}
