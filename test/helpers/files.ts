import { readFileSync, watch } from 'node:fs';

/** The file's content once it ends with `suffix` (an instance's log is written after its output is read). */
export function fileEndingWith(file: string, suffix: string): Promise<string> {
  return new Promise((resolve) => {
    const watcher = watch(file);
    const check = () => {
      const text = readFileSync(file, 'utf8');
      if (!text.endsWith(suffix)) return;
      watcher.close();
      resolve(text);
    };
    watcher.on('change', check);
    check();
  });
}
