// Operations: every service's workers (state, lag, restarts, last error) from the admin status report
// (the gateway's readiness report in full), refreshed every five seconds; the notifier's dead letters,
// with redelivery.

import * as api from '../api.js';
import { fill, h } from '../dom.js';

const SERVICES = [['gateway', null], ['command_api', 'Command API'], ['query_api', 'Query API'], ['projector', 'Projector'], ['notifier', 'Notifier']];

export function render(view, _params, ctx) {
  const status = h('div', { id: 'ops-status' }, h('p', { class: 'muted' }, 'Loading…'));
  const letters = h('div', { id: 'dead-letters' });
  fill(view,
    h('section', { class: 'card' }, h('h1', {}, 'Operations'), status),
    h('section', { class: 'card' }, h('h2', {}, 'Dead letters'), letters));
  const refresh = async () => {
    try {
      drawStatus(status, await api.get('/admin/status'));
    } catch (error) {
      ctx.notice(error.message, 'error');
    }
  };
  refresh();
  drawLetters(letters, ctx);
  const timer = setInterval(refresh, 5000);
  return () => clearInterval(timer);
}

function drawStatus(el, report) {
  const stamp = new Date().toLocaleTimeString();
  fill(el,
    h('p', { class: 'overall' }, 'System: ', h('span', { class: `badge ${report.status}`, id: 'overall-status' }, report.status.replace('_', ' ')),
      ' · database ', h('span', { class: `badge ${report.database}` }, report.database),
      ' · Redis ', h('span', { class: `badge ${report.redis}` }, report.redis),
      h('span', { class: 'muted' }, ` · as of ${stamp}`)),
    h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'workers' },
      h('thead', {}, h('tr', {}, ...['Service', 'Worker', 'State', 'Lag', 'Restarts', 'Last progress', 'Last error'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, SERVICES.flatMap(([key, name]) => {
        const part = key === 'gateway' ? report : report[key];
        const service = name || 'Gateway';
        if (!part || !Array.isArray(part.workers)) {
          return [h('tr', {}, h('th', { scope: 'row' }, service), h('td', { colspan: 6 }, h('span', { class: 'badge not_ready' }, part?.status || 'unknown')))];
        }
        if (part.workers.length === 0) return [];
        return part.workers.map((w) => h('tr', { 'data-worker': w.name },
          h('th', { scope: 'row' }, service),
          h('td', {}, w.name),
          h('td', {}, h('span', { class: `badge ${w.stuck ? 'stuck' : w.state}` }, w.stuck ? 'stuck' : w.state)),
          h('td', { class: 'num' }, w.lag ?? '–'),
          h('td', { class: 'num' }, String(w.restarts)),
          h('td', {}, w.last_progress_secs_ago === null ? 'never' : `${w.last_progress_secs_ago.toFixed(1)} s ago`),
          h('td', { class: 'error-text' }, w.last_error || '')));
      })))),
    report.projector?.lag ? lagTable(report.projector.lag) : null);
}

function lagTable(subscriptions) {
  return h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'subscriptions' },
    h('caption', {}, 'Subscriptions'),
    h('thead', {}, h('tr', {}, ...['Subscription', 'Events behind', 'Oldest unread'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, Object.entries(subscriptions).map(([name, lag]) => h('tr', {},
      h('th', { scope: 'row' }, name), h('td', { class: 'num' }, String(lag.events_behind)),
      h('td', { class: 'num' }, `${Number(lag.oldest_age_seconds).toFixed(1)} s`))))));
}

async function drawLetters(el, ctx) {
  const parts = await Promise.all(['email', 'webhooks'].map(async (consumer) => {
    const box = h('div', { class: 'letters', 'data-consumer': consumer });
    try {
      const list = await api.get(`/admin/dead-letters/${consumer}`);
      const requeue = h('button', { type: 'button', disabled: list.length === 0 }, `Redeliver ${consumer} dead letters`);
      requeue.addEventListener('click', async () => {
        requeue.disabled = true;
        try {
          const done = await api.post(`/admin/dead-letters/${consumer}/requeue`);
          ctx.notice(`${done.requeued} ${consumer} message(s) sent back to the queue.`);
          drawLetters(el, ctx);
        } catch (error) {
          ctx.notice(error.message, 'error');
          requeue.disabled = false;
        }
      });
      fill(box, h('h3', {}, consumer === 'email' ? 'Email' : 'Webhooks', ` (${list.length})`), requeue,
        list.length ? h('ul', {}, list.slice(0, 20).map((d) => h('li', {},
          h('strong', {}, d.message?.event_type || 'message'), ` after ${d.attempts} attempts: `, h('span', { class: 'error-text' }, d.last_error || 'unknown error'))))
          : h('p', { class: 'muted' }, 'None.'));
    } catch (error) {
      fill(box, h('h3', {}, consumer), h('p', { class: 'error-text' }, error.message));
    }
    return box;
  }));
  fill(el, ...parts);
}
