// Booking: look one up by id or PNR; its state, its timeline (every event with time, actor and what
// changed) and time travel: a slider that shows the booking as of any version, folded from the log by
// the API. The timeline follows the booking's own event stream, so a payment or a cancellation made
// elsewhere appears while the page is open.

import * as api from '../api.js';
import { fill, h, isId, local, money, notFound, short, when } from '../dom.js';
import { drawMap, legend } from './flights.js';

const PNR = /^[A-Za-z0-9]{6}$/;

export function render(view, params, ctx) {
  if (!params[0]) return lookup(view, ctx);
  if (!isId(params[0])) return notFound(view, 'No such booking', '#/booking', 'Find a booking');
  return booking(view, params[0].toLowerCase(), ctx);
}

function lookup(view, ctx) {
  const input = h('input', { id: 'booking-query', name: 'q', required: true, placeholder: 'ABC123 or a booking id', autocomplete: 'off' });
  const form = h('form', { class: 'inline', id: 'booking-form' },
    h('div', { class: 'field grow' }, h('label', { for: 'booking-query' }, 'Booking reference (PNR) or id'), input),
    h('button', { type: 'submit' }, 'Open'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (isId(q)) {
      location.hash = `#/booking/${q.toLowerCase()}`;
    } else if (PNR.test(q)) {
      try {
        const page = await api.get(`/bookings?reference=${encodeURIComponent(q.toUpperCase())}`);
        if (page.bookings.length) location.hash = `#/booking/${page.bookings[0].id}`;
        else ctx.notice(`No booking with reference ${q.toUpperCase()}.`, 'error');
      } catch (error) {
        ctx.notice(error.message, 'error');
      }
    } else {
      ctx.notice('A reference is six letters and digits; an id is a UUID.', 'error');
    }
  });
  const recent = h('div', {}, h('p', { class: 'muted' }, 'Loading recent bookings…'));
  fill(view, h('section', { class: 'card' }, h('h1', {}, 'Booking'), form), h('section', { class: 'card' }, h('h2', {}, 'Recent bookings'), recent));
  api.get('/bookings?limit=15').then((page) => {
    if (!page.bookings.length) return fill(recent, h('p', { class: 'muted' }, 'No bookings yet.'));
    fill(recent, h('div', { class: 'scroll' }, h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, ...['Reference', 'Status', 'Seats', 'Total', 'Made'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, page.bookings.map((b) => h('tr', {},
        h('td', {}, h('a', { href: `#/booking/${b.id}` }, b.reference)),
        h('td', {}, h('span', { class: `badge ${b.status}` }, b.status)),
        h('td', {}, seats(b.passengers)),
        h('td', { class: 'num' }, money(b.total_minor, b.currency)),
        h('td', {}, when(b.created_at))))))));
  }, (error) => fill(recent, h('p', { class: 'error' }, error.message)));
}

function seats(passengers) {
  return (passengers || []).map((p) => p.seat).filter(Boolean).join(', ') || '–';
}

function booking(view, id, ctx) {
  const title = h('h1', {}, 'Booking');
  const state = h('div', { id: 'booking-state' });
  const timeline = h('ol', { class: 'timeline', id: 'timeline' });
  const liveNote = h('p', { class: 'muted', id: 'timeline-live' });
  let entries = [];
  let selected = 0;

  // The time-travel controls are made once and updated in place, so keyboard focus and a drag survive.
  const slider = h('input', { type: 'range', id: 'version', min: 1, max: 1, step: 1, value: 1 });
  const back = h('button', { type: 'button', class: 'step', id: 'version-back', 'aria-label': 'One version back' }, '◀');
  const forward = h('button', { type: 'button', class: 'step', id: 'version-forward', 'aria-label': 'One version forward' }, '▶');
  const label = h('output', { for: 'version', id: 'version-label' });
  const about = h('p', { class: 'muted' });
  const travel = h('div', { class: 'travel' },
    h('label', { for: 'version' }, 'Time travel: the booking as of version'),
    h('div', { class: 'travel-row' }, back, slider, forward, label), about);

  fill(view,
    h('p', {}, h('a', { href: '#/booking' }, '← Find another booking')),
    h('section', { class: 'card' }, title, travel, state),
    h('section', { class: 'card' }, h('h2', {}, 'Timeline'), liveNote, timeline));

  // Every version, the newest too, is folded from the log: the read model may still be a step behind.
  const show = async (version) => {
    const count = entries.length;
    if (version < 1 || version > count) return;
    selected = version;
    slider.max = String(count);
    slider.value = String(version);
    slider.setAttribute('aria-valuetext', `version ${version} of ${count}`);
    back.disabled = version <= 1;
    forward.disabled = version >= count;
    label.textContent = `${version} of ${count}`;
    const entry = entries[version - 1];
    about.textContent = `${entry.event_type}, ${when(entry.recorded_at)}`;
    for (const li of timeline.children) li.classList.toggle('future', Number(li.dataset.version) > version);
    try {
      const b = await api.get(`/bookings/${id}?version=${version}`);
      if (selected !== version) return; // A newer choice is on its way.
      fill(title, `Booking ${b.reference}`);
      drawState(state, b, version, version === count);
    } catch (error) {
      ctx.notice(error.message, 'error');
    }
  };
  slider.addEventListener('input', () => show(Number(slider.value)));
  back.addEventListener('click', () => show(selected - 1));
  forward.addEventListener('click', () => show(selected + 1));

  // One reload at a time; an event that arrives during one asks for another after it.
  let loading = false;
  let again = false;
  const reload = async () => {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    try {
      do {
        again = false;
        const chosen = selected;
        const followLatest = chosen === entries.length;
        entries = await api.get(`/bookings/${id}/history`);
        drawTimeline(timeline, entries);
        // A step the user took while the history loaded wins over following the latest version.
        if (entries.length) await show(followLatest && selected === chosen ? entries.length : selected);
      } while (again);
    } catch (error) {
      ctx.notice(error.message, 'error');
    } finally {
      loading = false;
    }
  };

  reload();
  return api.follow(`/bookings/${id}/events`, {
    event: (e) => {
      if (e.data.sequence > entries.length) reload();
    },
    state: (word, error) => {
      liveNote.textContent = word === 'live' ? 'Following this booking’s events live.'
        : word === 'failed' ? `Not live: ${error.message}` : 'Reconnecting to the booking’s events…';
    },
  });
}

