// proxy.workers at its edges: the hand-off path (the daemon accepts, a worker process parses) is as safe
// as the in-daemon proxy. Bad input sent over raw sockets to a service served by two workers gets the
// answer, byte for byte, that the same input gets from a service the daemon serves itself (workers: 0,
// same settings, same daemon): 400, 408, 431, forged and hop-by-hop headers, upgrades the app refuses,
// bytes pipelined after `Connection: close`. Each input is sent to both workers, and afterwards both
// workers still serve with the pids they had. maxConnectionsPerClient holds across the workers, a
// connection refused with 429 leaves no socket behind in the daemon, and the 8-large-uploads-per-client
// limit holds across them (split between the workers). Real third-party
// apps (Express, Flask under gunicorn) deploy blue-green under keep-alive load with zero failed requests
// through the workers.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServiceStatus } from '../../src/api/status.ts';
import { zdd, zddJson } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startKeepAliveLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, repoRoot, serviceYaml, type Project } from '../helpers/project.ts';
import { apiStatus, isAlive, waitForStatus, type StatusJson } from '../helpers/status.ts';

/** Short limits so that the timeouts can be seen within a test; the same for both services. */
const headerTimeoutMs = 500;
const bodyIdleTimeoutMs = 500;
const maxConnections = 12;
/** trustedNetworks: []: the test's loopback client counts as an untrusted client from the internet. */
const proxySettings = `headerTimeout: ${headerTimeoutMs}ms, bodyIdleTimeout: ${bodyIdleTimeoutMs}ms, maxConnectionsPerClient: ${maxConnections}, trustedNetworks: []`;

// ---------------------------------------------------------------------------------------------------
// Raw HTTP over node:net.

interface RawReply {
  /** Everything the server sent (latin1). */
  text: string;
  /** The server ended the connection (rather than the client giving up at `limitMs` or at `until`). */
  closed: boolean;
  /** From the first write to the close (or the give-up). */
  ms: number;
}

/**
 * Connects, writes `data` (pieces in order), and collects the answer until the server closes the
 * connection, `until` holds, or `limitMs` passes (a hung connection: `closed` is false).
 */
function raw(port: number, data: string | string[], o: { until?: (text: string) => boolean; limitMs?: number } = {}): Promise<RawReply> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const started = performance.now();
    let text = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed, ms: performance.now() - started });
    };
    const timer = setTimeout(() => finish(false), o.limitMs ?? 10_000);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
      if (o.until?.(text)) finish(false);
    });
    // A reset after the answer (the server closed with bytes unread) still ends the exchange.
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
    for (const piece of typeof data === 'string' ? [data] : data) socket.write(piece);
  });
}

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The first response in `text`. */
function parse(text: string): Parsed {
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `a response head in ${JSON.stringify(text.slice(0, 300))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
  let body = text.slice(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine!)?.[1]), headers, body };
}

/** A chunked body's data (as far as it arrived); ends with an empty string after the last chunk. */
function dechunk(raw: string): string {
  let out = '';
  for (let at = 0; at < raw.length; ) {
    const eol = raw.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = Number.parseInt(raw.slice(at, eol), 16);
    if (!(size > 0)) break;
    out += raw.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
  return out;
}

/** Responses in `text`: how many status lines a client would read. */
function responses(text: string): number {
  return (text.match(/(^|\r\n)HTTP\/1\.1 \d{3} /g) ?? []).length;
}

/** A whole response is in `text` (Content-Length or chunked). */
function complete(text: string): boolean {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const { headers, body } = parse(text);
  if (headers['content-length'] !== undefined) return Buffer.byteLength(body, 'latin1') >= Number(headers['content-length']);
  return headers['transfer-encoding'] === 'chunked' && text.endsWith('\r\n0\r\n\r\n');
}

/** What differs between two answers to the same request by design: the date and the request id (a UUID, also in bodies). */
function normalise(text: string): string {
  return text
    .replace(/^date: [^\r]*\r\n/gim, '')
    .replace(/^x-request-id: [^\r]*\r\n/gim, '')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>');
}

/** A keep-alive connection that has had GET / answered (200): the proxy holds it open. */
async function openKeepAlive(port: number): Promise<net.Socket> {
  return (await keepAlive(port)).socket;
}

async function keepAlive(port: number): Promise<{ socket: net.Socket; reply: Parsed }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  socket.setEncoding('latin1');
  await once(socket, 'connect');
  let text = '';
  const answered = new Promise<void>((resolve, reject) => {
    const onData = (d: string) => {
      text += d;
      if (!complete(text)) return;
      socket.off('data', onData);
      resolve();
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before a whole answer: ${JSON.stringify(text)}`)));
  });
  socket.write('GET / HTTP/1.1\r\nHost: app.test\r\n\r\n');
  await answered;
  const reply = parse(text);
  assert.equal(reply.status, 200, text);
  return { socket, reply };
}

