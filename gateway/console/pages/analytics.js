// Analytics from the projections: revenue and bookings per day, hold-to-confirm conversion and
// cancellations for bookings made in a range; load factor per flight, and seats and revenue per booking
// class with each flight's yield, for flights departing in a range.

import * as api from '../api.js';
import { columns, bars } from '../charts.js';
import { fill, h, money } from '../dom.js';

const day = (d) => d.toISOString().slice(0, 10);
const addDays = (n) => new Date(Date.now() + n * 86400000);
let ranges = { from: day(addDays(-29)), to: day(new Date()), depart_from: day(addDays(-1)), depart_to: day(addDays(90)) };

export function render(view, _params, ctx) {
  const date = (name, label) => h('div', { class: 'field' }, h('label', { for: `a-${name}` }, label),
    h('input', { type: 'date', id: `a-${name}`, name, value: ranges[name], required: true }));
  const form = h('form', { class: 'inline', id: 'analytics-form' },
    date('from', 'Booked from'), date('to', 'to'), date('depart_from', 'Departing from'), date('depart_to', 'to'),
    h('button', { type: 'submit' }, 'Show'));
  const out = h('div', { class: 'charts', id: 'charts' });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    ranges = Object.fromEntries(new FormData(form));
    load(out, ctx);
  });
  fill(view, h('section', { class: 'card' }, h('h1', {}, 'Analytics'), form), out);
  load(out, ctx);
}

async function load(out, ctx) {
  fill(out, h('p', { class: 'muted' }, 'Loading…'));
  const booked = `from=${ranges.from}&to=${ranges.to}`;
  try {
    const departing = `from=${ranges.depart_from}&to=${ranges.depart_to}`;
    const [revenue, loads, classes, conversion, cancellations] = await Promise.all([
      api.get(`/analytics/revenue?${booked}`),
      api.get(`/analytics/load-factors?${departing}`),
      api.get(`/analytics/classes?${departing}`),
      api.get(`/analytics/conversion?${booked}`),
      api.get(`/analytics/cancellations?${booked}`),
    ]);
    fill(out, ...perDay(revenue), loadFactors(loads), perClass(classes), funnel(conversion, cancellations));
  } catch (error) {
    fill(out);
    ctx.notice(error.message, 'error');
  }
}

/** Every day from `from` to `to` (YYYY-MM-DD), at most a year of them. */
function daysBetween(from, to) {
  const days = [];
  for (let d = new Date(`${from}T00:00:00Z`); d <= new Date(`${to}T00:00:00Z`) && days.length < 366; d.setUTCDate(d.getUTCDate() + 1)) {
    days.push(d.toISOString().slice(0, 10));
  }
  return days;
}

/** Revenue and bookings per day of the range, days without any as zero (rows are per day and route;
 * one revenue chart per currency). */
function perDay(rows) {
  const currencies = [...new Set(rows.map((r) => r.currency))].sort();
  if (currencies.length === 0) currencies.push('EUR');
  const days = daysBetween(ranges.from, ranges.to);
  const sum = (d, field, currency) => rows.filter((r) => r.day === d && (!currency || r.currency === currency)).reduce((a, r) => a + r[field], 0);
  return [
    ...currencies.map((c) => h('section', { class: 'card' }, columns({
      id: `revenue-${c}`, title: `Revenue per day (${c}, net of refunds)`, labels: days.map((d) => d.slice(5)),
      values: days.map((d) => sum(d, 'revenue_minor', c) - sum(d, 'refunds_minor', c)),
      format: (v) => money(Math.round(v), c),
    }))),
    h('section', { class: 'card' }, columns({
      id: 'bookings-per-day', title: 'Bookings per day', labels: days.map((d) => d.slice(5)),
      values: days.map((d) => sum(d, 'bookings')), format: (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)),
    })),
  ];
}

function loadFactors(rows) {
  const shown = rows.slice(0, 40);
  const note = rows.length > shown.length ? ` (first ${shown.length} of ${rows.length} by departure, UTC)` : ' (departure, UTC)';
  return h('section', { class: 'card' }, bars({
    id: 'load-factors', title: `Load factor per flight${note}`,
    labels: shown.map((r) => `${r.origin}→${r.destination} ${r.departure_at.slice(0, 16).replace('T', ' ')}`),
    values: shown.map((r) => r.load_factor), max: 1, format: (v) => `${Math.round(v * 100)} %`,
  }));
}

/** Seats and revenue per booking class of each flight, with the flight's yield (first 60 rows). */
function perClass(rows) {
  const shown = rows.slice(0, 60);
  const note = rows.length > shown.length ? ` (first ${shown.length} of ${rows.length})` : '';
  return h('section', { class: 'card scroll' }, h('h2', {}, `Revenue per booking class${note}`),
    rows.length === 0 ? h('p', { class: 'muted' }, 'No paid seats on flights departing in the range.')
      : h('table', { class: 'data', id: 'class-revenue' },
        h('thead', {}, h('tr', {}, ...['Flight (departure, UTC)', 'Class', 'Seats', 'Revenue', 'Flight yield']
          .map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, ...shown.map((r) => h('tr', {},
          h('td', {}, `${r.origin}→${r.destination} ${r.departure_at.slice(0, 16).replace('T', ' ')}`),
          h('td', {}, r.class),
          h('td', { class: 'num' }, String(r.seats_sold)),
          h('td', { class: 'num' }, money(r.revenue_minor, r.currency)),
          h('td', { class: 'num' }, money(r.flight_yield_minor, r.currency)))))));
}

function funnel(c, cancellations) {
  const minutes = (secs) => {
    if (secs === null || secs === undefined) return '–';
    if (secs < 60) return `${secs.toFixed(1)} s`;
    return secs < 3600 ? `${(secs / 60).toFixed(1)} min` : `${(secs / 3600).toFixed(1)} h`;
  };
  const cancelled = cancellations.reduce((a, r) => a + r.cancellations, 0);
  return h('section', { class: 'card' },
    bars({
      id: 'conversion', title: 'Holds and what became of them',
      labels: ['held', 'confirmed (paid)', 'expired unpaid', 'cancelled unpaid'],
      values: [c.holds, c.confirmed, c.expired, c.cancelled_unpaid], format: String,
    }),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Hold-to-confirm conversion'), h('dd', { id: 'conversion-rate' }, `${(c.conversion_rate * 100).toFixed(1)} %`),
      h('dt', {}, 'Time from hold to payment'), h('dd', {}, `average ${minutes(c.avg_seconds_to_payment)}, median ${minutes(c.p50_seconds_to_payment)}`),
      h('dt', {}, 'Cancellations'), h('dd', {}, String(cancelled))));
}
