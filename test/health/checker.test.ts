import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import http, { type ServerResponse } from 'node:http';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import type { HealthSpec } from '../../src/config/schema.ts';
import { HealthChecker, type HealthState } from '../../src/health/checker.ts';
import { probe } from '../../src/health/probe.ts';
import { refusedPort } from '../helpers/upstream.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function spec(o: Partial<HealthSpec> = {}): HealthSpec {
  return { path: '/healthz', interval: 10, timeout: 1000, startTimeout: 10_000, healthyThreshold: 1, unhealthyThreshold: 3, ...o };
}

interface Endpoint {
  port: number;
  /** What the endpoint answers once `script` is used up. */
  status: number;
  /** Statuses for the next requests, in order. */
  script: number[];
  answered: number[];
  paths: string[];
  userAgents: string[];
  /** Resolves once `n` requests in all have been answered. */
  answeredCount(n: number): Promise<void>;
}

/** A health endpoint whose answers the test switches; it records every status it answered. */
async function switchable(): Promise<Endpoint> {
  const events = new EventEmitter();
  const state: Endpoint = {
    port: 0,
    status: 200,
    script: [],
    answered: [],
    paths: [],
    userAgents: [],
    answeredCount: (n) =>
      new Promise((resolve) => {
        const check = () => {
          if (state.answered.length < n) return;
          events.off('answered', check);
          resolve();
        };
        events.on('answered', check);
        check();
      }),
  };
  const server = http.createServer((req, res) => {
    const status = state.script.shift() ?? state.status;
    state.answered.push(status);
    state.paths.push(req.url!);
    state.userAgents.push(String(req.headers['user-agent']));
    res.writeHead(status);
    res.end();
    events.emit('answered');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.port = (server.address() as net.AddressInfo).port;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return state;
}

function checker(port: number, s: HealthSpec): HealthChecker {
  const c = new HealthChecker({ host: '127.0.0.1', port }, s);
  cleanups.push(() => c.stop());
  return c;
}

function nextChange(c: HealthChecker): Promise<HealthState> {
  return once(c, 'change').then(([s]) => s as HealthState);
}

/** How many of the last answers, in a row, were `status`. */
function runOf(answered: number[], status: number): number {
  let n = 0;
  for (let i = answered.length - 1; i >= 0 && answered[i] === status; i--) n++;
  return n;
}

describe('HealthChecker over HTTP', () => {
  it('becomes healthy after healthyThreshold passes, unhealthy after unhealthyThreshold failures, then healthy again', async () => {
    const endpoint = await switchable();
    const c = checker(endpoint.port, spec({ healthyThreshold: 2, unhealthyThreshold: 3 }));
    const changes: HealthState[] = [];
    c.on('change', (s) => changes.push(s));
    assert.equal(c.state, 'starting');

    let change = nextChange(c);
    c.start();
    assert.equal(await change, 'healthy');
    assert.equal(endpoint.answered.length, 2, 'two passing checks in a row');
    assert.equal(c.checks, 2);
    assert.ok(endpoint.paths.every((p) => p === '/healthz'));
    assert.ok(endpoint.userAgents.every((u) => u === 'zdd-health-check'));

    change = nextChange(c);
    endpoint.status = 500;
    assert.equal(await change, 'unhealthy');
    assert.equal(runOf(endpoint.answered, 500), 3, 'exactly three failures in a row');
    assert.equal(c.lastError, 'GET /healthz answered 500');

    change = nextChange(c);
    endpoint.status = 200;
    assert.equal(await change, 'healthy');
    assert.equal(runOf(endpoint.answered, 200), 2);
    assert.deepEqual(changes, ['healthy', 'unhealthy', 'healthy']);
  });

  it('does not turn unhealthy on fewer failures than the threshold', async () => {
    const endpoint = await switchable();
    const c = checker(endpoint.port, spec({ unhealthyThreshold: 3 }));
    const changes: HealthState[] = [];
    c.on('change', (s) => changes.push(s));
    const healthy = nextChange(c);
    c.start();
    await healthy;
    // Two failures, then passes: the run of failures is broken before the threshold, nothing changes.
    const before = endpoint.answered.length;
    endpoint.script = [503, 503];
    await endpoint.answeredCount(before + 5);
    assert.deepEqual(endpoint.answered.slice(before, before + 5), [503, 503, 200, 200, 200]);
    assert.deepEqual(changes, ['healthy']);
    assert.equal(c.state, 'healthy');
  });

  it('counts a 3xx as passing and a 4xx as failing', async () => {
    const endpoint = await switchable();
    endpoint.status = 302;
    assert.equal(await probe({ host: '127.0.0.1', port: endpoint.port }, '/healthz', 1000), undefined);
    endpoint.status = 404;
    assert.equal(await probe({ host: '127.0.0.1', port: endpoint.port }, '/healthz', 1000), 'GET /healthz answered 404');
  });

  it('describes a check that timed out and one that could not connect', async () => {
    const held: ServerResponse[] = [];
    const server = http.createServer((_req, res) => void held.push(res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const port = (server.address() as net.AddressInfo).port;
    assert.equal(await probe({ host: '127.0.0.1', port }, '/ready', 200), 'GET /ready timed out after 200ms');
    assert.equal(await probe({ host: '127.0.0.1', port: await refusedPort() }, '/ready', 500), 'GET /ready failed: ECONNREFUSED');
  });

  it('markFailed takes a healthy instance out at once, and checks bring it back', async () => {
    const endpoint = await switchable();
    const c = checker(endpoint.port, spec({ interval: 50 }));
    let change = nextChange(c);
    c.start();
    assert.equal(await change, 'healthy');
    change = nextChange(c);
    c.markFailed('connection refused while serving');
    assert.equal(c.state, 'unhealthy');
    assert.equal(await change, 'unhealthy');
    assert.equal(c.lastError, 'connection refused while serving');
    assert.equal(await nextChange(c), 'healthy');
  });

  it('markFailed does nothing to an instance that is not healthy', () => {
    const c = checker(1, spec());
    const changes: HealthState[] = [];
    c.on('change', (s) => changes.push(s));
    c.markFailed('refused');
    assert.equal(c.state, 'starting');
    assert.equal(c.lastError, undefined);
    assert.deepEqual(changes, []);
  });
});

describe('HealthChecker over TCP (no path)', () => {
  it('passes against a listening port', async () => {
    const server = net.createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as net.AddressInfo).port;
    assert.equal(await probe({ host: '127.0.0.1', port }, undefined, 1000), undefined);
    const c = checker(port, spec({ path: undefined }));
    const change = nextChange(c);
    c.start();
    assert.equal(await change, 'healthy');
  });

  it('fails against a closed port, and a healthy instance whose port closes becomes unhealthy', async () => {
    const closed = await refusedPort();
    assert.equal(await probe({ host: '127.0.0.1', port: closed }, undefined, 1000), 'TCP connect failed: ECONNREFUSED');

    const server = net.createServer((s) => s.destroy());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const c = checker(port, spec({ path: undefined, unhealthyThreshold: 2 }));
    let change = nextChange(c);
    c.start();
    assert.equal(await change, 'healthy');
    change = nextChange(c);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.equal(await change, 'unhealthy');
    assert.equal(c.lastError, 'TCP connect failed: ECONNREFUSED');
  });
});
