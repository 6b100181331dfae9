// Deployments: the one in progress for each service (strategy, releases, every step as it happens, the
// canary analysis over time against its bounds) with promote and abort for deploy tokens, and the last
// one's outcome once it ends. Steps come from the history when a deployment is first seen (it may have
// started before the page) and then from the live stream as they happen.

import { h, idFor, replaceChildren, setText, show } from './dom.js';
import { comparisonChart, comparisonLegend } from './charts.js';
import { clock, duration, iso, ms, percent } from './format.js';

/**
 * @typedef {import('../../api-types.ts').StatusJson} StatusJson
 * @typedef {import('../../api-types.ts').ServiceStatus} ServiceStatus
 * @typedef {import('../../api-types.ts').DeploymentStatus} DeploymentStatus
 * @typedef {import('../../api-types.ts').HistoryJson} HistoryJson
 * @typedef {import('../../api-types.ts').DeployEvent} DeployEvent
 * @typedef {import('../../api-types.ts').DeploymentEventJson} DeploymentEventJson
 * @typedef {import('../../api-types.ts').DeploymentStep} Step
 * @typedef {import('./series.js').AnalysisSeries} AnalysisSeries
 * @typedef {{ kind: string, strategy: string, step: string | null, paused: string | null, analysis: DeploymentStatus['analysis'] }} Seen
 * @typedef {{
 *   history: (service: string) => Promise<HistoryJson>,
 *   act: ((action: 'promote' | 'abort', service: string) => Promise<void>) | null,
 *   announce: (text: string) => void,
 *   onFinished: (service: string) => void,
 * }} Deps
 */

const finishedWords = /** @type {Record<string, string>} */ ({
  succeeded: 'Succeeded',
  failed: 'Failed',
  aborted: 'Aborted',
  'rolled-back': 'Rolled back',
});

/** @param {Step} s */
const stepKey = (s) => `${s.at}|${s.step}|${s.status}|${s.detail ?? ''}`;

class DeploymentCard {
  /**
   * @param {string} service
   * @param {number} id
   * @param {Deps} deps
   */
  constructor(service, id, deps) {
    this.service = service;
    this.id = id;
    this.deps = deps;
    /** @type {Step[]} */
    this.steps = [];
    /** @type {{ status: string, reason: string | null, finishedAt: number | null } | null} */
    this.result = null;
    /** @type {Seen | null} the deployment as status (or the history) showed it last */
    this.last = null;
    this.releaseText = '';
    this.startedAt = 0;
    this.fetching = false;
    const titleId = idFor(`deployment-${id}`, service);
    this.title = h('h3', { id: titleId }, `Deployment #${id} of ${service}`);
    this.summary = h('p', { class: 'meta' });
    this.state = h('p', { class: 'dep-state', role: 'status', 'data-status': 'running' });
    this.elapsed = h('p', { class: 'muted elapsed' });
    this.paused = h('p', { class: 'notice', hidden: true });
    // Scrolls when long: focusable, so that a keyboard can scroll it too. Progress is announced by the
    // state line above (a status region), not by every step.
    this.stepList = h('ol', { class: 'steps', tabindex: '0', 'aria-label': `Steps of deployment ${id}` });
    this.verdict = h('p', { class: 'verdict' });
    this.evidence = h('p', { class: 'muted evidence' });
    this.errorChart = h('figure', { class: 'chart' });
    this.latencyChart = h('figure', { class: 'chart' });
    this.analysis = h(
      'section',
      { class: 'analysis', 'aria-labelledby': `${titleId}-analysis`, hidden: true },
      h('h4', { id: `${titleId}-analysis` }, 'Canary analysis'),
      this.verdict,
      this.evidence,
      h('div', { class: 'charts' }, this.errorChart, this.latencyChart),
      h('ul', { class: 'legend', 'aria-label': 'Chart legend' }, ...comparisonLegend()),
      h('p', { class: 'help' }, 'Numbers over the whole deployment. The analysis decides with always-valid tests on clients, step by step, against these margins: a line above its bound is a reason to look, not yet a verdict.'),
    );
    this.outcome = h('p', { class: 'action-outcome', role: 'status' });
    /** @type {HTMLButtonElement[]} */
    this.buttons = [];
    this.actions = h('div', { class: 'card-actions' });
    const act = deps.act;
    if (act) {
      // Names that say which deployment, starting with the visible word (what voice control users say).
      const promote = h('button', { type: 'button', 'aria-label': `Promote deployment #${id} of ${service}` }, 'Promote');
      promote.addEventListener('click', () => void act('promote', service));
      const abort = h('button', { type: 'button', class: 'button-danger', 'aria-label': `Abort deployment #${id} of ${service}` }, 'Abort');
      abort.addEventListener('click', () => void act('abort', service));
      this.promoteButton = promote;
      this.buttons = [promote, abort];
      this.actions.append(promote, abort);
    }
    this.el = h(
      'article',
      { class: 'card deployment', 'aria-labelledby': titleId, 'data-service': service, 'data-deployment': String(id) },
      h('div', { class: 'card-head' }, this.title, this.summary),
      this.state,
      this.elapsed,
      this.paused,
      this.analysis,
      h('h4', {}, 'Steps'),
      this.stepList,
      this.actions,
      this.outcome,
    );
    void this.refresh();
  }

