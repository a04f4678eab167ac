// Charts as plain SVG, drawn from numbers the page already has: a line chart
// for the overview's live series and a bar chart for a plugin's last 24
// hours. No chart library: these two shapes are all the console draws, and a
// library would have to be embedded in the binary with its licence.
import {h, svg, formatNumber} from './dom.js';

const width = 560;
const height = 180;
const margin = {left: 52, right: 12, top: 12, bottom: 26};

// A round number at or above `value` (1, 2, 5 times a power of ten).
function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function frame(maximum, unit, xLabels) {
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const y = (v) => margin.top + plotHeight - (v / maximum) * plotHeight;
  const grid = [];
  for (const fraction of [0, 0.5, 1]) {
    const value = maximum * fraction;
    grid.push(svg('line', {x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value), class: 'grid'}));
    const digits = value === 0 || value >= 10 ? 0 : Math.min(4, 1 - Math.floor(Math.log10(value)));
    grid.push(svg('text', {x: margin.left - 6, y: y(value) + 4, class: 'axis', 'text-anchor': 'end'},
      `${formatNumber(value, digits)}${unit}`));
  }
  for (const [x, text, anchor] of xLabels)
    grid.push(svg('text', {x, y: height - 8, class: 'axis', 'text-anchor': anchor}, text));
  return {plotWidth, plotHeight, y, grid};
}

function legend(series) {
  return h('ul', {class: 'legend'}, series.map((s) =>
    h('li', {}, h('span', {class: `swatch ${s.className}`}), `${s.name}: `, h('strong', {}, s.current))));
}

// series: [{name, className, values: [number|null ...], current: text}], all
// of the same length (one value per sample, the newest last).
export function lineChart(title, series, {unit = '', span = ''} = {}) {
  const count = Math.max(1, ...series.map((s) => s.values.length));
  const maximum = niceCeiling(Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null))));
  const {plotWidth, y, grid} = frame(maximum, unit, [[margin.left, span, 'start'], [width - margin.right, 'now', 'end']]);
  const x = (i) => margin.left + (count === 1 ? plotWidth : (i / (count - 1)) * plotWidth);
  const lines = series.map((s) => {
    const points = [];
    s.values.forEach((v, i) => { if (v !== null) points.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`); });
    return svg('polyline', {points: points.join(' '), class: `series ${s.className}`});
  });
  return h('figure', {class: 'chart'},
    h('figcaption', {}, title),
    svg('svg', {viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title}, grid, lines),
    legend(series));
}

// bars: [{label, parts: [{className, value}]}] stacked bottom up, the oldest first.
export function barChart(title, bars, legendSeries, {unit = ''} = {}) {
  const maximum = niceCeiling(Math.max(0, ...bars.map((b) => b.parts.reduce((sum, p) => sum + p.value, 0))));
  const every = Math.max(1, Math.ceil(bars.length / 4));
  const plotWidth = width - margin.left - margin.right;
  const slot = plotWidth / Math.max(1, bars.length);
  const labels = bars.map((b, i) => [margin.left + slot * (i + 0.5), b.label, 'middle']).filter((_, i) => i % every === 0);
  const {y, grid} = frame(maximum, unit, labels);
  const rects = [];
  bars.forEach((bar, i) => {
    let base = 0;
    for (const part of bar.parts) {
      if (part.value > 0) {
        rects.push(svg('rect', {x: (margin.left + slot * i + 1).toFixed(1), width: Math.max(1, slot - 2).toFixed(1),
          y: y(base + part.value).toFixed(1), height: (y(base) - y(base + part.value)).toFixed(1),
          class: `bar ${part.className}`}, svg('title', {}, `${bar.label}: ${formatNumber(part.value, 2)}${unit}`)));
      }
      base += part.value;
    }
  });
  return h('figure', {class: 'chart'},
    h('figcaption', {}, title),
    svg('svg', {viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title}, grid, rects),
    legend(legendSeries));
}
