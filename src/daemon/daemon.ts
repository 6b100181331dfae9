import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { createApiServer } from '../api/server.ts';
import { Authenticator } from '../control/auth.ts';
import { ControlListener } from '../control/listener.ts';
import { createDashboard } from '../dashboard/handler.ts';
import { TokenRegistry } from '../control/tokens.ts';
import { TokenTable } from '../store/tokens.ts';
import type { DaemonHealth } from '../api/status.ts';
import { loadConfig } from '../config/load.ts';
import { Notifier } from '../notify/notifier.ts';
import { DaemonMetrics, retentionFromEnv } from '../metrics/metrics.ts';
import { observeAll } from '../deploy/events.ts';
import { DeployEngine } from '../deploy/engine.ts';
import { ZddError } from '../errors.ts';
import { ServiceState } from '../deploy/service-state.ts';
import type { Config, ServiceConfig } from '../config/load.ts';
import { FrontDoor, type AddressWorkers, type ServiceSite } from '../proxy/front-door.ts';
import { formatListen } from '../config/listen.ts';
import { RemotePlane } from '../proxy/workers/remote-plane.ts';
import { WorkerGroup } from '../proxy/workers/worker-group.ts';
import { workerCount } from '../proxy/workers/worker-count.ts';
import type { CertificateSite, CertificateStore } from '../tls/index.ts';
import { ServiceProxy } from '../proxy/service-proxy.ts';
import { describeTracking, scopeOf } from '../runtime/process-tracker.ts';
import { removeStaleOutputPipes } from '../runtime/output-pipe.ts';
import { reservePorts } from '../runtime/ports.ts';
import { Store } from '../store/store.ts';
import { version } from '../version.ts';
import { bindControlSocket } from './control-socket.ts';
import { listenAddress, listenControl } from './listen.ts';
import { ActivatedSockets } from './socket-activation.ts';
import { announceServing, receiveSockets, startSuccessor } from './handover.ts';
import type { LogFormat } from './logger.ts';
import { recoverInstances, settleInterrupted } from './recovery.ts';
import type { Adoptee } from '../release/release-set.ts';
import { describeStdout } from './output.ts';
import { loadSecret } from './secret.ts';
import { daemonInfoFile, readDaemonInfo, socketPathFor, type DaemonInfo } from './paths.ts';

export interface DaemonOptions {
  configPath: string;
  dataDir: string;
  log: Logger;
  logFormat: LogFormat;
  /** Started by `zdd restart`: take the sockets over from the running daemon instead of binding them. */
  takeover?: boolean;
  /** Called when the daemon is done: handed over to its successor and drained, or stopped by `zdd stop`. */
  exit?: (code: number) => void;
  /** Lines of this daemon's own log lost on the way to stdout, for status. */
  droppedLogLines?: () => number;
}

/** How long a restart waits for the successor to be up, serving, from the same sockets. */
const takeoverTimeoutMs = 120_000;

/** `zdd serve`: the proxies, the instances and the control API of every service in one zdd.yaml. */
export class Daemon {
  readonly engine: DeployEngine;
  readonly #store: Store;
  readonly #api: http.Server;
  readonly #front: FrontDoor;
  readonly #certificates: CertificateStore | undefined;
  readonly #control: ControlListener | undefined;
  readonly #opts: DaemonOptions;
  readonly #socket: string;
  readonly #info: DaemonInfo;
  #stopping: Promise<void> | undefined;
  #restarting = false;

