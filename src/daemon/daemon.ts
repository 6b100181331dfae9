import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { createApiServer } from '../api/server.ts';
import { formatListen } from '../config/listen.ts';
import { loadConfig } from '../config/load.ts';
import { DeployEngine } from '../deploy/engine.ts';
import { ServiceState } from '../deploy/service-state.ts';
import { ServiceProxy } from '../proxy/service-proxy.ts';
import { Store } from '../store/store.ts';
import { version } from '../version.ts';
import { bindControlSocket } from './control-socket.ts';
import { reapOrphans } from './orphans.ts';
import { daemonInfoFile, readDaemonInfo, socketPathFor, type DaemonInfo } from './paths.ts';

export interface DaemonOptions {
  configPath: string;
  dataDir: string;
  log: Logger;
}

/** `zdd serve`: the proxies, the instances and the control API of every service in one zdd.yaml. */
export class Daemon {
  readonly engine: DeployEngine;
  readonly #store: Store;
  readonly #api: http.Server;
  readonly #proxies: ServiceProxy[];
  readonly #opts: DaemonOptions;
  readonly #socket: string;
  #stopping: Promise<void> | undefined;

  private constructor(o: { engine: DeployEngine; store: Store; api: http.Server; proxies: ServiceProxy[]; opts: DaemonOptions; socket: string }) {
    this.engine = o.engine;
    this.#store = o.store;
    this.#api = o.api;
    this.#proxies = o.proxies;
    this.#opts = o.opts;
    this.#socket = o.socket;
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { log } = opts;
    const configPath = path.resolve(opts.configPath);
    const dataDir = path.resolve(opts.dataDir);
    const config = loadConfig(configPath);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });

    const socket = socketPathFor(dataDir);
    const startedAt = Date.now();
    let engine: DeployEngine | undefined;
    let store: Store | undefined;
    const api = createApiServer({
      get engine() {
        return engine!;
      },
      get store() {
        return store!;
      },
      log,
      daemon: { pid: process.pid, startedAt, config: configPath, dataDir, version },
    });
    // The socket is the lock: bind it before touching anything else in the data dir.
    await bindControlSocket(api, socket, dataDir, readDaemonInfo(dataDir)?.pid);
    const info: DaemonInfo = { pid: process.pid, socket, startedAt, config: configPath, version };
    writeFileSync(daemonInfoFile(dataDir), JSON.stringify(info, null, 2), { mode: 0o600 });

    store = new Store(path.join(dataDir, 'zdd.db'));
    reapOrphans(store, log);
    for (const d of store.unfinishedDeployments()) {
      store.finishDeployment(d.id, 'failed', 'zdd stopped during the deployment');
    }

    const services = new Map<string, ServiceState>();
    const proxies: ServiceProxy[] = [];
    try {
      for (const svc of config.services.values()) {
        const proxy = new ServiceProxy(svc.name, svc.listen, log);
        await proxy.listen();
        proxies.push(proxy);
        services.set(svc.name, new ServiceState(svc, proxy));
        store.ensureService(svc.name);
      }
    } catch (err) {
      await Promise.all(proxies.map((p) => p.close()));
      api.close();
      rmSync(socket, { force: true });
      store.close();
      throw err;
    }
    engine = new DeployEngine({ store, log, dataDir }, services, () => loadConfig(configPath));
    const daemon = new Daemon({ engine, store, api, proxies, opts: { ...opts, configPath, dataDir }, socket });

    for (const svc of services.values()) {
      log.info({ service: svc.name }, `proxy listening on ${formatListen(svc.config.listen)}`);
      const live = store.liveRelease(svc.name);
      if (live) {
        log.info({ service: svc.name, release: live.number }, `restoring release ${live.number} (${live.version})`);
        engine.restore(svc.name, live);
      }
    }
    log.info({ dataDir, socket }, `zdd ${version} ready`);
    return daemon;
  }

  /** Stop accepting, let requests in flight finish (up to each service's drainTimeout), stop instances. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const { log } = this.#opts;
      log.info('stopping: draining requests in flight, then stopping instances');
      const closing = this.#proxies.map((p) => p.close());
      await this.engine.shutdown();
      for (const p of this.#proxies) p.closeAllConnections();
      await Promise.all(closing);
      await new Promise<void>((resolve) => this.#api.close(() => resolve()));
      this.#api.closeAllConnections();
      rmSync(this.#socket, { force: true });
      rmSync(daemonInfoFile(this.#opts.dataDir), { force: true });
      this.#store.close();
      log.info('stopped');
    })();
    return this.#stopping;
  }

  /** Last resort on an abnormal exit: no instance may outlive the daemon. */
  killInstances(): void {
    for (const s of this.engine.services.values()) {
      for (const set of [s.live, s.standby?.set, ...s.retiring, ...s.incoming]) set?.killAll();
    }
  }
}