  /**
   * The status of the moment: the deployment while it runs, null once it ended.
   * @param {ServiceStatus} svc
   * @param {AnalysisSeries} series
   * @param {number} now
   */
  update(svc, series, now) {
    const d = svc.deployment && svc.deployment.id === this.id ? svc.deployment : null;
    if (d) {
      this.last = d;
      this.startedAt = d.startedAt;
      const to = [...svc.incoming, svc.live].find((r) => r !== null && r.number === d.release);
      const from = svc.live && svc.live.number !== d.release ? svc.live : null;
      this.releaseText = `release #${d.release}${to ? ` (${to.version})` : ''}${from ? ` from #${from.number} (${from.version})` : ''}`;
    } else if (!this.result) {
      // Ended while the stream was away: the history has its outcome.
      void this.refresh();
    }
    const kind = this.last?.kind ?? 'deploy';
    const strategy = this.last?.strategy ?? '';
    setText(this.summary, [kind, strategy, this.releaseText].filter(Boolean).join(' · '));
    this.#renderState(now);
    this.#renderAnalysis(d, series);
    const running = !this.result;
    for (const b of this.buttons) show(b, running);
    if (this.promoteButton) show(this.promoteButton, running && strategy === 'canary');
  }

  /** @param {number} now */
  #renderState(now) {
    if (this.result) {
      const words = finishedWords[this.result.status] ?? this.result.status;
      this.state.dataset.status = this.result.status;
      setText(this.state, `${words}${this.result.reason ? `: ${this.result.reason}` : ''}`);
      const took = this.result.finishedAt && this.startedAt ? ` · took ${duration(this.result.finishedAt - this.startedAt)}` : '';
      setText(this.elapsed, this.startedAt ? `Started ${clock(this.startedAt)}${took}` : '');
      show(this.paused, false);
      return;
    }
    const d = this.last;
    this.state.dataset.status = d?.paused ? 'paused' : 'running';
    const weight = d?.analysis ? ` (canary at ${d.analysis.canaryWeight}% of traffic)` : '';
    setText(this.state, `Running: ${d?.step ?? 'starting'}${weight}`);
    setText(this.elapsed, this.startedAt ? `Started ${clock(this.startedAt)} · ${duration(now - this.startedAt)} ago` : '');
    show(this.paused, Boolean(d?.paused));
    if (d?.paused) setText(this.paused, d.paused);
  }

  /**
   * @param {DeploymentStatus | null} d
   * @param {AnalysisSeries} series
   */
  #renderAnalysis(d, series) {
    const points = series.get(this.id);
    const a = d?.analysis;
    show(this.analysis, points.length > 0 || Boolean(a) || this.last?.strategy === 'canary');
    if (a) {
      setText(this.verdict, `${a.outcome}: ${a.reason}`);
      setText(
        this.evidence,
        [
          `${a.units.canary} canary and ${a.units.stable} stable clients in this step`,
          `${a.canary.requests} canary and ${a.stable.requests} stable requests`,
          a.reason.includes(a.detectable) ? '' : a.detectable,
          a.heavyHitter ?? '',
        ]
          .filter(Boolean)
          .join(' · '),
      );
    } else if (d) {
      setText(this.verdict, 'Waiting for the first analysis…');
    }
    const caption = (/** @type {string} */ text) => h('figcaption', {}, text);
    // Both charts share one width: that of the first, as laid out now (or a guess while hidden).
    const width = this.errorChart.clientWidth || 360;
    replaceChildren(this.errorChart, [
      caption('Error rate'),
      comparisonChart(
        points.map((p) => ({ t: p.t, weight: p.weight, canary: p.canaryErrorRate, stable: p.stableErrorRate, bound: p.errorRateBound })),
        { title: 'Error rate', format: percent, min: 0.02, width },
      ),
    ]);
    replaceChildren(this.latencyChart, [
      caption('p99 latency'),
      comparisonChart(
        points.map((p) => ({ t: p.t, weight: p.weight, canary: p.canaryP99, stable: p.stableP99, bound: p.p99Bound })),
        { title: 'p99 latency', format: ms, min: 20, width },
      ),
    ]);
  }

  /**
   * A deployment event from the stream (progress lines repeat the analysis the status carries).
   * @param {DeployEvent} event
   */
  onEvent(event) {
    if (event.type === 'step') this.#addSteps([{ at: event.at, step: event.step, status: event.status, detail: event.detail }]);
    else if (event.type === 'finished') this.#finish({ status: event.status, reason: event.reason, finishedAt: Date.now() });
  }

  /** Steps and outcome from the history (authoritative: the stream may have missed some). */
  async refresh() {
    if (this.fetching) return;
    this.fetching = true;
    try {
      const history = await this.deps.history(this.service);
      const d = history.deployments.find((x) => x.id === this.id);
      if (!d) return;
      this.startedAt = d.startedAt;
      if (!this.releaseText) {
        const version = (/** @type {number | null} */ n) => history.releases.find((r) => r.number === n)?.version;
        this.releaseText = `release #${d.release}${version(d.release) ? ` (${version(d.release)})` : ''}${d.from ? ` from #${d.from}${version(d.from) ? ` (${version(d.from)})` : ''}` : ''}`;
        this.last ??= { kind: d.kind, strategy: d.strategy, step: null, paused: null, analysis: null };
      }
      this.#addSteps(d.steps);
      if (d.status !== 'running') this.#finish({ status: d.status, reason: d.reason, finishedAt: d.finishedAt });
    } catch {
      // The stream's next status tries again.
    } finally {
      this.fetching = false;
    }
  }

  /** @param {{ status: string, reason: string | null, finishedAt: number | null }} result */
  #finish(result) {
    const first = !this.result;
    this.result = { ...result, finishedAt: result.finishedAt ?? this.result?.finishedAt ?? Date.now() };
    this.#renderState(Date.now());
    for (const b of this.buttons) show(b, false);
    if (!first) return;
    this.deps.announce(`Deployment #${this.id} of ${this.service}: ${(finishedWords[result.status] ?? result.status).toLowerCase()}`);
    this.deps.onFinished(this.service);
    // The steps recorded at the end (the rollback, the switch) may have raced the stream.
    void this.refresh();
  }

  /** @param {Step[]} steps */
  #addSteps(steps) {
    const known = new Set(this.steps.map(stepKey));
    const added = steps.filter((s) => !known.has(stepKey(s)));
    if (added.length === 0) return;
    const all = [...this.steps, ...added].sort((a, b) => a.at - b.at);
    const appendOnly = added.every((s) => s.at >= (this.steps.at(-1)?.at ?? 0));
    this.steps = all;
    if (appendOnly) for (const s of added.sort((a, b) => a.at - b.at)) this.stepList.append(stepItem(s));
    else replaceChildren(this.stepList, all.map(stepItem));
  }

  /** @param {string} text */
  setOutcome(text) {
    setText(this.outcome, text);
  }
}

