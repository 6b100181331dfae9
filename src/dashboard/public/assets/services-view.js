// Services: each one's live release, the releases it runs with their instances and health, the traffic
// split, and small charts of request rate, error rate and p99 per release over the last minutes.
// Cards are made once per service and updated in place, so the page never jumps under the reader.

import { h, idFor, replaceChildren, setText } from './dom.js';
import { sparkline, splitBar } from './charts.js';
import { clock, iso, ms, percent, rate } from './format.js';
import { releasesOf, windowMs } from './series.js';

/**
 * @typedef {import('../../api-types.ts').StatusJson} StatusJson
 * @typedef {import('../../api-types.ts').ServiceStatus} ServiceStatus
 * @typedef {import('../../api-types.ts').ReleaseStatus} ReleaseStatus
 * @typedef {import('./series.js').ReleaseSeries} ReleaseSeries
 * @typedef {{ run: (service: string) => Promise<void> }} Action
 */

/**
 * The part a release plays in a service now.
 * @param {ServiceStatus} svc
 * @param {ReleaseStatus} r
 */
export function roleOf(svc, r) {
  if (svc.live && r.number === svc.live.number) return svc.deployment?.strategy === 'canary' ? 'stable' : 'live';
  if (svc.standby && r.number === svc.standby.number) return 'standby';
  if (svc.retiring.some((x) => x.number === r.number)) return 'draining';
  return svc.deployment?.strategy === 'canary' ? 'canary' : 'new';
}

class ServiceCard {
  /**
   * @param {string} name
   * @param {Action | null} rollback null: this token may not deploy
   */
  constructor(name, rollback) {
    this.name = name;
    const titleId = idFor('service', name);
    this.meta = h('p', { class: 'meta' });
    this.live = h('p', { class: 'live-line' });
    this.splitText = h('p', { class: 'split-text' });
    this.split = h('div', { class: 'split' }, this.splitText);
    this.releases = h('ul', { class: 'releases', 'aria-label': `Releases of ${name}` });
    this.outcome = h('p', { class: 'action-outcome', role: 'status' });
    /** @type {HTMLButtonElement | null} */
    this.rollbackButton = null;
    if (rollback) {
      this.rollbackButton = h('button', { type: 'button', class: 'button-danger', 'aria-label': `Roll back ${name}` }, 'Roll back');
      this.rollbackButton.addEventListener('click', () => void rollback.run(name));
    }
    this.el = h(
      'article',
      { class: 'card service', 'aria-labelledby': titleId, 'data-service': name },
      h('div', { class: 'card-head' }, h('h3', { id: titleId }, name), this.meta),
      this.live,
      this.split,
      this.releases,
      this.rollbackButton ? h('div', { class: 'card-actions' }, this.rollbackButton) : null,
      this.outcome,
    );
  }

  /**
   * @param {ServiceStatus} svc
   * @param {ReleaseSeries} series
   * @param {number} now
   */
  update(svc, series, now) {
    setText(this.meta, `${svc.strategy} · ${svc.replicas} replica${svc.replicas === 1 ? '' : 's'} · ${svc.listen}`);
    setText(this.live, svc.live ? `Live: release #${svc.live.number} (${svc.live.version})` : 'No release yet');
    const releases = releasesOf(svc);
    const roles = new Map(releases.map((r) => [r.number, roleOf(svc, r)]));
    const split = svc.split.map((x) => ({ ...x, role: roles.get(x.release) ?? 'live' }));
    const words = split.length === 0 ? 'no traffic routed' : split.map((x) => `release #${x.release} (${x.role}) ${x.weight}%`).join(' · ');
    setText(this.splitText, `Traffic: ${words}`);
    // The bar shows what the sentence says: hidden from screen readers, which read the sentence.
    const bar = split.length > 0 ? splitBar(split) : null;
    replaceChildren(this.split, [this.splitText, bar]);
    replaceChildren(
      this.releases,
      releases.map((r) => releaseItem(svc.name, r, roles.get(r.number) ?? 'live', series, now)),
    );
    if (this.rollbackButton) {
      // Not while a deployment runs (the daemon would refuse); whether there is a release to go back to, the daemon says.
      this.rollbackButton.disabled = svc.deployment !== null || !svc.live;
    }
  }
}