  private constructor(o: {
    engine: DeployEngine;
    store: Store;
    api: http.Server;
    front: FrontDoor;
    certificates: CertificateStore | undefined;
    control: ControlListener | undefined;
    opts: DaemonOptions;
    socket: string;
    info: DaemonInfo;
  }) {
    this.engine = o.engine;
    this.#store = o.store;
    this.#api = o.api;
    this.#front = o.front;
    this.#certificates = o.certificates;
    this.#control = o.control;
    this.#opts = o.opts;
    this.#socket = o.socket;
    this.#info = o.info;
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { log } = opts;
    // Listening sockets from the service manager (a systemd .socket unit), taken out of the environment
    // before anything starts a process.
    const activated = ActivatedSockets.fromEnvironment(log);
    const configPath = path.resolve(opts.configPath);
    const dataDir = path.resolve(opts.dataDir);
    const config = loadConfig(configPath);
    reservePorts(listenPorts(config));
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });

    const socket = socketPathFor(dataDir);
    const startedAt = Date.now();
    let engine: DeployEngine | undefined;
    let store: Store | undefined;
    let daemon: Daemon | undefined;
    let tokens: TokenRegistry | undefined;
    let metrics: DaemonMetrics | undefined;
    // Status reads health at each request (a getter, so it serialises as a plain field).
    const about = {
      pid: process.pid,
      startedAt,
      config: configPath,
      dataDir,
      version,
      get health(): DaemonHealth | null {
        return store ? { store: store.health(), droppedLogLines: opts.droppedLogLines?.() ?? 0 } : null;
      },
    };
    let started!: () => void;
    const ready = new Promise<void>((resolve) => (started = resolve));
    const apiContext = {
      ready,
      get engine() {
        return engine!;
      },
      get store() {
        return store!;
      },
      get tokens() {
        return tokens!;
      },
      get metrics() {
        return metrics;
      },
      restart: () => daemon!.restart(),
      stop: () => daemon!.requestStop(),
      log,
      daemon: about,
    };
    const api = createApiServer(apiContext);
    // The socket is the lock: bind it before touching anything else in the data dir.
    await bindControlSocket(api, socket, dataDir, readDaemonInfo(dataDir)?.pid);
    // From here on this process holds the data dir. A start that fails lets go of all it took (ports,
    // instances, the socket, daemon.json, the database) before the error is reported, so the process can exit.
    let front: FrontDoor | undefined;
    let workers: Map<string, WorkerGroup> | undefined;
    let certificates: CertificateStore | undefined;
    let control: ControlListener | undefined;
    try {
      const info: DaemonInfo = { pid: process.pid, socket, startedAt, config: configPath, version };
      writeDaemonInfo(dataDir, info);

      store = new Store(path.join(dataDir, 'zdd.db'), { log });
      tokens = new TokenRegistry(new TokenTable(store.db));
      log.info(describeTracking());
      // A successor shares the data dir with the daemon it replaces, whose instances still serve. After a
      // crash, the live releases' instances still running are adopted and the rest stopped (recovery.ts).
      const adoptees = opts.takeover ? new Map<string, Adoptee[]>() : await recoverInstances(store, log, scopeOf(dataDir), [...config.services.keys()]);
      // The output FIFOs of instances that no longer run (a successor leaves them: the old daemon's instances still do).
      if (!opts.takeover) removeStaleOutputPipes(path.join(dataDir, 'logs'), new Set([...adoptees.values()].flat().map((a) => a.id)));
      settleInterrupted(store, log, [...config.services.keys()]);

      const secret = loadSecret(dataDir, (m) => log.warn(m));
      const services = new Map<string, ServiceState>();
      const proxies = new Map<string, ServiceSite>();
      // Plain-HTTP addresses with proxy.workers > 0 are served by data-plane processes (one group per
      // address; the services on an address agree on the number, config checks see to it).
      workers = new Map<string, WorkerGroup>();
      const redirectAddresses = new Set([...config.services.values()].flatMap((s) => (s.tls && s.redirectHttp ? [formatListen(s.redirectHttp)] : [])));
      for (const svc of config.services.values()) {
        const listen = formatListen(svc.listen);
        const count = workerCount(svc.proxy.workers, svc.tls !== undefined || redirectAddresses.has(listen));
        if (count === 0) {
          const proxy = new ServiceProxy(svc.name, log, { proxy: svc.proxy, secret });
          proxies.set(svc.name, proxy);
          services.set(svc.name, new ServiceState(svc, proxy));
        } else {
          let group = workers.get(listen);
          if (!group) {
            const onAddress = [...config.services.values()].filter((s) => formatListen(s.listen) === listen);
            group = new WorkerGroup({
              listen,
              count,
              secret,
              log,
              services: onAddress.map((s) => ({ name: s.name, listen: s.listen, hosts: [...(s.hosts ?? [])], paths: [...(s.paths ?? [])], stripPrefix: s.stripPrefix ?? false, proxy: s.proxy })),
            });
            workers.set(listen, group);
          }
          const plane = new RemotePlane(svc.name, group, svc.proxy);
          group.attach(plane);
          proxies.set(svc.name, plane);
          services.set(svc.name, new ServiceState(svc, plane));
        }
        store.ensureService(svc.name);
      }
      // A service paused (or in maintenance) before zdd restarted stays so: before anything is served.
      for (const p of store.pauses()) services.get(p.service)?.plane.pause(p.maintenance, p.since);
      const sites = certificateSites([...config.services.values()]);
      if (sites.length > 0) {
        // Loaded only when a service has tls: the ACME and X.509 libraries cost ~75 MB of memory.
        const { CertificateStore } = await import('../tls/certificate-store.ts');
        certificates = new CertificateStore({ dataDir, log });
        // Files are read and checked now (a bad one stops the start); ACME orders run in the background.
        await certificates.configure(sites);
      }
      const certificateStore = certificates;
      for (const svc of services.values()) {
        if (svc.config.tls) svc.certificate = () => certificateStore?.status().find((c) => c.service === svc.name);
      }
      front = new FrontDoor([...config.services.values()], proxies, certificates, workers as ReadonlyMap<string, AddressWorkers>);
      const tlsFiles = certificates;
      // Notifications (zdd.yaml's notify), read again as each deployment starts; the engine closes it at shutdown.
      const notifier = new Notifier({ config: config.notify, reload: () => loadConfig(configPath).notify, store, log, dashboardUrl: () => control?.url });
      // Prometheus metrics (GET /metrics), read from the services at each scrape and told of deployments.
      metrics = new DaemonMetrics({ services, retentionMs: retentionFromEnv() });
      const reload = () => {
        const next = loadConfig(configPath);
        reservePorts(listenPorts(next));
        return next;
      };
      engine = new DeployEngine({ store, log, dataDir, beforeDeploy: tlsFiles && (() => tlsFiles.reload()), observer: observeAll([notifier, metrics.observer]) }, services, reload);
      // After the engine exists (the API answers from here on); before anything is routed or listened on.
      for (const [listen, group] of workers) {
        await group.start();
        log.info(`${group.size} data-plane worker${group.size === 1 ? '' : 's'} serve ${listen}`);
      }
      if (config.control) control = new ControlListener({ spec: config.control, api: apiContext, auth: new Authenticator(tokens), log, dashboard: createDashboard() });
      const controlListener = control;
      if (controlListener && !opts.takeover) await listenControl(() => activated.serve(controlListener.spec.listen, controlListener, controlListener.key), controlListener.address, configPath);
      daemon = new Daemon({ engine, store, api, front, certificates, control, opts: { ...opts, configPath, dataDir }, socket, info });

      // Instances adopted after a crash serve before the proxy listens: no 503 window, no app restart.
      const adopted = new Set<string>();
      for (const [name, list] of adoptees) {
        const live = store.liveRelease(name);
        if (live && (await engine.adopt(name, live, list).done).status === 'succeeded') adopted.add(name);
      }
      // An address with a socket handed in is served from it once the live releases run (below).
      if (!opts.takeover) for (const a of front.addresses) if (!activated.has(a.address)) await listenAddress(a, configPath);
      const restores: Promise<{ status: string; reason: string | null }>[] = [];
      for (const svc of services.values()) {
        const live = store.liveRelease(svc.name);
        if (live && !adopted.has(svc.name)) {
          log.info({ service: svc.name, release: live.number }, `restoring release ${live.number} (${live.version})`);
          restores.push(engine.restore(svc.name, live).done);
        }
      }
      if (opts.takeover) await daemon.#takeOver(restores);
      // Handed-in sockets (socket activation): their connections wait in the kernel's backlog until the live releases run again.
      if (activated.size > 0) await Promise.allSettled(restores);
      for (const a of front.addresses) if (activated.has(a.address)) await listenAddress(a, configPath, activated);
      activated.closeRest();
      for (const a of front.addresses) log.info({ services: a.services }, `proxy listening on ${a.listen}${a.listener.secure ? ' (TLS, HTTP/2)' : ''}`);
      if (control) log.info(`control API and dashboard on ${control.url} (tokens: zdd token create)`);
      log.info({ dataDir, socket }, `zdd ${version} ready`);
      started();
      return daemon;
    } catch (err) {
      certificates?.close();
      await control?.close();
      started();
      await abandonStart({ api, socket, dataDir, front, engine, store, log });
      await Promise.all([...(workers?.values() ?? [])].map((g) => g.stop()));
      throw err;
    }
  }

  /** Successor: once every live release runs here too, serve from the old daemon's sockets. */
  async #takeOver(restores: Promise<{ status: string; reason: string | null }>[]): Promise<void> {
    const failed = (await Promise.all(restores)).find((r) => r.status !== 'succeeded');
    if (failed) throw new ZddError('TAKEOVER_FAILED', `cannot take over: a live release did not start here: ${failed.reason}`);
    const control = this.#control;
    const wanted = [...this.#front.addresses.map((a) => a.listen), ...(control ? [control.key] : [])];
    const adopted = new Set<string>();
    await receiveSockets(wanted, (listen, handle) => {
      if (listen === control?.key) {
        control.adopt(handle);
        adopted.add(listen);
      } else if (this.#front.adopt(listen, handle)) adopted.add(listen);
    });
    // Addresses new in zdd.yaml get sockets of their own.
    for (const a of this.#front.addresses) if (!adopted.has(a.listen)) await listenAddress(a, this.#opts.configPath);
    if (control && !adopted.has(control.key)) await listenControl(() => control.listen(), control.address, this.#opts.configPath);
    announceServing();
    this.#opts.log.info({ addresses: [...adopted] }, 'took over the sockets from the previous daemon');
  }

  /**
   * `zdd restart`: start a successor, hand it the sockets once its instances are healthy, then stop
   * accepting and drain. Neither a connection nor a request is lost. Resolves once the successor serves.
   */
  async restart(): Promise<{ from: number; to: number; output: string }> {
    const { log } = this.#opts;
    if (this.#restarting || this.#stopping) throw new ZddError('DAEMON_BUSY', 'zdd is already restarting or stopping');
    const busy = [...this.engine.services.values()].find((s) => s.active);
    if (busy) {
      throw new ZddError('DEPLOY_IN_PROGRESS', `deployment #${busy.active!.deployment.id} of ${busy.name} is in progress`, `wait for it, or stop it with: zdd abort ${busy.name}`);
    }
    this.#restarting = true;
    this.engine.pause('zdd is restarting');
    // The successor binds the control socket (the data dir's lock) as it starts.
    this.#api.close();
    rmSync(this.#socket, { force: true });
    log.info('restarting: starting the next daemon');
    try {
      const child = await startSuccessor({
        configPath: this.#opts.configPath,
        dataDir: this.#opts.dataDir,
        logFormat: this.#opts.logFormat,
        front: this.#front,
        extra: this.#control ? [{ listen: this.#control.key, server: this.#control.server }] : [],
        timeoutMs: takeoverTimeoutMs,
      });
      // From a foreground `zdd serve`, the new daemon is not this process: Ctrl-C here will not reach it.
      const output = describeStdout();
      log.info({ successor: child.pid, output }, `the next daemon (pid ${child.pid}) serves; it runs detached, its output goes to ${output}; stop it with zdd stop. Draining this one`);
      // After the answer to `zdd restart` has gone out.
      setImmediate(() => (this.#stopping = this.#retire()));
      return { from: process.pid, to: child.pid!, output };
    } catch (err) {
      log.error({ err }, 'restart failed: this daemon keeps serving');
      await bindControlSocket(this.#api, this.#socket, this.#opts.dataDir);
      this.engine.resume();
      this.#restarting = false;
      try {
        // The successor wrote daemon.json as its own (and removed it if it failed cleanly).
        writeDaemonInfo(this.#opts.dataDir, this.#info);
      } catch (e) {
        log.warn((e as Error).message);
      }
      throw new ZddError('RESTART_FAILED', `restart failed: ${(err as Error).message}`, 'this daemon keeps serving; see its log');
    }
  }

  /** After handing over: let open connections finish their last request, drain, stop instances, exit. */
  async #retire(): Promise<never> {
    const { log } = this.#opts;
    this.#front.stopAccepting();
    // The successor accepts on the control socket now; streams open here (dashboards) end with this daemon.
    const controlClosed = this.#control?.stopAccepting();
    const grace = Math.min(10_000, Math.max(...[...this.engine.services.values()].map((s) => s.config.drainTimeout), 1_000));
    await this.#front.connectionsClosed(grace);
    await this.engine.shutdown();
    this.#front.closeAllConnections();
    await this.#front.stopWorkers();
    this.#certificates?.close();
    this.#control?.server.closeAllConnections();
    await controlClosed;
    this.#store.close();
    log.info('handed over and drained: exiting');
    return (this.#opts.exit ?? process.exit)(0) as never;
  }

  /** Stop accepting, let requests in flight finish (up to each service's drainTimeout), stop instances. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const { log } = this.#opts;
      log.info('stopping: draining requests in flight, then stopping instances');
      const closing = this.#front.close();
      const controlClosed = this.#control?.close();
      await this.engine.shutdown();
      this.#front.closeAllConnections();
      this.#certificates?.close();
      await closing;
      await this.#front.stopWorkers();
      await controlClosed;
      await new Promise<void>((resolve) => this.#api.close(() => resolve()));
      this.#api.closeAllConnections();
      // During a restart the socket and daemon.json may already be the successor's.
      if (!this.#restarting) rmSync(this.#socket, { force: true });
      if (readDaemonInfo(this.#opts.dataDir)?.pid === process.pid) rmSync(daemonInfoFile(this.#opts.dataDir), { force: true });
      this.#store.close();
      log.info('stopped');
    })();
    return this.#stopping;
  }

  /** `zdd stop`: the stop SIGTERM makes, begun once the answer has gone out; then the process exits. */
  requestStop(): { pid: number } {
    if (this.#restarting) throw new ZddError('DAEMON_BUSY', 'zdd is handing over to a new daemon', 'run zdd stop again once zdd restart has finished');
    const exit = this.#opts.exit ?? process.exit;
    this.#opts.log.info('zdd stop received');
    setImmediate(() =>
      this.stop().then(
        () => exit(0),
        (err: unknown) => {
          this.#opts.log.error({ err }, 'stop failed');
          this.killInstances();
          exit(1);
        },
      ),
    );
    return { pid: process.pid };
  }

  /** SIGHUP: read certificate files again (a renewed certificate, a replaced key). */
  async reloadCertificates(): Promise<void> {
    await this.#certificates?.reload();
  }

  /** Last resort on an abnormal exit: no instance may outlive the daemon. */
  killInstances(): void {
    for (const s of this.engine.services.values()) {
      for (const set of s.sets) set.killAll();
    }
  }
}

/** A certificate site per service with tls; HTTP-01 where a redirect listener can answer it. */
function certificateSites(services: readonly ServiceConfig[]): CertificateSite[] {
  return services.flatMap((svc) =>
    svc.tls ? [{ service: svc.name, hosts: [...(svc.hosts ?? [])], tls: svc.tls, challenges: svc.redirectHttp ? ['http-01' as const, 'tls-alpn-01' as const] : ['tls-alpn-01' as const] }] : [],
  );
}

function writeDaemonInfo(dataDir: string, info: DaemonInfo): void {
  const file = daemonInfoFile(dataDir);
  try {
    writeFileSync(file, JSON.stringify(info, null, 2), { mode: 0o600 });
  } catch (err) {
    // A full disk can leave the file created but empty.
    rmSync(file, { force: true });
    throw new ZddError('DATA_DIR_UNWRITABLE', `cannot write ${file}: ${(err as Error).message}`, `free space on the filesystem that holds ${dataDir}, or make it writable`, { cause: err });
  }
}

/** Undoes a start that failed after binding the control socket: nothing of this daemon may be left. */
async function abandonStart(o: { api: http.Server; socket: string; dataDir: string; front?: FrontDoor; engine?: DeployEngine; store?: Store; log: Logger }): Promise<void> {
  const closing = o.front?.close();
  // Instances a restore already started.
  await o.engine?.shutdown().catch((err: unknown) => o.log.error({ err }, 'stopping what the failed start had started'));
  o.front?.closeAllConnections();
  await closing;
  o.api.close();
  o.api.closeAllConnections();
  rmSync(o.socket, { force: true });
  if (readDaemonInfo(o.dataDir)?.pid === process.pid) rmSync(daemonInfoFile(o.dataDir), { force: true });
  o.store?.close();
}

/** The ports of every address zdd.yaml asks zdd to listen on (services' listen and redirectHttp, control). */
function listenPorts(config: Config): number[] {
  const services = [...config.services.values()].flatMap((s) => [s.listen.port, ...(s.redirectHttp ? [s.redirectHttp.port] : [])]);
  return config.control ? [...services, config.control.listen.port] : services;
}