/** A client that sends a 5 MiB upload's head, then a byte every 100 ms; `answer` is what it got when the connection closed. */
function slowUpload(port: number): { socket: net.Socket; answer: Promise<string> } {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setEncoding('latin1');
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (d: string) => (received += d));
  socket.write(`POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: ${5 * 1024 * 1024}\r\n\r\n`);
  const timer = setInterval(() => socket.writable && socket.write('x'), 100);
  const answer = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  void answer.then(() => clearInterval(timer));
  return { socket, answer };
}

/** Sockets a process holds open (Linux). */
function socketsOf(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // Closed between the listing and the look.
    }
  }
  return n;
}

async function closeAll(sockets: net.Socket[]): Promise<void> {
  await Promise.all(
    sockets.map((s) => {
      if (s.destroyed) return undefined;
      const closed = once(s, 'close');
      s.destroy();
      return closed;
    }),
  );
}

// ---------------------------------------------------------------------------------------------------

describe('proxy.workers: bad input through a worker is answered as the in-daemon proxy answers it', () => {
  let project: Project;
  let daemon: DaemonProcess;
  /** web: proxy.workers 2. */
  let port: number;
  /** ref: the same service and settings, served by the daemon process itself (workers: 0). */
  let refPort: number;
  let pids: number[];

  before(async () => {
    port = await freePort();
    refPort = await freePort();
    const web = serviceYaml({ port, replicas: 2, extra: `    proxy: { workers: 2, ${proxySettings} }\n` });
    const ref = serviceYaml({ port: refPort, replicas: 1, extra: `    proxy: { workers: 0, ${proxySettings} }\n` }).replace(/^services:\n {2}web:\n/, '  ref:\n');
    project = makeProject(web + ref);
    daemon = await startDaemon(project.dir);
    for (const service of ['web', 'ref']) {
      const r = await zdd(project.dir, ['deploy', service, '--version', 'v1']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    const s = await apiStatus(project.dir);
    assert.equal(s.workers?.length, 2, JSON.stringify(s.workers));
    assert.equal((await apiStatus(project.dir, 'ref')).workers, null, 'ref is served by the daemon itself');
    pids = s.workers!.map((w) => w.pid!);
  }, { timeout: 60_000 });

  after(async () => {
    if (project) await zdd(project.dir, ['stop']);
    await daemon?.stop();
    project?.remove();
  }, { timeout: 60_000 });

  const connectionsOf = (s: ServiceStatus, worker: number) => s.workers!.find((w) => w.worker === worker)?.connections;
  /** Every connection the workers were handed has closed (none left hanging in a worker). */
  const idle = (what: string) => waitForStatus(project.dir, (s) => s.workers?.length === 2 && s.workers.every((w) => w.connections === 0), `no connection left in the workers (${what})`, 15_000);

  /**
   * Runs `send` once on each worker. A new connection goes to the worker with the fewest (the first one on
   * a tie): with none open it goes to worker 0; with a connection pinned on worker 0, to worker 1.
   */
  async function onEachWorker(send: (worker: number) => Promise<void>): Promise<void> {
    await idle('before worker 0');
    await send(0);
    await idle('after worker 0');
    const pin = await openKeepAlive(port);
    try {
      await waitForStatus(project.dir, (s) => connectionsOf(s, 0) === 1 && connectionsOf(s, 1) === 0, 'the pin connection on worker 0', 15_000);
      await send(1);
    } finally {
      await closeAll([pin]);
    }
    await idle('after worker 1');
  }

  /** Both workers alive with their pids of the start (per zdd status --json), each serving a good request on a new connection. */
  async function bothWorkersServe(): Promise<void> {
    const { services } = await zddJson<StatusJson>(project.dir, ['status']);
    const workers = services.find((s) => s.name === 'web')!.workers!;
    assert.deepEqual(workers.map((w) => w.pid), pids, 'the workers are those of the start: none crashed and was replaced');
    for (const pid of pids) assert.ok(isAlive(pid), `worker ${pid} runs`);
    // Two connections at once: one on each worker.
    const a = await openKeepAlive(port);
    const b = await openKeepAlive(port);
    try {
      const s = await apiStatus(project.dir);
      assert.deepEqual([connectionsOf(s, 0), connectionsOf(s, 1)], [1, 1], 'each worker took one of the good connections and answered 200 on it');
    } finally {
      await closeAll([a, b]);
    }
    const fresh = await request(`http://127.0.0.1:${port}/`);
    assert.equal(fresh.status, 200);
    await idle('after the good requests');
  }

  const served = async (service: string) => (await apiStatus(project.dir, service)).live!.traffic.requests;
  const rejected = async (service: string, status: number) => (await apiStatus(project.dir, service)).rejected[String(status)] ?? 0;

  /**
   * Sends `data` to both workers and to the in-daemon ref service; each answer must pass `check` and the
   * workers' must equal ref's but for the date and request id. Returns the worker-0 answer.
   */
  async function sameAsInDaemon(
    data: string | string[],
    check: (r: RawReply, where: string) => void,
    o: { limitMs?: number; until?: (text: string) => boolean; status?: number; forwarded?: number } = {},
  ): Promise<RawReply> {
    const reference = await raw(refPort, data, o);
    check(reference, 'in-daemon');
    const answers: RawReply[] = [];
    const [servedBefore, rejectedBefore] = [await served('web'), o.status ? await rejected('web', o.status) : 0];
    await onEachWorker(async (worker) => {
      const r = await raw(port, data, o);
      check(r, `worker ${worker}`);
      assert.equal(normalise(r.text), normalise(reference.text), `worker ${worker} answers as the in-daemon proxy does`);
      answers.push(r);
    });
    // Requests the proxy refused itself count as rejections, never as the release's requests.
    // Twice (once per worker), plus the pin connection's GET.
    assert.equal(await served('web'), servedBefore + 2 * (o.forwarded ?? 0) + 1, 'requests that reached the app');
    if (o.status) assert.equal(await rejected('web', o.status), rejectedBefore + 2, `rejections counted (${o.status})`);
    await bothWorkersServe();
    return answers[0]!;
  }

  it('answers a request with two Host headers 400, closes the connection, forwards nothing', { timeout: 60_000 }, async () => {
    const refBefore = await rejected('ref', 400);
    await sameAsInDaemon(
      'GET / HTTP/1.1\r\nHost: app.test\r\nHost: evil.test\r\n\r\n',
      (r, where) => {
        assert.ok(r.closed, `${where}: the connection is closed`);
        assert.equal(responses(r.text), 1, where);
        const p = parse(r.text);
        assert.equal(p.status, 400, where);
        assert.equal(p.headers.connection, 'close', where);
        assert.match(p.body, /^zdd: more than one Host header \(request [\w-]+\)\n$/, where);
      },
      { status: 400 },
    );
    assert.equal(await rejected('ref', 400), refBefore + 1);
  });

  for (const [what, line] of [
    ['a space inside the request target', 'GET /a b HTTP/1.1'],
    ['a method that is not a token', 'G@T / HTTP/1.1'],
    ['text after the HTTP version', 'GET / HTTP/1.1 extra'],
    ['a space before the method', ' GET / HTTP/1.1'],
  ] as const) {
    it(`answers a malformed request line (${what}) 400 and closes the connection`, { timeout: 60_000 }, async () => {
      await sameAsInDaemon(
        `${line}\r\nHost: app.test\r\n\r\n`,
        (r, where) => {
          assert.ok(r.closed, `${where}: the connection is closed`);
          assert.equal(responses(r.text), 1, `${where}: ${JSON.stringify(r.text)}`);
          assert.equal(parse(r.text).status, 400, where);
        },
        { status: 400 },
      );
    });
  }

  it('answers request headers larger than Node\'s limit (16 KiB) 431', { timeout: 60_000 }, async () => {
    await sameAsInDaemon(
      `GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      (r, where) => {
        assert.ok(r.closed, `${where}: the connection is closed`);
        const p = parse(r.text);
        assert.equal(p.status, 431, where);
        assert.equal(p.headers.connection, 'close', where);
      },
      { status: 431 },
    );
  });

  it('answers 408 to a client that never finishes its headers, after headerTimeout', { timeout: 60_000 }, async () => {
    await sameAsInDaemon(
      'GET / HTTP/1.1\r\nHost: app.test\r\nX-Slow: ',
      (r, where) => {
        assert.ok(r.closed, `${where}: the connection is closed, not left hanging (${Math.round(r.ms)} ms)`);
        const p = parse(r.text);
        assert.equal(p.status, 408, where);
        assert.equal(p.body, `zdd: request headers not received within ${headerTimeoutMs}ms\n`, where);
        // Node looks for expired header timeouts once a second (listener.ts connectionsCheckingInterval).
        assert.ok(r.ms >= headerTimeoutMs - 50 && r.ms < headerTimeoutMs + 4_000, `${where}: answered after ${Math.round(r.ms)} ms`);
      },
      { status: 408, limitMs: 15_000 },
    );
  });

  it('answers 408 to a request body that stalls longer than bodyIdleTimeout, and forwards nothing', { timeout: 60_000 }, async () => {
    await sameAsInDaemon(
      // 10 of 100 bytes, then nothing.
      'POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789',
      (r, where) => {
        assert.ok(r.closed, `${where}: the connection is cut, not left hanging (${Math.round(r.ms)} ms)`);
        const p = parse(r.text);
        assert.equal(p.status, 408, where);
        assert.equal(p.headers.connection, 'close', where);
        assert.match(p.body, new RegExp(`^zdd: the client sent no body data for ${bodyIdleTimeoutMs} ms \\(request [\\w-]+\\)\\n$`), where);
        assert.ok(r.ms >= bodyIdleTimeoutMs - 50 && r.ms < bodyIdleTimeoutMs + 4_000, `${where}: answered after ${Math.round(r.ms)} ms`);
      },
      { status: 408, limitMs: 15_000 },
    );
  });

  it('relays an upgrade the app refuses (no 101) as one response and closes: bytes pipelined behind it never reach the app', { timeout: 60_000 }, async () => {
    // The test app's WebSocket server answers any upgrade but a WebSocket one 400 (ws: "Invalid Upgrade header").
    const upgrade = 'GET /headers HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n';
    const smuggled = 'GET /status/299 HTTP/1.1\r\nHost: app.test\r\nHost: evil.test\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n';
    await sameAsInDaemon(
      upgrade + smuggled,
      (r, where) => {
        assert.ok(r.closed, `${where}: the connection is closed, not left as a tunnel`);
        assert.equal(responses(r.text), 1, `${where}: one response only: ${JSON.stringify(r.text)}`);
        const p = parse(r.text);
        assert.equal(p.status, 400, where);
        assert.equal(p.headers.connection, 'close', where);
        assert.equal(p.body, 'Invalid Upgrade header', where);
        assert.doesNotMatch(r.text, /299/, where);
      },
      // The refused upgrade is the app's answer (counted for the release); the smuggled request is not.
      { forwarded: 1 },
    );
  });

  it('replaces forged X-Forwarded-For, -Host, -Proto and X-Real-IP and drops Forwarded from an untrusted client', { timeout: 60_000 }, async () => {
    const forged =
      'GET /headers HTTP/1.1\r\nHost: app.test\r\n' +
      'X-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6;proto=https\r\n' +
      'X-Forwarded-Host: evil.test\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n';
    const seen = (r: RawReply) => {
      const { headers } = JSON.parse(parse(r.text).body) as { headers: Record<string, string | undefined> };
      return headers;
    };
    const reply = await sameAsInDaemon(
      forged,
      (r, where) => {
        assert.equal(parse(r.text).status, 200, where);
        const h = seen(r);
        assert.equal(h['x-forwarded-for'], '127.0.0.1', where);
        assert.equal(h['x-real-ip'], '127.0.0.1', where);
        assert.equal(h.forwarded, undefined, where);
        assert.equal(h['x-forwarded-host'], 'app.test', where);
        assert.equal(h['x-forwarded-proto'], 'http', where);
        assert.doesNotMatch(JSON.stringify(h), /6\.6\.6\.6|evil\.test/, where);
      },
      { forwarded: 1 },
    );
    assert.match(String(seen(reply)['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  for (const [what, connection] of [
    ['with Connection: close', 'close, X-Foo'],
    ['on a keep-alive connection', 'X-Foo, Keep-Alive'],
  ] as const) {
    it(`strips hop-by-hop request headers, and those Connection names, before the app sees them (${what})`, { timeout: 60_000 }, async () => {
      const req =
        'GET /headers HTTP/1.1\r\nHost: app.test\r\n' +
        `Connection: ${connection}\r\nX-Foo: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-Checksum\r\n` +
        'Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\nX-End-To-End: yes\r\n\r\n';
      await sameAsInDaemon(
        req,
        (r, where) => {
          assert.ok(complete(r.text), `${where}: ${JSON.stringify(r.text)}`);
          const p = parse(r.text);
          assert.equal(p.status, 200, where);
          const { headers } = JSON.parse(p.body) as { headers: Record<string, string | undefined> };
          for (const name of ['x-foo', 'keep-alive', 'te', 'trailer', 'proxy-connection', 'proxy-authorization']) {
            assert.equal(headers[name], undefined, `${where}: ${name} reached the app: ${JSON.stringify(headers)}`);
          }
          assert.doesNotMatch(String(headers.connection ?? ''), /x-foo|close/i, where);
          assert.equal(headers['x-end-to-end'], 'yes', where);
        },
        // Keep-alive: the answer is complete before the connection closes; the client ends it then.
        { forwarded: 1, until: connection.startsWith('close') ? undefined : complete },
      );
    });
  }

  it('answers a request with Connection: close and never the requests pipelined after it', { timeout: 60_000 }, async () => {
    await sameAsInDaemon(
      'GET /headers?first HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\nGET /status/299 HTTP/1.1\r\nHost: app.test\r\n\r\nGET /status/298 HTTP/1.1\r\nHost: app.test\r\n\r\n',
      (r, where) => {
        assert.ok(r.closed, `${where}: the connection is closed`);
        assert.equal(responses(r.text), 1, `${where}: one response only: ${JSON.stringify(r.text)}`);
        assert.equal(parse(r.text).status, 200, where);
        assert.doesNotMatch(r.text, /29[89]/, where);
      },
      // Only the first request reached the app.
      { forwarded: 1 },
    );
  });

  it('refuses connections beyond maxConnectionsPerClient across both workers with 429, as the in-daemon proxy does, and admits again once one closes', { timeout: 60_000 }, async () => {
    const extra = 'GET / HTTP/1.1\r\nHost: app.test\r\n\r\n';
    // In the daemon: the cap's worth of keep-alive connections, then one more.
    const refOpen = await Promise.all(Array.from({ length: maxConnections }, () => openKeepAlive(refPort)));
    const reference = await raw(refPort, extra);
    await closeAll(refOpen);
    assert.ok(reference.closed);
    assert.match(reference.text, /^HTTP\/1\.1 429 Too Many Requests\r\n/);

    await idle('before');
    const rejectedBefore = await rejected('web', 429);
    const open: net.Socket[] = [];
    try {
      for (let i = 0; i < maxConnections; i++) open.push(await openKeepAlive(port));
      // The daemon spreads them: neither worker holds the cap by itself, so only a count across the
      // workers (in the daemon, which sees every connection) can refuse the next.
      const spread = await waitForStatus(project.dir, (s) => connectionsOf(s, 0)! + connectionsOf(s, 1)! === maxConnections, 'every connection in a worker', 15_000);
      assert.deepEqual([connectionsOf(spread, 0), connectionsOf(spread, 1)], [maxConnections / 2, maxConnections / 2]);
      const refused = await raw(port, extra);
      assert.ok(refused.closed, 'the refused connection is closed');
      const p = parse(refused.text);
      assert.equal(p.status, 429);
      assert.equal(p.body, 'zdd: too many connections from 127.0.0.1\n');
      assert.equal(p.headers['retry-after'], '1');
      assert.equal(normalise(refused.text), normalise(reference.text), 'refused as the in-daemon proxy refuses');
      assert.equal(await rejected('web', 429), rejectedBefore + 1);
      // The open ones still work.
      open[maxConnections - 1]!.write('GET /headers HTTP/1.1\r\nHost: app.test\r\n\r\n');
      const [again] = (await once(open[maxConnections - 1]!, 'data')) as [string];
      assert.match(again, /^HTTP\/1\.1 200 /);
      // One closes: its slot is free once the worker has told the daemon.
      await closeAll([open.shift()!]);
      await waitForStatus(project.dir, (s) => connectionsOf(s, 0)! + connectionsOf(s, 1)! === maxConnections - 1, 'the closed connection released', 15_000);
      const admitted = await raw(port, 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
      assert.equal(parse(admitted.text).status, 200);
    } finally {
      await closeAll(open);
    }
    await idle('after');
    await bothWorkersServe();
  });

  it('leaves no socket open in the daemon for a connection it refused with 429', { timeout: 60_000 }, async () => {
    const { daemon: d } = await zddJson<StatusJson>(project.dir, ['status']);
    const refusals = 40;
    for (const [where, p] of [['in-daemon', refPort], ['workers', port]] as const) {
      const open = await Promise.all(Array.from({ length: maxConnections }, () => openKeepAlive(p)));
      try {
        const before = socketsOf(d.pid);
        for (let i = 0; i < refusals; i++) {
          // Each refused client reads the whole 429 and closes, as a client should.
          const r = await raw(p, 'GET / HTTP/1.1\r\nHost: app.test\r\n\r\n');
          assert.ok(r.closed && parse(r.text).status === 429, `${where}: ${JSON.stringify(r.text)}`);
        }
        // The daemon's sockets (control clients, upstream pools, health checks) vary a little; 40 refused
        // connections kept open would not.
        let now = socketsOf(d.pid);
        for (const deadline = Date.now() + 5_000; now > before + 10 && Date.now() < deadline; now = socketsOf(d.pid)) await new Promise((r) => setTimeout(r, 50));
        assert.ok(now <= before + 10, `${where}: the daemon held ${before} sockets before ${refusals} refused connections and ${now} after them`);
      } finally {
        await closeAll(open);
      }
    }
    await idle('after');
    await bothWorkersServe();
  });

  it('refuses a 9th large upload at once from one client address (ClientLimits.streamsPerClient) across both workers, as the in-daemon proxy does', { timeout: 60_000 }, async () => {
    const uploads = 9;
    const inFlight = (s: ServiceStatus) => s.live!.instances.reduce((n, i) => n + i.inFlight, 0);
    /** Starts 9 slow 5 MiB uploads; resolves once one is refused (its answer) or all 9 stream to the app. */
    async function outcome(p: number, service: string): Promise<{ refused?: string; streaming?: number }> {
      const posters = Array.from({ length: uploads }, () => slowUpload(p));
      let stop = false;
      try {
        const allAtApp = (async () => {
          while (!stop) {
            const s = await apiStatus(project.dir, service);
            if (inFlight(s) >= uploads) return { streaming: inFlight(s) };
            await new Promise((r) => setTimeout(r, 20));
          }
          return {};
        })();
        const refused = Promise.race(posters.map((u) => u.answer)).then((text) => ({ refused: text }));
        const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${service}: neither refused nor all at the app`)), 20_000).unref());
        return await Promise.race([allAtApp, refused, timeout]);
      } finally {
        stop = true;
        await closeAll(posters.map((u) => u.socket));
      }
    }
    const reference = await outcome(refPort, 'ref');
    assert.match(reference.refused ?? '', /^HTTP\/1\.1 429 [\s\S]*more than 8 large uploads at once from 127\.0\.0\.1/, JSON.stringify(reference));
    await idle('before');
    const viaWorkers = await outcome(port, 'web');
    assert.match(viaWorkers.refused ?? '', /^HTTP\/1\.1 429 [\s\S]*more than 8 large uploads at once from 127\.0\.0\.1/, `through the workers: ${JSON.stringify(viaWorkers)}`);
    await idle('after');
    await bothWorkersServe();
  });
});

