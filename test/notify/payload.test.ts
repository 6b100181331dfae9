import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { notifyEvents, notifyTargets, type NotifyConfig, type NotifyEntry } from '../../src/config/notify.ts';
import { backoffMs, redactUrl } from '../../src/notify/endpoint.ts';
import { crashPayload, deploymentPayload, durationKey, finishedEvent, type DeploymentFacts } from '../../src/notify/payload.ts';
import { retryableStatus, signature } from '../../src/notify/send.ts';

const facts: DeploymentFacts = {
  service: 'web',
  deployment: 7,
  kind: 'deploy',
  strategy: 'canary',
  release: { number: 5, version: 'v2' },
  previous: { number: 4, version: 'v1' },
  startedAt: Date.parse('2026-12-01T10:00:00Z'),
  durations: { startMs: 300, step1Ms: 40_000 },
};
const at = (s: number) => ({ delivery: 'd-1', now: facts.startedAt + s * 1000 });

describe('notification payloads', { timeout: 10_000 }, () => {
  it('a started deployment: who, what, from where; no durations yet; a link only with a dashboard', () => {
    const p = deploymentPayload(facts, { event: 'deploy.started' }, at(0));
    assert.deepEqual(p, {
      event: 'deploy.started',
      delivery: 'd-1',
      service: 'web',
      deployment: 7,
      kind: 'deploy',
      release: 5,
      version: 'v2',
      previous: { release: 4, version: 'v1' },
      strategy: 'canary',
      outcome: 'running',
      reason: null,
      durations: {},
      at: '2026-12-01T10:00:00.000Z',
      text: 'web r5 (v2): deploy started (canary), from r4 (v1)',
    });
    const linked = deploymentPayload(facts, { event: 'deploy.started' }, { ...at(0), dashboardUrl: 'http://127.0.0.1:9900/' });
    assert.equal(linked.link, 'http://127.0.0.1:9900/#/services/web');
  });

  it('a success says the strategy and the time taken, with each measured step', () => {
    const p = deploymentPayload(facts, { event: 'deploy.succeeded', status: 'succeeded', reason: null }, at(42));
    assert.equal(p.text, 'web r5 (v2) deployed by canary in 42s');
    assert.equal(p.outcome, 'succeeded');
    assert.deepEqual(p.durations, { totalMs: 42_000, startMs: 300, step1Ms: 40_000 });
  });

  it('a rollback and a failure carry the reason: whole in reason, its first line in text', () => {
    const reason = 'error rate 30% on canary vs 0% on stable (n=60 vs 240 clients)\nmore detail';
    const p = deploymentPayload(facts, { event: 'deploy.rolled_back', status: 'rolled-back', reason }, at(3.2));
    assert.equal(p.text, 'web r5 (v2) rolled back after 3.2s: error rate 30% on canary vs 0% on stable (n=60 vs 240 clients)');
    assert.equal(p.reason, reason);
    const failed = deploymentPayload(facts, { event: 'deploy.failed', status: 'failed', reason: 'web-r5-1 exited with code 3' }, at(1));
    assert.equal(failed.text, 'web r5 (v2) deploy failed after 1s: web-r5-1 exited with code 3');
    const aborted = deploymentPayload(facts, { event: 'deploy.failed', status: 'aborted', reason: 'aborted by user' }, at(2));
    assert.equal(aborted.text, 'web r5 (v2) deploy aborted after 2s: aborted by user');
    assert.equal(aborted.outcome, 'aborted');
  });

  it('a pause says what to do; a release labelled by its number is not named twice', () => {
    const p = deploymentPayload({ ...facts, release: { number: 5, version: 'r5' } }, { event: 'deploy.paused', reason: 'paused: not enough traffic to decide (n=3)' }, at(130));
    assert.equal(p.text, 'web r5 paused: not enough traffic to decide (n=3); decide with zdd promote web or zdd abort web');
    assert.equal(p.outcome, 'paused');
  });

  it('a crash names the instance, how it ended and how long it ran', () => {
    const p = crashPayload({ service: 'web', release: { number: 5, version: 'v2' }, instance: 'web-r5-1', how: 'exited with code 7', uptimeMs: 90_000 }, at(0));
    assert.equal(p.event, 'instance.crashed');
    assert.equal(p.instance, 'web-r5-1');
    assert.equal(p.reason, 'web-r5-1 exited with code 7 while serving');
    assert.deepEqual(p.durations, { uptimeMs: 90_000 });
    assert.equal(p.text, 'web r5 (v2): instance web-r5-1 exited with code 7 while serving (up 1m30s); zdd replaces it');
  });

  it('maps outcomes to events; a restore (the daemon starting) is only told when it did not succeed', () => {
    assert.equal(finishedEvent('deploy', 'succeeded'), 'deploy.succeeded');
    assert.equal(finishedEvent('rollback', 'succeeded'), 'deploy.succeeded');
    assert.equal(finishedEvent('deploy', 'rolled-back'), 'deploy.rolled_back');
    assert.equal(finishedEvent('deploy', 'failed'), 'deploy.failed');
    assert.equal(finishedEvent('deploy', 'aborted'), 'deploy.failed');
    assert.equal(finishedEvent('restore', 'succeeded'), undefined);
    assert.equal(finishedEvent('restore', 'failed'), 'deploy.failed');
  });

  it('names step durations in camel case', () => {
    assert.equal(durationKey('start'), 'startMs');
    assert.equal(durationKey('step 1/3'), 'step1Ms');
    assert.equal(durationKey('batch 2'), 'batch2Ms');
  });
});

