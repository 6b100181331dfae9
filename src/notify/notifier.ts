import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { endpointKey, notifyTargets, type NotifyConfig, type NotifyEvent } from '../config/notify.ts';
import type { DeployEvent, DeployListener, DeployObserver } from '../deploy/events.ts';
import type { ReleaseSet } from '../release/release-set.ts';
import { DeliveryTable, type DeliveryRecord } from '../store/deliveries.ts';
import type { Store } from '../store/store.ts';
import { deliveryDefaults, Endpoint, newDeliveryId, redactUrl, type Delivery, type DeliveryOptions, type DeliveryOutcome } from './endpoint.ts';
import { crashPayload, deploymentPayload, durationKey, finishedEvent, type DeploymentFacts, type DeploymentMoment, type NotifyPayload } from './payload.ts';

export interface NotifierOptions {
  config: NotifyConfig;
  /** notify as zdd.yaml says now: read again as each deployment starts (a file that no longer parses keeps the last). */
  reload?: (() => NotifyConfig) | undefined;
  store: Store;
  log: Logger;
  /** The dashboard's URL (the control listener's, e.g. http://127.0.0.1:9900/): each notification then links to its service there. */
  dashboardUrl?: string | (() => string | undefined) | undefined;
  delivery?: Partial<DeliveryOptions> | undefined;
}

/** How long stopping waits for notifications under way before it drops them. */
export const closeGraceMs = 2_000;

/**
 * Tells the endpoints of zdd.yaml's `notify` what deployments and instances do: the engine's observer.
 * Every notification is queued and sent in the background; each one's final outcome is recorded for
 * `zdd history` (and emitted as `outcome`).
 */
export class Notifier extends EventEmitter<{ outcome: [DeliveryRecord] }> implements DeployObserver {
  #config: NotifyConfig;
  readonly #o: NotifierOptions;
  readonly #delivery: DeliveryOptions;
  readonly #table: DeliveryTable;
  readonly #endpoints = new Map<string, Endpoint>();
  #closed = false;

  constructor(o: NotifierOptions) {
    super();
    this.#o = o;
    this.#config = o.config;
    this.#delivery = { ...deliveryDefaults, ...o.delivery };
    this.#table = new DeliveryTable(o.store.db);
  }

  deployment(): DeployListener {
    let facts: DeploymentFacts | undefined;
    const open = new Map<string, number>();
    return (e: DeployEvent) => {
      try {
        if (e.type === 'started') {
          this.#reload();
          facts = { service: e.service, deployment: e.deployment, kind: e.kind, strategy: e.strategy, release: e.release, previous: e.from, startedAt: Date.now(), durations: {} };
          if (e.kind !== 'restore') this.#deploymentMoment(facts, { event: 'deploy.started' });
        } else if (!facts) {
          return;
        } else if (e.type === 'step') {
          measure(facts.durations, open, e.step, e.status, e.at);
          // A rolling update with onFailure: pause waits for zdd abort as a step, not as a paused deployment.
          if (e.step === 'paused' && e.status === 'started') this.#deploymentMoment(facts, { event: 'deploy.paused', reason: e.detail ?? 'paused' });
        } else if (e.type === 'paused') {
          this.#deploymentMoment(facts, { event: 'deploy.paused', reason: e.reason });
        } else if (e.type === 'finished') {
          const event = finishedEvent(facts.kind, e.status);
          if (event) this.#deploymentMoment(facts, { event, status: e.status, reason: e.reason });
        }
      } catch (err) {
        this.#o.log.warn({ err }, 'notification not sent');
      }
    };
  }

  releaseSet(service: string, set: ReleaseSet): void {
    set.on('crash', (member, how) => {
      try {
        const release = { number: set.release.number, version: set.release.version };
        const instance = member.instance;
        this.#send(service, null, 'instance.crashed', (delivery, now) => crashPayload({ service, release, instance: instance.id, how, uptimeMs: now - instance.startedAt }, { delivery, now, dashboardUrl: this.#dashboardUrl() }));
      } catch (err) {
        this.#o.log.warn({ err }, 'notification not sent');
      }
    });
  }

  /** Resolves once no notification waits (tests). */
  async idle(): Promise<void> {
    await Promise.all([...this.#endpoints.values()].map((e) => e.idle()));
  }

  /** Daemon stop: notifications under way get up to `graceMs`, then they and those waiting are dropped (and recorded so). */
  async close(graceMs = closeGraceMs): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#endpoints.values()].map((e) => e.close(graceMs)));
  }

  #deploymentMoment(facts: DeploymentFacts, m: DeploymentMoment): void {
    this.#send(facts.service, facts.deployment, m.event, (delivery, now) => deploymentPayload(facts, m, { delivery, now, dashboardUrl: this.#dashboardUrl() }));
  }

  /** Queue one notification for every endpoint that wants its event; returns at once. */
  #send(service: string, deployment: number | null, event: NotifyEvent, make: (delivery: string, now: number) => NotifyPayload): void {
    if (this.#closed) return;
    const targets = notifyTargets(this.#config, service, event);
    const now = Date.now();
    for (const target of targets) {
      const id = newDeliveryId();
      const payload = make(id, now);
      this.#endpoint(target.url, target.secret).enqueue({ id, event, service, deployment, body: JSON.stringify(payload) });
    }
  }

  #endpoint(url: string, secret: string | undefined): Endpoint {
    const key = endpointKey({ url, secret });
    let e = this.#endpoints.get(key);
    if (!e) {
      e = new Endpoint({ url, secret, options: this.#delivery, done: (d, o) => this.#record(url, d, o), warn: (m) => this.#o.log.warn(m) });
      this.#endpoints.set(key, e);
    }
    return e;
  }

  #record(url: string, d: Delivery, o: DeliveryOutcome): void {
    const record: DeliveryRecord = { at: Date.now(), service: d.service, deployment: d.deployment, event: d.event, endpoint: redactUrl(url), ok: o.ok, attempts: o.attempts, status: o.status, detail: o.detail };
    const { log } = this.#o;
    const where = { service: d.service, deployment: d.deployment ?? undefined, event: d.event, endpoint: record.endpoint, attempts: o.attempts };
    if (o.ok) log.info(where, `notification ${d.event} to ${record.endpoint}: ${o.detail}`);
    else log.warn(where, `notification ${d.event} to ${record.endpoint}: ${o.detail}`);
    try {
      this.#table.add(record);
    } catch (err) {
      log.warn({ err: (err as Error).message }, `cannot record the outcome of notification ${d.event} to ${record.endpoint}`);
    }
    this.emit('outcome', record);
  }

  #dashboardUrl(): string | undefined {
    const d = this.#o.dashboardUrl;
    return typeof d === 'function' ? d() : d;
  }

  #reload(): void {
    if (!this.#o.reload) return;
    try {
      this.#config = this.#o.reload();
    } catch (err) {
      this.#o.log.warn(`notify: keeping the endpoints zdd.yaml had before (${(err as Error).message.split('\n')[0]})`);
    }
  }
}

/** A step's time: from its "started" to its "done" or "failed"; a step run several times adds up. */
function measure(durations: Record<string, number>, open: Map<string, number>, step: string, status: string, at: number): void {
  if (status === 'started') open.set(step, at);
  else if ((status === 'done' || status === 'failed') && open.has(step)) {
    const key = durationKey(step);
    durations[key] = (durations[key] ?? 0) + (at - open.get(step)!);
    open.delete(step);
  }
}
