import { z } from 'zod';

// Sizes in zdd.yaml: "10MB", "512KB", "1.5GB" or a number of bytes. Units are binary (1KB = 1024 bytes),
// as log tools count them; "KiB" and friends are accepted as the same.

const unitBytes: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const sizeText = /^(\d+(?:\.\d+)?)\s*(?:([kmg])(?:i?b)?|(b))?$/i;

/** Bytes for "10MB", "512KB", "2G", "100B" or "4096"; undefined when malformed. */
export function parseSize(text: string): number | undefined {
  const m = sizeText.exec(text.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? m[3] ?? 'b').toLowerCase();
  return Math.round(Number(m[1]) * unitBytes[unit]!);
}

export function formatSize(bytes: number): string {
  for (const [unit, n] of [['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]] as const) {
    if (bytes >= n) return `${Number((bytes / n).toFixed(1))}${unit}`;
  }
  return `${bytes}B`;
}

/** The smallest log file size zdd accepts: smaller would rotate on nearly every line. */
export const minLogSize = 1024;

/** A log file size in zdd.yaml, as bytes. */
export const logSize = z.union([z.number(), z.string()], { error: 'expected a size such as 10MB, 512KB or a number of bytes' }).transform((v, ctx) => {
  const bytes = typeof v === 'number' ? v : parseSize(v);
  if (bytes === undefined || !Number.isSafeInteger(bytes)) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a size; write a number with KB, MB or GB, e.g. 512KB or 10MB` });
    return z.NEVER;
  }
  if (bytes < minLogSize) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is smaller than ${formatSize(minLogSize)}, the smallest size zdd accepts` });
    return z.NEVER;
  }
  return bytes;
});

/** Each instance's log file rotates past maxSize; keep counts the files kept, the current one included. */
export const logDefaults = { maxSize: 10 * 1024 ** 2, keep: 3 };
