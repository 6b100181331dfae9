import { fork, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { DataPlaneWorker } from '../data-plane.ts';
import type { AddressWorkers } from '../front-door.ts';
import type { RemotePlane, WorkerChannel } from './remote-plane.ts';
import { recordFields, type FromWorker, type ToWorker, type WorkerReport, type WorkerService } from './protocol.ts';

// The data-plane worker processes of one plain-HTTP address. The daemon keeps the listening socket (so
// zdd restart and socket activation hand over one socket, as before) and accepts each connection without
// reading it; the worker with the fewest connections gets it over IPC and serves it from then on. Only
// new connections cost the daemon anything; requests on them never touch its event loop.

/** The worker's entry: the compiled .js next to this file in a build, the .ts in a checkout. */
const entry = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './worker-entry.ts' : './worker-entry.js', import.meta.url));

/** A worker that died within this long of its start is restarted after a pause, not at once. */
const crashLoopMs = 2_000;

interface Slot {
  index: number;
  child: ChildProcess;
  ready: boolean;
  connections: number;
  /** Per service: in flight per instance, as last reported. */
  inFlight: Map<string, Map<string, number>>;
  loop: WorkerReport['loop'];
  rss: number | undefined;
  startedAt: number;
  /**
   * Connections for it not sent yet. One socket travels at a time, and the daemon keeps its own copy of
   * it until the worker says it took it: when a worker dies, every connection not yet in its hands is
   * still whole here, unread, and goes to another (Node's own queue of handles would keep them, unsent
   * and open, for good: their clients would hang).
   */
  queue: number[];
  /** The connection on its way to it, until it says it took it. */
  sending: number | undefined;
}

interface Pending {
  left: Set<Slot>;
  cancelled: number;
  resolve: (cancelled: number) => void;
  timer: NodeJS.Timeout;
}

/** Connections kept (unread: the client waits) while no worker is ready, at most this many… */
const maxWaiting = 4_096;
/** …and each for at most this long. */
const maxWaitMs = 10_000;

interface Waiting {
  socket: Socket;
  release: () => void;
  since: number;
}

export interface WorkerGroupOptions {
  listen: string;
  count: number;
  services: WorkerService[];
  secret: Buffer;
  log: Logger;
  holdCap?: number;
}

export class WorkerGroup implements AddressWorkers, WorkerChannel {
  readonly listen: string;
  readonly size: number;
  readonly #o: WorkerGroupOptions;
  readonly #log: Logger;
  readonly #planes: RemotePlane[] = [];
  readonly #slots: (Slot | undefined)[];
  readonly #connections = new Map<number, { slot: Slot; release: () => void; socket: Socket }>();
  readonly #pending = new Map<number, Pending>();
  /** Accepted while no worker was ready (one is being replaced): handed over once one is. */
  #waiting: Waiting[] = [];
  #waitTimer: NodeJS.Timeout | undefined;
  #seq = 0;
  #nextConnection = 0;
  #stopping = false;
  /** Workers restarted after they died. */
  restarts = 0;

  constructor(o: WorkerGroupOptions) {
    this.listen = o.listen;
    this.size = o.count;
    this.#o = o;
    this.#log = o.log;
    this.#slots = new Array<Slot | undefined>(o.count).fill(undefined);
  }

  /** The stand-ins of the group's services, in the order of `services`. */
  attach(plane: RemotePlane): void {
    this.#planes.push(plane);
  }

  /** Every worker running and told the services. */
  async start(): Promise<void> {
    await Promise.all(this.#slots.map((_, i) => this.#spawn(i)));
  }

  /** Each worker: its pid, its connections, its event-loop delay over its last second and its memory. */
  processes(): DataPlaneWorker[] {
    return this.#slots.flatMap((s) => (s ? [{ worker: s.index, pid: s.child.pid ?? null, connections: s.connections, loopDelayMs: s.loop ?? null, rssBytes: s.rss ?? null }] : []));
  }

  handoff(socket: Socket, release: () => void): void {
    let best: Slot | undefined;
    for (const s of this.#slots) if (s?.ready && (!best || s.connections < best.connections)) best = s;
    if (!best) return this.#wait(socket, release);
    this.#send(best, socket, release);
  }

  #send(slot: Slot, socket: Socket, release: () => void): void {
    const id = ++this.#nextConnection;
    slot.connections++;
    this.#connections.set(id, { slot, release, socket });
    if (socket.listenerCount('error') === 0) socket.on('error', () => undefined);
    slot.queue.push(id);
    this.#pump(slot);
  }

  /** The next queued connection goes to the worker, once it has taken the one before. */
  #pump(slot: Slot): void {
    if (slot.sending !== undefined) return;
    const id = slot.queue.shift();
    if (id === undefined) return;
    const c = this.#connections.get(id);
    if (!c) return this.#pump(slot);
    slot.sending = id;
    // keepOpen: this copy stays open (paused: never read here) until the worker has its own.
    slot.child.send({ type: 'connection', id } satisfies ToWorker, c.socket, { keepOpen: true }, (err) => {
      // The channel is gone (the worker is dying): back in the queue, which its exit hands on.
      if (!err || slot.sending !== id) return;
      slot.sending = undefined;
      slot.queue.unshift(id);
    });
  }

