// Flights: search (flights, or journeys: connections and round trips), then one flight's seat map drawn
// by cabin. For an admin the map follows the event
// log live (each of the flight's events brings the map at exactly that version, folded from the log);
// a customer, who may not read the log, sees it refreshed every two seconds.

import * as api from '../api.js';
import { exponentOf, fill, h, isId, local, money, notFound, short } from '../dom.js';

const CABINS = ['first', 'business', 'premium_economy', 'economy'];
const CABIN_NAMES = { first: 'First', business: 'Business', premium_economy: 'Premium economy', economy: 'Economy' };
let lastSearch = { origin: '', destination: '', date: '', return_date: '', journeys: false };

export function render(view, params, ctx) {
  if (!params[0]) return search(view, ctx);
  if (!isId(params[0])) return notFound(view, 'No such flight', '#/flights', 'All flights');
  return flight(view, params[0].toLowerCase(), ctx);
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
    field('return_date', 'Return (journeys)', { type: 'date' }),
    h('div', { class: 'field check' },
      h('input', { type: 'checkbox', id: 'q-journeys', name: 'journeys', checked: lastSearch.journeys || null }),
      h('label', { for: 'q-journeys' }, 'Journeys: connections and returns')),
    h('button', { type: 'submit' }, 'Search'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    lastSearch = {
      origin: data.get('origin').trim(),
      destination: data.get('destination').trim(),
      date: data.get('date'),
      return_date: data.get('return_date'),
      journeys: data.get('journeys') === 'on',
    };
    if (lastSearch.journeys || lastSearch.return_date) journeys(results, ctx);
    else run(results, ctx);
  });
  fill(view, h('section', { class: 'card' }, h('h1', {}, 'Flights'), form), results);
  run(results, ctx);
}

/** `GET /journeys`: direct and one-stop offers, and round trips with a return date. */
async function journeys(results, ctx, after = null) {
  const { origin, destination, date, return_date: back } = lastSearch;
  if (!origin || !destination || !date) {
    ctx.notice('A journey search needs From, To and Date.', 'error');
    return;
  }
  const query = new URLSearchParams({ origin: origin.toUpperCase(), destination: destination.toUpperCase(), date, limit: '20' });
  if (back) query.set('return_date', back);
  if (after) query.set('after', after);
  else fill(results, h('p', { class: 'muted' }, 'Searching journeys…'));
  try {
    const page = await api.get(`/journeys?${query}`);
    if (page.offers.length === 0 && !after) {
      fill(results, h('p', { class: 'card muted' }, 'No journeys match.'));
      return;
    }
    let body = results.querySelector('#journey-list tbody');
    if (!after || !body) {
      body = h('tbody');
      fill(results, h('div', { class: 'card scroll' }, h('table', { class: 'data', id: 'journey-list' },
        h('caption', { class: 'sr' }, 'Journeys found'),
        h('thead', {}, h('tr', {}, ...['Price', 'Stops', 'Out', 'Back'].map((t) => h('th', { scope: 'col' }, t)))),
        body), h('p', { id: 'more' })));
    }
    const slice = (s) => (s ? h('ol', { class: 'legs' }, s.segments.map((g) => h('li', {},
      h('a', { href: `#/flights/${g.flight_id}`, class: 'flight-link' }, g.number),
      ` ${g.origin} ${local(g.departure_local).slice(11)} → ${g.destination} ${local(g.arrival_local).slice(11)}`,
      h('span', { class: 'muted' }, ` · ${g.seats_left} left`),
      g.connection_min ? h('span', { class: 'muted' }, ` · then ${Math.floor(g.connection_min / 60)} h ${String(g.connection_min % 60).padStart(2, '0')} to connect`) : null))) : '–');
    body.append(...page.offers.map((o) => h('tr', { class: 'offer' },
      h('td', { class: 'num' }, money(o.total, o.currency)),
      h('td', { class: 'num' }, o.slices.map((s) => s.stops).join(' / ')),
      h('td', {}, slice(o.slices[0])),
      h('td', {}, slice(o.slices[1])))));
    const more = results.querySelector('#more');
    if (more) fill(more, page.next ? h('button', { type: 'button', onclick: () => journeys(results, ctx, page.next) }, 'More journeys') : null);
  } catch (error) {
    fill(results);
    ctx.notice(error.message, 'error');
  }
}

