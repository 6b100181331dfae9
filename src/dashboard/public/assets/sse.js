// Server-sent events read with fetch (EventSource cannot send an Authorization header): a small parser of
// the text/event-stream format, and a loop that keeps one stream open, reconnecting with backoff when it
// drops (the daemon restarts, the network blinks) or goes quiet.

/** @typedef {{ event: string, data: string }} SseEvent */

/** Parses text/event-stream as it arrives, in chunks cut anywhere. */
export class SseParser {
  #buffer = '';
  #event = '';
  /** @type {string[]} */
  #data = [];

  /**
   * @param {string} chunk
   * @returns {SseEvent[]} the events this chunk completed
   */
  feed(chunk) {
    this.#buffer += chunk;
    /** @type {SseEvent[]} */
    const out = [];
    let nl;
    while ((nl = this.#buffer.search(/\r\n|\r|\n/)) !== -1) {
      // A lone \r at the end of a chunk may be the first half of \r\n: wait for the next chunk.
      if (this.#buffer[nl] === '\r' && nl === this.#buffer.length - 1) break;
      const line = this.#buffer.slice(0, nl);
      this.#buffer = this.#buffer.slice(nl + (this.#buffer.startsWith('\r\n', nl) ? 2 : 1));
      this.#line(line, out);
    }
    return out;
  }

  /**
   * @param {string} line
   * @param {SseEvent[]} out
   */
  #line(line, out) {
    if (line === '') {
      if (this.#data.length > 0) out.push({ event: this.#event || 'message', data: this.#data.join('\n') });
      this.#event = '';
      this.#data = [];
      return;
    }
    if (line.startsWith(':')) return; // a comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
  }
}

/**
 * @typedef {'connecting' | 'live' | 'waiting' | 'stopped'} StreamState
 * @typedef {{
 *   open: (signal: AbortSignal) => Promise<Response>,
 *   onEvent: (e: SseEvent) => void,
 *   onState: (state: StreamState, detail: { retryInMs?: number, error?: unknown }) => void,
 *   onFatal: (error: unknown) => boolean,
 *   quietMs?: number,
 * }} StreamOptions
 */

/**
 * Keeps one event stream open until stop(). Waits 0.5 s, 1 s, 2 s … (at most 10 s) between attempts;
 * a stream silent for `quietMs` (the daemon sends status every second) counts as dropped. `onFatal`
 * returns true for an error that must end it (a refused token).
 * @param {StreamOptions} o
 * @returns {{ stop: () => void }}
 */
export function followStream(o) {
  const quietMs = o.quietMs ?? 5_000;
  let stopped = false;
  /** @type {AbortController | undefined} */
  let current;
  /** @type {(() => void) | undefined} */
  let wake;
  const sleep = (/** @type {number} */ t) =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, t);
      wake = () => {
        clearTimeout(timer);
        resolve(undefined);
      };
    });

  const run = async () => {
    let failures = 0;
    while (!stopped) {
      const ac = new AbortController();
      current = ac;
      let quiet = setTimeout(() => ac.abort(), quietMs);
      let error;
      try {
        o.onState('connecting', {});
        const res = await o.open(ac.signal);
        if (!res.body) throw new Error('no response body');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        const parser = new SseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          clearTimeout(quiet);
          quiet = setTimeout(() => ac.abort(), quietMs);
          for (const e of parser.feed(value)) {
            failures = 0;
            o.onState('live', {});
            o.onEvent(e);
          }
        }
      } catch (err) {
        error = err;
      } finally {
        clearTimeout(quiet);
      }
      if (stopped) break;
      if (error !== undefined && o.onFatal(error)) {
        stopped = true;
        break;
      }
      const retryInMs = Math.min(10_000, 500 * 2 ** failures);
      failures++;
      o.onState('waiting', { retryInMs, error });
      await sleep(retryInMs);
    }
    o.onState('stopped', {});
  };
  void run();
  return {
    stop() {
      stopped = true;
      current?.abort();
      wake?.();
    },
  };
}