/**
 * @param {string} service
 * @param {ReleaseStatus} r
 * @param {string} role
 * @param {ReleaseSeries} series
 * @param {number} now
 */
function releaseItem(service, r, role, series, now) {
  const points = series.get(service, r.number);
  const t = r.traffic;
  const { from, to } = series.span(now);
  const span = from <= now - windowMs ? `over the last ${windowMs / 60_000} minutes` : `since ${clock(from)}`;
  const metric = (/** @type {string} */ name, /** @type {string} */ value, /** @type {import('./charts.js').Point[]} */ line, /** @type {number} */ min, /** @type {string} */ words) =>
    h(
      'div',
      { class: 'metric' },
      h('span', { class: 'metric-name' }, name),
      h('span', { class: 'metric-value' }, value),
      sparkline(line, { from, to, min, label: `${words} of release ${r.number} ${span}; now ${value}` }),
    );
  const healthy = r.instances.filter((i) => i.health === 'healthy').length;
  return h(
    'li',
    { class: `release role-${role}` },
    h(
      'div',
      { class: 'release-head' },
      h('span', { class: `badge badge-${role}` }, role),
      h('strong', {}, ` #${r.number} `),
      h('span', { class: 'version' }, r.version),
      h('span', { class: 'muted' }, ` · ${healthy}/${r.instances.length} healthy · since `, h('time', { datetime: iso(r.createdAt) }, clock(r.createdAt))),
    ),
    h(
      'ul',
      { class: 'instances', 'aria-label': `Instances of release ${r.number}` },
      ...r.instances.map((i) =>
        h('li', { class: `instance health-${i.health}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), `${i.id} `, h('span', { class: 'health' }, i.health), h('span', { class: 'muted' }, ` :${i.port}`)),
      ),
    ),
    h(
      'div',
      { class: 'metrics' },
      metric('Requests', rate(t.requestsPerSecond), points.map((p) => ({ t: p.t, v: p.rps })), 1, 'Requests per second'),
      metric('Errors', percent(t.errorRate), points.map((p) => ({ t: p.t, v: p.errorRate })), 0.01, 'Error rate'),
      metric('p99', ms(t.p99Ms), points.map((p) => ({ t: p.t, v: p.p99 })), 10, 'p99 latency'),
    ),
  );
}

export class ServicesView {
  /**
   * @param {HTMLElement} container
   * @param {Action | null} rollback
   */
  constructor(container, rollback) {
    this.container = container;
    this.rollback = rollback;
    /** @type {Map<string, ServiceCard>} */
    this.cards = new Map();
    replaceChildren(container, [h('p', { class: 'empty' }, 'Waiting for the first status…')]);
  }

  /**
   * @param {StatusJson} status
   * @param {ReleaseSeries} series
   * @param {number} now
   */
  update(status, series, now) {
    const services = status.services;
    if (services.length === 0) {
      replaceChildren(this.container, [h('p', { class: 'empty' }, 'No services in zdd.yaml.')]);
      this.cards.clear();
      return;
    }
    const names = new Set(services.map((s) => s.name));
    for (const [name, card] of this.cards) if (!names.has(name)) (card.el.remove(), this.cards.delete(name));
    for (const empty of this.container.querySelectorAll(':scope > .empty')) empty.remove();
    for (const svc of services) {
      let card = this.cards.get(svc.name);
      if (!card) {
        card = new ServiceCard(svc.name, this.rollback);
        this.cards.set(svc.name, card);
        this.container.append(card.el);
      }
      card.update(svc, series, now);
    }
  }

  /**
   * Says how an action ended, on the service's card.
   * @param {string} service
   * @param {string} text
   */
  outcome(service, text) {
    const card = this.cards.get(service);
    if (card) setText(card.outcome, text);
  }
}
