// Watches certificate and key files for replacement. Editors, certbot and Kubernetes replace files by rename (or
// swap a symlink), which a watch on the file itself misses, so the directories are watched; a burst of events
// (key, then cert) becomes one call after a quiet period.
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

export class FileWatch {
  readonly #onChange: () => void;
  readonly #debounceMs: number;
  readonly #log: Logger;
  /** Watched directory → the file names in it that matter. */
  #watchers = new Map<string, { watcher: FSWatcher; names: Set<string> }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(onChange: () => void, debounceMs: number, log: Logger) {
    this.#onChange = onChange;
    this.#debounceMs = debounceMs;
    this.#log = log;
  }

  /** Watches exactly these files from now on (absolute paths). */
  set(files: Iterable<string>): void {
    const wanted = new Map<string, Set<string>>();
    for (const file of files) {
      const dir = path.dirname(file);
      const names = wanted.get(dir) ?? new Set<string>();
      names.add(path.basename(file));
      wanted.set(dir, names);
    }
    for (const [dir, w] of this.#watchers) {
      if (!wanted.has(dir)) {
        w.watcher.close();
        this.#watchers.delete(dir);
      }
    }
    for (const [dir, names] of wanted) {
      const existing = this.#watchers.get(dir);
      if (existing) {
        existing.names = names;
        continue;
      }
      try {
        const watcher = watch(dir, { persistent: false }, (_event, name) => {
          const w = this.#watchers.get(dir);
          if (w && (name === null || w.names.has(name.toString()))) this.#changed();
        });
        watcher.on('error', (err) => {
          this.#log.warn({ dir, err: err.message }, 'stopped watching certificate files; changes there take effect on SIGHUP to the daemon or zdd deploy');
          watcher.close();
          this.#watchers.delete(dir);
        });
        this.#watchers.set(dir, { watcher, names });
      } catch (err) {
        this.#log.warn({ dir, err: (err as Error).message }, 'cannot watch certificate files; changes there take effect on SIGHUP to the daemon or zdd deploy');
      }
    }
  }

  #changed(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#onChange();
    }, this.#debounceMs);
    this.#timer.unref();
  }

  close(): void {
    clearTimeout(this.#timer);
    for (const w of this.#watchers.values()) w.watcher.close();
    this.#watchers.clear();
  }
}
