// The event log, live: every committed event in commit order, filtered by aggregate and type, pausable
// (events keep arriving and are shown on resume), each one expandable to its JSON.

import * as api from '../api.js';
import { fill, h, short, when } from '../dom.js';

const KEEP = 500; // Rows on screen; older ones drop off the bottom.
let filters = { aggregate_type: '', aggregate_id: '', types: '', from_start: false };

export function render(view, _params, ctx) {
  const list = h('ol', { class: 'log', id: 'event-log', reversed: true });
  const status = h('span', { id: 'feed-state', class: 'muted' }, 'Connecting…');
  const counter = h('span', { id: 'feed-count' }, '0 events');
  const pause = h('button', { type: 'button', id: 'feed-pause' }, 'Pause');
  const typeSelect = h('select', { id: 'f-aggregate_type', name: 'aggregate_type' },
    ...['', 'flight', 'booking', 'airport', 'aircraft'].map((t) => h('option', { value: t, selected: filters.aggregate_type === t }, t || 'any')));
  const form = h('form', { class: 'inline', id: 'feed-form' },
    h('div', { class: 'field' }, h('label', { for: 'f-aggregate_type' }, 'Aggregate'), typeSelect),
    h('div', { class: 'field grow' }, h('label', { for: 'f-aggregate_id' }, 'Aggregate id'),
      h('input', { id: 'f-aggregate_id', name: 'aggregate_id', value: filters.aggregate_id, maxlength: 128 })),
    h('div', { class: 'field grow' }, h('label', { for: 'f-types' }, 'Types (comma-separated; * is one word)'),
      h('input', { id: 'f-types', name: 'types', value: filters.types, placeholder: 'booking.*, flight.SeatsHeld' })),
    h('div', { class: 'field check' }, h('input', { type: 'checkbox', id: 'f-from_start', name: 'from_start', checked: filters.from_start }),
      h('label', { for: 'f-from_start' }, 'From the start of the log')),
    h('button', { type: 'submit' }, 'Apply'));
  fill(view,
    h('section', { class: 'card' }, h('h1', {}, 'Event log'), form,
      h('div', { class: 'toolbar' }, pause, counter, status)),
    h('section', { class: 'card' }, list));

  let stop = null;
  let paused = false;
  let held = [];
  let count = 0;
  const add = (e) => {
    list.prepend(row(e));
    while (list.children.length > KEEP) list.lastChild.remove();
  };
  const start = () => {
    stop?.();
    fill(list);
    held = [];
    count = 0;
    counter.textContent = '0 events';
    const query = new URLSearchParams();
    if (filters.from_start) query.set('from', 'start');
    if (filters.aggregate_type) query.set('aggregate_type', filters.aggregate_type);
    if (filters.aggregate_id) query.set('aggregate_id', filters.aggregate_id);
    for (const t of filters.types.split(',').map((x) => x.trim()).filter(Boolean)) query.append('type', t);
    stop = api.follow(`/events?${query}`, {
      event: (e) => {
        count += 1;
        if (!paused) add(e);
        else {
          held.push(e);
          // Only the newest KEEP could be shown anyway: a long pause holds no more than that.
          if (held.length > KEEP) held.shift();
        }
        counter.textContent = `${count} event${count === 1 ? '' : 's'}${paused ? `, ${held.length} waiting` : ''}`;
      },
      state: (word, error) => {
        status.textContent = word === 'live' ? '● live' : word === 'failed' ? `stopped: ${error.message}` : 'reconnecting…';
        status.className = word === 'live' ? 'ok' : 'muted';
        if (word === 'failed') ctx.notice(error.message, 'error');
      },
    });
  };
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) {
      for (const e of held) add(e);
      held = [];
      counter.textContent = `${count} event${count === 1 ? '' : 's'}`;
    }
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    if (data.get('aggregate_id').trim() && !data.get('aggregate_type')) {
      ctx.notice('An aggregate id needs its aggregate type.', 'error');
      typeSelect.focus();
      return;
    }
    filters = {
      aggregate_type: data.get('aggregate_type'),
      aggregate_id: data.get('aggregate_id').trim(),
      types: data.get('types'),
      from_start: data.get('from_start') === 'on',
    };
    start();
  });
  start();
  return () => stop?.();
}

function row(e) {
  const d = e.data;
  const who = d.metadata?.role ? `${d.metadata.role}${d.metadata.user_id ? ` ${short(d.metadata.user_id)}` : ''}` : 'system';
  const link = d.aggregate_type === 'booking' ? `#/booking/${d.aggregate_id}`
    : d.aggregate_type === 'flight' ? `#/flights/${d.aggregate_id}` : null;
  return h('li', { class: `event ${d.aggregate_type}`, 'data-position': d.position },
    h('details', {},
      h('summary', {},
        h('time', { datetime: d.recorded_at }, when(d.recorded_at)), ' ',
        h('strong', {}, d.event_type), ' ',
        h('span', { class: 'muted' }, `${d.aggregate_type} ${short(d.aggregate_id)} v${d.sequence} · ${who}`)),
      link ? h('p', {}, h('a', { href: link }, `Open this ${d.aggregate_type}`)) : null,
      h('pre', { class: 'json' }, JSON.stringify(d, null, 2))));
}
