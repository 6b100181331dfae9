// Measuring on a shared machine: before each measurement wait for other processes' CPU bursts to pass, and
// repeat a measurement they disturbed, keeping the least disturbed attempt.
import { BackgroundMeter, waitForIdle } from './machine.ts';
import { sleep } from './procs.ts';
import { fmtPercent } from './table.ts';

/** The report's line on how busy other processes kept the machine in the second before the bench; undefined off Linux. */
export async function backgroundBeforeLine(): Promise<string | undefined> {
  const idle = new BackgroundMeter();
  idle.start();
  await sleep(1000);
  idle.stop();
  const before = idle.share();
  if (before === undefined) return undefined;
  return `- CPU used by other processes in the second before the bench: ${fmtPercent(before)} of the machine${before > 0.05 ? ' ⚠ the machine is not idle: expect noisy numbers' : ''}`;
}

export interface QuietOptions {
  /** Wait up to this long before each measurement for the machine to be quiet (0: never). */
  idleWaitMs: number;
  /** Repeat a measurement during which others used more than `retryAbove` of the CPU, up to this many times. */
  retries: number;
  retryAbove: number;
  progress: (line: string) => void;
}

/** How disturbed the measurements of one table were. */
export class BackgroundTally {
  shareSum = 0;
  measurements = 0;
  disturbed = 0;
  retried = 0;

  /** The line under a table; undefined off Linux. */
  note(): string | undefined {
    if (this.measurements === 0) return undefined;
    return (
      `Other processes on this machine used ${fmtPercent(this.shareSum / this.measurements)} of its CPU on average during the measurements kept; ` +
      `${this.disturbed} of ${this.measurements} had more than 5%${this.disturbed > 0 ? ' ⚠ — those numbers are disturbed by them' : ''}` +
      (this.retried > 0 ? `; ${this.retried} measurement(s) were repeated because of them.` : '.')
    );
  }
}

export class QuietMeasurer {
  readonly #o: QuietOptions;
  constructor(o: QuietOptions) {
    this.#o = o;
  }

  /**
   * Runs `fn` once the machine is quiet; when other processes took more than `retryAbove` of the CPU
   * meanwhile, runs it again (up to `retries` times) and keeps the least disturbed. `discarded` sees each
   * attempt that is not kept. `share`: the CPU share others used during the kept one.
   */
  async measure<T>(tally: BackgroundTally, fn: () => Promise<T>, discarded: (value: T) => void = () => undefined): Promise<{ value: T; share: number | undefined }> {
    const o = this.#o;
    let kept: { value: T; share: number | undefined } | undefined;
    for (let attempt = 0; attempt <= o.retries; attempt++) {
      if (attempt > 0) tally.retried++;
      await this.quiet();
      const meter = new BackgroundMeter();
      meter.start();
      const value = await fn();
      meter.stop();
      const share = meter.share();
      if (!kept || (share ?? 0) < (kept.share ?? 0)) {
        if (kept) discarded(kept.value);
        kept = { value, share };
      } else discarded(value);
      if ((share ?? 0) <= o.retryAbove) break;
      o.progress(`  (other processes used ${fmtPercent(share)} of the CPU during that measurement${attempt < o.retries ? ': measuring again' : ''})`);
    }
    if (kept!.share !== undefined) {
      tally.measurements++;
      tally.shareSum += kept!.share;
      if (kept!.share > 0.05) tally.disturbed++;
    }
    return kept!;
  }

  /** Gives other processes' CPU bursts (someone's test run) a chance to pass. */
  async quiet(): Promise<void> {
    if (this.#o.idleWaitMs <= 0) return;
    const t0 = performance.now();
    const share = await waitForIdle(this.#o.idleWaitMs);
    const waited = performance.now() - t0;
    if (waited > 1000) this.#o.progress(`  (waited ${(waited / 1000).toFixed(1)} s for other processes to quiet down; now ${fmtPercent(share)} busy)`);
  }
}
