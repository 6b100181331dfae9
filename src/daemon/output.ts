import { fstatSync, readlinkSync } from 'node:fs';

/**
 * Where this daemon's stdout goes, in words. A successor started by `zdd restart` inherits it and runs
 * detached, so a foreground `zdd serve` must say where the new daemon's output will be.
 */
export function describeStdout(): string {
  if (writesToJournal()) return 'the systemd journal';
  let target: string;
  try {
    target = readlinkSync('/proc/self/fd/1');
  } catch {
    return "this daemon's standard output";
  }
  if (/^\/dev\/(pts\/\d+|tty\w*)$/.test(target)) return `the terminal ${target}`;
  if (target.startsWith('/')) return target; // a file (or /dev/null)
  // "pipe:[1234]", "socket:[5678]": the same one this daemon writes to.
  return `the same ${target.replace(/:\[\d+\]$/, '')} as this daemon's output`;
}

/** systemd sets JOURNAL_STREAM to the device:inode of the journal's socket (children inherit the variable, so compare). */
function writesToJournal(): boolean {
  const [dev, ino] = (process.env.JOURNAL_STREAM ?? '').split(':');
  if (!dev || !ino) return false;
  try {
    const st = fstatSync(1);
    return String(st.dev) === dev && String(st.ino) === ino;
  } catch {
    return false;
  }
}
