// The token, kept for the browser session (sessionStorage: gone when the tab closes, never sent to the
// server except in the Authorization header). A link may carry it in the fragment, #token=…, which
// browsers never send; the page takes it from there and removes it from the address bar and history.

const key = 'zdd.token';

/**
 * The token in the URL fragment, if any; removes the fragment from the address bar either way.
 * @returns {string | null}
 */
export function takeTokenFromFragment() {
  if (!location.hash) return null;
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (token === null) return null;
  history.replaceState(history.state, '', `${location.pathname}${location.search}`);
  return token.trim() || null;
}

/** @returns {string | null} */
export function savedToken() {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

/** @param {string} token */
export function saveToken(token) {
  try {
    sessionStorage.setItem(key, token);
  } catch {
    // Storage refused (private mode quotas): the token lives until the page is closed or reloaded.
  }
}

export function clearToken() {
  try {
    sessionStorage.removeItem(key);
  } catch {
    // nothing kept
  }
}