describe('delivery rules', { timeout: 10_000 }, () => {
  it('retries no answer, 408, 429 and 5xx; not other 4xx nor 3xx', () => {
    for (const s of [408, 429, 500, 502, 503]) assert.equal(retryableStatus(s), true, String(s));
    for (const s of [301, 400, 401, 404, 410, 422]) assert.equal(retryableStatus(s), false, String(s));
  });

  it('backs off 1s, 2s, 4s, 8s with ±25% jitter, longer when the endpoint asked', () => {
    assert.deepEqual([1, 2, 3, 4].map((n) => backoffMs(n, 1000, undefined, () => 0.5)), [1000, 2000, 4000, 8000]);
    assert.equal(backoffMs(1, 1000, undefined, () => 0), 750);
    assert.equal(backoffMs(1, 1000, undefined, () => 1), 1250);
    assert.equal(backoffMs(1, 1000, 5000, () => 0.5), 5000);
  });

  it('signs the raw body with HMAC-SHA256, as GitHub does', () => {
    // printf '%s' '{"a":1}' | openssl dgst -sha256 -hmac s3cret
    assert.equal(signature('s3cret', '{"a":1}'), 'sha256=5910e62016ef5034272c926c27071992a465c2335cecf41851bda071577f4f6d');
  });

  it('shows an endpoint without its path or query, where webhook tokens live', () => {
    assert.equal(redactUrl('https://hooks.slack.com/services/T0/B0/XXXX'), 'https://hooks.slack.com/…');
    assert.equal(redactUrl('https://user:pw@example.com:8443/?token=1'), 'https://example.com:8443/…');
    assert.equal(redactUrl('http://example.com/'), 'http://example.com');
  });

  it('sends a service the top-level endpoints and its own, each endpoint once, filtered by event', () => {
    const all: NotifyEntry = { url: 'https://a.example/', events: [...notifyEvents], secret: 'x' };
    const failures: NotifyEntry = { url: 'https://b.example/', events: ['deploy.failed'] };
    const config: NotifyConfig = { all: [all], services: new Map([['web', [failures, { ...all }]]]) };
    assert.deepEqual(notifyTargets(config, 'web', 'deploy.failed'), [all, failures]);
    assert.deepEqual(notifyTargets(config, 'web', 'deploy.started'), [all]);
    assert.deepEqual(notifyTargets(config, 'api', 'deploy.failed'), [all]);
  });
});
