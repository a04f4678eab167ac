// Overview: what the server is doing now. Polls /api/overview every two
// seconds and turns the counters into rates and, from the latency histogram's
// growth between two polls, percentiles of process_event's latency.
import {api} from './api.js';
import {h, link, badge, clear, formatNumber, section, table} from './dom.js';
import {lineChart} from './charts.js';

const pollMs = 2000;
const kept = 150;  // five minutes of samples

// The q-quantile of a histogram's counts (not cumulative), interpolated inside
// its bucket as Prometheus' histogram_quantile does; null without calls.
export function quantile(q, bounds, counts) {
  const total = counts.reduce((sum, c) => sum + c, 0);
  if (!total) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; ++i) {
    if (seen + counts[i] >= rank && counts[i] > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const lower = i === 0 ? 0 : bounds[i - 1];
      return lower + (bounds[i] - lower) * ((rank - seen) / counts[i]);
    }
    seen += counts[i];
  }
  return bounds[bounds.length - 1];
}

function rate(now, before, pick) {
  if (!before) return null;
  const seconds = (Date.parse(now.at) - Date.parse(before.at)) / 1000;
  return seconds > 0 ? Math.max(0, (pick(now) - pick(before)) / seconds) : null;
}

function card(name, key, value) {
  return h('div', {class: 'card', 'data-metric': key}, h('span', {class: 'label'}, name),
    h('span', {class: 'value'}, formatNumber(value)));
}

export function overviewPage(main) {
  const samples = [];
  let timer = null;
  let stopped = false;

  function render() {
    const now = samples[samples.length - 1];
    const points = samples.map((s, i) => {
      const before = samples[i - 1];
      const latency = before ? s.latency.counts.map((c, b) => c - before.latency.counts[b]) : [];
      const ms = (q) => { const v = before ? quantile(q, s.latency.bounds_seconds, latency) : null; return v === null ? null : v * 1000; };
      return {
        in: rate(s, before, (x) => x.events.in), out: rate(s, before, (x) => x.events.out),
        dropped: rate(s, before, (x) => x.events.dropped), refused: rate(s, before, (x) => x.refused_503),
        p50: ms(0.5), p90: ms(0.9), p99: ms(0.99),
      };
    });
    // The first sample has nothing before it to make a rate with.
    const charted = points.slice(1);
    const series = (name, key, className, digits = 1) => {
      const values = charted.map((p) => p[key]);
      const latest = values[values.length - 1];
      return {name, className, values, current: latest === null || latest === undefined ? '–' : formatNumber(latest, digits)};
    };
    const seconds = (Date.parse(now.at) - Date.parse(samples[Math.min(1, samples.length - 1)].at)) / 1000;
    const span = seconds >= 120 ? `-${Math.round(seconds / 60)} min` : `-${Math.round(seconds)} s`;
    const previous = samples[samples.length - 2];
    const interval = previous ? (Date.parse(now.at) - Date.parse(previous.at)) / 1000 : 0;
    const teamRows = now.teams.map((t) => {
      const before = previous && previous.teams.find((p) => p.team_id === t.team_id);
      const perSecond = before && interval > 0 ? Math.max(0, (t.in - before.in) / interval) : null;
      return h('tr', {'data-team': t.team_id}, h('td', {}, link(`/ui/teams/${t.team_id}`, `team ${t.team_id}`)),
        h('td', {class: 'number'}, formatNumber(t.in)), h('td', {class: 'number'}, formatNumber(t.out)),
        h('td', {class: 'number'}, formatNumber(t.dropped)), h('td', {class: 'number'}, formatNumber(perSecond, 1)));
    });
    const unhealthyRows = now.unhealthy.map((u) => h('tr', {},
      h('td', {}, link(`/ui/teams/${u.team_id}/plugins/${encodeURIComponent(u.plugin)}`, `${u.plugin} (${u.team_id})`)),
      h('td', {}, badge(u.health)), h('td', {}, badge(u.setup)), h('td', {}, u.setup_error || u.reason || '')));
    clear(main).append(
      h('h1', {}, 'Overview'),
      h('div', {class: 'cards'}, card('Events in', 'events-in', now.events.in), card('Events out', 'events-out', now.events.out),
        card('Dropped by plugins', 'events-dropped', now.events.dropped), card('Answered 503', 'refused-503', now.refused_503)),
      h('div', {class: 'charts'},
        lineChart('Events per second', [series('in', 'in', 'series-in'), series('out', 'out', 'series-out'),
          series('dropped', 'dropped', 'series-dropped')], {span}),
        lineChart('Capture answers 503 per second', [series('503', 'refused', 'series-refused')], {span}),
        lineChart('process_event latency, all plugins (ms)', [series('p50', 'p50', 'series-p50', 3),
          series('p90', 'p90', 'series-p90', 3), series('p99', 'p99', 'series-p99', 3)], {span, unit: ''})),
      section('Teams', table(['team', 'events in', 'out', 'dropped', 'in per second'], teamRows, {id: 'team-rates'})),
      section('Plugins not healthy', table(['plugin (team)', 'health', 'set-up', 'why'], unhealthyRows, {id: 'unhealthy'})));
  }

  async function poll() {
    try {
      const data = await api('GET', '/api/overview');
      if (stopped) return;
      samples.push(data);
      if (samples.length > kept) samples.shift();
      render();
    } catch (error) {
      if (!stopped && error.status !== 401) {
        main.querySelector('.poll-error')?.remove();
        main.prepend(h('p', {class: 'notice notice-error poll-error', role: 'alert'}, `Could not read the overview: ${error.message}`));
      }
    }
    if (!stopped) timer = setTimeout(poll, pollMs);
  }
  poll();
  return () => { stopped = true; clearTimeout(timer); };
}
