// SVG charts, drawn here (no library): vertical bars over a category axis, horizontal bars for long
// labels. Every bar is a <rect class="bar"> with its value and a tooltip, and every chart comes with
// its numbers as a table, for screen readers and for copying.

import { h, s } from './dom.js';

/** The drawing's width: the page's, so that text keeps its size on a phone. */
function width() {
  const room = (document.getElementById('view')?.clientWidth || 700) - 48;
  return Math.round(Math.min(760, Math.max(300, room)));
}

/** Room for a column of labels of this many characters (11 px text). */
const room = (chars) => 10 + Math.ceil(chars * 6.6);

function niceMax(max) {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((m) => m >= max);
}

/** Vertical bars: one per label. `format` prints a value. */
export function columns({ id, title, labels, values, format = String, unit = '' }) {
  const W = width();
  const H = 240;
  const max = niceMax(Math.max(0, ...values));
  const ticks = [0, 0.5, 1].map((f) => format(max * f));
  const pad = { left: room(Math.max(...ticks.map((t) => t.length))), right: 12, top: 16, bottom: 48 };
  const plotW = W - pad.left - pad.right;
  const plotH = H - pad.top - pad.bottom;
  const step = labels.length ? plotW / labels.length : plotW;
  const barW = Math.max(2, Math.min(48, step * 0.7));
  const every = Math.ceil(labels.length / Math.max(2, Math.floor(plotW / 50))); // Labels never overlap.
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-labelledby': `${id}-caption` },
    [0, 0.5, 1].map((f, i) => {
      const y = pad.top + plotH * (1 - f);
      return s('g', { class: 'grid' },
        s('line', { x1: pad.left, x2: W - pad.right, y1: y, y2: y }),
        s('text', { x: pad.left - 6, y: y + 4, 'text-anchor': 'end' }, ticks[i]));
    }),
    labels.map((label, i) => {
      const v = values[i];
      const barH = (v / max) * plotH;
      const x = pad.left + step * i + (step - barW) / 2;
      return s('g', {},
        s('rect', { class: 'bar', x, y: pad.top + plotH - barH, width: barW, height: Math.max(barH, v > 0 ? 1 : 0), 'data-label': label, 'data-value': v },
          s('title', {}, `${label}: ${format(v)}${unit}`)),
        i % every === 0 ? s('text', { class: 'axis', x: x + barW / 2, y: H - pad.bottom + 16, 'text-anchor': 'middle' }, label) : null);
    }));
  return figure(id, title, svg, labels, values, format);
}

/** Horizontal bars: one per label, for long labels (routes, flights). Values in [0, max]. */
export function bars({ id, title, labels, values, max, format = String }) {
  const W = width();
  const row = 22;
  const longest = Math.max(0, ...labels.map((l) => l.length));
  const pad = { left: Math.min(room(longest), Math.round(W * 0.45)), right: 60, top: 8, bottom: 8 };
  const H = pad.top + pad.bottom + row * Math.max(labels.length, 1);
  const top = max ?? niceMax(Math.max(0, ...values));
  const plotW = W - pad.left - pad.right;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-labelledby': `${id}-caption` },
    labels.map((label, i) => {
      const v = values[i];
      const y = pad.top + row * i;
      const width = Math.max((Math.min(v, top) / top) * plotW, v > 0 ? 1 : 0);
      return s('g', {},
        s('text', { class: 'axis', x: pad.left - 8, y: y + row * 0.65, 'text-anchor': 'end' }, label),
        s('rect', { class: 'track', x: pad.left, y: y + 3, width: plotW, height: row - 6 }),
        s('rect', { class: 'bar', x: pad.left, y: y + 3, width, height: row - 6, 'data-label': label, 'data-value': v },
          s('title', {}, `${label}: ${format(v)}`)),
        s('text', { class: 'value', x: pad.left + width + 6, y: y + row * 0.65 }, format(v)));
    }));
  return figure(id, title, svg, labels, values, format);
}

function figure(id, title, svg, labels, values, format) {
  return h('figure', { class: 'figure', id },
    h('figcaption', { id: `${id}-caption` }, title),
    labels.length ? svg : h('p', { class: 'muted' }, 'No data in this range.'),
    labels.length ? h('details', { class: 'numbers' }, h('summary', {}, 'Numbers'),
      h('table', { class: 'data' }, h('tbody', {}, labels.map((l, i) => h('tr', {}, h('th', { scope: 'row' }, l), h('td', { class: 'num' }, format(values[i]))))))) : null);
}
