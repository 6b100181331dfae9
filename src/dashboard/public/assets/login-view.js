// The login page: one labelled field for the token. The token is checked (GET /v1/whoami) before it is
// kept; a refusal says why, in words the API gave.

import { ApiError, Api } from './api.js';
import { show } from './dom.js';

/**
 * @typedef {import('./api.js').WhoAmI} WhoAmI
 */

export class LoginView {
  /** @param {(token: string, me: WhoAmI) => void} onSignedIn */
  constructor(onSignedIn) {
    this.section = /** @type {HTMLElement} */ (document.getElementById('login'));
    this.form = /** @type {HTMLFormElement} */ (document.getElementById('login-form'));
    this.input = /** @type {HTMLInputElement} */ (document.getElementById('token-input'));
    this.message = /** @type {HTMLElement} */ (document.getElementById('login-message'));
    this.submit = /** @type {HTMLButtonElement} */ (document.getElementById('login-submit'));
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#signIn(onSignedIn);
    });
  }

  /** @param {string} [message] why the login page shows (a refused token, a logout) */
  show(message = '') {
    this.message.textContent = message;
    this.input.setAttribute('aria-invalid', String(message !== '' && /refused|not valid/i.test(message)));
    show(this.section, true);
    this.input.value = '';
    this.input.focus();
  }

  hide() {
    show(this.section, false);
    this.message.textContent = '';
  }

  /** @param {(token: string, me: WhoAmI) => void} onSignedIn */
  async #signIn(onSignedIn) {
    const token = this.input.value.trim();
    if (!token) {
      this.message.textContent = 'Enter a token.';
      this.input.setAttribute('aria-invalid', 'true');
      this.input.focus();
      return;
    }
    this.submit.disabled = true;
    this.message.textContent = 'Checking…';
    try {
      const me = await new Api(token).whoami();
      this.input.value = '';
      this.input.removeAttribute('aria-invalid');
      onSignedIn(token, me);
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(0, 'UNKNOWN', String(err));
      this.message.textContent = e.unauthorized ? `That token was refused: ${e.message}.` : `Could not sign in: ${e.message}.`;
      this.input.setAttribute('aria-invalid', String(e.unauthorized));
      this.input.focus();
    } finally {
      this.submit.disabled = false;
    }
  }
}