/** @param {Step} s */
function stepItem(s) {
  return h(
    'li',
    { class: `step status-${s.status}` },
    h('time', { datetime: iso(s.at) }, clock(s.at)),
    ' ',
    h('span', { class: 'step-name' }, s.step),
    ' ',
    h('span', { class: `step-status badge badge-${s.status}` }, s.status),
    s.detail ? h('span', { class: 'step-detail' }, ` ${s.detail}`) : null,
  );
}

export class DeploymentsView {
  /**
   * @param {HTMLElement} container
   * @param {Deps} deps
   */
  constructor(container, deps) {
    this.container = container;
    this.deps = deps;
    /** @type {Map<string, DeploymentCard>} the newest deployment seen of each service */
    this.cards = new Map();
    this.empty = h('p', { class: 'empty' }, 'No deployment in progress.');
    replaceChildren(container, [this.empty]);
  }

  /**
   * @param {StatusJson} status
   * @param {AnalysisSeries} series
   * @param {number} now
   */
  update(status, series, now) {
    for (const svc of status.services) {
      if (svc.deployment) this.#card(svc.name, svc.deployment.id);
      this.cards.get(svc.name)?.update(svc, series, now);
    }
    show(this.empty, this.cards.size === 0);
  }

  /** @param {DeploymentEventJson} e */
  onEvent(e) {
    this.#card(e.service, e.deployment)?.onEvent(e.event);
  }

  /**
   * @param {string} service
   * @param {string} text
   */
  outcome(service, text) {
    this.cards.get(service)?.setOutcome(text);
  }

  /**
   * The card of this deployment, made when it is newer than the one shown for its service.
   * @param {string} service
   * @param {number} id
   */
  #card(service, id) {
    const current = this.cards.get(service);
    if (current && current.id >= id) return current.id === id ? current : undefined;
    const card = new DeploymentCard(service, id, this.deps);
    if (current) current.el.replaceWith(card.el);
    else this.container.append(card.el);
    this.cards.set(service, card);
    return card;
  }
}
