import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import pino from 'pino';
import { notifyEvents, type NotifyConfig, type NotifyEntry } from '../../src/config/notify.ts';
import type { DeployEvent } from '../../src/deploy/events.ts';
import { Notifier } from '../../src/notify/notifier.ts';
import type { DeliveryOptions } from '../../src/notify/endpoint.ts';
import { DeliveryTable, type DeliveryRecord } from '../../src/store/deliveries.ts';
import { Store } from '../../src/store/store.ts';
import { version } from '../../src/version.ts';
import { Receiver, type Respond } from '../helpers/receiver.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'zdd-notify-'));
const log = pino({ level: 'silent' });
const stores: Store[] = [];
const receivers: Receiver[] = [];
const notifiers: Notifier[] = [];
let n = 0;

afterEach(async () => {
  await Promise.all(notifiers.splice(0).map((x) => x.close(0)));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});
after(() => {
  for (const s of stores) s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function receiver(respond?: Respond): Promise<Receiver> {
  const r = await Receiver.start(respond);
  receivers.push(r);
  return r;
}

/** A notifier over a fresh store, sending to `entries` (fast retries unless told otherwise). */
function notifier(entries: NotifyEntry[], delivery: Partial<DeliveryOptions> = {}): { notifier: Notifier; store: Store } {
  const store = new Store(path.join(dir, `state-${++n}.db`));
  stores.push(store);
  const config: NotifyConfig = { all: entries, services: new Map() };
  const x = new Notifier({ config, store, log, delivery: { baseDelayMs: 5, timeoutMs: 5_000, ...delivery } });
  notifiers.push(x);
  return { notifier: x, store };
}

const started = (deployment: number): DeployEvent => ({
  type: 'started',
  service: 'web',
  deployment,
  kind: 'deploy',
  strategy: 'blue-green',
  release: { number: deployment + 1, version: `v${deployment + 1}` },
  from: { number: deployment, version: `v${deployment}` },
});

/** The next `count` recorded outcomes. */
function outcomes(x: Notifier, count: number): Promise<DeliveryRecord[]> {
  const seen: DeliveryRecord[] = [];
  return new Promise((resolve) => {
    const on = (r: DeliveryRecord): void => {
      seen.push(r);
      if (seen.length === count) {
        x.off('outcome', on);
        resolve(seen);
      }
    };
    x.on('outcome', on);
  });
}

const everything = (url: string, secret?: string): NotifyEntry => ({ url, events: [...notifyEvents], ...(secret ? { secret } : {}) });

describe('notification delivery to a real HTTP receiver', { timeout: 30_000 }, () => {
  it('POSTs JSON with zdd headers and a signature the receiver verifies with node:crypto; the secret is nowhere in it', async () => {
    const r = await receiver();
    const { notifier: x } = notifier([everything(r.url, 'hunter2-secret')]);
    const listen = x.deployment();
    listen(started(1));
    listen({ type: 'step', at: Date.now(), step: 'start', status: 'started', detail: null });
    listen({ type: 'step', at: Date.now() + 250, step: 'start', status: 'done', detail: null });
    listen({ type: 'finished', deployment: 1, status: 'succeeded', reason: null, release: 2 });

    const first = await r.event('deploy.started');
    const done = await r.event('deploy.succeeded');
    assert.equal(first.headers['content-type'], 'application/json');
    assert.equal(first.headers['user-agent'], `zdd/${version}`);
    assert.equal(first.headers['x-zdd-event'], 'deploy.started');
    assert.match(String(first.headers['x-zdd-delivery']), /^[0-9a-f-]{36}$/);
    assert.equal(first.headers['x-zdd-delivery'], first.json.delivery);
    assert.match(String(first.headers['x-zdd-timestamp']), /^\d{10}$/);
    for (const got of [first, done]) {
      // What a receiver does: HMAC-SHA256 of the raw body with the shared secret, compared in constant time.
      const expected = Buffer.from(`sha256=${createHmac('sha256', 'hunter2-secret').update(got.body).digest('hex')}`);
      const sent = Buffer.from(String(got.headers['x-zdd-signature-256']));
      assert.ok(sent.length === expected.length && timingSafeEqual(sent, expected), 'the signature verifies');
      assert.ok(!got.body.includes('hunter2'), 'the secret is not in the body');
    }
    assert.equal(done.json.service, 'web');
    assert.equal(done.json.release, 2);
    assert.equal(done.json.version, 'v2');
    assert.equal(done.json.strategy, 'blue-green');
    assert.equal(done.json.outcome, 'succeeded');
    assert.equal(done.json.reason, null);
    assert.equal((done.json.durations as Record<string, number>).startMs, 250);
    assert.equal(typeof (done.json.durations as Record<string, number>).totalMs, 'number');
    assert.match(done.json.text, /^web r2 \(v2\) deployed by blue-green in /);
    assert.equal(done.json.link, undefined, 'no dashboard, no link');
  });

  it('sends no signature without a secret', async () => {
    const r = await receiver();
    const { notifier: x } = notifier([everything(r.url)]);
    x.deployment()(started(1));
    const got = await r.event('deploy.started');
    assert.equal(got.headers['x-zdd-signature-256'], undefined);
  });

  it('retries after 500s with the same delivery id and body, and records the success with its attempt count', async () => {
    const r = await receiver((_req, i) => (i < 2 ? 500 : 200));
    const { notifier: x, store } = notifier([everything(r.url, 's')]);
    const recorded = outcomes(x, 1);
    x.deployment()(started(4));
    const [outcome] = await recorded;
    assert.equal(outcome!.ok, true);
    assert.equal(outcome!.attempts, 3);
    assert.equal(outcome!.status, 200);
    assert.equal(outcome!.detail, 'delivered (HTTP 200) after 3 attempts');
    assert.equal(r.received.length, 3);
    assert.deepEqual(r.received.map((q) => q.headers['x-zdd-attempt']), ['1', '2', '3']);
    assert.equal(new Set(r.received.map((q) => q.headers['x-zdd-delivery'])).size, 1);
    assert.equal(new Set(r.received.map((q) => q.body)).size, 1);
    const rows = new DeliveryTable(store.db).forDeployment(4);
    assert.deepEqual(
      rows.map((d) => ({ event: d.event, ok: d.ok, attempts: d.attempts, status: d.status, endpoint: d.endpoint })),
      [{ event: 'deploy.started', ok: true, attempts: 3, status: 200, endpoint: new URL(r.url).origin + '/…' }],
    );
  });

  it('gives up after the last attempt and records the failure with the last status', async () => {
    const r = await receiver(() => 503);
    const { notifier: x, store } = notifier([everything(r.url)], { attempts: 3 });
    const recorded = outcomes(x, 1);
    x.deployment()(started(1));
    const [outcome] = await recorded;
    assert.deepEqual({ ok: outcome!.ok, attempts: outcome!.attempts, status: outcome!.status, detail: outcome!.detail }, { ok: false, attempts: 3, status: 503, detail: 'failed after 3 attempts: HTTP 503' });
    assert.equal(r.received.length, 3);
    assert.equal(new DeliveryTable(store.db).forDeployment(1)[0]!.detail, 'failed after 3 attempts: HTTP 503');
  });

  it('does not retry a 4xx', async () => {
    const r = await receiver(() => 404);
    const { notifier: x } = notifier([everything(r.url)]);
    const recorded = outcomes(x, 1);
    x.deployment()(started(1));
    const [outcome] = await recorded;
    assert.equal(outcome!.detail, 'failed after 1 attempt: HTTP 404');
    await x.idle();
    assert.equal(r.received.length, 1);
  });

  it('a receiver that never answers delays nothing, and the delivery ends as failed after the per-attempt timeout', async () => {
    const r = await receiver(() => 'hold');
    const { notifier: x } = notifier([everything(r.url)], { timeoutMs: 200, attempts: 2 });
    const recorded = outcomes(x, 1);
    const listen = x.deployment();
    // The engine calls its observer synchronously: each call must return without waiting for the receiver.
    listen(started(1));
    listen({ type: 'finished', deployment: 1, status: 'failed', reason: 'boom', release: 2 });
    assert.equal(r.received.length, 0, 'nothing was sent while the engine waited');
    const held = await r.event('deploy.started');
    assert.ok(held.open, 'the receiver holds the request');
    const [outcome] = await recorded;
    assert.equal(outcome!.event, 'deploy.started');
    assert.equal(outcome!.detail, 'failed after 2 attempts: no answer within 200ms');
    assert.equal(outcome!.attempts, 2);
  });

  it('keeps at most maxQueue notifications waiting per endpoint, dropping the oldest (recorded as dropped)', async () => {
    const r = await receiver((_q, i) => (i === 0 ? 'hold' : 200));
    const { notifier: x } = notifier([everything(r.url)], { maxQueue: 3 });
    const recorded = outcomes(x, 5);
    x.deployment()(started(1));
    const held = await r.event('deploy.started', { deployment: 1 });
    for (let d = 2; d <= 9; d++) x.deployment()(started(d));
    // 1 under way, 8 more queued into 3 places: the 5 oldest of them are dropped at once.
    const dropped = await recorded;
    assert.deepEqual(dropped.map((o) => o.deployment), [2, 3, 4, 5, 6]);
    assert.ok(dropped.every((o) => !o.ok && o.attempts === 0 && o.detail === 'dropped: 3 notifications were waiting for this endpoint'));
    const rest = outcomes(x, 4);
    held.res.writeHead(200).end();
    const delivered = await rest;
    assert.deepEqual(delivered.map((o) => [o.deployment, o.ok]), [[1, true], [7, true], [8, true], [9, true]]);
  });

  it('on close, waits a short grace, then drops what is under way and what waits, recorded as such', async () => {
    const r = await receiver(() => 'hold');
    const { notifier: x, store } = notifier([everything(r.url)]);
    const recorded = outcomes(x, 2);
    x.deployment()(started(1));
    x.deployment()(started(2));
    await r.event('deploy.started', { deployment: 1 });
    await x.close(50);
    const list = await recorded;
    assert.deepEqual(list.map((o) => [o.deployment, o.detail]), [
      [1, 'failed after 1 attempt: zdd stopped'],
      [2, 'dropped: zdd stopped before it was sent'],
    ]);
    assert.equal(new DeliveryTable(store.db).forDeployment(2)[0]!.detail, 'dropped: zdd stopped before it was sent');
  });

  it('sends an endpoint only the events it lists', async () => {
    const all = await receiver();
    const failures = await receiver();
    const { notifier: x } = notifier([everything(all.url), { url: failures.url, events: ['deploy.failed'] }]);
    const recorded = outcomes(x, 3);
    const a = x.deployment();
    a(started(1));
    a({ type: 'finished', deployment: 1, status: 'aborted', reason: 'aborted by user', release: 2 });
    await recorded;
    assert.deepEqual(all.received.map((q) => q.json.event), ['deploy.started', 'deploy.failed']);
    assert.deepEqual(failures.received.map((q) => [q.json.event, q.json.outcome, q.json.reason]), [['deploy.failed', 'aborted', 'aborted by user']]);
  });

  it('tells of a paused deployment', async () => {
    const r = await receiver();
    const { notifier: x } = notifier([{ url: r.url, events: ['deploy.paused'] }]);
    const a = x.deployment();
    a(started(1));
    a({ type: 'paused', at: Date.now(), reason: 'paused: not enough traffic to decide (n=2 canary, 9 stable clients)' });
    const got = await r.event('deploy.paused');
    assert.equal(got.json.outcome, 'paused');
    assert.match(got.json.text, /^web r2 \(v2\) paused: not enough traffic to decide .*; decide with zdd promote web or zdd abort web$/);
  });

  it('tells of a rolling update paused by onFailure: pause (a step the rollout waits at)', async () => {
    const r = await receiver();
    const { notifier: x } = notifier([{ url: r.url, events: ['deploy.paused'] }]);
    const a = x.deployment();
    a({ ...started(1), strategy: 'rolling' } as DeployEvent);
    const detail = 'web-r2-1 exited with code 3 before becoming healthy; the rollout is paused as configured (onFailure: pause): zdd abort to revert';
    a({ type: 'step', at: Date.now(), step: 'paused', status: 'started', detail });
    const got = await r.event('deploy.paused');
    assert.equal(got.json.reason, detail);
    assert.equal(got.json.text, 'web r2 (v2) paused: web-r2-1 exited with code 3 before becoming healthy; the rollout is paused as configured (onFailure: pause); revert with zdd abort web');
  });

  it('survives a receiver that is not there (connection refused), failing after its attempts', async () => {
    const r = await receiver();
    const url = r.url;
    await r.close();
    const { notifier: x } = notifier([everything(url)], { attempts: 2 });
    const recorded = outcomes(x, 1);
    x.deployment()(started(1));
    const [outcome] = await recorded;
    assert.equal(outcome!.detail, 'failed after 2 attempts: ECONNREFUSED');
  });
});
