import { Pool } from 'undici';

export interface TrafficCounts {
  sent: number;
  ok: number;
  failed: number;
  /** Failures by kind ("503", "ECONNRESET", …), for the summary. */
  failures: Record<string, number>;
  versions: Record<string, number>;
}

/**
 * The demo's users: a few clients sending GETs and PUTs (with a JSON body) in a loop, each outcome
 * counted. Not a benchmark tool (bench/ uses wrk and autocannon); it exists so the demo can say what
 * users saw.
 */
export class DemoTraffic {
  readonly counts: TrafficCounts = { sent: 0, ok: 0, failed: 0, failures: {}, versions: {} };
  readonly #pool: Pool;
  readonly #clients: number;
  readonly #pauseMs: number;
  #running = false;
  #loops: Promise<void>[] = [];

  constructor(url: string, clients = 8, pauseMs = 20) {
    this.#pool = new Pool(url, { connections: clients });
    this.#clients = clients;
    this.#pauseMs = pauseMs;
  }

  start(): void {
    this.#running = true;
    this.#loops = Array.from({ length: this.#clients }, (_, i) => this.#loop(i));
  }

  async stop(): Promise<TrafficCounts> {
    this.#running = false;
    await Promise.all(this.#loops);
    await this.#pool.close();
    return this.counts;
  }

  async #loop(i: number): Promise<void> {
    let n = 0;
    while (this.#running) {
      const put = (i + n++) % 4 === 0;
      this.counts.sent++;
      try {
        const res = await this.#pool.request({
          path: put ? '/echo' : '/',
          method: put ? 'PUT' : 'GET',
          headers: put ? { 'content-type': 'application/json' } : {},
          body: put ? JSON.stringify({ order: n, client: i }) : undefined,
        });
        const text = await res.body.text();
        if (res.statusCode < 400) {
          this.counts.ok++;
          const v = (JSON.parse(text) as { version?: string }).version ?? '?';
          this.counts.versions[v] = (this.counts.versions[v] ?? 0) + 1;
        } else this.#fail(String(res.statusCode));
      } catch (err) {
        this.#fail((err as { code?: string }).code ?? (err as Error).message);
      }
      await new Promise((r) => setTimeout(r, this.#pauseMs));
    }
  }

  #fail(kind: string): void {
    this.counts.failed++;
    this.counts.failures[kind] = (this.counts.failures[kind] ?? 0) + 1;
  }
}
