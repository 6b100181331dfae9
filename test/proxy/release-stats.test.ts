import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReleaseStats } from '../../src/proxy/release-stats.ts';
import { classifyUpstreamError, isIdempotent } from '../../src/proxy/upstream-errors.ts';

describe('ReleaseStats', () => {
  it('counts requests, errors (5xx and connection errors) and connection errors', () => {
    const t0 = Date.now();
    const s = new ReleaseStats(3, t0);
    for (let i = 0; i < 8; i++) s.record(200, 10, false);
    s.record(404, 10, false);
    s.record(503, 40, false);
    s.record(0, 5, true);
    const v = s.view(2, t0 + 1000);
    assert.equal(v.release, 3);
    assert.equal(v.requests, 11);
    assert.equal(v.errors, 2, 'a 4xx is not an error; a 5xx and a connection error are');
    assert.equal(v.connectionErrors, 1);
    assert.equal(v.inFlight, 2);
    assert.equal(v.errorRate, 2 / 11);
    assert.ok(v.p99Ms !== null && v.p99Ms >= 10, `p99 ${v.p99Ms}`);
    assert.ok(v.requestsPerSecond > 0);
  });

  it('has no rates before any request', () => {
    const t0 = Date.now();
    const v = new ReleaseStats(1, t0).view(0, t0 + 500);
    assert.equal(v.requests, 0);
    assert.equal(v.errorRate, null);
    assert.equal(v.p99Ms, null);
    assert.equal(v.requestsPerSecond, 0);
  });

  it('keeps the last slice in the live view after one rotation and forgets it after an idle stretch, keeping totals', () => {
    const t0 = Date.now();
    const s = new ReleaseStats(1, t0);
    for (let i = 0; i < 9; i++) s.record(200, 10, false);
    s.record(500, 10, false);
    const later = s.view(0, t0 + 7_000);
    assert.equal(later.errorRate, 0.1, 'the previous slice still counts');
    assert.ok(later.requestsPerSecond > 0);
    const idle = s.view(0, t0 + 60_000);
    assert.equal(idle.errorRate, null);
    assert.equal(idle.p99Ms, null);
    assert.equal(idle.requestsPerSecond, 0);
    assert.equal(idle.requests, 10, 'totals are since the release started serving');
    assert.equal(idle.errors, 1);
  });
});

describe('classifyUpstreamError', () => {
  const err = (code: string) => Object.assign(new Error(code), { code });

  it('classifies failures to connect (the request never left) as connect', () => {
    for (const code of ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED']) {
      assert.equal(classifyUpstreamError(err(code)), 'connect', code);
    }
  });

  it('classifies broken connections as reset, timeouts as timeout, anything else as other', () => {
    for (const code of ['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_DESTROYED']) assert.equal(classifyUpstreamError(err(code)), 'reset', code);
    assert.equal(classifyUpstreamError(err('UND_ERR_HEADERS_TIMEOUT')), 'timeout');
    assert.equal(classifyUpstreamError(err('UND_ERR_BODY_TIMEOUT')), 'timeout');
    assert.equal(classifyUpstreamError(err('EWHATEVER')), 'other');
    assert.equal(classifyUpstreamError(new Error('no code')), 'other');
    assert.equal(classifyUpstreamError(undefined), 'other');
    assert.equal(classifyUpstreamError(null), 'other');
  });

  it('treats GET, HEAD, OPTIONS, TRACE, PUT and DELETE as idempotent, POST and PATCH not', () => {
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) assert.equal(isIdempotent(m), true, m);
    for (const m of ['POST', 'PATCH', 'CONNECT']) assert.equal(isIdempotent(m), false, m);
  });
});
