import { chmodSync, rmSync } from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { ZddError } from '../errors.ts';
import { inDataDir } from './paths.ts';
import { ensurePrivateDir, errnoOf, verifySocketFile } from './socket-trust.ts';

/**
 * Binds the control socket. The socket doubles as the data dir's lock: a second daemon finds it bound
 * and answering, and refuses to start; a socket file left by a daemon of this user that died is detected
 * and replaced. Anything else in its place (another user's socket, a file that is no socket) is left alone.
 */
export async function bindControlSocket(server: http.Server, socketPath: string, dataDir: string, ownerPid?: number): Promise<void> {
  if (!inDataDir(socketPath, dataDir)) ensurePrivateDir(path.dirname(socketPath));
  try {
    await listen(server, socketPath);
  } catch (err) {
    if (errnoOf(err) !== 'EADDRINUSE') throw cannotBind(socketPath, err);
    verifySocketFile(socketPath, 'daemon');
    if (await answers(socketPath)) {
      throw new ZddError(
        'DAEMON_RUNNING',
        `another zdd daemon${ownerPid ? ` (pid ${ownerPid})` : ''} is already running with data dir ${dataDir}`,
        'stop it first (send it SIGTERM), or use another --data-dir',
      );
    }
    rmSync(socketPath, { force: true });
    await listen(server, socketPath).catch((e: unknown) => {
      throw cannotBind(socketPath, e);
    });
  }
  chmodSync(socketPath, 0o600);
}

function cannotBind(socketPath: string, err: unknown): ZddError {
  return new ZddError('SOCKET_BIND_FAILED', `cannot create the control socket ${socketPath}: ${(err as Error).message}`, 'check that this user may write to its directory, or use another --data-dir', { cause: err });
}

function listen(server: http.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(socketPath, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
