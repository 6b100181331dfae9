import { chmodSync, unlinkSync } from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import { ZddError } from '../errors.ts';

/**
 * Binds the control socket. The socket doubles as the data dir's lock: a second daemon finds it bound
 * and answering, and refuses to start; a socket file left by a daemon that died is detected and replaced.
 */
export async function bindControlSocket(server: http.Server, socketPath: string, dataDir: string, ownerPid?: number): Promise<void> {
  try {
    await listen(server, socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    if (await answers(socketPath)) {
      throw new ZddError(
        'DAEMON_RUNNING',
        `another zdd daemon${ownerPid ? ` (pid ${ownerPid})` : ''} is already running with data dir ${dataDir}`,
        'stop it first (send it SIGTERM), or use another --data-dir',
      );
    }
    unlinkSync(socketPath);
    await listen(server, socketPath);
  }
  chmodSync(socketPath, 0o600);
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
