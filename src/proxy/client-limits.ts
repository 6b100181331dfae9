/**
 * Per client address: how many connections it holds open and how many large uploads it streams at
 * once, so that one address cannot take the proxy's sockets or the apps' connections for itself.
 */
export class ClientLimits {
  /** Large (streamed) uploads at once per client address: a browser uploads up to 6 files in parallel. */
  static readonly streamsPerClient = 8;
  /** The uploads one client may stream here: all of them, or this copy's share when several data-plane workers serve the same clients. */
  readonly streams: number;
  readonly #connections = new Map<string, number>();
  readonly #streams = new Map<string, number>();

  constructor(streams = ClientLimits.streamsPerClient) {
    this.streams = streams;
  }

  /** Counts a connection in, unless the address already holds `max`. */
  admitConnection(ip: string, max: number): boolean {
    return admit(this.#connections, ip, max);
  }

  releaseConnection(ip: string): void {
    release(this.#connections, ip);
  }

  admitStream(ip: string): boolean {
    return admit(this.#streams, ip, this.streams);
  }

  releaseStream(ip: string): void {
    release(this.#streams, ip);
  }
}

function admit(counts: Map<string, number>, key: string, max: number): boolean {
  const n = counts.get(key) ?? 0;
  if (n >= max) return false;
  counts.set(key, n + 1);
  return true;
}

function release(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 1) - 1;
  if (n <= 0) counts.delete(key);
  else counts.set(key, n);
}
