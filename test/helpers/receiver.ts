import http, { type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A notification as a webhook receiver got it. */
export interface Received {
  headers: IncomingHttpHeaders;
  /** The raw body, as signed. */
  body: string;
  json: Record<string, unknown> & { event: string; text: string };
  res: ServerResponse;
  /** The request's connection is still open (an answer held back). */
  readonly open: boolean;
}

/** What to do with request `n` (0-based): an HTTP status to answer with, or 'hold' to never answer. */
export type Respond = (r: Received, n: number) => number | 'hold';

/** A real webhook receiver (node:http on a free loopback port) whose requests the test can await. */
export class Receiver {
  readonly received: Received[] = [];
  readonly #server: http.Server;
  readonly #waiters = new Set<{ match: (r: Received) => boolean; resolve: (r: Received) => void }>();
  respond: Respond;

  private constructor(respond: Respond) {
    this.respond = respond;
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let closed = false;
        res.on('close', () => (closed = true));
        const r: Received = {
          headers: req.headers,
          body,
          json: JSON.parse(body) as Received['json'],
          res,
          get open() {
            return !closed && !res.writableEnded;
          },
        };
        this.received.push(r);
        const answer = this.respond(r, this.received.length - 1);
        if (answer !== 'hold') res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'no');
        for (const w of this.#waiters) {
          if (w.match(r)) {
            this.#waiters.delete(w);
            w.resolve(r);
          }
        }
      });
    });
  }

  static async start(respond: Respond = () => 200): Promise<Receiver> {
    const r = new Receiver(respond);
    await new Promise<void>((resolve) => r.#server.listen(0, '127.0.0.1', resolve));
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks/zdd`;
  }

  /** The first request (past or future) that matches. */
  waitFor(match: (r: Received) => boolean): Promise<Received> {
    const seen = this.received.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.add({ match, resolve }));
  }

  /** The first request (past or future) for `event`, with `field` values matching. */
  event(event: string, fields: Record<string, unknown> = {}): Promise<Received> {
    return this.waitFor((r) => r.json.event === event && Object.entries(fields).every(([k, v]) => r.json[k] === v));
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
