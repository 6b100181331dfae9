import path from 'node:path';
import type { Logger } from 'pino';
import { ZddError } from '../errors.ts';

// SQLite's primary result codes that point at something a person can fix (node:sqlite's errcode may
// be an extended code; the low byte is the primary one).
const sqliteFull = 13;
const sqliteIoErr = 10;
const sqliteCorrupt = 11;
const sqliteNoPermission = [3, 8, 14]; // SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN

/** A write to zdd's database failed: the operation that needed it did not happen. */
export class StoreWriteError extends ZddError {
  constructor(file: string, what: string, cause: unknown) {
    super('STORE_WRITE_FAILED', `cannot record ${what} in ${file}: ${reasonOf(cause)}`, hintFor(file, cause), { cause });
  }
}

/** zdd's database cannot be opened (or brought to the current schema). */
export class StoreOpenError extends ZddError {
  constructor(file: string, cause: unknown) {
    super('STORE_OPEN_FAILED', `cannot open zdd's database ${file}: ${reasonOf(cause)}`, hintFor(file, cause), { cause });
  }
}

/** Writes that failed since the database was opened: what `zdd status` reports about it. */
export interface StoreHealth {
  file: string;
  failedWrites: number;
  lastFailure: { at: number; message: string } | null;
  /** Changes that must reach the database (the live release, release states, outcomes) still waiting to be written. */
  unsaved: string[];
}

/** SQLite's own words ("database or disk is full"), or the error's message. */
export function reasonOf(err: unknown): string {
  const e = err as { errstr?: unknown; message?: unknown };
  if (typeof e?.errstr === 'string') return e.errstr;
  return typeof e?.message === 'string' ? e.message : String(err);
}

function hintFor(file: string, err: unknown): string {
  const dir = path.dirname(file);
  const code = typeof (err as { errcode?: unknown })?.errcode === 'number' ? (err as { errcode: number }).errcode & 0xff : undefined;
  if (code === sqliteFull) return `free space on the filesystem that holds ${dir} (df -h ${dir}), then try again`;
  if (code !== undefined && sqliteNoPermission.includes(code)) return `make ${dir} and the files in it writable by the user zdd runs as`;
  if (code === sqliteIoErr || code === sqliteCorrupt) return `the disk under ${dir} may be failing or full: check free space and the system log (dmesg)`;
  return `check that ${dir} is on a writable filesystem with free space`;
}

export interface WritesOptions {
  /** Where failed writes are reported. */
  log?: Logger;
  /** While changes wait to be written (the disk is full), how often writing them is tried again. */
  retryUnsavedMs?: number;
}

/**
 * What a failed write to the database means depends on what the write is for (a full disk, above all,
 * makes writes fail):
 * - `need`: the operation cannot happen without it (a new release, a new deployment): it throws a
 *   StoreWriteError, and the operation does not start;
 * - `keep`: state that must survive a restart but is set while traffic moves (the live release, release
 *   states, a deployment's outcome): never throws; the change is kept and written again every few
 *   seconds, and at close, until it lands, so traffic is never left half-moved over a full disk;
 * - `journal`: events, deployment steps, instance starts and stops: never throws; an entry that cannot
 *   be written is lost, logged and counted.
 * Every failure is counted and the last one kept, for `zdd status`.
 */
export class Writes {
  readonly #file: string;
  readonly #log: Logger | undefined;
  readonly #retryUnsavedMs: number;
  #failedWrites = 0;
  #lastFailure: StoreHealth['lastFailure'] = null;
  /** Changes still to be written, by what they set: a newer change to the same thing replaces an older one. */
  readonly #unsaved = new Map<string, { what: string; write: () => void }>();
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(file: string, o: WritesOptions = {}) {
    this.#file = file;
    this.#log = o.log;
    this.#retryUnsavedMs = o.retryUnsavedMs ?? 5_000;
  }

  need<T>(what: string, write: () => T): T {
    try {
      return write();
    } catch (err) {
      throw this.#failed(what, err);
    }
  }

  journal(what: string, write: () => void): void {
    try {
      write();
    } catch (err) {
      const failure = this.#failed(what, err);
      this.#log?.warn({ db: this.#file }, `${failure.message}; the entry is lost`);
    }
  }

  keep(key: string, what: string, write: () => void): void {
    this.#unsaved.delete(key);
    try {
      write();
    } catch (err) {
      const failure = this.#failed(what, err);
      this.#log?.error({ db: this.#file }, `${failure.message}; writing it again every ${this.#retryUnsavedMs / 1000}s until it lands`);
      this.#unsaved.set(key, { what, write });
      this.#retryTimer ??= setInterval(() => this.retryUnsaved(), this.#retryUnsavedMs).unref();
    }
  }

  /** Tries the kept changes again, oldest first, stopping at the first that still fails. */
  retryUnsaved(): void {
    for (const [key, u] of this.#unsaved) {
      try {
        u.write();
      } catch {
        return; // still failing: the rest would too
      }
      this.#unsaved.delete(key);
      this.#log?.info({ db: this.#file }, `wrote ${u.what} to the database after all`);
    }
    clearInterval(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  /** Before the database closes: one last try, and a word about what never made it. */
  close(): void {
    clearInterval(this.#retryTimer);
    this.retryUnsaved();
    for (const { what } of this.#unsaved.values()) this.#log?.error({ db: this.#file }, `${what} was never written to the database`);
  }

  health(): StoreHealth {
    return { file: this.#file, failedWrites: this.#failedWrites, lastFailure: this.#lastFailure, unsaved: [...this.#unsaved.values()].map((u) => u.what) };
  }

  #failed(what: string, err: unknown): StoreWriteError {
    const failure = new StoreWriteError(this.#file, what, err);
    this.#failedWrites++;
    this.#lastFailure = { at: Date.now(), message: failure.message };
    return failure;
  }
}
