import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { latencyBoundsMs, LatencyHistogram } from '../../src/proxy/latency-histogram.ts';
import { ReleaseStats } from '../../src/proxy/release-stats.ts';
import { ReleaseSeries, SeriesTable } from '../../src/metrics/release-series.ts';

describe('LatencyHistogram', () => {
  it('puts each latency in the first bucket whose bound it does not exceed, the rest above every bound', { timeout: 5_000 }, () => {
    const h = new LatencyHistogram();
    for (const ms of [0.3, 5, 5.01, 99, 100, 10_000, 10_001, 60_000]) h.record(ms);
    const at = (boundMs: number) => h.counts[latencyBoundsMs.indexOf(boundMs)];
    assert.equal(at(5), 2, '0.3 and 5: a bound is inclusive (le)');
    assert.equal(at(10), 1);
    assert.equal(at(100), 2);
    assert.equal(at(10_000), 1);
    assert.equal(h.counts[latencyBoundsMs.length], 2, 'above 10 s');
    assert.equal(h.count, 8);
    assert.equal(h.sumMs, 0.3 + 5 + 5.01 + 99 + 100 + 10_000 + 10_001 + 60_000);
  });
});

describe('ReleaseStats for metrics', () => {
  it('counts answers by status class, connection errors in none, and every attempt in the latency histogram', { timeout: 5_000 }, () => {
    const s = new ReleaseStats(1);
    s.record(200, 3, false);
    s.record(204, 3, false);
    s.record(301, 3, false);
    s.record(404, 3, false);
    s.record(503, 3, false);
    s.record(101, 3, false);
    s.record(0, 3, true);
    assert.deepEqual([...s.byClass], [0, 1, 2, 1, 1, 1]);
    assert.equal(s.connectionErrors, 1);
    assert.equal(s.latency.count, 7);
  });
});

describe('ReleaseSeries', () => {
  it('sums every ReleaseStats the release had, so a release that serves again keeps counting up', { timeout: 5_000 }, () => {
    const series = new ReleaseSeries('web', 1, 'v1');
    const first = new ReleaseStats(1);
    series.attach(first);
    series.attach(first);
    first.record(200, 1, false);
    first.record(500, 1, false);
    first.retries++;
    // The proxy forgot the first object when the release stopped; a rollback to it starts a new one.
    const second = new ReleaseStats(1);
    series.attach(second);
    second.record(200, 20, false);
    second.record(0, 20, true);
    series.restarts = 2;
    const t = series.totals();
    assert.equal(t.byClass[2], 2);
    assert.equal(t.byClass[5], 1);
    assert.equal(t.upstreamErrors, 1);
    assert.equal(t.retries, 1);
    assert.equal(t.restarts, 2);
    assert.equal(t.latency.count, 4);
    assert.equal(t.latency.sumMs, 42);
    assert.equal(t.latency.counts.reduce((a, b) => a + b, 0), 4);
  });
});

describe('SeriesTable', () => {
  it('keeps a stopped release for the retention from the first scrape that found it stopped, then drops it', { timeout: 5_000 }, () => {
    const table = new SeriesTable(1_000);
    const running = new Set([1, 2]);
    table.series('web', 1, 'v1');
    table.series('web', 2, 'v2');
    const scrape = (now: number) => table.refresh((service, r) => service === 'web' && running.has(r), now).map((s) => [s.release, s.stoppedAt ?? null]);
    assert.deepEqual(scrape(0), [[1, null], [2, null]]);
    running.delete(1);
    assert.deepEqual(scrape(100), [[1, 100], [2, null]]);
    assert.deepEqual(scrape(1_100), [[1, 100], [2, null]], 'exactly the retention: still there');
    assert.deepEqual(scrape(1_101), [[2, null]]);
  });

  it('gives a release that runs again before the retention is over its old series back, no longer stopped', { timeout: 5_000 }, () => {
    const table = new SeriesTable(1_000);
    const running = new Set<number>();
    const s = table.series('web', 1, 'v1');
    s.restarts = 3;
    table.refresh((_service, r) => running.has(r), 0);
    assert.equal(s.stoppedAt, 0);
    running.add(1);
    const again = table.refresh((_service, r) => running.has(r), 500);
    assert.equal(again[0], s);
    assert.equal(s.stoppedAt, undefined);
    assert.equal(table.series('web', 1, 'v1').restarts, 3);
  });

  it('starts a release that comes back after it was dropped with a new series', { timeout: 5_000 }, () => {
    const table = new SeriesTable(0);
    table.series('web', 1, 'v1').restarts = 1;
    table.refresh(() => false, 0);
    assert.deepEqual(table.refresh(() => false, 1), []);
    assert.equal(table.series('web', 1, 'v1').restarts, 0);
  });
});
