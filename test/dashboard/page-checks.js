// Checks that run inside the dashboard page (passed to Playwright's page.evaluate, which sends their
// source to the browser). Browser JavaScript with JSDoc types, checked by tsc -p src/dashboard.

/**
 * Text whose contrast with what is behind it is below WCAG AA: 4.5:1, or 3:1 for large text. Disabled
 * controls, chart text (the charts have text alternatives) and visually hidden text are left out.
 * @returns {string[]}
 */
export function lowContrast() {
  /** @param {string} c */
  const rgb = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m || !m[1]) return null;
    const [r = 0, g = 0, b = 0, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  /** @param {{ r: number, g: number, b: number }} c */
  const luminance = (c) => {
    const f = (/** @type {number} */ v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  /** @param {Element | null} el */
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0.9) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  /** @type {string[]} */
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    const text = node.textContent?.trim() ?? '';
    if (!el || !text || !el.checkVisibility() || el.closest('svg, :disabled, .visually-hidden')) continue;
    const style = getComputedStyle(el);
    const fg = rgb(style.color);
    if (!fg) continue;
    const bg = background(el);
    const [l1, l2] = [luminance(fg), luminance(bg)];
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) bad.push(`${ratio.toFixed(2)}:1 "${text.slice(0, 40)}" (${style.color} on rgb(${bg.r}, ${bg.g}, ${bg.b}))`);
  }
  return bad;
}

/** How many pixels the page is wider than the viewport (0: no horizontal scrolling). */
export function horizontalOverflow() {
  return document.documentElement.scrollWidth - document.documentElement.clientWidth;
}

/** @returns {string | null} the token this tab keeps */
export function keptToken() {
  return sessionStorage.getItem('zdd.token');
}

/** @returns {string} the name of the pseudo-element animation of the connection indicator */
export function indicatorAnimation() {
  const el = document.getElementById('connection');
  return el ? getComputedStyle(el, '::before').animationName : 'missing';
}
