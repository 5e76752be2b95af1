// Flights: search, then one flight's seat map drawn by cabin. For an admin the map follows the event
// log live (each of the flight's events brings the map at exactly that version, folded from the log);
// a customer, who may not read the log, sees it refreshed every two seconds.

import * as api from '../api.js';
import { fill, h, local, money, short } from '../dom.js';

const CABINS = ['first', 'business', 'premium_economy', 'economy'];
const CABIN_NAMES = { first: 'First', business: 'Business', premium_economy: 'Premium economy', economy: 'Economy' };
let lastSearch = { origin: '', destination: '', date: '' };

export function render(view, params, ctx) {
  return params[0] ? flight(view, params[0], ctx) : search(view, ctx);
}

function search(view, ctx) {
  const results = h('div', { id: 'results' });
  const field = (name, label, attrs) =>
    h('div', { class: 'field' }, h('label', { for: `q-${name}` }, label),
      h('input', { id: `q-${name}`, name, value: lastSearch[name], ...attrs }));
  const form = h('form', { class: 'inline', id: 'search-form' },
    field('origin', 'From', { placeholder: 'CDG', maxlength: 3, pattern: '[A-Za-z]{3}', autocapitalize: 'characters' }),
    field('destination', 'To', { placeholder: 'JFK', maxlength: 3, pattern: '[A-Za-z]{3}', autocapitalize: 'characters' }),
    field('date', 'Date', { type: 'date' }),
    h('button', { type: 'submit' }, 'Search'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    lastSearch = { origin: data.get('origin').trim(), destination: data.get('destination').trim(), date: data.get('date') };
    run(results, ctx);
  });
  fill(view, h('section', { class: 'card' }, h('h1', {}, 'Flights'), form), results);
  run(results, ctx);
}

