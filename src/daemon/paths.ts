import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Unix socket paths are limited to ~107 bytes; deep data dirs get a socket in the temp dir instead.
const maxSocketPath = 100;

export interface DaemonInfo {
  pid: number;
  socket: string;
  startedAt: number;
  config: string;
  version: string;
}

export function daemonInfoFile(dataDir: string): string {
  return path.join(dataDir, 'daemon.json');
}

export function socketPathFor(dataDir: string): string {
  const direct = path.join(dataDir, 'zdd.sock');
  if (direct.length <= maxSocketPath) return direct;
  let real = dataDir;
  try {
    real = realpathSync(dataDir);
  } catch {
    // not created yet: hash the path as given
  }
  return path.join(os.tmpdir(), `zdd-${createHash('sha256').update(real).digest('hex').slice(0, 16)}.sock`);
}

export function readDaemonInfo(dataDir: string): DaemonInfo | undefined {
  try {
    return JSON.parse(readFileSync(daemonInfoFile(dataDir), 'utf8')) as DaemonInfo;
  } catch {
    return undefined;
  }
}
