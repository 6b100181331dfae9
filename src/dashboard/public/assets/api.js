// The control API from the browser: every request carries the token in the Authorization header (never
// in a URL). Failures become ApiError with the API's code, message and hint.

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status; 0 when the daemon could not be reached
   * @param {string} code
   * @param {string} message
   * @param {string} [hint]
   */
  constructor(status, code, message, hint) {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint;
  }

  get unauthorized() {
    return this.status === 401;
  }
}

/**
 * @typedef {import('../../api-types.ts').WhoAmI} WhoAmI
 * @typedef {import('../../api-types.ts').HistoryJson} HistoryJson
 * @typedef {import('../../api-types.ts').DeployEvent} DeployEvent
 * @typedef {Extract<DeployEvent, { type: 'finished' }>} Finished
 */

export class Api {
  /** @param {string} token */
  constructor(token) {
    this.token = token;
  }

  /**
   * @param {string} path
   * @param {{ method?: string, body?: unknown, signal?: AbortSignal }} [o]
   * @returns {Promise<Response>}
   */
  async request(path, o = {}) {
    /** @type {Record<string, string>} */
    const headers = { authorization: `Bearer ${this.token}` };
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method: o.method ?? 'GET',
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
        cache: 'no-store',
        credentials: 'omit',
        signal: o.signal,
      });
    } catch (err) {
      if (o.signal?.aborted) throw err;
      throw new ApiError(0, 'UNREACHABLE', 'the daemon cannot be reached (it may be restarting)');
    }
    if (!res.ok) throw await errorOf(res);
    return res;
  }

  /**
   * The JSON answer of a route, as the type the caller names (api-types.ts).
   * @template T
   * @param {string} path
   * @param {{ method?: string, body?: unknown }} [o]
   * @returns {Promise<T>}
   */
  async json(path, o) {
    return (await this.request(path, o)).json();
  }

  /** @returns {Promise<WhoAmI>} */
  whoami() {
    return this.json('/v1/whoami');
  }

  /**
   * Releases, deployments with their steps, events.
   * @param {string} service
   * @param {number} [limit]
   * @returns {Promise<HistoryJson>}
   */
  history(service, limit = 20) {
    return this.json(`/v1/services/${encodeURIComponent(service)}/history?limit=${limit}`);
  }

  /** @param {string} service @returns {Promise<{ message: string }>} */
  promote(service) {
    return this.json(`/v1/services/${encodeURIComponent(service)}/promote`, { method: 'POST', body: {} });
  }

  /** @param {string} service @returns {Promise<Finished>} the deployment's "finished" event */
  abort(service) {
    return this.json(`/v1/services/${encodeURIComponent(service)}/abort`, { method: 'POST', body: {} });
  }

  /**
   * Rolls back to the previous release; resolves with the "finished" event once it is done.
   * @param {string} service
   * @returns {Promise<Finished>}
   */
  async rollback(service) {
    const res = await this.request(`/v1/services/${encodeURIComponent(service)}/rollback`, { method: 'POST', body: {} });
    const lines = (await res.text()).split('\n').filter((l) => l.trim() !== '');
    /** @type {DeployEvent[]} */
    const events = lines.map((l) => JSON.parse(l));
    const finished = /** @type {Finished | undefined} */ (events.findLast((e) => e.type === 'finished'));
    if (!finished) throw new ApiError(0, 'INCOMPLETE', 'the rollback ended without an outcome (the daemon may have restarted)');
    return finished;
  }

  /**
   * The live stream: server-sent events (status once a second, deployment events as they happen).
   * @param {AbortSignal} signal
   */
  events(signal) {
    return this.request('/v1/events', { signal });
  }
}

/** @param {Response} res */
async function errorOf(res) {
  try {
    const body = await res.json();
    const e = body?.error;
    if (e && typeof e.message === 'string') return new ApiError(res.status, String(e.code), e.message, e.hint ?? undefined);
  } catch {
    // not the API's JSON
  }
  return new ApiError(res.status, `HTTP_${res.status}`, `the daemon answered ${res.status} ${res.statusText}`);
}
