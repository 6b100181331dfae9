// What the dashboard remembers between two status events: each release's request rate, error rate and
// p99 over the last minutes, and each canary analysis as it was evaluated. Kept in the page only (a
// reload starts afresh); the daemon sends the numbers of the moment once a second.

/**
 * @typedef {import('../../api-types.ts').StatusJson} StatusJson
 * @typedef {import('../../api-types.ts').ServiceStatus} ServiceStatus
 * @typedef {import('../../api-types.ts').ReleaseStatus} ReleaseStatus
 * @typedef {{ t: number, rps: number, errorRate: number | null, p99: number | null }} ReleasePoint
 * @typedef {{
 *   t: number, weight: number, outcome: string,
 *   canaryErrorRate: number | null, stableErrorRate: number | null, errorRateBound: number | null,
 *   canaryP99: number | null, stableP99: number | null, p99Bound: number | null,
 * }} AnalysisPoint
 */

export const windowMs = 5 * 60_000;
/** Analysis points kept per deployment (an hour at one a second). */
const maxAnalysisPoints = 3_600;
/** Deployments whose analysis is kept (finished ones keep their chart). */
const keptDeployments = 10;

export class ReleaseSeries {
  /** @type {Map<string, ReleasePoint[]>} */
  #points = new Map();
  /** When the first status was recorded. */
  since = Infinity;

  /**
   * The time span charts show: the last five minutes, or since the first status (at least a minute).
   * @param {number} now
   */
  span(now) {
    return { from: Math.max(now - windowMs, Math.min(this.since, now - 60_000)), to: now };
  }

  /**
   * Records one status: every release a service runs (live, incoming, retiring, standby).
   * @param {StatusJson} status
   * @param {number} now
   */
  record(status, now) {
    this.since = Math.min(this.since, now);
    const seen = new Set();
    for (const svc of status.services) {
      for (const r of releasesOf(svc)) {
        const key = keyOf(svc.name, r.number);
        seen.add(key);
        const points = this.#points.get(key) ?? [];
        points.push({ t: now, rps: r.traffic.requestsPerSecond, errorRate: r.traffic.errorRate, p99: r.traffic.p99Ms });
        while ((points[0]?.t ?? now) < now - windowMs) points.shift();
        this.#points.set(key, points);
      }
    }
    // Releases that stopped serving are forgotten once their points are all older than the window.
    for (const [key, points] of this.#points) if (!seen.has(key) && (points.at(-1)?.t ?? 0) < now - windowMs) this.#points.delete(key);
  }

  /**
   * @param {string} service
   * @param {number} release
   * @returns {ReleasePoint[]}
   */
  get(service, release) {
    return this.#points.get(keyOf(service, release)) ?? [];
  }
}

export class AnalysisSeries {
  /** @type {Map<number, AnalysisPoint[]>} by deployment id */
  #points = new Map();

  /**
   * Records the analysis of each deployment in progress, once per evaluation.
   * @param {StatusJson} status
   */
  record(status) {
    for (const svc of status.services) {
      const d = svc.deployment;
      if (!d) continue;
      const a = d.analysis;
      if (!a) continue;
      const points = this.#points.get(d.id) ?? [];
      if (points.at(-1)?.t === a.at) continue;
      points.push({
        t: a.at,
        weight: a.canaryWeight,
        outcome: a.outcome,
        canaryErrorRate: a.canary.errorRate,
        stableErrorRate: a.stable.errorRate,
        errorRateBound: a.bounds.errorRate,
        canaryP99: a.canary.p99Ms,
        stableP99: a.stable.p99Ms,
        p99Bound: a.bounds.p99Ms,
      });
      if (points.length > maxAnalysisPoints) points.shift();
      this.#points.set(d.id, points);
    }
    // Finished deployments keep their chart; only the newest few are kept.
    for (const id of [...this.#points.keys()].sort((x, y) => x - y).slice(0, Math.max(0, this.#points.size - keptDeployments))) this.#points.delete(id);
  }

  /**
   * @param {number} deployment
   * @returns {AnalysisPoint[]}
   */
  get(deployment) {
    return this.#points.get(deployment) ?? [];
  }
}

/**
 * Every release a service runs now, with the role it plays.
 * @param {ServiceStatus} svc
 * @returns {ReleaseStatus[]}
 */
export function releasesOf(svc) {
  return [svc.live, ...svc.incoming, ...svc.retiring, svc.standby].filter((r) => r !== null);
}

/**
 * @param {string} service
 * @param {number} release
 */
function keyOf(service, release) {
  return `${service}\u0000${release}`;
}
