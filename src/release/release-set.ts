import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { Logger } from 'pino';
import { ZddError } from '../errors.ts';
import { formatDuration } from '../config/duration.ts';
import { HealthChecker, type HealthState } from '../health/checker.ts';
import { ReleaseTargets } from '../proxy/release-targets.ts';
import { Target } from '../proxy/target.ts';
import type { Release, Store } from '../store/store.ts';
import { describeExit, Instance, type AdoptedProcess, type InstanceOptions } from '../runtime/instance.ts';
import { allocatePort } from '../runtime/ports.ts';
import { scopeOf } from '../runtime/process-tracker.ts';

const instanceHost = '127.0.0.1';
const restartBackoffMs = [500, 1_000, 2_000, 5_000, 10_000, 30_000];
const stableRunMs = 60_000;

/** An instance with its health checker and its place in the proxy. */
export interface Member {
  instance: Instance;
  checker: HealthChecker;
  target: Target;
  /** Went healthy at least once: from then on a crash means restart, not a failed start. */
  served: boolean;
  stopping: boolean;
  restarts: number;
}

export interface ReleaseSetContext {
  service: string;
  dataDir: string;
  store: Store;
  log: Logger;
}

/** An instance of this release a previous daemon left running, its identity verified: to serve through again. */
export interface Adoptee extends AdoptedProcess {
  id: string;
  port: number;
}

/** Why an instance of a new release did not become ready. */
export class StartFailure extends ZddError {
  constructor(message: string) {
    super('RELEASE_START_FAILED', message, 'fix the release and deploy again; the running release was not touched');
  }
}

export type ReleaseSetEvents = {
  /** Something a person should know (crash, restart, drain cut-off), in words. */
  message: [string];
  /** An instance that had served exited on its own. */
  crash: [Member, string];
  /** An instance that had served changed health. */
  health: [Member, HealthState];
};

/**
 * The running instances of one release of one service. It starts them, waits until each is healthy,
 * restarts those that crash once they have served, and drains and stops them.
 */
export class ReleaseSet extends EventEmitter<ReleaseSetEvents> {
  readonly release: Release;
  readonly targets: ReleaseTargets;
  readonly members = new Set<Member>();
  readonly #ctx: ReleaseSetContext;
  #seq = 0;
  #stopped = false;

  constructor(release: Release, ctx: ReleaseSetContext) {
    super();
    this.release = release;
    this.targets = new ReleaseTargets(release.number);
    this.#ctx = ctx;
  }

  get size(): number {
    let n = 0;
    for (const m of this.members) if (!m.stopping) n++;
    return n;
  }

  get healthyCount(): number {
    let n = 0;
    for (const m of this.members) if (!m.stopping && m.target.state === 'healthy') n++;
    return n;
  }

