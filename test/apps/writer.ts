// Acknowledged writes through zdd's proxy, one at a time: what a user's client does. Shared by
// test/apps/apps.test.ts and bench/state-loss.ts.
import { Pool } from 'undici';

export interface WriteOutcome {
  /** Sequence numbers the app acknowledged (201), in order. */
  acked: number[];
  /** Writes that failed (connection error or a non-201 answer): zdd's fault, not the app's state. */
  failed: { seq: number; error: string }[];
}

export interface Writer {
  readonly outcome: WriteOutcome;
  /** Resolves once `n` writes in all have been acknowledged (a count to reach, not a time to wait). */
  untilAcked(n: number): Promise<void>;
  stop(): Promise<WriteOutcome>;
}

/**
 * POSTs {"seq": n} to `path`, n = firstSeq (1), firstSeq + 1 …, each after the previous one was answered, on
 * one keep-alive connection; `rate` caps writes per second (pacing shapes the load; nothing waits on it).
 */
export function startWriter(url: string, o: { path?: string; rate?: number; firstSeq?: number } = {}): Writer {
  const pool = new Pool(url, { connections: 1 });
  const outcome: WriteOutcome = { acked: [], failed: [] };
  const waiters: { n: number; resolve: () => void }[] = [];
  let stopping = false;
  const start = performance.now();
  const loop = (async () => {
    const first = o.firstSeq ?? 1;
    for (let seq = first; !stopping; seq++) {
      if (o.rate) {
        const due = start + ((seq - first) * 1000) / o.rate - performance.now();
        if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
      }
      try {
        const res = await pool.request({ path: o.path ?? '/notes', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ seq }) });
        const text = await res.body.text();
        if (res.statusCode === 201) outcome.acked.push(seq);
        else outcome.failed.push({ seq, error: `${res.statusCode} ${text.slice(0, 200)}` });
      } catch (err) {
        outcome.failed.push({ seq, error: (err as Error).message });
      }
      for (const w of [...waiters]) {
        if (outcome.acked.length >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    }
  })();
  return {
    outcome,
    untilAcked(n) {
      if (outcome.acked.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    async stop() {
      stopping = true;
      await loop;
      await pool.close();
      return outcome;
    },
  };
}

/** The `seq` of every note the service returns for GET `path`. */
export async function storedSeqs(url: string, path = '/notes'): Promise<Set<number>> {
  const res = await fetch(url + path);
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`);
  return new Set((await res.json() as { seq: number }[]).map((n) => Number(n.seq)));
}
