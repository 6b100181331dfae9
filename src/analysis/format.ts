// Number formatting for verdict sentences: short, and never "0.0%" for a
// rate that isn't zero (an operator reading "0.0% vs 0.0%" can't tell why).

export function formatRate(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || Number.isNaN(rate)) return 'n/a';
  const pct = rate * 100;
  if (pct === 0) return '0%';
  if (pct >= 10) return `${pct.toFixed(1)}%`;
  if (pct >= 0.1) return `${pct.toFixed(2).replace(/0$/, '')}%`;
  return `${pct.toPrecision(1)}%`;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return 'n/a';
  if (ms === Infinity) return '∞';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toPrecision(2)} ms`;
}

export function formatPoints(fraction: number): string {
  const points = +(fraction * 100).toPrecision(3);
  return `${points} ${points === 1 ? 'point' : 'points'}`;
}

export function formatAlpha(alpha: number): string {
  return String(+alpha.toPrecision(2));
}
