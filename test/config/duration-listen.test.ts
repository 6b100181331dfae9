import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration, parseLongDuration } from '../../src/config/duration.ts';
import { formatListen, isLoopback, parseListen } from '../../src/config/listen.ts';

describe('parseDuration', () => {
  for (const [text, ms] of [
    ['200ms', 200],
    ['1s', 1000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['0s', 0],
    ['  750ms ', 750],
    ['1h2m3s4ms', 3_723_004],
  ] as const) {
    it(`reads "${text}" as ${ms} ms`, () => {
      assert.equal(parseDuration(text), ms);
    });
  }

  for (const text of ['5', 'fast', '1x', '', '   ', 's', '1.s', '.5s', '-1s', '1 s', '1s fast', '1sec', '1m30']) {
    it(`rejects "${text}"`, () => {
      assert.equal(parseDuration(text), undefined);
    });
  }
});

describe('parseLongDuration (HSTS max-age: never a timer)', () => {
  for (const [text, ms] of [
    ['365d', 365 * 86_400_000],
    ['1d12h', 129_600_000],
    ['0.5d', 43_200_000],
    ['730d', 730 * 86_400_000],
    ['600h', 600 * 3_600_000],
    ['90s', 90_000],
    ['250ms', 250],
  ] as const) {
    it(`reads "${text}" as ${ms} ms, beyond the 24-day cap of timers`, () => {
      assert.equal(parseLongDuration(text), ms);
    });
  }

  for (const text of ['1y', '1w', '365', 'd', '', '1d 2h', '-1d', '99999999999999999999d']) {
    it(`rejects "${text}"`, () => {
      assert.equal(parseLongDuration(text), undefined);
    });
  }

  it('leaves parseDuration without days', () => {
    assert.equal(parseDuration('1d'), undefined);
  });
});

describe('formatDuration', () => {
  for (const [ms, text] of [
    [0, '0ms'],
    [250, '250ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [12_345, '12.3s'],
    [60_000, '1m'],
    [90_000, '1m30s'],
    [120_000, '2m'],
    [3_600_000, '1h'],
    [5_430_000, '1h30m30s'],
    [576 * 3_600_000, '576h'],
  ] as const) {
    it(`writes ${ms} ms as "${text}"`, () => {
      assert.equal(formatDuration(ms), text);
    });
  }

  it('never writes 60 seconds inside a minute (119.7 s is "2m", not "1m60s")', () => {
    assert.equal(formatDuration(119_700), '2m');
    assert.equal(formatDuration(179_999), '3m');
  });

  it('reads back what it writes, to within its rounding', () => {
    for (const ms of [0, 1, 999, 1000, 1500, 9_999, 12_345, 60_000, 61_000, 90_000, 119_700, 3_599_000]) {
      const back = parseDuration(formatDuration(ms));
      assert.ok(back !== undefined, `${formatDuration(ms)} parses`);
      assert.ok(Math.abs(back - ms) <= Math.max(1, ms * 0.01), `${ms} → ${formatDuration(ms)} → ${back}`);
    }
  });
});

describe('parseListen', () => {
  for (const [text, host, port] of [
    ['127.0.0.1:8080', '127.0.0.1', 8080],
    ['[::1]:8080', '::1', 8080],
    ['localhost:8080', 'localhost', 8080],
    [':8080', '0.0.0.0', 8080],
    ['8080', '127.0.0.1', 8080],
    ['0.0.0.0:1', '0.0.0.0', 1],
    ['example.com:65535', 'example.com', 65535],
    [' 10.0.0.5:80 ', '10.0.0.5', 80],
  ] as const) {
    it(`reads "${text}" as ${host} port ${port}`, () => {
      assert.deepEqual(parseListen(text), { host, port });
    });
  }

  for (const text of ['', 'localhost', 'localhost:', ':', 'host:0', 'host:65536', 'host:http', '::1:8080', '[::1]', '[::1]:', 'a b:80', 'host:80:81', '0', '70000']) {
    it(`rejects "${text}"`, () => {
      assert.equal(parseListen(text), undefined);
    });
  }

  it('writes addresses back, with brackets for IPv6', () => {
    assert.equal(formatListen({ host: '127.0.0.1', port: 80 }), '127.0.0.1:80');
    assert.equal(formatListen({ host: '::1', port: 80 }), '[::1]:80');
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopback(h), true, h);
    for (const h of ['0.0.0.0', '10.0.0.1', '::', '128.0.0.1', 'example.com']) assert.equal(isLoopback(h), false, h);
  });
});
