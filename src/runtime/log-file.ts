import { EventEmitter } from 'node:events';
import { close, closeSync, fstatSync, mkdirSync, openSync, renameSync, unlinkSync, write } from 'node:fs';
import path from 'node:path';

/** Output an instance's log file lost: counted, so status and the daemon log can say so. */
export interface LogDrops {
  /** Lines (or pieces of lines, when a long line came in several chunks) that were not written. */
  lines: number;
  bytes: number;
  /** Why the last write failed, e.g. "ENOSPC: no space left on device, write". */
  error: string | null;
}

export interface LogFileOptions {
  /** After a failed write, output is dropped for this long before writing is tried again. */
  retryMs?: number;
  /** While output is being dropped, 'dropping' is emitted at most this often. */
  reportEveryMs?: number;
  /** Output waiting for the disk beyond this is dropped rather than held in memory (a disk that hangs). */
  maxQueuedBytes?: number;
  /** Each line starts with the time it came (ISO 8601, UTC, then a space), so `zdd logs` can say when. */
  timestamps?: boolean;
  /**
   * Rotation, so a chatty app cannot fill the disk: a write that would take the file past maxSize goes to
   * a new file instead, the old one renamed to <file>.1 (and .1 to .2, …), `keep` files in all, the
   * current one included. Without maxSize the file grows without end.
   */
  maxSize?: number;
  keep?: number;
}

export type LogFileEvents = {
  /** Output is being dropped: on the first drop, then at most once per reportEveryMs. */
  dropping: [LogDrops];
  /** A write succeeded again after a 'dropping'. */
  resumed: [LogDrops];
};

/**
 * An instance's output appended to its log file (lines timestamped and the file rotated by size, when
 * asked), written so that a full or failing disk costs log lines, never the daemon: no call throws, no
 * 'error' goes unheard. A failed write (or rotation) drops what was waiting and, for retryMs, whatever
 * comes next, counting it; then writing is tried again, so logging resumes by itself once space is freed.
 */
export class LogFile extends EventEmitter<LogFileEvents> {
  readonly file: string;
  readonly #retryMs: number;
  readonly #reportEveryMs: number;
  readonly #maxQueuedBytes: number;
  readonly #stamper: LineStamper | undefined;
  readonly #maxSize: number;
  readonly #keep: number;
  readonly #drops: LogDrops = { lines: 0, bytes: 0, error: null };
  #fd: number | undefined;
  /** Bytes in the file the fd writes to. */
  #size = 0;
  #queue: Buffer[] = [];
  #queued = 0;
  #writing = false;
  #ended = false;
  /** Set while writes fail: nothing is tried before then. */
  #failingUntil: number | undefined;
  /** A 'dropping' went out and no 'resumed' since. */
  #announced = false;
  #reportedAt: number | undefined;
  readonly #closed = Promise.withResolvers<void>();

  constructor(file: string, o: LogFileOptions = {}) {
    super();
    this.file = file;
    this.#retryMs = o.retryMs ?? 5_000;
    this.#reportEveryMs = o.reportEveryMs ?? 60_000;
    // Room for a burst of output while a write is under way: a healthy disk loses nothing.
    this.#maxQueuedBytes = o.maxQueuedBytes ?? 8 * 1024 * 1024;
    this.#stamper = o.timestamps ? new LineStamper() : undefined;
    this.#maxSize = o.maxSize ?? Number.POSITIVE_INFINITY;
    this.#keep = Math.max(1, o.keep ?? 3);
  }

