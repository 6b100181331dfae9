// Certificates from files named in zdd.yaml (tls: { cert, key }): one per distinct pair of files, however many sites
// name it. Replaced files are picked up by a watch or an explicit reload; a replacement that fails its checks is
// logged and the previous certificate stays in service. Open connections keep the certificate they started with.
import type { Logger } from 'pino';
import { ZddError } from '../errors.ts';
import { readPair, type ServingCertificate } from './certificate.ts';
import { FileWatch } from './file-watch.ts';

export interface FilePair {
  readonly cert: string;
  readonly key: string;
  current: ServingCertificate;
  /** Why the files now on disk are not served (a rejected replacement), while they are not. */
  rejected: string | undefined;
}

export interface PairPaths {
  cert: string;
  key: string;
}

export class FilePairs {
  readonly #log: Logger;
  readonly #onChange: () => void;
  readonly #watch: FileWatch;
  #pairs = new Map<string, FilePair>();
  #reloading: Promise<void> = Promise.resolve();

  constructor(log: Logger, debounceMs: number, onChange: () => void) {
    this.#log = log;
    this.#onChange = onChange;
    const onFileChange = () => this.reload().catch((err: Error) => log.error({ err: err.message }, 'reloading certificate files failed'));
    this.#watch = new FileWatch(onFileChange, debounceMs, log);
  }

  /**
   * Reads and checks every pair; throws a ZddError naming the file at fault, before anything changes. A pair
   * already served with the same content keeps its context.
   */
  async prepare(paths: readonly PairPaths[]): Promise<Map<string, FilePair>> {
    const next = new Map<string, FilePair>();
    for (const p of paths) {
      const id = pairId(p);
      if (next.has(id)) continue;
      const current = await readPair(p.cert, p.key);
      const known = this.#pairs.get(id);
      next.set(id, known && known.current.identity === current.identity ? { ...known, rejected: undefined } : { cert: p.cert, key: p.key, current, rejected: undefined });
    }
    return next;
  }

  /** Serves (and watches) exactly the prepared pairs from now on. */
  commit(pairs: Map<string, FilePair>): void {
    this.#pairs = pairs;
    this.#watch.set(this.#files());
  }

  get(p: PairPaths): FilePair | undefined {
    return this.#pairs.get(pairId(p));
  }

  /** Reads every pair again; a changed valid pair replaces the old one, an invalid one is logged and not served. */
  reload(): Promise<void> {
    const run = this.#reloading.then(() => this.#reloadNow());
    this.#reloading = run.catch(() => undefined);
    return run;
  }

  async #reloadNow(): Promise<void> {
    let changed = false;
    for (const pair of this.#pairs.values()) {
      const before = pair.rejected;
      try {
        const fresh = await readPair(pair.cert, pair.key);
        pair.rejected = undefined;
        if (fresh.identity !== pair.current.identity) {
          pair.current = fresh;
          changed = true;
          this.#log.info({ cert: pair.cert, subject: fresh.subject, serial: fresh.serial, notAfter: new Date(fresh.notAfter).toISOString() }, 'certificate files reloaded');
        }
      } catch (err) {
        const message = (err as Error).message;
        pair.rejected = `${message}; still serving the previous certificate (serial ${pair.current.serial})`;
        const code = err instanceof ZddError ? err.code : undefined;
        if (pair.rejected !== before) this.#log.warn({ cert: pair.cert, key: pair.key, code, err: message }, 'certificate files rejected; still serving the previous certificate');
      }
      if (pair.rejected !== before) changed = true;
    }
    // A watch dropped (its directory replaced) is set up again.
    this.#watch.set(this.#files());
    if (changed) this.#onChange();
  }

  #files(): string[] {
    return [...this.#pairs.values()].flatMap((p) => [p.cert, p.key]);
  }

  close(): void {
    this.#watch.close();
  }
}

function pairId(p: PairPaths): string {
  return `${p.cert}\n${p.key}`;
}