async function run(results, ctx) {
  const query = new URLSearchParams({ limit: '50' });
  for (const [key, value] of Object.entries(lastSearch)) if (value) query.set(key, key === 'date' ? value : value.toUpperCase());
  fill(results, h('p', { class: 'muted' }, 'Searching…'));
  try {
    const page = await api.get(`/flights?${query}`);
    if (page.flights.length === 0) {
      fill(results, h('p', { class: 'card muted' }, 'No flights match.'));
      return;
    }
    fill(results, h('div', { class: 'card scroll' }, h('table', { class: 'data', id: 'flight-list' },
      h('caption', { class: 'sr' }, 'Flights found'),
      h('thead', {}, h('tr', {}, ...['Flight', 'Route', 'Departs (local)', 'Duration', 'From', 'Seats left', 'Status']
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, page.flights.map((f) => h('tr', {},
        h('td', {}, h('a', { href: `#/flights/${f.flight_id}`, class: 'flight-link' }, f.number)),
        h('td', {}, `${f.origin} → ${f.destination}`),
        h('td', {}, local(f.departure_local)),
        h('td', {}, `${Math.floor(f.duration_min / 60)} h ${String(f.duration_min % 60).padStart(2, '0')}`),
        h('td', { class: 'num' }, money(f.price_minor, f.currency), h('span', { class: 'muted' }, ` ${CABIN_NAMES[f.cabin] || f.cabin}`)),
        h('td', { class: 'num' }, f.seats_left),
        h('td', {}, h('span', { class: `badge ${f.status}` }, f.status))))))));
  } catch (error) {
    fill(results);
    ctx.notice(error.message, 'error');
  }
}

function flight(view, id, ctx) {
  const title = h('h1', {}, 'Flight');
  const facts = h('p', { class: 'muted' });
  const live = h('p', { class: 'live', id: 'live-state', 'aria-live': 'polite' }, 'Loading…');
  const summary = h('div', { class: 'cabins', id: 'cabin-summary' });
  const map = h('div', { class: 'seatmaps', id: 'seatmap' });
  fill(view,
    h('p', {}, h('a', { href: '#/flights' }, '← All flights')),
    h('section', { class: 'card' }, title, facts, live, summary, legend()),
    h('section', { class: 'card' }, h('h2', {}, 'Seat map'), map));

  let shown = -1;
  let previous = new Map();
  let cabins = [];
  const draw = (seatMap) => {
    if (seatMap.version <= shown) return; // Never step back to an older map.
    shown = seatMap.version;
    map.dataset.version = String(shown);
    drawSummary(summary, seatMap.seats, cabins);
    drawMap(map, seatMap.seats, previous);
    previous = new Map(seatMap.seats.map((s) => [s.seat, s.status]));
    const at = live.dataset.mode === 'feed' ? 'live from the event log' : 'refreshed every 2 s';
    live.textContent = `Version ${shown}, ${at}`;
  };

  // Brings the map at `version` (or the newest) and draws it; one fetch at a time, the newest wins.
  let target = -1;
  let busy = false;
  const want = async (version) => {
    target = Math.max(target, version);
    if (busy) return;
    busy = true;
    try {
      while (target > shown) {
        const wanted = target;
        draw(await api.get(`/flights/${id}/seats?version=${wanted}`));
        if (shown < wanted) break; // The log does not have it (yet): the next event will ask again.
      }
    } catch (error) {
      ctx.notice(error.message, 'error');
    } finally {
      busy = false;
    }
  };

  (async () => {
    try {
      const [info, seatMap] = await Promise.all([api.get(`/flights/${id}`), api.get(`/flights/${id}/seats`)]);
      cabins = info.cabins;
      fill(title, `${info.number} ${info.origin} → ${info.destination}`);
      fill(facts, `Departs ${local(info.departure_local)} (local), arrives ${local(info.arrival_local)} · `,
        h('span', { class: `badge ${info.status}` }, info.status), ` · flight ${short(info.flight_id)}`);
      draw(seatMap);
    } catch (error) {
      live.textContent = '';
      ctx.notice(error.message, 'error');
    }
  })();

  if (api.isAdmin()) {
    live.dataset.mode = 'feed';
    return api.follow(`/events?aggregate_type=flight&aggregate_id=${encodeURIComponent(id)}`, {
      event: (e) => want(e.data.sequence),
      state: async (word, error) => {
        if (word === 'live') {
          // Whatever committed before the stream opened: the map as the log has it now.
          try {
            draw(await api.get(`/flights/${id}/seats?as_of=${encodeURIComponent(new Date().toISOString())}`));
          } catch (e) {
            ctx.notice(e.message, 'error');
          }
        } else if (word === 'failed') {
          ctx.notice(`The live feed stopped: ${error.message}`, 'error');
        } else {
          live.textContent = `Version ${shown}, reconnecting to the event log…`;
        }
      },
    });
  }
  live.dataset.mode = 'poll';
  const timer = setInterval(async () => {
    try {
      draw(await api.get(`/flights/${id}/seats`));
    } catch {
      // The next tick tries again.
    }
  }, 2000);
  return () => clearInterval(timer);
}

function legend() {
  return h('ul', { class: 'legend', 'aria-label': 'Legend' },
    ...['free', 'held', 'sold'].map((status) => h('li', {}, h('span', { class: `seat ${status}`, 'aria-hidden': 'true' }, ' '), status)),
    h('li', {}, h('span', { class: 'exit-tag' }, 'EXIT'), 'exit row'));
}

function byCabin(seats) {
  const groups = new Map();
  for (const seat of seats) {
    if (!groups.has(seat.cabin)) groups.set(seat.cabin, []);
    groups.get(seat.cabin).push(seat);
  }
  return [...groups.entries()].sort((a, b) => CABINS.indexOf(a[0]) - CABINS.indexOf(b[0]));
}

function drawSummary(el, seats, cabins) {
  fill(el, byCabin(seats).map(([cabin, list]) => {
    const count = (status) => list.filter((s) => s.status === status).length;
    const fare = cabins.find((c) => c.cabin === cabin);
    return h('div', { class: 'cabin-card', 'data-cabin': cabin },
      h('h3', {}, CABIN_NAMES[cabin] || cabin),
      h('p', { class: 'big' }, h('span', { class: 'seats-left' }, count('free')), ' seats left'),
      h('p', { class: 'muted' }, `${count('held')} held · ${count('sold')} sold of ${list.length}`),
      fare ? h('p', {}, money(fare.price_minor, fare.currency)) : null);
  }));
}

function drawMap(el, seats, previous) {
  fill(el, byCabin(seats).map(([cabin, list]) => {
    const letters = [...new Set(list.map((s) => s.letter))].sort();
    const at = new Map(list.map((s) => [s.seat, s]));
    // An aisle runs between two neighbouring letters that are both aisle seats.
    const aisleAfter = new Set();
    for (let i = 0; i + 1 < letters.length; i++) {
      const both = list.some((s) => s.letter === letters[i] && s.characteristics.includes('aisle')) &&
        list.some((s) => s.letter === letters[i + 1] && s.characteristics.includes('aisle'));
      if (both) aisleAfter.add(letters[i]);
    }
    const columns = letters.flatMap((l) => (aisleAfter.has(l) ? [l, null] : [l]));
    const rows = [...new Set(list.map((s) => s.row_number))].sort((a, b) => a - b);
    return h('div', { class: 'cabin-map' },
      h('h3', {}, CABIN_NAMES[cabin] || cabin),
      h('div', { class: 'scroll' }, h('table', { class: 'seatmap', 'data-cabin': cabin },
        h('caption', { class: 'sr' }, `${CABIN_NAMES[cabin] || cabin} seats`),
        h('thead', {}, h('tr', {}, h('td', {}), columns.map((l) => (l ? h('th', { scope: 'col' }, l) : h('td', { class: 'aisle' }))))),
        h('tbody', {}, rows.map((row) => {
          const exit = list.some((s) => s.row_number === row && s.characteristics.includes('exit_row'));
          return h('tr', {},
            h('th', { scope: 'row' }, String(row), exit ? h('span', { class: 'exit-tag' }, 'EXIT') : null),
            columns.map((letter) => {
              if (!letter) return h('td', { class: 'aisle' });
              const seat = at.get(`${row}${letter}`);
              if (!seat) return h('td', {});
              const changed = previous.size > 0 && previous.get(seat.seat) !== seat.status;
              const traits = seat.characteristics.filter((c) => c !== 'exit_row').join(', ');
              return h('td', {
                class: `seat ${seat.status}${changed ? ' changed' : ''}`,
                'data-seat': seat.seat,
                'data-status': seat.status,
                title: `${seat.seat} · ${traits} · ${seat.status}`,
              }, h('span', { 'aria-hidden': 'true' }, letter), h('span', { class: 'sr' }, `${seat.seat} ${traits}, ${seat.status}`));
            }));
        })))));
  }));
}
