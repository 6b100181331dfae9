import type { Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import { FrontDoor } from '../front-door.ts';
import { ServiceProxy } from '../service-proxy.ts';
import { MirrorTargets } from './mirror-targets.ts';
import { AttemptFlags, type FromWorker, type ToWorker, type WorkerReport, type WorkerService } from './protocol.ts';

// A data-plane worker process (started by worker-entry.ts): the daemon (worker-group.ts) hands it client
// connections of one address, and it proxies their requests to the instances the daemon tells it of. It
// records every attempt and reports them in batches, so canary analysis, status and metrics see the
// requests of every worker. It lives exactly as long as its channel to the daemon.

const send = (m: FromWorker, handleOrNothing?: undefined): void => {
  if (process.connected) process.send!(m, handleOrNothing);
};

/** Records wait at most this long before they go to the daemon (what canary analysis sees, a little later). */
const flushDelayMs = 20;
/** The periodic report: in-flight counts, event-loop delay, memory. */
const reportEveryMs = 1_000;

class Worker {
  readonly #services: WorkerService[];
  readonly #proxies = new Map<string, ServiceProxy>();
  readonly #mirrors = new Map<string, MirrorTargets>();
  readonly #front: FrontDoor;
  readonly #connections = new Map<number, Socket>();
  #records: number[] = [];
  readonly #sentRejections = new Map<string, Record<number, number>>();
  #flushTimer: NodeJS.Timeout | undefined;
  /** Something to report: records, or requests that started. */
  #dirty = false;
  readonly #loop = monitorEventLoopDelay({ resolution: 1 });

  constructor(init: Extract<ToWorker, { type: 'init' }>, logLevel: string) {
    this.#services = init.services;
    const log = pino({ level: logLevel, base: { worker: init.index } }, { write: (line: string) => send({ type: 'log', line }) });
    const secret = Buffer.from(init.secret);
    init.services.forEach((svc, index) => {
      const proxy = new ServiceProxy(svc.name, log, { proxy: svc.proxy, secret, share: init.count, ...(init.holdCap !== undefined ? { holdCap: init.holdCap } : {}) });
      proxy.onHoldChange = (count) => send({ type: 'held', service: svc.name, count });
      proxy.recorder = {
        // A request that starts changes the in-flight counts status shows: a report goes soon after.
        started: () => this.#soon(),
        attempt: (release, status, latencyMs, connectionError, forced, retry, bucket, fresh) =>
          this.#record(index, release, status, latencyMs, (connectionError ? AttemptFlags.connectionError : 0) | (forced ? AttemptFlags.forced : 0) | (retry ? AttemptFlags.retry : 0) | (fresh ? AttemptFlags.fresh : 0), bucket ?? -1),
        retry: (release) => this.#record(index, release, 0, 0, AttemptFlags.retryCount, -1),
      };
      this.#proxies.set(svc.name, proxy);
      this.#mirrors.set(
        svc.name,
        new MirrorTargets(svc.name, proxy, {
          connectFailure: (target) => send({ type: 'connect-failure', service: svc.name, target }),
        }),
      );
    });
    this.#front = new FrontDoor(init.services, this.#proxies, undefined);
    for (const a of this.#front.addresses) a.listener.serveHandedConnections();
    this.#loop.enable();
    setInterval(() => this.#flush(true), reportEveryMs);
  }

  /** The daemon's messages, in order. */
  message(m: ToWorker, handle: unknown): void {
    switch (m.type) {
      case 'connection':
        return this.#connection(m.id, handle as Socket | undefined);
      case 'routes':
        return this.#mirrors.get(m.service)?.setRoutes(m.routes, m.retryOnOlder);
      case 'drain':
        void this.#mirrors
          .get(m.service)
          ?.drain(m.target, m.timeoutMs)
          .then((cancelled) => {
            // Attempts the drain ended are recorded before the daemon hears the drain is over.
            this.#flush(false);
            send({ type: 'drained', seq: m.seq, cancelled });
          });
        if (!this.#mirrors.has(m.service)) send({ type: 'drained', seq: m.seq, cancelled: 0 });
        return;
      case 'destroy':
        return this.#mirrors.get(m.service)?.destroy(m.target);
      case 'forget-stats':
        return this.#proxies.get(m.service)?.forgetStats(m.release);
      case 'configure':
        return this.#proxies.get(m.service)?.configure(m.proxy);
      case 'pause':
        return void this.#proxies.get(m.service)?.pause(m.maintenance);
      case 'resume':
        return void this.#proxies.get(m.service)?.resume();
      case 'stop-accepting':
        for (const a of this.#front.addresses) a.listener.closing = true;
        return;
      case 'connections-closed':
        void this.#front.connectionsClosed(m.deadlineMs).then(() => send({ type: 'connections-closed', seq: m.seq }));
        return;
      case 'flush':
        this.#flush(false);
        return send({ type: 'flushed', seq: m.seq });
      case 'close-all':
        return this.#front.closeAllConnections();
      case 'close-idle':
        return void this.#front.close();
      case 'init':
        return;
    }
  }

  #connection(id: number, socket: Socket | undefined): void {
    // The client left before the socket arrived: Node hands over nothing.
    send({ type: 'took', id });
    if (!socket) return send({ type: 'closed', id });
    this.#connections.set(id, socket);
    socket.once('close', () => {
      this.#connections.delete(id);
      send({ type: 'closed', id });
    });
    for (const a of this.#front.addresses) return a.listener.feed(socket);
  }

  #record(service: number, release: number, status: number, latencyMs: number, flags: number, bucket: number): void {
    this.#records.push(service, release, status, latencyMs, flags, bucket);
    this.#soon();
  }

  #soon(): void {
    this.#dirty = true;
    this.#flushTimer ??= setTimeout(() => this.#flush(false), flushDelayMs);
  }

  #flush(periodic: boolean): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const rejections: WorkerReport['rejections'] = [];
    for (const [name, proxy] of this.#proxies) {
      const sent = this.#sentRejections.get(name) ?? {};
      for (const [status, count] of Object.entries(proxy.rejections)) {
        const s = Number(status);
        if (count !== (sent[s] ?? 0)) rejections.push([name, s, count - (sent[s] ?? 0)]);
      }
      this.#sentRejections.set(name, { ...proxy.rejections });
    }
    if (!periodic && !this.#dirty && rejections.length === 0) return;
    this.#dirty = false;
    const report: WorkerReport = { type: 'report', records: this.#records, rejections, inFlight: [] };
    this.#records = [];
    // In-flight counts ride on every report: status must not show requests at the app that are over.
    for (const [name, mirror] of this.#mirrors) for (const [id, n] of mirror.inFlight()) report.inFlight.push([name, id, n]);
    if (periodic) {
      if (this.#loop.count > 0) report.loop = { mean: this.#loop.mean / 1e6, p99: this.#loop.percentile(99) / 1e6, max: this.#loop.max / 1e6 };
      this.#loop.reset();
      report.rss = process.memoryUsage.rss();
    }
    send(report);
  }
}

/**
 * Serves as a data-plane worker: `early` are messages that came before this module was loaded
 * (worker-entry.ts keeps them), handled first.
 */
export function runWorker(early: [ToWorker, unknown][]): void {
  let worker: Worker | undefined;
  const logLevel = process.env.ZDD_WORKER_LOG_LEVEL ?? 'info';
  const onMessage = (m: ToWorker, handle: unknown): void => {
    if (m.type === 'init') {
      worker = new Worker(m, logLevel);
      return send({ type: 'ready' });
    }
    worker?.message(m, handle);
  };
  process.on('message', onMessage);
  for (const [m, handle] of early) onMessage(m, handle);
  // The daemon is gone (stopped, or killed): so is this process; its connections end with it.
  process.on('disconnect', () => process.exit(0));
  // Like the daemon: a bug is logged and ends the process; the daemon starts another in its place.
  process.on('uncaughtException', (err) => {
    send({ type: 'log', line: JSON.stringify({ level: 60, msg: `data-plane worker: uncaught exception: ${err.stack ?? err.message}` }) });
    process.exit(1);
  });
  // Ctrl-C on a foreground zdd serve reaches the whole process group: the daemon decides when workers end.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);
}
