import { styleText } from 'node:util';
import { formatDuration } from '../config/duration.ts';

type Style = Parameters<typeof styleText>[0];

const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;

export function paint(style: Style, text: string): string {
  return color ? styleText(style, text) : text;
}

export const ok = (t: string) => paint('green', t);
export const bad = (t: string) => paint('red', t);
export const warn = (t: string) => paint('yellow', t);
export const dim = (t: string) => paint('dim', t);
export const bold = (t: string) => paint('bold', t);

export const marks = { done: ok('✓'), failed: bad('✗'), started: dim('…'), info: dim('·') } as const;

export function ago(at: number, now = Date.now()): string {
  return `${formatDuration(Math.max(0, now - at))} ago`;
}

export function clock(at: number): string {
  const d = new Date(at);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function percent(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined ? '–' : `${(x * 100).toFixed(digits)}%`;
}

export function ms(x: number | null | undefined): string {
  return x === null || x === undefined ? '–' : x < 10 ? `${x.toFixed(1)}ms` : `${Math.round(x)}ms`;
}

/** Left-aligned columns; ANSI colour codes do not count towards width. */
export function table(rows: string[][], indent = ''): string {
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, visible(c))));
  return rows
    .map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - visible(c)))).join('  ').trimEnd())
    .join('\n');
}
