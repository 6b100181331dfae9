// Small DOM helpers: elements built from plain values, and updates that touch the page only when a
// value changed (so that focus, selection and screen readers are not disturbed once a second).

const svgNs = 'http://www.w3.org/2000/svg';

/**
 * An HTML element with attributes and children. `class` sets className; `hidden`, `disabled` and other
 * boolean attributes are set when true and left out when false.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttributes(el, attrs);
  append(el, children);
  return el;
}

/**
 * An SVG element (charts are drawn with attributes only: the page's CSP allows no inline styles).
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {SVGElement}
 */
export function s(tag, attrs = {}, ...children) {
  const el = /** @type {SVGElement} */ (document.createElementNS(svgNs, tag));
  setAttributes(el, attrs);
  append(el, children);
  return el;
}

/**
 * @param {Element} el
 * @param {Record<string, string | number | boolean | null | undefined>} attrs
 */
export function setAttributes(el, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) el.removeAttribute(k);
    else if (v === true) el.setAttribute(k, '');
    else if (el.getAttribute(k) !== String(v)) el.setAttribute(k, String(v));
  }
}

/**
 * @param {Element} el
 * @param {(Node | string | null | undefined | false)[]} children
 */
function append(el, children) {
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
}

/**
 * Sets an element's text when it differs (a live region announces only real changes).
 * @param {Element} el
 * @param {string} text
 */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Replaces an element's children (for parts that hold nothing focusable: lists of values, charts).
 * @param {Element} el
 * @param {(Node | string | null | undefined | false)[]} children
 */
export function replaceChildren(el, children) {
  el.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
}

/**
 * Shows or hides an element.
 * @param {HTMLElement} el
 * @param {boolean} visible
 */
export function show(el, visible) {
  if (el.hidden === visible) el.hidden = !visible;
}

/**
 * An id safe for use in the document, from a service name (letters, digits, "-", "_", ".").
 * @param {string} prefix
 * @param {string} name
 */
export function idFor(prefix, name) {
  return `${prefix}-${name.replace(/[^A-Za-z0-9_-]/g, (c) => `_${c.charCodeAt(0).toString(16)}`)}`;
}