function drawState(el, b, version, latest) {
  el.dataset.version = String(version);
  el.dataset.status = b.status;
  const row = (label, value) => [h('dt', {}, label), h('dd', {}, value)];
  fill(el,
    latest ? null : h('p', { class: 'past' }, `As it was at version ${version}, not as it is now.`),
    h('dl', { class: 'facts' },
      row('Status', h('span', { class: `badge ${b.status}`, id: 'booking-status' }, b.status)),
      row('Reference', b.reference),
      row('Trip', trip(b.segments)),
      row('Total', money(b.total_minor, b.currency)),
      b.status === 'held' ? row('Hold expires', when(b.hold_expires_at)) : null,
      row('Payment', b.captured ? 'captured' : b.status === 'confirmed' ? 'authorized' : '–'),
      b.refund_minor !== null && b.refund_minor !== undefined
        ? row('Refund', `${money(b.refund_minor, b.currency)}${b.refunded ? ', paid back' : ', pending'}`) : null,
      ...(b.offloads || []).map((o) => row('Denied boarding',
        `${flightName(b, o.segment)}: ${o.passengers.length} passenger${o.passengers.length === 1 ? '' : 's'} offloaded at close · `
        + `fare refunded ${money(o.refund_minor, o.currency)} · compensation owed ${money(o.compensation_minor, o.currency)}`)),
      row('Contact', b.contact_email)),
    h('div', { class: 'scroll' }, h('table', { class: 'data' },
      h('caption', {}, 'Passengers'),
      h('thead', {}, h('tr', {}, ...['Name', 'Type', (b.segments || []).length > 1 ? 'Seats, flight by flight' : 'Seat']
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, (b.passengers || []).map((p, i) => h('tr', {},
        h('td', {}, `${p.first_name} ${p.last_name}`), h('td', {}, p.type),
        h('td', { class: 'seat-cell' }, seatsOf(b, i, p))))))),
    itinerary(b, latest));
}

/** Passenger `i`'s seat on each flight (`30E · 45H`), or the one seat of a one-flight booking: `lap`
 * for an infant, `to choose` for a passenger who picks it later, `offloaded` when denied boarding. */
function seatsOf(b, i, p) {
  const segments = b.segments || [];
  const on = (g) => {
    if ((g.offloaded || []).includes(i)) return 'offloaded';
    const seat = (g.seats || [])[i];
    if (seat) return seat;
    return p.type === 'infant' ? 'lap' : 'to choose';
  };
  if (segments.length < 2) return segments.length ? on(segments[0]) : p.seat || '–';
  return segments.map(on).join(' · ');
}

/** A segment's flight as people name it: its number, or its place in the trip. */
function flightName(b, segment) {
  const g = (b.segments || [])[segment];
  return g?.number ? `Flight ${g.number}` : `Flight ${segment + 1}`;
}

/** `CDG → LHR → JFK → CDG`: where the journey goes, slice by slice. */
function trip(segments) {
  if (!segments || !segments.length) return '–';
  const slices = [];
  for (const g of segments) {
    if (!slices[g.slice]) slices[g.slice] = [g.origin || short(g.flight_id)];
    slices[g.slice].push(g.destination || '?');
  }
  return slices.filter(Boolean).map((s) => s.join(' → ')).join(', back ');
}

/** Every flight of the booking with its times and the party's seats, and each flight's seat map with
 * the booking's seats marked. */
function itinerary(b, latest) {
  const segments = b.segments || [];
  const maps = h('div', { class: 'segment-maps', id: 'segment-maps' });
  const table = h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'itinerary' },
    h('caption', {}, 'Itinerary'),
    h('thead', {}, h('tr', {}, ...['', 'Flight', 'Route', 'Departs (local)', 'Arrives (local)', 'Cabin', 'Seats']
      .map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, segments.map((g, i) => h('tr', { 'data-segment': i },
      h('td', {}, g.slice ? 'Back' : 'Out'),
      h('td', {}, h('a', { href: `#/flights/${g.flight_id}` }, g.number || short(g.flight_id))),
      h('td', {}, g.origin ? `${g.origin} → ${g.destination}` : '–'),
      h('td', {}, local(g.departure_local)),
      h('td', {}, local(g.arrival_local)),
      h('td', {}, g.cabin),
      h('td', { class: 'seat-cell' }, (g.seats || []).filter(Boolean).join(', ') || '–'))))));
  // The seat maps are today's: drawn for the latest version only.
  if (latest) segments.forEach(async (g, i) => {
    const box = h('div', { class: 'segment-map', 'data-segment': i },
      h('h3', {}, `${g.number || 'Flight'} ${g.origin || ''} → ${g.destination || ''}`), h('p', { class: 'muted' }, 'Loading seats…'));
    maps.append(box);
    try {
      const [seatMap, info] = await Promise.all([api.get(`/flights/${g.flight_id}/seats`), api.get(`/flights/${g.flight_id}`)]);
      let layout = new Map();
      try {
        const aircraft = await api.get(`/aircraft/${info.aircraft_id}`);
        layout = new Map(aircraft.cabins.map((c) => [c.cabin, c.letters]));
      } catch {
        // Aisles are guessed without the layout.
      }
      const mine = new Set((g.seats || []).filter(Boolean));
      const own = seatMap.seats.filter((s) => s.cabin === g.cabin);
      const map = h('div', { class: 'seatmaps' });
      drawMap(map, own, new Map(), layout, mine);
      fill(box, box.firstChild, map);
    } catch (error) {
      fill(box, box.firstChild, h('p', { class: 'error' }, error.message));
    }
  });
  const showMaps = latest && segments.length;
  return h('div', { class: 'itinerary' }, table, showMaps ? h('h2', {}, 'Seats on each flight') : null,
    showMaps ? legend(true) : null, maps);
}