// ---------------------------------------------------------------------------------------------------
// Real third-party apps under two workers (as test/apps/apps.test.ts deploys them).

const appsDir = path.join(repoRoot, 'test', 'fixtures', 'apps');
/** node_modules/.bin first (Node 24 as `node`), then the system's (/usr/bin/gunicorn). */
const daemonEnv = { PATH: `${path.join(repoRoot, 'node_modules', '.bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` };

function appYaml(port: number, o: { command: string; env?: Record<string, string> }): string {
  return `services:
  web:
    listen: 127.0.0.1:${port}
    command: ${o.command}
    cwd: ${appsDir}
    env: ${JSON.stringify({ APP_VERSION: 'v1', ...o.env })}
    replicas: 2
    health: { path: /healthz, interval: 50ms, timeout: 1s, startTimeout: 15s }
    strategy: { type: blue-green, rollbackWindow: 0s }
    drainTimeout: 5s
    stopTimeout: 5s
    proxy: { workers: 2 }
`;
}

for (const app of [
  { name: 'Express 5', command: 'node express.js', framework: 'express' },
  // gunicorn comes from Debian (.ci/run installs it, with python3-flask).
  { name: 'Flask under gunicorn', command: 'gunicorn --bind $HOST:$PORT flask_app:app', env: { PYTHONDONTWRITEBYTECODE: '1' }, framework: 'flask' },
]) {
  describe(`proxy.workers: 2 with ${app.name} (${app.command})`, () => {
    let project: Project;
    let daemon: DaemonProcess;
    let url: string;
    let port: number;

    before(async () => {
      port = await freePort();
      url = `http://127.0.0.1:${port}`;
      project = makeProject(appYaml(port, app));
      daemon = await startDaemon(project.dir, [], daemonEnv);
    }, { timeout: 60_000 });

    after(async () => {
      if (project) await zdd(project.dir, ['stop']);
      await daemon?.stop();
      project?.remove();
    }, { timeout: 60_000 });

    it('deploys v2 blue-green under keep-alive load through both workers with zero failed requests; then v2 answers', { timeout: 90_000 }, async () => {
      const first = await zdd(project.dir, ['deploy', 'web', '--version', 'v1']);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      const v1 = JSON.parse((await request(`${url}/`)).body) as { version: string; framework: string };
      assert.deepEqual(v1, { version: 'v1', framework: app.framework });
      const pids = (await apiStatus(project.dir)).workers!.map((w) => w.pid);
      assert.equal(pids.length, 2);

      const load = startKeepAliveLoad({ url, rate: 200, connections: 8 });
      // The load's connections are spread over both workers before the deploy starts.
      await waitForStatus(project.dir, (s) => s.workers?.length === 2 && s.workers.every((w) => w.connections >= 1) && s.live!.traffic.requests > 20, 'load on both workers');
      const second = await zdd(project.dir, ['deploy', 'web', '--version', 'v2', '--env', 'APP_VERSION=v2']);
      const traffic = await load.stop();
      assert.equal(second.code, 0, second.stdout + second.stderr);
      assert.ok(traffic.requests > 50, `load ran during the deploy: ${traffic.requests} requests`);
      assert.deepEqual({ errors: traffic.errors, timeouts: traffic.timeouts, non2xx: traffic.non2xx }, { errors: 0, timeouts: 0, non2xx: 0 }, JSON.stringify(traffic));

      // New connections (over both workers: some held open at once) all reach v2.
      const held = await Promise.all(Array.from({ length: 4 }, () => keepAlive(port)));
      const s = await apiStatus(project.dir);
      assert.ok(s.workers!.every((w) => w.connections >= 1), JSON.stringify(s.workers));
      assert.deepEqual(held.map((h) => (JSON.parse(h.reply.body) as { version: string }).version), Array(4).fill('v2'));
      await closeAll(held.map((h) => h.socket));
      const replies = await Promise.all(Array.from({ length: 10 }, () => request(`${url}/`, { headers: { connection: 'close' } })));
      assert.deepEqual(replies.map((r) => `${r.status} ${(JSON.parse(r.body) as { version: string }).version}`), Array(10).fill('200 v2'));
      assert.deepEqual((await apiStatus(project.dir)).workers!.map((w) => w.pid), pids, 'no worker was replaced');
    });
  });
}
