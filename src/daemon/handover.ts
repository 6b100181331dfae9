import { spawn, type ChildProcess } from 'node:child_process';
import type net from 'node:net';
import { formatDuration } from '../config/duration.ts';
import { zddEntry } from '../entry-point.ts';
import type { FrontDoor } from '../proxy/front-door.ts';

// A restart of zdd without a gap: the running daemon starts its successor, which brings the live
// releases up on its own instances, then receives the front door's listening sockets over IPC and serves
// from them; only then does the old daemon stop accepting and drain. The sockets are the same
// sockets (one accept queue), so no connection is refused or lost on the way.

export type HandoverMessage =
  /** Successor → old: instances healthy, send the sockets for these addresses (as formatListen writes them). */
  | { type: 'ready'; listen: string[] }
  /** Old → successor: this address's listening socket comes with the message. */
  | { type: 'socket'; listen: string }
  /** Old → successor: that was every socket that matches. */
  | { type: 'sockets-sent' }
  /** Successor → old: serving from every socket; stop accepting and drain. */
  | { type: 'serving'; pid: number };

export interface SuccessorOptions {
  configPath: string;
  dataDir: string;
  logFormat: string;
  front: FrontDoor;
  /** Other listening sockets to hand over (the control listener), by key. */
  extra?: { listen: string; server: net.Server }[];
  timeoutMs: number;
}

/** Old daemon: start the successor and hand it the sockets once it is ready. Resolves when it serves. */
export function startSuccessor(o: SuccessorOptions): Promise<ChildProcess> {
  // The successor runs the zdd that is on disk now: a restart is also how zdd itself is upgraded. In a
  // checkout that is dist/ only while it is current, as bin/zdd decides (not process.argv[1] again).
  const args = [...process.execArgv, zddEntry(), 'serve', '--config', o.configPath, '--data-dir', o.dataDir, '--log-format', o.logFormat, '--takeover'];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.off('exit', onExit);
      if (!err) {
        child.disconnect();
        child.unref();
        return resolve(child);
      }
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      reject(err);
    };
    const onExit = (code: number | null) => settle(new Error(`the new daemon exited (code ${code}) before taking over; its log says why`));
    const timer = setTimeout(() => settle(new Error(`the new daemon did not take over within ${formatDuration(o.timeoutMs)}`)), o.timeoutMs);
    child.once('exit', onExit);
    child.once('error', (err) => settle(err));
    child.on('message', (m: HandoverMessage) => {
      if (m.type === 'ready') {
        for (const a of o.front.addresses) {
          if (m.listen.includes(a.listen)) child.send({ type: 'socket', listen: a.listen } satisfies HandoverMessage, a.listener.server);
        }
        for (const e of o.extra ?? []) if (m.listen.includes(e.listen)) child.send({ type: 'socket', listen: e.listen } satisfies HandoverMessage, e.server);
        child.send({ type: 'sockets-sent' } satisfies HandoverMessage);
      } else if (m.type === 'serving') {
        settle();
      }
    });
  });
}

/**
 * Successor: say what it serves, and adopt each socket the old daemon sends. `adopt` must take the
 * socket at once (synchronously): until it does, Node's stand-in server for it would accept
 * connections that nobody handles.
 */
export function receiveSockets(listen: string[], adopt: (listen: string, handle: net.Server) => void): Promise<number> {
  let adopted = 0;
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('--takeover is only for a daemon started by zdd restart'));
    const onMessage = (m: HandoverMessage, handle?: net.Server) => {
      if (m.type === 'socket' && handle) {
        adopt(m.listen, handle);
        adopted++;
      }
      if (m.type === 'sockets-sent') {
        process.off('message', onMessage);
        resolve(adopted);
      }
    };
    process.on('message', onMessage);
    process.once('disconnect', () => reject(new Error('the previous daemon went away before handing over its sockets')));
    process.send({ type: 'ready', listen } satisfies HandoverMessage);
  });
}

/** Successor: tell the old daemon it can stop accepting, and let go of the channel. */
export function announceServing(): void {
  process.send?.({ type: 'serving', pid: process.pid } satisfies HandoverMessage);
  process.disconnect?.();
}
