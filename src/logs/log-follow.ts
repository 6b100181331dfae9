import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { listLogs, type InstanceLog } from './log-files.ts';

/** Polled, not watched: a poll also sees files that appear, and files renamed by rotation. */
const pollMs = 200;

interface Followed {
  log: InstanceLog;
  fd: number;
  /** The inode the fd reads: when the name points at another, the file was rotated. */
  ino: number;
  offset: number;
  /** Bytes are read as they come: a character may be cut between two reads. */
  decoder: StringDecoder;
  partial: string;
}

export interface FollowOptions {
  dir: string;
  service: string;
  /** Whether a log file that appears is followed (the instances of a newer release, replacements). */
  wants: (log: InstanceLog) => boolean;
  onLine: (log: InstanceLog, line: string) => void;
  /** A file that appeared after the start is being followed from its first line. */
  onNewFile?: (log: InstanceLog) => void;
}

/**
 * `zdd logs -f`: prints what the chosen instances write, and picks up the log files of instances that
 * start later (a new release, a replacement) and the new file a rotation begins, until stopped.
 */
export class LogFollower {
  readonly #o: FollowOptions;
  readonly #followed = new Map<string, Followed>();
  #timer: NodeJS.Timeout | undefined;

  constructor(o: FollowOptions) {
    this.#o = o;
  }

  /** Follow a file already shown from here on; returns how far it was read (its size now). */
  track(log: InstanceLog): number {
    const f = this.#open(log);
    if (!f) return 0;
    f.offset = fstatSync(f.fd).size;
    return f.offset;
  }

  start(): void {
    this.#timer = setInterval(() => this.#poll(), pollMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    for (const f of this.#followed.values()) closeSync(f.fd);
    this.#followed.clear();
  }

  #poll(): void {
    for (const log of listLogs(this.#o.dir, this.#o.service)) {
      if (this.#followed.has(log.file) || !this.#o.wants(log)) continue;
      if (this.#open(log)) this.#o.onNewFile?.(log);
    }
    for (const f of [...this.#followed.values()]) {
      this.#read(f);
      const now = inode(f.log.file);
      if (now === undefined || now === f.ino) continue;
      // Rotated: the old file is complete once its name points elsewhere (the writer closed it first).
      this.#read(f);
      if (f.partial) this.#o.onLine(f.log, f.partial);
      closeSync(f.fd);
      this.#followed.delete(f.log.file);
      const next = this.#open(f.log);
      if (next) this.#read(next);
    }
  }

  #open(log: InstanceLog): Followed | undefined {
    let fd: number;
    try {
      fd = openSync(log.file, 'r');
    } catch {
      return undefined; // gone again: a later poll may see it
    }
    const f: Followed = { log, fd, ino: fstatSync(fd).ino, offset: 0, decoder: new StringDecoder('utf8'), partial: '' };
    this.#followed.set(log.file, f);
    return f;
  }

  #read(f: Followed): void {
    const size = fstatSync(f.fd).size;
    if (size < f.offset) f.offset = 0; // truncated
    const buf = Buffer.alloc(Math.min(size - f.offset, 1024 * 1024));
    while (f.offset < size) {
      const got = readSync(f.fd, buf, 0, Math.min(buf.length, size - f.offset), f.offset);
      if (got === 0) break;
      f.offset += got;
      const parts = (f.partial + f.decoder.write(buf.subarray(0, got))).split('\n');
      f.partial = parts.pop() ?? '';
      for (const line of parts) this.#o.onLine(f.log, line);
    }
  }
}

function inode(file: string): number | undefined {
  try {
    return statSync(file).ino;
  } catch {
    return undefined;
  }
}