  get drops(): LogDrops {
    return { ...this.#drops };
  }

  write(chunk: string): void {
    if (this.#ended || chunk === '') return;
    const buf = Buffer.from(this.#stamper ? this.#stamper.stamp(chunk) : chunk);
    if (this.#failingUntil !== undefined && Date.now() < this.#failingUntil) return this.#drop([buf]);
    // An app printing faster than the disk takes it must not grow the daemon's memory without end.
    if (this.#queued + buf.length > this.#maxQueuedBytes) return this.#drop([buf], 'the disk is not keeping up with the output');
    this.#queue.push(buf);
    this.#queued += buf.length;
    this.#flush();
  }

  /** No more output: close the file once what is queued is written (or dropped). Never rejects. */
  end(): Promise<void> {
    this.#ended = true;
    this.#flush();
    return this.#closed.promise;
  }

  #flush(): void {
    if (this.#writing) return;
    if (this.#queue.length === 0) {
      if (!this.#ended) return;
      if (this.#fd === undefined) return this.#closed.resolve();
      close(this.#fd, () => this.#closed.resolve());
      this.#fd = undefined;
      return;
    }
    if (this.#fd === undefined) {
      try {
        mkdirSync(path.dirname(this.file), { recursive: true });
        this.#fd = openSync(this.file, 'a');
        this.#size = fstatSync(this.#fd).size;
      } catch (err) {
        return this.#fail(err as Error, []);
      }
    }
    let buf = this.#queue.length === 1 ? this.#queue[0]! : Buffer.concat(this.#queue);
    this.#queue = [];
    this.#queued = 0;
    if (this.#size > 0 && this.#size + buf.length > this.#maxSize) {
      try {
        this.#rotate();
      } catch (err) {
        return this.#fail(err as Error, [buf]);
      }
    }
    if (buf.length > this.#maxSize) {
      // More than a whole file: what fits (up to its last full line) now, the rest into the next file.
      const cut = cutAt(buf, this.#maxSize);
      this.#queue.unshift(buf.subarray(cut));
      this.#queued += buf.length - cut;
      buf = buf.subarray(0, cut);
    }
    this.#writing = true;
    write(this.#fd!, buf, 0, buf.length, null, (err, written) => {
      this.#writing = false;
      if (err) return this.#fail(err, [buf]);
      this.#size += written;
      if (written < buf.length) {
        // A short write (the disk just filled up, typically): the rest goes first next time.
        this.#queue.unshift(buf.subarray(written));
        this.#queued += buf.length - written;
      } else if (this.#announced) {
        this.#announced = false;
        this.emit('resumed', this.drops);
      }
      this.#flush();
    });
  }

  /** <file> becomes <file>.1, <file>.1 becomes <file>.2, …; the oldest beyond `keep` is overwritten (or, keep 1, deleted). */
  #rotate(): void {
    const fd = this.#fd!;
    this.#fd = undefined;
    closeSync(fd);
    for (let i = this.#keep - 1; i >= 2; i--) renameIfThere(`${this.file}.${i - 1}`, `${this.file}.${i}`);
    if (this.#keep >= 2) renameSync(this.file, `${this.file}.1`);
    else unlinkSync(this.file);
    this.#fd = openSync(this.file, 'a');
    this.#size = 0;
  }

  #fail(err: Error, lost: Buffer[]): void {
    this.#failingUntil = Date.now() + this.#retryMs;
    this.#drop([...lost, ...this.#queue], err.message);
    this.#queue = [];
    this.#queued = 0;
    if (this.#ended) this.#flush();
  }

  #drop(bufs: Buffer[], error?: string): void {
    for (const b of bufs) {
      this.#drops.bytes += b.length;
      this.#drops.lines += Math.max(1, countNewlines(b));
    }
    if (error) this.#drops.error = error;
    // A disk that keeps filling up again gets one warning per reportEveryMs, not one per retry.
    const now = Date.now();
    if (this.#reportedAt === undefined || now - this.#reportedAt >= this.#reportEveryMs) {
      this.#announced = true;
      this.#reportedAt = now;
      this.emit('dropping', this.drops);
    }
  }
}

/** Puts the time at the start of each line; a line that comes in pieces is stamped once, at its first. */
export class LineStamper {
  #atLineStart = true;

  stamp(chunk: string, now = Date.now()): string {
    if (chunk === '') return chunk;
    const time = `${new Date(now).toISOString()} `;
    // Every newline followed by more text starts a stamped line; a final newline waits for the next chunk.
    const out = (this.#atLineStart ? time : '') + chunk.replace(/\n(?=[^])/g, `\n${time}`);
    this.#atLineStart = chunk.endsWith('\n');
    return out;
  }
}

/** Where to split a buffer to keep at most `max` bytes: after its last newline within them, else at max. */
function cutAt(buf: Buffer, max: number): number {
  const nl = buf.lastIndexOf(10, max - 1);
  return nl >= 0 ? nl + 1 : max;
}

function renameIfThere(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function countNewlines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
  return n;
}
