// A histogram family from bucket counts the data plane already keeps, in Prometheus' text exposition
// format (version 0.0.4). prom-client's Histogram can only be fed one observation at a time; the proxy
// counts per bucket on the hot path, so this family is written here.

export interface HistogramSeries {
  labels: Record<string, string>;
  /** Upper bounds, ascending, in the family's unit. */
  bounds: readonly number[];
  /** Per-bucket counts (not cumulative), one more than `bounds`: the last is above every bound. */
  counts: readonly number[];
  sum: number;
}

/** `# HELP`, `# TYPE`, then per series cumulative `_bucket` lines up to `le="+Inf"`, `_sum` and `_count`. */
export function histogramText(name: string, help: string, series: readonly HistogramSeries[]): string {
  const lines = [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} histogram`];
  for (const s of series) {
    const base = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
    const labels = (extra?: string) => {
      const all = extra ? [...base, extra] : base;
      return all.length > 0 ? `{${all.join(',')}}` : '';
    };
    let cumulative = 0;
    for (let i = 0; i < s.bounds.length; i++) {
      cumulative += s.counts[i]!;
      lines.push(`${name}_bucket${labels(`le="${number(s.bounds[i]!)}"`)} ${number(cumulative)}`);
    }
    cumulative += s.counts[s.bounds.length]!;
    lines.push(`${name}_bucket${labels('le="+Inf"')} ${number(cumulative)}`);
    lines.push(`${name}_sum${labels()} ${number(s.sum)}`);
    lines.push(`${name}_count${labels()} ${number(cumulative)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A sample value as the format writes it (Go's ParseFloat reads JavaScript's number formatting). */
function number(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  return String(v);
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
