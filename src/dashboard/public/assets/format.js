// How numbers and times read on the dashboard.

/**
 * A share as a percentage ("0.8%", "12%"); a dash when there is none.
 * @param {number | null | undefined} v
 */
export function percent(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const p = v * 100;
  if (p === 0) return '0%';
  if (p < 0.1) return '<0.1%';
  return `${p < 10 ? p.toFixed(1) : Math.round(p)}%`;
}

/**
 * @param {number | null | undefined} v milliseconds
 */
export function ms(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (v === 0) return '0 ms';
  if (v >= 10_000) return `${(v / 1000).toFixed(1)} s`;
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;
}

/**
 * @param {number | null | undefined} v requests per second
 */
export function rate(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}/s`;
}

/**
 * A duration in words: "850 ms", "42 s", "3 min 5 s", "2 h 4 min".
 * @param {number} v milliseconds
 */
export function duration(v) {
  if (v < 1000) return `${Math.max(0, Math.round(v))} ms`;
  const sec = Math.round(v / 1000);
  if (sec < 60) return `${sec} s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min} min${sec % 60 ? ` ${sec % 60} s` : ''}`;
  return `${Math.floor(min / 60)} h${min % 60 ? ` ${min % 60} min` : ''}`;
}

/**
 * The time of day ("14:03:27"), with the date when it is not today.
 * @param {number} at epoch milliseconds
 */
export function clock(at) {
  const d = new Date(at);
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  return d.toDateString() === new Date().toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

/**
 * A machine-readable time for <time datetime>.
 * @param {number} at
 */
export function iso(at) {
  return new Date(at).toISOString();
}
