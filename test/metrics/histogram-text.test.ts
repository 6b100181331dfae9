import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { histogramText } from '../../src/metrics/histogram-text.ts';
import { checkExposition, parseWithPython, valueOf } from '../helpers/prometheus.ts';

describe('histogramText', () => {
  it('writes cumulative buckets up to +Inf, _sum and _count, which real parsers read back', { timeout: 10_000 }, async () => {
    const text = histogramText('zdd_request_duration_seconds', 'Time per attempt.\nSecond line with a \\.', [
      { labels: { service: 'web', release: '1' }, bounds: [0.005, 0.01, 1], counts: [3, 0, 2, 1], sum: 2.5 },
      { labels: { service: 'w"eb\\', release: '2' }, bounds: [0.005, 0.01, 1], counts: [0, 0, 0, 0], sum: 0 },
    ]);
    assert.equal(checkExposition(text), 12);
    assert.match(text, /^# HELP zdd_request_duration_seconds Time per attempt\.\\nSecond line with a \\\\\.$/m);
    assert.match(text, /^zdd_request_duration_seconds_bucket\{service="web",release="1",le="0\.005"\} 3$/m);
    const samples = await parseWithPython(text);
    const web = { service: 'web', release: '1' };
    assert.equal(valueOf(samples, 'zdd_request_duration_seconds_bucket', { ...web, le: '0.01' }), 3);
    assert.equal(valueOf(samples, 'zdd_request_duration_seconds_bucket', { ...web, le: '1' }), 5);
    assert.equal(valueOf(samples, 'zdd_request_duration_seconds_bucket', { ...web, le: '+Inf' }), 6);
    assert.equal(valueOf(samples, 'zdd_request_duration_seconds_count', web), 6);
    assert.equal(valueOf(samples, 'zdd_request_duration_seconds_sum', web), 2.5);
    assert.equal(valueOf(samples, 'zdd_request_duration_seconds_count', { service: 'w"eb\\' }), 0, 'label values escaped and read back');
    assert.ok(samples.every((s) => s.type === 'histogram'));
  });

  it('is caught by the format check when buckets are not cumulative or +Inf is not the count', { timeout: 5_000 }, () => {
    const good = histogramText('h', 'x', [{ labels: {}, bounds: [1], counts: [1, 1], sum: 1 }]);
    assert.equal(checkExposition(good), 4);
    assert.throws(() => checkExposition(good.replace('h_count 2', 'h_count 3')), /_count 3 is not the \+Inf bucket 2/);
    assert.throws(() => checkExposition(good.replace('h_bucket{le="+Inf"} 2', 'h_bucket{le="+Inf"} 0')), /not cumulative/);
    assert.throws(() => checkExposition(`${good}h_sum 1\n`), /appears twice/);
    assert.throws(() => checkExposition('a 1\nb 1\na{x="1"} 2\n'), /a appears again after other families/);
  });
});
