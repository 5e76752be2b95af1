// The console's shell: sign-in, navigation and the hash router. Each page module exports
// `render(view, params)` and may return a function that stops what it started (streams, timers).

import * as api from './api.js';
import { fill, h, setCurrencies } from './dom.js';
import * as flights from './pages/flights.js';
import * as booking from './pages/booking.js';
import * as events from './pages/events.js';
import * as analytics from './pages/analytics.js';
import * as operations from './pages/operations.js';

const PAGES = { flights, booking, events, analytics, operations };
const ADMIN_ONLY = new Set(['events', 'analytics', 'operations']);

const $ = (id) => document.getElementById(id);
let stopPage = null;

/** Shows a short message at the top (errors stay until the next one). */
export function notice(text, kind = 'info') {
  const el = $('notice');
  el.textContent = text;
  el.className = `notice ${kind}`;
  el.hidden = !text;
}

function route() {
  const [page, ...params] = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  return { page: page || 'flights', params: params.map(decodeURIComponent) };
}

function render() {
  stopPage?.();
  stopPage = null;
  notice('');
  const signedIn = Boolean(api.user());
  $('login').hidden = signedIn;
  $('nav').hidden = !signedIn;
  $('who').hidden = !signedIn;
  const view = $('view');
  if (!signedIn) {
    fill(view);
    $('email').focus();
    return;
  }
  const me = api.user();
  $('who-email').textContent = me.email;
  $('who-role').textContent = me.role;
  for (const link of document.querySelectorAll('#nav a')) link.hidden = link.hasAttribute('data-admin') && !api.isAdmin();
  let { page, params } = route();
  if (!PAGES[page]) page = 'flights';
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.page === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (ADMIN_ONLY.has(page) && !api.isAdmin()) {
    fill(view, h('section', { class: 'card' }, h('h1', {}, 'Admins only'), h('p', {}, 'This page needs an admin account.')));
    return;
  }
  fill(view);
  const stop = PAGES[page].render(view, params, { notice });
  stopPage = typeof stop === 'function' ? stop : null;
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = $('login-submit');
  button.disabled = true;
  $('login-error').textContent = '';
  try {
    await api.login($('email').value.trim(), $('password').value);
    $('password').value = '';
  } catch (error) {
    $('login-error').textContent = error.message;
  } finally {
    button.disabled = false;
  }
});

$('logout').addEventListener('click', () => api.logout());
// A refreshed token changes nothing on screen; signing in or out (or as someone else) does.
let shown = api.user()?.id ?? null;
api.onSession(() => {
  const now = api.user()?.id ?? null;
  if (now !== shown) {
    shown = now;
    render();
  }
});
window.addEventListener('hashchange', () => {
  render();
  $('view').focus({ preventScroll: true });
});
// The skip link moves focus; it must not change the hash, which is the router's.
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  $('view').focus();
});
window.addEventListener('unhandledrejection', (event) => {
  notice(event.reason?.message || String(event.reason), 'error');
});
// Prices need each currency's exponent (JPY has no minor unit, KWD three): the API's list first, then
// the first page (a list that cannot be read leaves the browser's own figures).
api.get('/currencies').then(setCurrencies, () => {}).finally(render);