async function run(results, ctx, after = null) {
  const query = new URLSearchParams({ limit: '50' });
  for (const key of ['origin', 'destination', 'date']) {
    const value = lastSearch[key];
    if (value) query.set(key, key === 'date' ? value : value.toUpperCase());
  }
  if (after) query.set('after', after);
  else fill(results, h('p', { class: 'muted' }, 'Searching…'));
  try {
    const page = await api.get(`/flights?${query}`);
    if (page.flights.length === 0 && !after) {
      fill(results, h('p', { class: 'card muted' }, 'No flights match.'));
      return;
    }
    let body = results.querySelector('#flight-list tbody');
    if (!after || !body) {
      body = h('tbody');
      fill(results, h('div', { class: 'card scroll' }, h('table', { class: 'data', id: 'flight-list' },
        h('caption', { class: 'sr' }, 'Flights found'),
        h('thead', {}, h('tr', {}, ...['Flight', 'Route', 'Departs (local)', 'Duration', 'From', 'Seats left', 'Status']
          .map((t) => h('th', { scope: 'col' }, t)))),
        body), h('p', { id: 'more' })));
    }
    body.append(...page.flights.map((f) => h('tr', {},
        h('td', {}, h('a', { href: `#/flights/${f.flight_id}`, class: 'flight-link' }, f.number)),
        h('td', {}, `${f.origin} → ${f.destination}`),
        h('td', {}, local(f.departure_local)),
        h('td', {}, `${Math.floor(f.duration_min / 60)} h ${String(f.duration_min % 60).padStart(2, '0')}`),
        h('td', { class: 'num' }, money(f.price_minor, f.currency),
          h('span', { class: 'muted' }, ` ${CABIN_NAMES[f.cabin] || f.cabin}${f.class ? ` · ${f.class}` : ''}`)),
        h('td', { class: 'num' }, f.seats_left),
        h('td', {}, h('span', { class: `badge ${f.status}` }, f.status)))));
    const more = results.querySelector('#more');
    if (more) {
      fill(more, page.next ? h('button', { type: 'button', onclick: () => run(results, ctx, page.next) }, 'More flights') : null);
    }
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
  const editor = h('section', { class: 'card', id: 'fares-editor', hidden: true });
  const inventory = h('section', { class: 'card', id: 'inventory', hidden: true });
  fill(view,
    h('p', {}, h('a', { href: '#/flights' }, '← All flights')),
    h('section', { class: 'card' }, title, facts, live, summary, legend()),
    editor,
    inventory,
    h('section', { class: 'card' }, h('h2', {}, 'Seat map'), map));

  let shown = -1;
  let previous = new Map();
  let cabins = [];
  let classes = [];
  let layout = new Map(); // cabin → letters with spaces for aisles, from the aircraft
  let latest = null;
  const showFacts = (info) => fill(facts, `Departs ${local(info.departure_local)} (local), arrives ${local(info.arrival_local)} · `,
    h('span', { class: `badge ${info.status}` }, info.status),
    info.closed_at ? [' · ', h('span', { class: 'badge closed', id: 'closed-badge' }, 'closed')] : null,
    ` · flight ${short(info.flight_id)}`);
  const draw = (seatMap) => {
    if (seatMap.version <= shown) return; // Never step back to an older map.
    shown = seatMap.version;
    latest = seatMap;
    map.dataset.version = String(shown);
    drawSummary(summary, seatMap, cabins, classes);
    drawMap(map, seatMap.seats, previous, layout);
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
      classes = info.classes || [];
      try {
        const aircraft = await api.get(`/aircraft/${info.aircraft_id}`);
        layout = new Map(aircraft.cabins.map((c) => [c.cabin, c.letters]));
      } catch {
        // Without the layout the aisles are guessed from the seats' characteristics.
      }
      if (latest) {
        // A newer map may have been drawn already (the live feed): draw it again with fares and aisles.
        drawSummary(summary, latest, cabins, classes);
        drawMap(map, latest.seats, new Map(), layout);
      }
      if (api.isAdmin()) {
        faresEditor(editor, id, classes, ctx, (fresh) => {
          cabins = fresh.cabins;
          classes = fresh.classes || [];
          if (latest) drawSummary(summary, latest, cabins, classes);
        });
        // Drawn again from the flight as the read side has it after each change (overbooking, close).
        const drawInventory = (current) => inventoryEditor(inventory, id, current, ctx, (fresh) => {
          cabins = fresh.cabins;
          showFacts(fresh);
          drawInventory(fresh);
        });
        drawInventory(info);
      }
      fill(title, `${info.number} ${info.origin} → ${info.destination}`);
      showFacts(info);
      draw(seatMap);
    } catch (error) {
      live.textContent = '';
      ctx.notice(error.message, 'error');
    }
  })();

  let timer = null;
  const poll = () => {
    live.dataset.mode = 'poll';
    timer ??= setInterval(async () => {
      if (document.hidden) return;
      try {
        draw(await api.get(`/flights/${id}/seats`));
      } catch {
        // The next tick tries again.
      }
    }, 2000);
  };
  if (api.isAdmin()) {
    live.dataset.mode = 'feed';
    const stop = api.follow(`/events?aggregate_type=flight&aggregate_id=${encodeURIComponent(id)}`, {
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
          // The feed refused us (the role changed, say): keep the map fresh by polling instead.
          ctx.notice(`The live feed stopped (${error.message}); refreshing every 2 s instead.`, 'error');
          poll();
        } else {
          live.textContent = `Version ${shown}, reconnecting to the event log…`;
        }
      },
    });
    return () => {
      stop();
      clearInterval(timer);
    };
  }
  poll();
  return () => clearInterval(timer);
}

