/** Node's timers hold at most 2^31 − 1 ms (~24.8 days); zdd accepts up to 576h (24 days). */
export const maxDurationMs = 576 * 3_600_000;

const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
const longPart = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;

/** Parses "200ms", "1s", "1.5s", "2m", "1m30s" into milliseconds; returns undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  return sumParts(text, part);
}

/**
 * Like parseDuration, and also days ("365d", "1d12h"): for durations that never feed a timer (an HSTS
 * max-age), so neither 24-day cap applies. Undefined when malformed or beyond 2^53 ms.
 */
export function parseLongDuration(text: string): number | undefined {
  const ms = sumParts(text, longPart);
  return ms !== undefined && Number.isSafeInteger(ms) ? ms : undefined;
}

function sumParts(text: string, parts: RegExp): number | undefined {
  const s = text.trim();
  if (s === '') return undefined;
  parts.lastIndex = 0;
  let total = 0;
  let end = 0;
  for (let m = parts.exec(s); m; m = parts.exec(s)) {
    total += Number(m[1]) * unitMs[m[2]!]!;
    end = parts.lastIndex;
  }
  return end === s.length ? Math.round(total) : undefined;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(ms < 10_000 ? 2 : 1))}s`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h === 0) return s ? `${m}m${s}s` : `${m}m`;
  return `${h}h${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}
