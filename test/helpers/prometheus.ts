// Reading /metrics output in tests: with the Python prometheus_client parser (Debian's
// python3-prometheus-client, on /usr/bin/python3), and with a strict check of the text format's
// grammar and its rules across lines (one TYPE per family, families contiguous, no series twice,
// histogram buckets cumulative up to +Inf = _count) that the Python parser does not enforce.
import { spawn } from 'node:child_process';

export interface Sample {
  /** The family as the parser names it (Python drops a counter's `_total`). */
  family: string;
  type: string;
  name: string;
  labels: Record<string, string>;
  value: number;
}

const pythonParse = `
import sys, json
from prometheus_client.parser import text_string_to_metric_families as parse
out = []
for f in parse(sys.stdin.read()):
    for s in f.samples:
        out.append({'family': f.name, 'type': f.type, 'name': s.name, 'labels': s.labels, 'value': s.value})
print(json.dumps(out))
`;

/** Every sample, as Python's prometheus_client reads the text; rejects when it cannot parse it. */
export function parseWithPython(text: string): Promise<Sample[]> {
  return new Promise((resolve, reject) => {
    const py = spawn('/usr/bin/python3', ['-c', pythonParse], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    py.stdout.on('data', (d: Buffer) => (out += d));
    py.stderr.on('data', (d: Buffer) => (err += d));
    py.on('error', reject);
    py.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Sample[]) : reject(new Error(`prometheus_client could not parse the output (exit ${code}): ${err}`))));
    py.stdin.end(text);
  });
}

/** The value of the one sample with this name and (at least) these labels; undefined when there is none. */
export function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

const metricName = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const labelPair = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const floatValue = '(?:[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]?Inf|NaN)';
const sampleLine = new RegExp(`^(${metricName})(?:\\{((?:${labelPair})(?:,${labelPair})*,?)?\\})? (${floatValue})(?: -?\\d+)?$`);
const helpLine = new RegExp(`^# HELP (${metricName}) .*$`);
const typeLine = new RegExp(`^# TYPE (${metricName}) (counter|gauge|histogram|summary|untyped)$`);

/**
 * Checks the text exposition format (0.0.4) line by line and across lines; throws naming the first
 * line that breaks it. Returns the number of samples.
 */
export function checkExposition(text: string): number {
  if (!text.endsWith('\n')) throw new Error('the output does not end with a newline');
  const types = new Map<string, string>();
  const done = new Set<string>();
  const seen = new Set<string>();
  const sampled = new Set<string>();
  const buckets = new Map<string, { le: number; value: number }[]>();
  const counts = new Map<string, number>();
  let current: string | undefined;
  let samples = 0;
  const familyOf = (name: string) => {
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = name.slice(0, -suffix.length);
      if (name.endsWith(suffix) && types.get(base) === 'histogram') return base;
    }
    return name;
  };
  const enter = (family: string, line: number) => {
    if (family === current) return;
    if (done.has(family)) throw new Error(`line ${line}: ${family} appears again after other families`);
    if (current) done.add(current);
    current = family;
  };
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, i) => {
      const n = i + 1;
      if (line === '') return;
      if (line.startsWith('#')) {
        const t = typeLine.exec(line);
        if (t) {
          if (types.has(t[1]!)) throw new Error(`line ${n}: a second TYPE for ${t[1]}`);
          if (sampled.has(t[1]!)) throw new Error(`line ${n}: TYPE of ${t[1]} after its samples`);
          types.set(t[1]!, t[2]!);
          return enter(t[1]!, n);
        }
        const h = helpLine.exec(line);
        if (h) return enter(h[1]!, n);
        if (/^# (HELP|TYPE)/.test(line)) throw new Error(`line ${n}: malformed: ${line}`);
        return;
      }
      const m = sampleLine.exec(line);
      if (!m) throw new Error(`line ${n}: not a sample: ${line}`);
      samples++;
      const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
      const family = familyOf(name);
      enter(family, n);
      sampled.add(family);
      const labels = Object.fromEntries([...(labelText ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
      const key = `${name}{${Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',')}}`;
      if (seen.has(key)) throw new Error(`line ${n}: ${key} appears twice`);
      seen.add(key);
      const value = valueText.endsWith('Inf') ? (valueText.startsWith('-') ? -Infinity : Infinity) : Number(valueText);
      const type = types.get(family);
      if ((type === 'counter' || type === 'histogram') && !(value >= 0)) throw new Error(`line ${n}: ${type} ${name} is ${valueText}`);
      if (type === 'histogram' && name !== family) {
        const { le, ...rest } = labels;
        const series = `${family}${JSON.stringify(Object.entries(rest).sort())}`;
        if (name.endsWith('_bucket')) {
          if (le === undefined) throw new Error(`line ${n}: a bucket without le`);
          const list = buckets.get(series) ?? [];
          list.push({ le: le === '+Inf' ? Infinity : Number(le), value });
          buckets.set(series, list);
        } else if (name.endsWith('_count')) counts.set(series, value);
      }
    });
  for (const [series, list] of buckets) {
    for (let i = 1; i < list.length; i++) {
      if (!(list[i]!.le > list[i - 1]!.le)) throw new Error(`${series}: bucket bounds not ascending`);
      if (list[i]!.value < list[i - 1]!.value) throw new Error(`${series}: buckets not cumulative`);
    }
    const last = list.at(-1)!;
    if (last.le !== Infinity) throw new Error(`${series}: no le="+Inf" bucket`);
    if (counts.get(series) !== last.value) throw new Error(`${series}: _count ${counts.get(series)} is not the +Inf bucket ${last.value}`);
  }
  return samples;
}
