// The benches' output: the report (markdown) on stdout, progress on stderr; markdown tables and number formatting.

/** A line of the report, on stdout. */
export function print(s = ''): void {
  process.stdout.write(`${s}\n`);
}

/** A line of progress, on stderr (kept out of the report). */
export function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** A markdown table with padded columns; `align` is 'l' or 'r' per column (numbers right). */
export function markdownTable(headers: string[], rows: string[][], align: ('l' | 'r')[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length), 3));
  const pad = (s: string, i: number) => ((align[i] ?? 'l') === 'r' ? s.padStart(widths[i] ?? 0) : s.padEnd(widths[i] ?? 0));
  const line = (cells: string[]) => `| ${cells.map((c, i) => pad(c, i)).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => ((align[i] ?? 'l') === 'r' ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`;
  return [line(headers), rule, ...rows.map((r) => line(headers.map((_, i) => r[i] ?? '')))].join('\n');
}

const dash = '–';

/** 12,345 */
export function fmtInt(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? dash : Math.round(n).toLocaleString('en-US');
}

/** Milliseconds with 2 decimals (3 below 0.1 ms). */
export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return dash;
  return ms < 0.1 && ms > -0.1 ? ms.toFixed(3) : ms.toFixed(2);
}

/** +1.23 / -0.40 */
export function fmtDeltaMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return dash;
  return `${ms >= 0 ? '+' : ''}${fmtMs(ms)}`;
}

/** 0.85× */
export function fmtRatio(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? dash : `${r.toFixed(2)}×`;
}

export function fmtSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** 12.3% */
export function fmtPercent(share: number | undefined): string {
  return share === undefined || !Number.isFinite(share) ? dash : `${(share * 100).toFixed(1)}%`;
}
