import { betFractions, logMeanExp, logWealthCeiling } from './betting.ts';

/**
 * An absolute ceiling on the canary alone (maxErrorRate, maxP99, guard rails): its units' share of a 0/1
 * outcome is shown above `ceiling`. No comparison, so no randomization to lean on: valid when the
 * canary's units are a fair sample of its traffic (one sticky client counts once).
 */
export class Ceiling {
  readonly ceiling: number;
  yes = 0;
  no = 0;

  constructor(ceiling: number) {
    this.ceiling = ceiling;
  }

  add(yes: boolean): void {
    if (yes) this.yes++;
    else this.no++;
  }

  logFailEvidence(): number {
    return logMeanExp(betFractions.map((f) => logWealthCeiling(this.yes, this.no, this.ceiling, f)));
  }

  get share(): number | undefined {
    const n = this.yes + this.no;
    return n > 0 ? this.yes / n : undefined;
  }
}
