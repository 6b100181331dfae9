// The dashboard's browser code outside the browser: the server-sent events parser and the reconnecting
// stream (plain modules, run here on Node's fetch against real local servers), and the type check of
// all browser modules against the page's API types, which the server's own types must fit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { WhoAmI } from '../../src/api/contract.ts';
import type { ServiceStatus } from '../../src/api/status.ts';
import type * as Page from '../../src/dashboard/api-types.ts';
import type { DeployEvent } from '../../src/deploy/events.ts';
import { repoRoot } from '../helpers/project.ts';

// Compile-time (tsc --noEmit, the first step of npm test): the server's answers fit what the page reads.
export const serverFitsPage = {
  service: (s: ServiceStatus): Page.ServiceStatus => s,
  event: (e: DeployEvent): Page.DeployEvent => e,
  whoami: (w: WhoAmI): Page.WhoAmI => w,
};

interface SseEvent {
  event: string;
  data: string;
}
type StreamState = 'connecting' | 'live' | 'waiting' | 'stopped';
interface SseModule {
  SseParser: new () => { feed(chunk: string): SseEvent[] };
  followStream(o: {
    open: (signal: AbortSignal) => Promise<Response>;
    onEvent: (e: SseEvent) => void;
    onState: (state: StreamState, detail: { retryInMs?: number; error?: unknown }) => void;
    onFatal: (error: unknown) => boolean;
    quietMs?: number;
  }): { stop(): void };
}

// A browser module (JavaScript with JSDoc types): imported by URL, typed by the interface above.
const sse = (await import(new URL('../../src/dashboard/public/assets/sse.js', import.meta.url).href)) as SseModule;

/** Feeds text in every possible two-piece cut and checks each gives the same events. */
function parseCut(text: string): SseEvent[] {
  const whole = new sse.SseParser().feed(text);
  for (let i = 1; i < text.length; i++) {
    const p = new sse.SseParser();
    assert.deepEqual([...p.feed(text.slice(0, i)), ...p.feed(text.slice(i))], whole, `cut at ${i}`);
  }
  return whole;
}

/** An HTTP server whose n-th request is answered by answers[n] (the last one repeats). */
async function serveInTurn(answers: ((res: http.ServerResponse) => void)[]): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = http.createServer((_req, res) => answers[Math.min(n++, answers.length - 1)]!(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/events`,
    requests: () => n,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const stream = (res: http.ServerResponse, text: string, end = false) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(text);
  if (end) res.end();
};

describe('dashboard browser code', () => {
  it('parses server-sent events cut anywhere: LF, CRLF and CR, comments, multi-line data, default event name', { timeout: 10_000 }, () => {
    assert.deepEqual(parseCut('event: status\ndata: {"a":1}\n\n: keep-alive\n\ndata: one\ndata: two\n\n'), [
      { event: 'status', data: '{"a":1}' },
      { event: 'message', data: 'one\ntwo' },
    ]);
    assert.deepEqual(parseCut('event: deployment\r\ndata:{"b":2}\r\n\r\nevent:x\rdata: y\r\r\n'), [
      { event: 'deployment', data: '{"b":2}' },
      { event: 'x', data: 'y' },
    ]);
    assert.deepEqual(parseCut('event: lonely\n\ndata: after\n\n'), [{ event: 'message', data: 'after' }], 'an event without data is dropped, its name does not leak');
    assert.deepEqual(new sse.SseParser().feed('data: unfinished\n'), [], 'nothing before the blank line');
    assert.deepEqual(new sse.SseParser().feed('data: cr\n\r'), [], 'a CR at the end may be half of a CRLF: it waits for the next chunk');
  });

  it('reconnects with backoff when the stream ends or fails, and reports its state', { timeout: 15_000 }, async () => {
    const server = await serveInTurn([
      (res) => stream(res, 'event: status\ndata: 1\n\n', true),
      (res) => {
        res.writeHead(503);
        res.end();
      },
      (res) => stream(res, 'event: status\ndata: 2\n\n'),
    ]);
    const events: string[] = [];
    const states: string[] = [];
    let resolveSecond!: () => void;
    const second = new Promise<void>((resolve) => (resolveSecond = resolve));
    let resolveStopped!: () => void;
    const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
    const follow = sse.followStream({
      open: async (signal) => {
        const r = await fetch(server.url, { signal });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        return r;
      },
      onEvent: (e) => {
        events.push(e.data);
        if (e.data === '2') resolveSecond();
      },
      onState: (state, detail) => {
        states.push(state === 'waiting' ? `waiting ${detail.retryInMs}` : state);
        if (state === 'stopped') resolveStopped();
      },
      onFatal: () => false,
    });
    await second;
    follow.stop();
    await stopped;
    await server.close();
    assert.deepEqual(events, ['1', '2']);
    assert.equal(server.requests(), 3);
    // After the first stream's events the backoff starts over; the failure doubles it.
    assert.deepEqual(
      states.filter((s, i) => s !== states[i - 1]),
      ['connecting', 'live', 'waiting 500', 'connecting', 'waiting 1000', 'connecting', 'live', 'stopped'],
    );
  });

  it('treats a silent stream as dropped, and stops for good on a fatal error (a refused token)', { timeout: 15_000 }, async () => {
    const server = await serveInTurn([
      (res) => stream(res, ''), // headers, then nothing
      (res) => {
        res.writeHead(401);
        res.end();
      },
    ]);
    const states: StreamState[] = [];
    const stopped = new Promise<void>((resolve) => {
      sse.followStream({
        open: async (signal) => {
          const r = await fetch(server.url, { signal });
          if (!r.ok) throw Object.assign(new Error(`HTTP ${r.status}`), { status: r.status });
          return r;
        },
        onEvent: () => {},
        onState: (state) => {
          states.push(state);
          if (state === 'stopped') resolve();
        },
        onFatal: (err) => (err as { status?: number }).status === 401,
        quietMs: 300,
      });
    });
    await stopped;
    await server.close();
    assert.equal(server.requests(), 2);
    assert.deepEqual(states, ['connecting', 'waiting', 'connecting', 'stopped']);
  });

  it('type-checks every browser module against the DOM and the page API types (tsc -p src/dashboard)', { timeout: 60_000 }, () => {
    const r = spawnSync(path.join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', path.join(repoRoot, 'src', 'dashboard')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
