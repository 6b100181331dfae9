// History of one service: its deployments with every step (newest first, each one expandable) and its
// releases. Loaded from GET /v1/services/:service/history when a service is chosen, when a deployment
// ends, and on Refresh; redrawn only when it changed, keeping what the reader expanded.

import { h, replaceChildren } from './dom.js';
import { clock, duration, iso } from './format.js';

/** @typedef {import('../../api-types.ts').HistoryJson} HistoryJson */

export class HistoryView {
  /**
   * @param {{ history: (service: string) => Promise<HistoryJson> }} api
   */
  constructor(api) {
    this.api = api;
    this.select = /** @type {HTMLSelectElement} */ (document.getElementById('history-service'));
    this.container = /** @type {HTMLElement} */ (document.getElementById('history'));
    this.refreshButton = /** @type {HTMLButtonElement} */ (document.getElementById('history-refresh'));
    this.shown = '';
    /** @type {Set<number>} deployments the reader expanded */
    this.open = new Set();
    this.select.addEventListener('change', () => void this.load());
    this.refreshButton.addEventListener('click', () => void this.load());
  }

  /** Forgets what was shown (a new sign-in). */
  reset() {
    this.shown = '';
    this.open.clear();
    replaceChildren(this.select, []);
    replaceChildren(this.container, []);
  }

  /**
   * Keeps the service list in step with the status (the first service is chosen at first).
   * @param {string[]} names
   */
  setServices(names) {
    const current = [...this.select.options].map((o) => o.value);
    if (current.join('\n') === names.join('\n')) return;
    const chosen = this.select.value;
    replaceChildren(this.select, names.map((n) => h('option', { value: n }, n)));
    if (names.includes(chosen)) this.select.value = chosen;
    if (this.select.value !== chosen) void this.load();
  }

  /** @param {string} [service] reload only when this service is the one shown */
  async load(service) {
    const name = this.select.value;
    if (!name || (service !== undefined && service !== name)) return;
    this.container.setAttribute('aria-busy', 'true');
    try {
      const history = await this.api.history(name);
      const text = JSON.stringify(history);
      if (text === this.shown) return;
      this.shown = text;
      this.#render(history);
    } catch (err) {
      replaceChildren(this.container, [h('p', { class: 'message' }, `Could not load the history: ${err instanceof Error ? err.message : String(err)}`)]);
      this.shown = '';
    } finally {
      this.container.setAttribute('aria-busy', 'false');
    }
  }

  /** @param {HistoryJson} history */
  #render(history) {
    const version = new Map(history.releases.map((r) => [r.number, r.version]));
    const label = (/** @type {number | null} */ n) => (n === null ? '–' : `#${n}${version.has(n) ? ` (${version.get(n)})` : ''}`);
    const deployments = history.deployments.map((d) => {
      const details = h(
        'details',
        { class: `deployment-record status-${d.status}`, open: this.open.has(d.id) },
        h(
          'summary',
          {},
          h('span', { class: `badge badge-${d.status}` }, d.status),
          ` #${d.id} ${d.kind} ${d.strategy} → ${label(d.release)}${d.from !== null ? ` from ${label(d.from)}` : ''} · `,
          h('time', { datetime: iso(d.startedAt) }, clock(d.startedAt)),
          d.finishedAt ? ` · ${duration(d.finishedAt - d.startedAt)}` : '',
        ),
        d.reason ? h('p', { class: 'reason' }, d.reason) : null,
        h(
          'ol',
          { class: 'steps' },
          ...d.steps.map((s) =>
            h('li', { class: `step status-${s.status}` }, h('time', { datetime: iso(s.at) }, clock(s.at)), ' ', h('span', { class: 'step-name' }, s.step), ' ', h('span', { class: `step-status badge badge-${s.status}` }, s.status), s.detail ? h('span', { class: 'step-detail' }, ` ${s.detail}`) : null),
          ),
        ),
      );
      details.addEventListener('toggle', () => (details.open ? this.open.add(d.id) : this.open.delete(d.id)));
      return h('li', {}, details);
    });
    const releases = history.releases.map((r) =>
      h(
        'tr',
        {},
        h('th', { scope: 'row' }, `#${r.number}`),
        h('td', {}, r.version),
        h('td', {}, r.state),
        h('td', {}, h('time', { datetime: iso(r.createdAt) }, clock(r.createdAt))),
        h('td', { class: 'code' }, r.source?.commit ? `${String(r.source.commit).slice(0, 10)}${r.source.dirty ? '+' : ''}` : r.command ?? ''),
      ),
    );
    replaceChildren(this.container, [
      h('h3', {}, 'Deployments'),
      deployments.length > 0 ? h('ol', { class: 'records' }, ...deployments) : h('p', { class: 'empty' }, 'No deployments yet.'),
      h('h3', {}, 'Releases'),
      releases.length > 0
        ? h(
            'div',
            { class: 'table-scroll', role: 'region', 'aria-label': 'Releases', tabindex: '0' },
            h(
              'table',
              {},
              h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Release'), h('th', { scope: 'col' }, 'Version'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col' }, 'Code'))),
              h('tbody', {}, ...releases),
            ),
          )
        : h('p', { class: 'empty' }, 'No releases yet.'),
    ]);
  }
}
