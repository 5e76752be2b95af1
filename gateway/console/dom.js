// Small DOM helpers. Text always goes in as text nodes (never as HTML), so nothing the API returns can
// become markup.

/** An element: h('a', {href: '#/x', class: 'y'}, 'text', child, ...). `on*` attributes bind listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element, same calling convention as `h`. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Each currency's minor-unit exponent, as the API states it (`GET /currencies`). */
const EXPONENTS = new Map();

/** Takes the API's currency list: `[{code: 'JPY', exponent: 0}, ...]`. */
export function setCurrencies(list) {
  for (const c of list || []) EXPONENTS.set(c.code, c.exponent);
}

/** The digits after the point in `currency`: the API's figure, else the browser's, else 2. */
export function exponentOf(currency) {
  if (EXPONENTS.has(currency)) return EXPONENTS.get(currency);
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** Minor units as money, by the currency's exponent: 12345 EUR → '€123.45', 1200 JPY → '¥1,200',
 * 12345 KWD → 'KWD 12.345'. */
export function money(minor, currency) {
  if (minor === null || minor === undefined) return '–';
  const exponent = exponentOf(currency);
  const major = minor / 10 ** exponent;
  try {
    return new Intl.NumberFormat(undefined, {
      style: 'currency', currency, minimumFractionDigits: exponent, maximumFractionDigits: exponent,
    }).format(major);
  } catch {
    return `${major.toFixed(exponent)} ${currency}`;
  }
}

export function when(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** A local time as the API gives it (no offset): shown as is. */
export function local(naive) {
  return naive ? naive.replace('T', ' ').slice(0, 16) : '–';
}

/** An id in short: its last 8 characters (our ids are UUIDv7, whose first ones are a timestamp). */
export function short(id) {
  return id ? `…${String(id).slice(-8)}` : '–';
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `text` is an id (a UUID): only such text goes into an API path. */
export function isId(text) {
  return ID.test(text);
}

/** A page for an id that names nothing, with a way back. */
export function notFound(view, title, href, text) {
  fill(view, h('section', { class: 'card' }, h('h1', {}, title), h('p', {}, h('a', { href }, text))));
  return null;
}