  /** A connection no worker will get: closed, and no longer counted against its client. */
  #drop(socket: Socket, release: () => void): void {
    release();
    socket.destroy();
  }

  /**
   * Every worker is being replaced (the only one died): the connection waits, unread, as it would in the
   * kernel's backlog, and goes to the first worker that is ready; one that waits too long is closed.
   */
  #wait(socket: Socket, release: () => void): void {
    if (this.#stopping || this.#waiting.length >= maxWaiting) return this.#drop(socket, release);
    if (socket.listenerCount('error') === 0) socket.on('error', () => undefined);
    this.#waiting.push({ socket, release, since: Date.now() });
    this.#waitTimer ??= setInterval(() => this.#expireWaiting(), 1_000);
  }

  #expireWaiting(): void {
    const now = Date.now();
    this.#waiting = this.#waiting.filter((w) => {
      if (!w.socket.destroyed && now - w.since < maxWaitMs) return true;
      this.#drop(w.socket, w.release);
      return false;
    });
    if (this.#waiting.length === 0) {
      clearInterval(this.#waitTimer);
      this.#waitTimer = undefined;
    }
  }

  /** A worker became ready: the connections that waited for one go to it. */
  #handWaiting(slot: Slot): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    clearInterval(this.#waitTimer);
    this.#waitTimer = undefined;
    for (const w of waiting) {
      if (w.socket.destroyed) w.release();
      else this.#send(slot, w.socket, w.release);
    }
  }

  broadcast(m: ToWorker): void {
    for (const s of this.#slots) if (s?.ready) s.child.send(m);
  }

  drain(service: string, target: string, timeoutMs: number): Promise<number> {
    return this.#ask((seq) => ({ type: 'drain', seq, service, target, timeoutMs }), timeoutMs + 5_000);
  }

  /** Resolves once every worker has sent what it recorded until now. */
  async sync(): Promise<void> {
    await this.#ask((seq) => ({ type: 'flush', seq }), 2_000);
  }

  stopAccepting(): void {
    this.broadcast({ type: 'stop-accepting' });
  }

  async connectionsClosed(deadlineMs: number): Promise<void> {
    await this.#ask((seq) => ({ type: 'connections-closed', seq, deadlineMs }), deadlineMs + 2_000);
  }

  closeIdle(): void {
    this.broadcast({ type: 'close-idle' });
  }

  closeAll(): void {
    this.broadcast({ type: 'close-all' });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const w of this.#waiting) this.#drop(w.socket, w.release);
    this.#waiting = [];
    clearInterval(this.#waitTimer);
    await Promise.all(
      this.#slots.map(async (s) => {
        if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => s.child.once('exit', () => resolve()));
        // A worker ends when its channel does; one that does not within 5 s is killed.
        if (s.child.connected) s.child.disconnect();
        const timer = setTimeout(() => s.child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  /** Sends a question to every ready worker and sums their answers (a worker that dies counts as answered). */
  #ask(make: (seq: number) => ToWorker, safetyMs: number): Promise<number> {
    const seq = ++this.#seq;
    const left = new Set(this.#slots.filter((s): s is Slot => s?.ready === true));
    if (left.size === 0) return Promise.resolve(0);
    return new Promise((resolve) => {
      const p: Pending = {
        left,
        cancelled: 0,
        resolve,
        // A worker that never answers must not hold up a drain or a shutdown.
        timer: setTimeout(() => this.#settle(seq), safetyMs),
      };
      this.#pending.set(seq, p);
      for (const s of left) s.child.send(make(seq));
    });
  }

  #answered(seq: number, slot: Slot, cancelled: number): void {
    const p = this.#pending.get(seq);
    if (!p || !p.left.delete(slot)) return;
    p.cancelled += cancelled;
    if (p.left.size === 0) this.#settle(seq);
  }

  #settle(seq: number): void {
    const p = this.#pending.get(seq);
    if (!p) return;
    this.#pending.delete(seq);
    clearTimeout(p.timer);
    p.resolve(p.cancelled);
  }

  #spawn(index: number): Promise<void> {
    const child = fork(entry, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ZDD_WORKER_LOG_LEVEL: this.#log.level },
    });
    const slot: Slot = { index, child, ready: false, connections: 0, inFlight: new Map(), loop: undefined, rss: undefined, startedAt: Date.now(), queue: [], sending: undefined };
    this.#slots[index] = slot;
    return new Promise((resolve, reject) => {
      const failed = (err: Error) => {
        if (!slot.ready) reject(new Error(`data-plane worker ${index} for ${this.listen} did not start: ${err.message}`));
      };
      child.once('error', failed);
      child.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          slot.ready = true;
          // What the others know, this one learns before its first connection.
          for (const plane of this.#planes) for (const msg of plane.replay()) child.send(msg);
          this.#handWaiting(slot);
          resolve();
        } else {
          this.#message(slot, m);
        }
      });
      child.once('exit', (code, signal) => {
        failed(new Error(`exited (${signal ?? code})`));
        this.#exited(slot, code, signal);
      });
      child.send({ type: 'init', index, count: this.size, services: this.#o.services, secret: this.#o.secret, ...(this.#o.holdCap !== undefined ? { holdCap: this.#o.holdCap } : {}) } satisfies ToWorker);
    });
  }

  #message(slot: Slot, m: FromWorker): void {
    switch (m.type) {
      case 'report':
        return this.#report(slot, m);
      case 'took':
        if (slot.sending === m.id) {
          // The worker holds the connection now: the daemon's copy of the socket goes.
          this.#connections.get(m.id)?.socket.destroy();
          slot.sending = undefined;
        }
        return this.#pump(slot);
      case 'closed':
        return this.#closed(m.id);
      case 'held':
        return this.#plane(m.service)?.setHeld(slot.index, m.count);
      case 'connect-failure':
        return this.#plane(m.service)?.connectFailure(m.target);
      case 'drained':
        return this.#answered(m.seq, slot, m.cancelled);
      case 'connections-closed':
      case 'flushed':
        return this.#answered(m.seq, slot, 0);
      case 'log':
        return this.#relayLog(m.line);
      case 'ready':
        return;
    }
  }

  #report(slot: Slot, r: WorkerReport): void {
    const rec = r.records;
    for (let i = 0; i + recordFields <= rec.length; i += recordFields) {
      this.#planes[rec[i]!]?.applyRecord(rec[i + 1]!, rec[i + 2]!, rec[i + 3]!, rec[i + 4]!, rec[i + 5]!);
    }
    for (const [service, status, count] of r.rejections) this.#plane(service)?.addRejections(status, count);
    if (r.loop) slot.loop = r.loop;
    if (r.rss !== undefined) slot.rss = r.rss;
    slot.inFlight = new Map();
    for (const [service, target, n] of r.inFlight) {
      let m = slot.inFlight.get(service);
      if (!m) slot.inFlight.set(service, (m = new Map()));
      m.set(target, n);
    }
    this.#sumInFlight();
  }

  #sumInFlight(): void {
    const sums = new Map<string, Map<string, number>>();
    for (const s of this.#slots) {
      if (!s) continue;
      for (const [service, m] of s.inFlight) {
        let sum = sums.get(service);
        if (!sum) sums.set(service, (sum = new Map()));
        for (const [target, n] of m) sum.set(target, (sum.get(target) ?? 0) + n);
      }
    }
    for (const [service, m] of sums) {
      const plane = this.#plane(service);
      for (const [target, n] of m) plane?.setInFlight(target, n);
    }
  }

  #closed(id: number): void {
    const c = this.#connections.get(id);
    if (!c) return;
    this.#connections.delete(id);
    c.slot.connections--;
    c.release();
  }

  #plane(service: string): RemotePlane | undefined {
    return this.#planes.find((p) => p.service === service);
  }

  #relayLog(line: string): void {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const { level, msg, time: _time, ...rest } = entry;
    const n = typeof level === 'number' ? level : 30;
    const method = n >= 60 ? 'fatal' : n >= 50 ? 'error' : n >= 40 ? 'warn' : n >= 30 ? 'info' : n >= 20 ? 'debug' : 'trace';
    this.#log[method](rest, typeof msg === 'string' ? msg : '');
  }

  #exited(slot: Slot, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#slots[slot.index] === slot) this.#slots[slot.index] = undefined;
    slot.ready = false;
    // Connections it never took are whole here: they go to another worker (or wait for the next one).
    const unsent = slot.sending === undefined ? slot.queue : [slot.sending, ...slot.queue];
    slot.queue = [];
    slot.sending = undefined;
    for (const id of unsent) {
      const c = this.#connections.get(id);
      this.#connections.delete(id);
      slot.connections--;
      if (c) this.handoff(c.socket, c.release);
    }
    // The ones it had are gone with it; so are its in-flight counts and held requests.
    for (const [id, c] of this.#connections) if (c.slot === slot) this.#closed(id);
    for (const seq of [...this.#pending.keys()]) this.#answered(seq, slot, 0);
    slot.inFlight = new Map();
    this.#sumInFlight();
    for (const plane of this.#planes) plane.setHeld(slot.index, 0);
    if (this.#stopping) return;
    this.restarts++;
    const quick = Date.now() - slot.startedAt < crashLoopMs;
    this.#log.error({ worker: slot.index, pid: slot.child.pid, code, signal }, `data-plane worker ${slot.index} for ${this.listen} exited (${signal ?? `code ${code}`}); starting another${quick ? ' in 1 s' : ''}`);
    const again = () => {
      if (this.#stopping) return;
      this.#spawn(slot.index).catch((err: unknown) => this.#log.error({ err }, 'restarting a data-plane worker failed'));
    };
    if (quick) setTimeout(again, 1_000).unref();
    else again();
  }
}
