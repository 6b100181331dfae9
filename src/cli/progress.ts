import { formatDuration } from '../config/duration.ts';
import type { DeployEvent } from '../deploy/events.ts';
import { bad, bold, dim, marks, ok, warn } from './format.ts';

/** Prints a deployment's events as they arrive: a header, one line per step, then the outcome. */
export class ProgressPrinter {
  #startedAt = Date.now();
  #service = '';
  #from: string | null = null;
  readonly #out: NodeJS.WritableStream;

  constructor(out: NodeJS.WritableStream = process.stdout) {
    this.#out = out;
  }

  print(e: DeployEvent): void {
    const line = (s: string) => this.#out.write(`${s}\n`);
    const elapsed = () => dim(`+${formatDuration(Date.now() - this.#startedAt)}`.padStart(7));
    switch (e.type) {
      case 'started': {
        this.#startedAt = Date.now();
        this.#service = e.service;
        this.#from = e.from ? `release ${e.from.number} (${e.from.version})` : null;
        const what = `${e.kind === 'rollback' ? 'Rolling back' : e.kind === 'restore' ? 'Restoring' : 'Deploying'} ${bold(e.service)}`;
        const to = `release ${e.release.number} (${e.release.version})`;
        line(`${what}: ${to}${this.#from ? ` replaces ${this.#from}` : ''} — ${e.strategy}, deployment #${e.deployment}`);
        break;
      }
      case 'step': {
        const mark = marks[e.status];
        // A failure's full text (with the app's output) follows in the outcome line; one line is enough here.
        const detail = e.status === 'failed' ? (e.detail ?? '').split('\n')[0]! : (e.detail ?? '').replace(/\n/g, '\n' + ' '.repeat(20));
        if (e.status === 'started' && !e.detail) return;
        line(`${elapsed()} ${mark} ${e.step.padEnd(8)} ${e.status === 'failed' ? bad(detail) : detail}`);
        break;
      }
      case 'progress':
        line(`${elapsed()} ${dim('·')} ${dim(e.text)}`);
        break;
      case 'paused':
        line(warn(`⏸ ${this.#service}: ${e.reason}`));
        line(dim(`  waiting for a decision: zdd promote ${this.#service} (go on) or zdd abort ${this.#service} (back to stable); it goes on meanwhile, and still rolls back on failure`));
        break;
      case 'finished': {
        const took = formatDuration(Date.now() - this.#startedAt);
        if (e.status === 'succeeded') {
          line(ok(`✓ ${this.#service} release ${e.release} is live`) + dim(` (deployment #${e.deployment}, ${took})`));
        } else {
          line(bad(`✗ deployment #${e.deployment} ${e.status}: `) + (e.reason ?? 'no reason recorded'));
          if (this.#from) line(warn(`  ${this.#from} is still serving.`));
          line(dim(`  details: zdd history ${this.#service}; what the instances printed: zdd logs ${this.#service} --release ${e.release}`));
        }
        break;
      }
    }
  }
}
