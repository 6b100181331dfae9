// The dashboard: the token (from the URL fragment, the session, or the login form), then one live stream
// of server-sent events feeding the views, with promote / abort / roll back behind a confirmation for
// deploy tokens. A refused token returns to the login page with the reason.

import { Api, ApiError } from './api.js';
import { confirmAction } from './confirm.js';
import { setText, show } from './dom.js';
import { duration } from './format.js';
import { DeploymentsView } from './deployment-view.js';
import { HistoryView } from './history-view.js';
import { LoginView } from './login-view.js';
import { AnalysisSeries, ReleaseSeries } from './series.js';
import { ServicesView } from './services-view.js';
import { followStream } from './sse.js';
import { clearToken, savedToken, saveToken, takeTokenFromFragment } from './token.js';

/**
 * @typedef {import('../../api-types.ts').WhoAmI} WhoAmI
 * @typedef {import('../../api-types.ts').StatusJson} StatusJson
 * @typedef {import('../../api-types.ts').DeploymentEventJson} DeploymentEventJson
 */

const connection = /** @type {HTMLElement} */ (document.getElementById('connection'));
const session = /** @type {HTMLElement} */ (document.getElementById('session'));
const whoami = /** @type {HTMLElement} */ (document.getElementById('whoami'));
const dashboard = /** @type {HTMLElement} */ (document.getElementById('dashboard'));
const announcer = /** @type {HTMLElement} */ (document.getElementById('announcer'));
const daemon = /** @type {HTMLElement} */ (document.getElementById('daemon'));

/** @param {string} text said by screen readers (politely) */
function announce(text) {
  announcer.textContent = '';
  // A new node each time, so the same words twice are still announced.
  setTimeout(() => (announcer.textContent = text), 50);
}

/**
 * @param {'connecting' | 'live' | 'waiting' | 'stopped' | 'signed-out'} state
 * @param {string} text
 */
function setConnection(state, text) {
  connection.dataset.state = state;
  setText(connection, text);
}

/** @type {{ stop: () => void } | null} the live stream, while signed in */
let stream = null;
/** @type {Api | null} */
let currentApi = null;

const history = new HistoryView({
  history: (service) => {
    if (!currentApi) return Promise.reject(new Error('signed out'));
    return currentApi.history(service);
  },
});

const login = new LoginView((token, me) => {
  saveToken(token);
  start(token, me);
});

/** @param {string} message */
function signOut(message) {
  stream?.stop();
  stream = null;
  currentApi = null;
  clearToken();
  show(dashboard, false);
  show(session, false);
  setText(daemon, '');
  setConnection('signed-out', 'Signed out');
  login.show(message);
}

/**
 * @param {string} token
 * @param {WhoAmI} me
 */
function start(token, me) {
  const api = new Api(token);
  const canDeploy = me.role === 'deploy';
  login.hide();
  setText(whoami, `${me.name ?? 'local'} (${me.role})`);
  show(session, true);
  show(dashboard, true);

  currentApi = api;
  history.reset();
  const releaseSeries = new ReleaseSeries();
  const analysisSeries = new AnalysisSeries();
  /** @param {unknown} err */
  const refused = (err) => {
    if (err instanceof ApiError && err.unauthorized) {
      signOut(`Your token was refused: ${err.message}. Sign in again.`);
      return true;
    }
    return false;
  };

  /**
   * Confirms, then runs an action; its outcome goes to `report`.
   * @param {{ title: string, text: string, confirm: string }} question
   * @param {() => Promise<string>} action
   * @param {(text: string) => void} report
   */
  const guarded = async (question, action, report) => {
    if (!(await confirmAction(question))) return;
    report(`${question.confirm}: working…`);
    try {
      const text = await action();
      report(text);
      announce(text);
    } catch (err) {
      if (refused(err)) return;
      const text = `${question.confirm} failed: ${err instanceof Error ? err.message : String(err)}`;
      report(text);
      announce(text);
    }
  };

  const services = new ServicesView(
    /** @type {HTMLElement} */ (document.getElementById('services')),
    canDeploy
      ? {
          run: (service) =>
            guarded(
              { title: `Roll back ${service}?`, text: `All traffic of ${service} goes back to its previous release.`, confirm: 'Roll back' },
              async () => {
                const done = await api.rollback(service);
                return `Rollback of ${service}: ${done.status}${done.reason ? ` (${done.reason})` : ''}`;
              },
              (text) => services.outcome(service, text),
            ),
        }
      : null,
  );

  const deployments = new DeploymentsView(/** @type {HTMLElement} */ (document.getElementById('deployments')), {
    history: (service) => api.history(service, 10),
    act: canDeploy
      ? (action, service) =>
          action === 'promote'
            ? guarded(
                { title: `Promote the canary of ${service}?`, text: 'The canary moves past its current step now, to the next weight (or to all traffic after the last step).', confirm: 'Promote' },
                async () => (await api.promote(service)).message,
                (text) => deployments.outcome(service, text),
              )
            : guarded(
                { title: `Abort the deployment of ${service}?`, text: 'All traffic goes back to the stable release and the new release stops.', confirm: 'Abort' },
                async () => {
                  const done = await api.abort(service);
                  return `Deployment of ${service} ${done.status}${done.reason ? `: ${done.reason}` : ''}`;
                },
                (text) => deployments.outcome(service, text),
              )
      : null,
    announce,
    onFinished: (service) => void history.load(service),
  });

  stream = followStream({
    open: (signal) => api.events(signal),
    onEvent: (e) => {
      if (e.event === 'status') {
        const status = /** @type {StatusJson} */ (JSON.parse(e.data));
        const now = Date.now();
        setText(daemon, `zdd ${status.daemon.version} · pid ${status.daemon.pid} · up ${duration(now - status.daemon.startedAt)}`);
        releaseSeries.record(status, now);
        analysisSeries.record(status);
        services.update(status, releaseSeries, now);
        deployments.update(status, analysisSeries, now);
        history.setServices(status.services.map((s) => s.name));
      } else if (e.event === 'deployment') {
        deployments.onEvent(/** @type {DeploymentEventJson} */ (JSON.parse(e.data)));
      }
    },
    onState: (state, detail) => {
      if (state === 'live') setConnection('live', 'Live');
      else if (state === 'connecting') setConnection('connecting', 'Connecting…');
      else if (state === 'waiting') setConnection('waiting', `Connection lost; retrying in ${Math.round((detail.retryInMs ?? 0) / 100) / 10} s`);
    },
    onFatal: refused,
  });
}

/** The token from the fragment (then gone from the address bar), else the one of this session. */
async function boot() {
  const fromUrl = takeTokenFromFragment();
  if (fromUrl) saveToken(fromUrl);
  const token = fromUrl ?? savedToken();
  document.getElementById('logout')?.addEventListener('click', () => signOut('You signed out.'));
  if (!token) {
    setConnection('signed-out', 'Signed out');
    return login.show();
  }
  setConnection('connecting', 'Connecting…');
  for (let attempt = 0; ; attempt++) {
    try {
      return start(token, await new Api(token).whoami());
    } catch (err) {
      if (err instanceof ApiError && err.unauthorized) return signOut(`Your token was refused: ${err.message}. Sign in again.`);
      if (err instanceof ApiError && err.status !== 0) return signOut(`Could not sign in: ${err.message}.`);
      const wait = Math.min(10_000, 500 * 2 ** attempt);
      setConnection('waiting', `The daemon cannot be reached; retrying in ${wait / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

void boot();
