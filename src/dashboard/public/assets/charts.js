// Charts as inline SVG, drawn from plain points with attributes only (no inline styles: the page's CSP
// allows none); colours and line styles come from classes in dashboard.css. Each chart is an image
// with a text alternative that says what it shows and the numbers of the moment.

import { s } from './dom.js';
import { clock } from './format.js';

/**
 * @typedef {{ t: number, v: number | null }} Point
 */

/**
 * The path of a line through points, broken where a value is missing.
 * @param {Point[]} points
 * @param {(t: number) => number} x
 * @param {(v: number) => number} y
 */
function linePath(points, x, y) {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (p.v === null || !Number.isFinite(p.v)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${x(p.t).toFixed(1)} ${y(p.v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

/**
 * A small line of one metric over a time window, newest at the right.
 * @param {Point[]} points
 * @param {{ from: number, to: number, label: string, min?: number }} o `min`: the smallest top of the scale
 */
export function sparkline(points, o) {
  const w = 120;
  const height = 32;
  const values = points.flatMap((p) => (p.v !== null && Number.isFinite(p.v) ? [p.v] : []));
  const top = Math.max(o.min ?? 0, ...values) || 1;
  const x = (/** @type {number} */ t) => ((t - o.from) / Math.max(1, o.to - o.from)) * w;
  const y = (/** @type {number} */ v) => height - 2 - (v / top) * (height - 4);
  const d = linePath(points, x, y);
  return s(
    'svg',
    { class: 'spark', viewBox: `0 0 ${w} ${height}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': o.label, focusable: 'false' },
    s('line', { class: 'spark-base', x1: 0, x2: w, y1: height - 1, y2: height - 1 }),
    d ? s('path', { class: 'spark-line', d, 'vector-effect': 'non-scaling-stroke' }) : null,
  );
}

/**
 * Traffic shares as one bar: each release's segment as wide as its weight. Hidden from screen readers:
 * the sentence beside it says the same.
 * @param {{ release: number, weight: number, role: string }[]} split newest first
 */
export function splitBar(split) {
  let x = 0;
  const total = split.reduce((sum, r) => sum + r.weight, 0) || 100;
  const rects = split.map((r) => {
    const width = (r.weight / total) * 100;
    const rect = s('rect', { class: `split-${r.role}`, x: x.toFixed(2), y: 0, width: width.toFixed(2), height: 10 });
    x += width;
    return rect;
  });
  return s(
    'svg',
    { class: 'split-bar', viewBox: '0 0 100 10', preserveAspectRatio: 'none', 'aria-hidden': 'true', focusable: 'false' },
    s('rect', { class: 'split-empty', x: 0, y: 0, width: 100, height: 10 }),
    ...rects,
  );
}

/**
 * @typedef {{
 *   t: number, weight: number,
 *   canary: number | null, stable: number | null, bound: number | null,
 * }} ComparisonPoint
 */

/**
 * Canary against stable over a deployment, with the bound the canary must stay under; thin vertical
 * lines mark where the canary's weight changed. Drawn at the width it is shown at (text keeps its size).
 * @param {ComparisonPoint[]} points
 * @param {{ title: string, format: (v: number) => string, min: number, width: number }} o `min`: the smallest top of the scale
 */
export function comparisonChart(points, o) {
  const w = Math.max(200, Math.round(o.width));
  const height = 170;
  const m = { left: 52, right: 10, top: 18, bottom: 24 };
  const from = points[0]?.t ?? Date.now();
  const to = Math.max(points.at(-1)?.t ?? from, from + 10_000);
  const values = points.flatMap((p) => [p.canary, p.stable, p.bound]).flatMap((v) => (v !== null && Number.isFinite(v) ? [v] : []));
  const top = Math.max(o.min, ...values.map((v) => v * 1.15));
  const x = (/** @type {number} */ t) => m.left + ((t - from) / (to - from)) * (w - m.left - m.right);
  const y = (/** @type {number} */ v) => height - m.bottom - (v / top) * (height - m.top - m.bottom);
  const grid = [0, top / 2, top].map((v) => [
    s('line', { class: 'grid', x1: m.left, x2: w - m.right, y1: y(v), y2: y(v) }),
    s('text', { class: 'axis', x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, o.format(v)),
  ]);
  /** @type {SVGElement[]} */
  const steps = [];
  points.forEach((p, i) => {
    if (i > 0 && p.weight === points[i - 1]?.weight) return;
    steps.push(s('line', { class: 'step-mark', x1: x(p.t), x2: x(p.t), y1: m.top - 4, y2: height - m.bottom }));
    const right = x(p.t) > w - m.right - 30;
    steps.push(s('text', { class: 'axis', x: x(p.t) + (right ? -3 : 3), y: m.top - 6, 'text-anchor': right ? 'end' : 'start' }, `${p.weight}%`));
  });
  const series = (/** @type {'canary' | 'stable' | 'bound'} */ key) => {
    const d = linePath(points.map((p) => ({ t: p.t, v: p[key] })), x, y);
    return d ? s('path', { class: `series-${key}`, d }) : null;
  };
  const last = points.at(-1);
  const now = last
    ? `now canary ${fmt(last.canary, o.format)}, stable ${fmt(last.stable, o.format)}, bound ${fmt(last.bound, o.format)}`
    : 'no analysis yet';
  return s(
    'svg',
    { class: 'comparison', viewBox: `0 0 ${w} ${height}`, width: w, height, role: 'img', 'aria-label': `${o.title}: canary against stable since ${clock(from)}; ${now}`, focusable: 'false' },
    ...grid.flat(),
    ...steps,
    series('bound'),
    series('stable'),
    series('canary'),
    s('text', { class: 'axis', x: m.left, y: height - 6 }, clock(from)),
    s('text', { class: 'axis', x: w - m.right, y: height - 6, 'text-anchor': 'end' }, clock(to)),
  );
}

/**
 * @param {number | null} v
 * @param {(v: number) => string} format
 */
function fmt(v, format) {
  return v === null ? '–' : format(v);
}

/** The legend of comparison charts: the same line styles as the charts, with words. */
export function comparisonLegend() {
  const swatch = (/** @type {string} */ key) =>
    s('svg', { class: 'swatch', viewBox: '0 0 24 8', 'aria-hidden': 'true', focusable: 'false' }, s('line', { class: `series-${key}`, x1: 0, x2: 24, y1: 4, y2: 4 }));
  /** @type {[string, string][]} */
  const entries = [
    ['canary', 'canary'],
    ['stable', 'stable'],
    ['bound', 'bound: stable + margin'],
  ];
  return entries.map(([key, text]) => {
    const li = document.createElement('li');
    li.append(swatch(key), ` ${text}`);
    return li;
  });
}