export function legend(withMine = false) {
  return h('ul', { class: 'legend', 'aria-label': 'Legend' },
    ...['free', 'held', 'sold'].map((status) => h('li', {}, h('span', { class: `seat ${status}`, 'aria-hidden': 'true' }, ' '), status)),
    withMine ? h('li', {}, h('span', { class: 'seat sold mine', 'aria-hidden': 'true' }, ' '), 'this booking') : null,
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

function drawSummary(el, seatMap, cabins, classes = []) {
  const counted = new Map((seatMap.cabins || []).map((c) => [c.cabin, c]));
  fill(el, byCabin(seatMap.seats).map(([cabin, list]) => {
    const count = (status) => list.filter((s) => s.status === status).length;
    const fare = cabins.find((c) => c.cabin === cabin);
    const sold = classes.filter((c) => c.cabin === cabin);
    // Places, not seats, when the map counts them: overbooking sells places beyond the seats, and
    // passengers without a seat yet hold places but no seat.
    const places = counted.get(cabin);
    const over = places ? places.authorized - places.capacity : 0;
    return h('div', { class: 'cabin-card', 'data-cabin': cabin },
      h('h3', {}, CABIN_NAMES[cabin] || cabin),
      h('p', { class: 'big' }, h('span', { class: 'seats-left' }, places ? places.free : count('free')),
        places && over > 0 ? ' places left' : ' seats left'),
      h('p', { class: 'muted' }, places
        ? `${places.held} held · ${places.sold} sold of ${list.length} seats${over > 0 ? ` + ${over} overbooked` : ''}`
        : `${count('held')} held · ${count('sold')} sold of ${list.length}`),
      places && places.unassigned > 0
        ? h('p', { class: 'muted unassigned' }, `${places.unassigned} without a seat yet`) : null,
      fare && (places ? places.free : count('free')) > 0 ? h('p', {}, 'from ', money(fare.price_minor, fare.currency))
        : h('p', { class: 'muted' }, 'sold out'),
      sold.length > 1 ? classTable(cabin, sold) : null);
  }));
}

/** For admins: each cabin's overbooking (a percentage of its seats, an event; places sold stay sold),
 * and closing the flight (seats assigned, the overflow offloaded; nothing sells after). */
function inventoryEditor(el, id, info, ctx, saved) {
  const rows = (info.cabins || []).map((c) => ({
    c,
    percent: h('input', { type: 'number', min: '0', max: '100', step: '1', name: `overbooking-${c.cabin}`,
      value: c.overbooking_percent ?? (c.capacity ? Math.round(((c.overbooking || 0) * 100) / c.capacity) : 0),
      'aria-label': `${CABIN_NAMES[c.cabin] || c.cabin} overbooking (%)` }),
  }));
  const form = h('form', { id: 'overbooking-form' },
    h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, ...['Cabin', 'Seats', 'Overbooking %', 'Places beyond the seats'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...rows.map(({ c, percent }) => h('tr', { 'data-cabin': c.cabin },
        h('td', {}, CABIN_NAMES[c.cabin] || c.cabin), h('td', { class: 'num' }, String(c.capacity)),
        h('td', {}, percent), h('td', { class: 'num' }, String(c.overbooking || 0)))))),
    h('p', { class: 'muted' }, 'Places beyond the seats are sold without seats; when the flight closes, whoever does not fit is offloaded (the cheapest class first, the latest booked first), refunded and owed a compensation.'),
    h('button', { type: 'submit', disabled: info.closed_at ? true : null }, 'Save overbooking'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const overbooking = rows.map(({ c, percent }) => ({ cabin: c.cabin, percent: Number(percent.value) }));
    try {
      await api.patch(`/flights/${id}`, { overbooking });
      saved(await caughtUp(id, (f) => overbooking.every((o) => {
        const c = (f.cabins || []).find((x) => x.cabin === o.cabin);
        return c && c.overbooking === Math.floor((c.capacity * o.percent) / 100);
      })));
      ctx.notice('Overbooking saved.');
    } catch (error) {
      ctx.notice(error.message, 'error');
    }
  });
  const close = h('button', { type: 'button', id: 'close-flight', class: 'danger', disabled: info.closed_at ? true : null },
    info.closed_at ? 'Closed' : 'Close flight');
  close.addEventListener('click', async () => {
    if (!window.confirm('Close this flight? Unpaid holds expire, seats are assigned, and any overflow is offloaded. Nothing sells after.')) return;
    try {
      const closed = await api.post(`/flights/${id}/close`, {});
      close.disabled = true;
      close.textContent = 'Closed';
      saved(await caughtUp(id, (f) => Boolean(f.closed_at)));
      ctx.notice(`Flight closed: ${closed.seats.sold} passengers seated.`);
    } catch (error) {
      ctx.notice(error.message, 'error');
    }
  });
  el.hidden = false;
  fill(el, h('h2', {}, 'Overbooking and close'), form, h('p', {}, close));
}

/** The flight from the read side once `done` holds for it (it follows the log), or as it is after ~10 s. */
async function caughtUp(id, done) {
  let fresh = await api.get(`/flights/${id}`);
  for (let i = 0; i < 40 && !done(fresh); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    fresh = await api.get(`/flights/${id}`);
  }
  return fresh;
}

/** For admins: each booking class's price and nested limit, changed together with `PATCH /flights/{id}`
 * (an event: seats already sold stay sold); `saved(flight)` gets the flight as the read side then has it. */
function faresEditor(el, id, classes, ctx, saved) {
  const major = (minor, currency) => (minor / 10 ** exponentOf(currency)).toFixed(exponentOf(currency));
  const rows = classes.map((c) => ({
    c,
    price: h('input', { type: 'number', min: '0', step: String(10 ** -exponentOf(c.currency)), value: major(c.price_minor, c.currency),
      name: `price-${c.class}`, 'aria-label': `Class ${c.class} price (${c.currency})` }),
    limit: h('input', { type: 'number', min: '0', step: '1', value: c.nested_limit ?? '', placeholder: 'none',
      name: `limit-${c.class}`, 'aria-label': `Class ${c.class} nested limit` }),
  }));
  const form = h('form', { id: 'fares-form' },
    h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, ...['Cabin', 'Class', 'Price', 'Nested limit', 'Sold'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...rows.map(({ c, price, limit }) => h('tr', { 'data-class': c.class },
        h('td', {}, CABIN_NAMES[c.cabin] || c.cabin), h('td', {}, c.class), h('td', {}, price, ` ${c.currency}`),
        h('td', {}, limit), h('td', { class: 'num' }, String(c.sold)))))),
    h('p', { class: 'muted' }, 'Limits count a class and the cheaper ones of its cabin together; from the dearest class to the cheapest, prices fall and limits never rise. Seats already sold stay sold.'),
    h('button', { type: 'submit' }, 'Save fares'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const fares = rows.map(({ c, price, limit }) => {
      const fare = {
        cabin: c.cabin, class: c.class,
        price: { amount_minor: Math.round(Number(price.value) * 10 ** exponentOf(c.currency)), currency: c.currency },
        rules: { refundable: c.refundable, cancellation_fee: { amount_minor: c.fee_minor, currency: c.currency } },
      };
      if (limit.value !== '') fare.limit = Number(limit.value);
      return fare;
    });
    try {
      await api.patch(`/flights/${id}`, { fares });
      // The read side follows the log: show the flight once it has the change.
      for (let i = 0; i < 40; i += 1) {
        const fresh = await api.get(`/flights/${id}`);
        const shown = new Map((fresh.classes || []).map((c) => [c.class, c]));
        if (fares.every((f) => shown.get(f.class)?.price_minor === f.price.amount_minor && (shown.get(f.class)?.nested_limit ?? undefined) === f.limit)) {
          saved(fresh);
          ctx.notice('Fares saved.');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      ctx.notice('Fares saved; the flight view has not caught up with them yet.');
    } catch (error) {
      ctx.notice(error.message, 'error');
    }
  });
  el.hidden = false;
  fill(el, h('h2', {}, 'Fares and booking classes'), form);
}

/** A cabin's booking classes, the dearest first: price, seats held or sold, the nested limit and what
 * each still sells (closed when nothing). */
function classTable(cabin, classes) {
  return h('table', { class: 'data classes', 'data-cabin': cabin },
    h('caption', { class: 'sr' }, `${CABIN_NAMES[cabin] || cabin} booking classes`),
    h('thead', {}, h('tr', {}, ...['Class', 'Price', 'Sold', 'Limit', 'Open'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, ...classes.map((c) => h('tr', { 'data-class': c.class },
      h('td', {}, c.class),
      h('td', { class: 'num' }, money(c.price_minor, c.currency)),
      h('td', { class: 'num' }, String(c.sold)),
      h('td', { class: 'num' }, c.nested_limit === null ? '–' : String(c.nested_limit)),
      h('td', {}, c.available > 0 ? `${c.available} left` : h('span', { class: 'badge cancelled' }, 'closed'))))));
}

/** The cabin's columns, `null` for an aisle: from the aircraft's layout (`"ABC DEF"`) when known. */
function columnsOf(list, letters) {
  if (letters) return [...letters].map((c) => (c === ' ' ? null : c));
  // Otherwise a guess: an aisle between two neighbouring letters that are both aisle seats.
  const seen = [...new Set(list.map((s) => s.letter))].sort();
  const aisle = (l) => list.some((s) => s.letter === l && s.characteristics.includes('aisle'));
  return seen.flatMap((l, i) => (i + 1 < seen.length && aisle(l) && aisle(seen[i + 1]) ? [l, null] : [l]));
}

/** Draws the seat map by cabin; seats in `mine` (a set of seat numbers) are marked as the booking's. */
export function drawMap(el, seats, previous, layout, mine = new Set()) {
  fill(el, byCabin(seats).map(([cabin, list]) => {
    const at = new Map(list.map((s) => [s.seat, s]));
    const columns = columnsOf(list, layout.get(cabin));
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
                class: `seat ${seat.status}${changed ? ' changed' : ''}${mine.has(seat.seat) ? ' mine' : ''}`,
                'data-seat': seat.seat,
                'data-status': seat.status,
                title: `${seat.seat} · ${traits} · ${seat.status}`,
              }, h('span', { 'aria-hidden': 'true' }, letter),
              h('span', { class: 'sr' }, `${seat.seat} ${traits}, ${seat.status}${mine.has(seat.seat) ? ', this booking' : ''}`));
            }));
        })))));
  }));
}