  /** Start `count` more instances and wait until every one is healthy; on any failure stop them all and throw. */
  async grow(count: number, signal?: AbortSignal): Promise<Member[]> {
    const started = await Promise.allSettled(Array.from({ length: count }, () => this.#startMember(signal)));
    const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(ok.map((m) => this.stopMember(m, 0)));
      throw failed.reason;
    }
    return ok;
  }

  /**
   * Take over instances a crashed daemon left running, without restarting them: each serves once a health
   * check passes (within `timeoutMs`); those that do not pass are stopped. Returns those that serve.
   */
  async adopt(adoptees: readonly Adoptee[], timeoutMs: number): Promise<Member[]> {
    const { service, dataDir } = this.#ctx;
    const spec = this.release.spec;
    const tried = await Promise.allSettled(
      adoptees.map((a) => {
        const options: InstanceOptions = { ...this.#instanceOptions(a.id, a.port), logFile: path.join(dataDir, 'logs', service, `${a.id}.log`) };
        return this.#enlist(new Instance(options, a), undefined, Math.min(timeoutMs, spec.health.startTimeout));
      }),
    );
    for (const r of tried) if (r.status === 'rejected') this.#say(`not adopted: ${(r.reason as Error).message}`);
    return tried.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  /** The `count` instances a shrink would stop (those not serving first, then oldest), so traffic can be moved off them first. */
  victims(count: number): Member[] {
    const live = [...this.members].filter((m) => !m.stopping);
    const idle = live.filter((m) => m.target.state !== 'healthy');
    return [...idle, ...live.filter((m) => m.target.state === 'healthy')].slice(0, count);
  }

  /** Drain and stop `count` instances (oldest first). */
  async shrink(count: number, drainTimeoutMs: number): Promise<void> {
    await Promise.all(this.victims(count).map((m) => this.stopMember(m, drainTimeoutMs)));
  }

  /** Drain every instance (in-flight requests finish up to the deadline), then stop them. */
  async stop(drainTimeoutMs: number): Promise<void> {
    this.#stopped = true;
    await Promise.all([...this.members].map((m) => this.stopMember(m, drainTimeoutMs)));
  }

  async stopMember(m: Member, drainTimeoutMs: number): Promise<void> {
    if (m.stopping) return void (await m.instance.exited);
    m.stopping = true;
    const { cancelled } = await m.target.drain(drainTimeoutMs);
    if (cancelled > 0) this.#say(`${m.instance.id}: drain deadline (${formatDuration(drainTimeoutMs)}) cut off ${cancelled} open request(s)/connection(s)`);
    m.checker.stop();
    const exit = await m.instance.stop(this.release.spec.stopTimeout);
    this.targets.remove(m.target);
    this.members.delete(m);
    this.#ctx.store.recordInstanceStop(m.instance.id, describeExit(exit));
  }

  /** Kill everything now, synchronously (the daemon is exiting abnormally). */
  killAll(): void {
    for (const m of this.members) m.instance.kill();
  }

  async #startMember(signal?: AbortSignal): Promise<Member> {
    const { service, dataDir, store } = this.#ctx;
    this.#seq = Math.max(this.#seq, store.instanceCount(this.release.id));
    const id = `${service}-r${this.release.number}-${++this.#seq}`;
    const port = await allocatePort(instanceHost);
    const instance = await Instance.start({ ...this.#instanceOptions(id, port), logFile: path.join(dataDir, 'logs', service, `${id}.log`) });
    try {
      store.recordInstanceStart({ id, service, releaseId: this.release.id, pid: instance.pid, port, startTime: instance.startTime });
    } catch (err) {
      instance.kill();
      throw err;
    }
    return this.#enlist(instance, signal, this.release.spec.health.startTimeout);
  }

  #instanceOptions(id: string, port: number): Omit<InstanceOptions, 'logFile'> {
    const spec = this.release.spec;
    const { service, dataDir } = this.#ctx;
    return { id, service, release: this.release.number, command: spec.command, cwd: spec.cwd, env: spec.env, host: instanceHost, port, logs: spec.logs, scope: scopeOf(dataDir) };
  }

  /** A running instance joins the set: health-checked, in the proxy's targets once healthy, replaced if it crashes after. */
  async #enlist(instance: Instance, signal: AbortSignal | undefined, timeoutMs: number): Promise<Member> {
    const { id, port } = { id: instance.id, port: instance.options.port };
    const spec = this.release.spec;
    this.#watchLog(instance);
    let target: Target;
    try {
      target = new Target({
        id,
        release: this.release.number,
        host: instanceHost,
        port,
        connections: spec.proxy.connections,
        timeoutMs: spec.proxy.timeout,
      });
    } catch (err) {
      instance.kill();
      throw err;
    }
    const checker = new HealthChecker({ host: instanceHost, port }, spec.health);
    const member: Member = { instance, checker, target, served: false, stopping: false, restarts: 0 };
    this.members.add(member);
    this.targets.add(target);
    checker.on('change', (state) => {
      if (member.stopping) return;
      target.transition(state === 'healthy' ? 'healthy' : 'unhealthy');
      if (!member.served) return;
      this.#say(`${id} is ${state}${state === 'unhealthy' ? `: ${checker.lastError}` : ''}`);
      this.emit('health', member, state);
    });
    target.on('connect-failure', () => checker.markFailed('connection refused while serving'));
    checker.start();
    try {
      await this.#untilHealthy(member, timeoutMs, signal);
    } catch (err) {
      await this.stopMember(member, 0);
      throw err;
    }
    member.served = true;
    instance.once('exit', (exit) => void this.#onExit(member, describeExit(exit)));
    return member;
  }

  #untilHealthy(m: Member, startTimeout: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        m.checker.off('change', onChange);
        m.instance.off('exit', onExit);
        signal?.removeEventListener('abort', onAbort);
      };
      const onChange = (state: string) => {
        if (state !== 'healthy') return;
        cleanup();
        resolve();
      };
      const onExit = () => {
        cleanup();
        const lines = m.instance.tail.lines(10);
        const output = lines.length ? `; last output:\n    ${lines.join('\n    ')}` : '; it printed nothing';
        reject(new StartFailure(`instance ${m.instance.id} ${describeExit(m.instance.exit!)} before becoming healthy${output}`));
      };
      const onAbort = () => {
        cleanup();
        reject(new ZddError('DEPLOY_CANCELLED', `start of ${m.instance.id} cancelled: ${String(signal?.reason ?? 'cancelled')}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        const last = m.checker.lastError ?? (m.checker.checks === 0 ? 'no check completed' : 'checks did not pass');
        // Refused connections all along usually mean the app listens somewhere else.
        const hint = /ECONNREFUSED/.test(last) ? ` (is the app listening on $PORT, here ${m.target.port}, on $HOST?)` : '';
        reject(new StartFailure(`instance ${m.instance.id} did not become healthy within ${formatDuration(startTimeout)}; last health check: ${last}${hint}`));
      }, startTimeout);
      if (signal?.aborted) return onAbort();
      m.checker.on('change', onChange);
      m.instance.once('exit', onExit);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async #onExit(m: Member, how: string): Promise<void> {
    if (m.stopping) return;
    // An instance that served crashed: it leaves rotation at once, then a replacement starts.
    m.stopping = true;
    m.checker.stop();
    await m.target.destroy();
    this.targets.remove(m.target);
    this.members.delete(m);
    this.#ctx.store.recordInstanceStop(m.instance.id, how);
    const lines = m.instance.tail.lines(5);
    this.#say(`${m.instance.id} ${how} while serving${lines.length ? `; last output: ${lines.join(' | ')}` : ''}`);
    this.emit('crash', m, how);
    // A crash after a long stable run starts the backoff over.
    const restarts = Date.now() - m.instance.startedAt > stableRunMs ? 0 : m.restarts;
    void this.#replace(m.instance.id, restarts);
  }

  /** Bring capacity back after a crash, with growing pauses between attempts. */
  async #replace(crashed: string, restarts: number): Promise<void> {
    for (let attempt = restarts; !this.#stopped; attempt++) {
      await new Promise((r) => setTimeout(r, restartBackoffMs[Math.min(attempt, restartBackoffMs.length - 1)]));
      if (this.#stopped) return;
      try {
        const [replacement] = await this.grow(1);
        replacement!.restarts = attempt + 1;
        this.#say(`${replacement!.instance.id} replaced ${crashed}`);
        return;
      } catch (err) {
        this.#say(`replacement for ${crashed} failed: ${(err as Error).message}`);
      }
    }
  }

  /** Output the instance's log file loses (a full disk) shows in the daemon log: at once, then once a minute. */
  #watchLog(instance: Instance): void {
    const { log, service } = this.#ctx;
    const file = instance.logFile.file;
    const where = { service, release: this.release.number, instance: instance.id };
    instance.logFile.on('dropping', (d) =>
      log.warn({ ...where, droppedLines: d.lines, droppedBytes: d.bytes }, `cannot write ${file} (${d.error}): ${d.lines} line(s) of ${instance.id}'s output dropped so far`),
    );
    instance.logFile.on('resumed', (d) => log.info({ ...where, droppedLines: d.lines }, `writing ${file} again; ${d.lines} line(s) were dropped in all`));
  }

  #say(message: string): void {
    this.#ctx.log.warn({ service: this.#ctx.service, release: this.release.number }, message);
    this.#ctx.store.addEvent({ service: this.#ctx.service, type: 'instance', message });
    this.emit('message', message);
  }
}
