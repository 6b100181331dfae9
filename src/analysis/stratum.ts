// One traffic-weight step of the window. Comparisons are made within a step,
// where the canary is a uniform random share of the traffic, so anything that
// hits both releases at once (an incident, a load spike) hits them in the same
// proportion. See rate-difference.ts and latency-tests.ts for how steps combine.

import { P99, type P99Bounds } from './latency-tests.ts';
import { ERROR_PRIOR, TAIL_PRIOR } from './priors.ts';
import { quantileLowerBound, quantileUpperBound } from './quantile-bounds.ts';
import { stepTerms, type StepTerms } from './rate-difference.ts';
import { ReleaseSample } from './window.ts';

export class Stratum {
  /** 1-based position in the window. */
  readonly step: number;
  /** Canary weight in this step, if the caller told us (informational). */
  weight: number | undefined;
  readonly canary = new ReleaseSample();
  readonly stable = new ReleaseSample();
  /** Alpha for each of this step's two p99 bounds: step k gets share 1/(k(k+1)), which sums to 1 over all steps. */
  readonly p99Alpha: number;
  /** Running (intersected) p99 bounds for this step. */
  p99: P99Bounds = { canaryLower: 0, stableUpper: Infinity };
  #frozen: StepTerms | undefined;

  constructor(step: number, weight: number | undefined, p99AlphaTotal: number) {
    this.step = step;
    this.weight = weight;
    this.p99Alpha = p99AlphaTotal / (step * (step + 1));
  }

  get requests(): number {
    return this.canary.requests + this.stable.requests;
  }

  get closed(): boolean {
    return this.#frozen !== undefined;
  }

  /** This step's terms in the error-rate evidence (cached once the step is over). */
  errorTerms(margin: number): StepTerms {
    return this.#frozen ?? stepTerms(this.canary, this.stable, margin, ERROR_PRIOR);
  }

  /** Tighten this step's p99 bounds with its current data (no-op once closed). */
  updateP99Bounds(scratch: Float64Array): void {
    if (this.closed) return;
    // Intersecting with earlier bounds is still valid (the guarantee holds for
    // all times at once) and keeps the bounds from wobbling back.
    this.p99 = {
      canaryLower: Math.max(this.p99.canaryLower, quantileLowerBound(this.canary, P99, this.p99Alpha, TAIL_PRIOR, scratch)),
      stableUpper: Math.min(this.p99.stableUpper, quantileUpperBound(this.stable, P99, this.p99Alpha, TAIL_PRIOR, scratch)),
    };
  }

  /** The step is over: no more data, so its statistics are final. */
  close(margin: number, scratch: Float64Array): void {
    this.updateP99Bounds(scratch);
    this.#frozen = stepTerms(this.canary, this.stable, margin, ERROR_PRIOR);
  }
}