function drawTimeline(el, entries) {
  fill(el, entries.map((e) => h('li', { 'data-version': e.version, class: 'entry' },
    h('div', { class: 'entry-head' },
      h('span', { class: 'version' }, `v${e.version}`),
      h('strong', {}, e.event_type),
      h('time', { datetime: e.recorded_at }, when(e.recorded_at))),
    h('p', { class: 'muted' }, `by ${actor(e.actor)}`, e.correlation_id ? ` · request ${short(e.correlation_id)}` : '',
      e.causation_id ? ` · caused by ${short(e.causation_id)}` : ''),
    h('p', { class: 'changes' }, changes(e)))));
}

function actor(a) {
  if (!a || typeof a !== 'object') return 'unknown';
  if (a.role === 'system' || !a.user_id) return a.role || 'system';
  return `${a.role} ${short(a.user_id)}`;
}

/** What an event changed, in a line: its payload's fields, with money and seats made readable. */
function changes(e) {
  let body = e.payload;
  if (body && typeof body === 'object' && Object.keys(body).length === 1 && body[e.event_type] !== undefined) body = body[e.event_type];
  if (!body || typeof body !== 'object') return '';
  const parts = [];
  for (const [key, value] of Object.entries(body)) {
    if (['id', 'customer_id', 'flight_id', 'contact_email', 'departure_at', 'fare_rules'].includes(key)) continue;
    if (key === 'segments' && Array.isArray(value)) {
      // A journey's flights: which flight, the cabin and fare, and the party's seats there.
      const legs = value.map((g, i) => `${i + 1}. flight ${short(g.flight_id)} ${g.fare?.cabin || ''} ${
        g.fare?.price ? describe(g.fare.price) : ''}, seats ${(g.passengers || []).map((p) => p.seat).filter(Boolean).join(', ') || '–'}`);
      parts.push(`flights: ${legs.join('; ')}`);
      continue;
    }
    parts.push(`${key.replaceAll('_', ' ')}: ${describe(value)}`);
  }
  return parts.join(' · ');
}

function describe(value) {
  if (value === null || value === undefined) return '–';
  if (Array.isArray(value)) return value.map(describe).join(', ');
  if (typeof value === 'object') {
    if ('amount_minor' in value && 'currency' in value) return money(value.amount_minor, value.currency);
    if ('first_name' in value) return `${value.first_name} ${value.last_name}${value.seat ? ` (${value.seat})` : ''}`;
    return Object.entries(value).map(([k, v]) => `${k.replaceAll('_', ' ')} ${describe(v)}`).join(', ');
  }
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value)) return when(value);
  return String(value);
}
