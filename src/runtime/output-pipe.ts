import { execFile } from 'node:child_process';
import { closeSync, constants, openSync, readdirSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Socket } from 'node:net';

/**
 * An instance's stdout and stderr: a named pipe (FIFO) beside its log file, not an anonymous pipe. The
 * instance's end is opened for reading and writing, so the pipe has a reader for as long as the app
 * runs: when zdd dies (kill -9), the app's writes do not fail with EPIPE or SIGPIPE (which ends most
 * apps at their next log line) but wait in the pipe (64 KiB, after which writes block), and the next
 * zdd, adopting the instance, opens the FIFO by its name and reads on from there.
 */
export interface OutputPipe {
  /** The app's stdout and stderr: give it to the child, then close it here (closeChildEnd). */
  readonly childFd: number;
  /** What the app writes; ends once the app and everything it started have closed their end. */
  readonly reader: Socket;
  closeChildEnd(): void;
}

/** The FIFO of an instance whose log file is `logFile`. */
export function outputPipePath(logFile: string): string {
  return logFile.replace(/\.log$/, '') + '.out';
}

/** Makes the FIFO for an instance about to start; false where none can be made (it then gets anonymous pipes). */
export async function makeOutputFifo(file: string): Promise<boolean> {
  try {
    await mkdir(path.dirname(file), { recursive: true });
    rmSync(file, { force: true });
  } catch {
    return false;
  }
  // Node has no mkfifo(); coreutils' does it, off the event loop (a few ms).
  return new Promise((resolve) => execFile('mkfifo', ['-m', '600', file], (err) => resolve(!err)));
}

/** Both ends of a FIFO makeOutputFifo made: the child's, and the one this daemon reads. */
export function openOutputPipe(file: string): OutputPipe | undefined {
  let readFd: number;
  try {
    // Read end first (O_NONBLOCK: does not wait for a writer), then the child's; until the child holds
    // its end nothing reads, so the reader cannot see an end-of-file before the app has begun.
    readFd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  let childFd: number | undefined;
  try {
    childFd = openSync(file, constants.O_RDWR);
  } catch {
    closeSync(readFd);
    return undefined;
  }
  return {
    childFd,
    reader: new Socket({ fd: readFd, readable: true, writable: false }),
    closeChildEnd() {
      if (childFd === undefined) return;
      closeSync(childFd);
      childFd = undefined;
    },
  };
}

/** The FIFO of an instance a previous zdd started, opened to read on; undefined when it has none. */
export function reopenOutputPipe(file: string): Socket | undefined {
  try {
    return new Socket({ fd: openSync(file, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false });
  } catch {
    return undefined;
  }
}

export function removeOutputPipe(file: string): void {
  rmSync(file, { force: true });
}

/**
 * After a crash: the FIFOs under `logsDir` (.zdd/logs/<service>/<id>.out) of instances that are not
 * running any more (those not adopted were stopped, or had exited meanwhile) go.
 */
export function removeStaleOutputPipes(logsDir: string, running: ReadonlySet<string>): void {
  let services: string[];
  try {
    services = readdirSync(logsDir);
  } catch {
    return;
  }
  for (const service of services) {
    let names: string[];
    try {
      names = readdirSync(path.join(logsDir, service));
    } catch {
      continue;
    }
    for (const name of names) if (name.endsWith('.out') && !running.has(name.slice(0, -4))) rmSync(path.join(logsDir, service, name), { force: true });
  }
}
