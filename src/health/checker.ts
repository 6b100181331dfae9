import { EventEmitter } from 'node:events';
import type { HealthSpec } from '../config/schema.ts';
import { probe, type ProbeTarget } from './probe.ts';

export type HealthState = 'starting' | 'healthy' | 'unhealthy';

/** While an instance starts, check at least this often so a deploy goes live as soon as the app is ready. */
const startingIntervalMs = 100;

/**
 * Polls one instance. It becomes healthy after `healthyThreshold` passing checks in a row and unhealthy
 * after `unhealthyThreshold` failures in a row; `change` fires on each transition.
 */
export class HealthChecker extends EventEmitter<{ change: [HealthState] }> {
  state: HealthState = 'starting';
  lastError: string | undefined;
  checks = 0;
  readonly #target: ProbeTarget;
  readonly #spec: HealthSpec;
  #passes = 0;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(target: ProbeTarget, spec: HealthSpec) {
    super();
    this.#target = target;
    this.#spec = spec;
  }

  start(): void {
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** Traffic showed the instance failing (a refused connection): out of rotation until checks pass again. */
  markFailed(reason: string): void {
    if (this.#stopped || this.state !== 'healthy') return;
    this.lastError = reason;
    this.#passes = 0;
    this.#set('unhealthy');
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#check(), delay);
  }

  async #check(): Promise<void> {
    const error = await probe(this.#target, this.#spec.path, this.#spec.timeout);
    if (this.#stopped) return;
    this.checks++;
    if (error === undefined) {
      this.#passes++;
      this.#failures = 0;
      if (this.state !== 'healthy' && this.#passes >= this.#spec.healthyThreshold) this.#set('healthy');
    } else {
      this.lastError = error;
      this.#failures++;
      this.#passes = 0;
      if (this.state === 'healthy' && this.#failures >= this.#spec.unhealthyThreshold) this.#set('unhealthy');
    }
    const interval = this.state === 'starting' ? Math.min(this.#spec.interval, startingIntervalMs) : this.#spec.interval;
    this.#schedule(interval);
  }

  #set(state: HealthState): void {
    this.state = state;
    this.emit('change', state);
  }
}
