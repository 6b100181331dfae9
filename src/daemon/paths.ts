import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Unix socket paths are limited to ~107 bytes; deep data dirs get a socket in a private directory instead.
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

/**
 * Where the sockets of deep data dirs live: a directory of this user's own (see socket-trust.ts), never the
 * shared temp dir itself, where another user could bind the name first and receive deploy requests.
 */
export function privateSocketDir(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  if (runtime && path.isAbsolute(runtime)) return path.join(runtime, 'zdd');
  return path.join(os.tmpdir(), `zdd-${process.getuid?.() ?? os.userInfo().username}`);
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
  return path.join(privateSocketDir(), `zdd-${createHash('sha256').update(real).digest('hex').slice(0, 16)}.sock`);
}

/** The socket sits in the data dir itself (short paths) rather than in the private socket directory. */
export function inDataDir(socketPath: string, dataDir: string): boolean {
  return realOrResolved(path.dirname(socketPath)) === realOrResolved(dataDir);
}

function realOrResolved(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

export function readDaemonInfo(dataDir: string): DaemonInfo | undefined {
  try {
    return JSON.parse(readFileSync(daemonInfoFile(dataDir), 'utf8')) as DaemonInfo;
  } catch {
    return undefined;
  }
}
