import type { Target } from './target.ts';

/** The instances of one release; picks the least busy healthy one. */
export class ReleaseTargets {
  readonly release: number;
  readonly targets: Target[] = [];
  #next = 0;

  constructor(release: number) {
    this.release = release;
  }

  add(target: Target): void {
    this.targets.push(target);
  }

  remove(target: Target): void {
    const i = this.targets.indexOf(target);
    if (i >= 0) this.targets.splice(i, 1);
  }

  get healthyCount(): number {
    let n = 0;
    for (const t of this.targets) if (t.state === 'healthy') n++;
    return n;
  }

  /**
   * Least in-flight among healthy targets, starting the scan at a rotating index so ties spread evenly.
   * With nothing healthy, an unhealthy-but-running target beats refusing the request.
   */
  pick(exclude?: ReadonlySet<Target>): Target | undefined {
    const list = this.targets;
    const n = list.length;
    if (n === 0) return undefined;
    const start = this.#next++ % n;
    let best: Target | undefined;
    let fallback: Target | undefined;
    for (let k = 0; k < n; k++) {
      const t = list[(start + k) % n]!;
      if (exclude?.has(t)) continue;
      if (t.state === 'healthy') {
        if (!best || t.inFlight < best.inFlight) best = t;
      } else if (t.state === 'unhealthy' && (!fallback || t.inFlight < fallback.inFlight)) {
        fallback = t;
      }
    }
    return best ?? fallback;
  }
}
