// Where a data-plane worker process starts: node:http loses the exports that would compile Node's
// bundled undici (lean-http.ts) before worker-main.ts and its modules are linked, as cli/main.ts does
// for the daemon. Messages the daemon sends meanwhile (its init) are kept for the worker.
import { dropHttpWebSocket } from '../../lean-http.ts';
import type { ToWorker } from './protocol.ts';

const early: [ToWorker, unknown][] = [];
const keep = (m: ToWorker, handle: unknown): void => void early.push([m, handle]);
process.on('message', keep);
dropHttpWebSocket();
const { runWorker } = await import('./worker-main.ts');
process.off('message', keep);
runWorker(early);
