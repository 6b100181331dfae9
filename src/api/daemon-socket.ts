import { readFileSync } from 'node:fs';
import path from 'node:path';
import { daemonInfoFile, inDataDir, socketPathFor, type DaemonInfo } from '../daemon/paths.ts';
import { errnoOf, nearestOwner, verifyPrivateDir, verifySocketFile } from '../daemon/socket-trust.ts';
import { ZddError } from '../errors.ts';

/**
 * The control socket of a data dir's daemon, checked before a request (with its env) goes to it: the
 * socket, and its directory when that is not the data dir, must belong to this user. One that does not
 * exist (yet) is returned as is: connecting then fails with ENOENT, which the client waits out a moment.
 */
export function trustedSocket(dataDir: string): string {
  const socketPath = recordedSocket(dataDir) ?? socketPathFor(dataDir);
  try {
    if (!inDataDir(socketPath, dataDir) && !verifyPrivateDir(path.dirname(socketPath))) return socketPath;
    verifySocketFile(socketPath, 'client');
    return socketPath;
  } catch (err) {
    throw err instanceof ZddError ? err : connectionError(err, dataDir, socketPath);
  }
}

/** A failure to reach or talk to the socket, as an error that says what to do (never a bare errno). */
export function connectionError(err: unknown, dataDir: string, socketPath: string): ZddError {
  const code = errnoOf(err);
  if (code === 'EACCES' || code === 'EPERM') return accessDenied(dataDir, socketPath);
  if (code === 'ENOTSOCK') return new ZddError('NOT_A_SOCKET', `${socketPath} is not a socket, so no zdd daemon listens there`, 'remove it, then start the daemon: zdd serve');
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return new ZddError('DAEMON_GONE', 'the daemon closed the connection before answering', 'see whether it still runs, and what it did: zdd status');
  }
  return new ZddError('CONTROL_SOCKET_FAILED', `cannot talk to the daemon at ${socketPath}: ${(err as Error).message}`, "see the daemon's log", { cause: err });
}

/** The socket daemon.json names; none when there is no readable daemon.json (no daemon yet, or one being written). */
function recordedSocket(dataDir: string): string | undefined {
  const file = daemonInfoFile(dataDir);
  try {
    const socket = (JSON.parse(readFileSync(file, 'utf8')) as Partial<DaemonInfo>).socket;
    return typeof socket === 'string' ? socket : undefined;
  } catch (err) {
    if (errnoOf(err) === 'EACCES' || errnoOf(err) === 'EPERM') throw accessDenied(dataDir, file);
    return undefined;
  }
}

function accessDenied(dataDir: string, denied: string): ZddError {
  const seen = nearestOwner(denied);
  const where = seen ? ` (${seen.path === denied ? 'it' : seen.path} belongs to ${seen.owner})` : '';
  return new ZddError(
    'SOCKET_ACCESS_DENIED',
    `cannot reach the zdd daemon of data dir ${dataDir}: permission denied on ${denied}${where}`,
    seen && !seen.ours ? `run zdd as ${seen.owner}, the user running the daemon` : `check the permissions of ${denied} and of the directories above it`,
  );
}
