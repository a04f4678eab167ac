// A team's plugin: its health and the transitions that led there, PostHog's
// app metrics for the last 24 hours, its declared metrics, its logs (level
// and search), its errors with the event each one saw, and, for the plugins
// that have them, its export buffer with dead letters and its jobs, each
// replayable, and its next scheduled runs.
import {api, path} from './api.js';
import {h, link, badge, clear, notice, section, table, formatNumber, formatTime} from './dom.js';
import {barChart} from './charts.js';

const levels = ['debug', 'info', 'warn', 'error'];

function json(value) {
  return h('pre', {class: 'json'}, JSON.stringify(value, null, 2));
}

export async function pluginPage(main, navigate, teamId, plugin) {
  const base = path.plugin(teamId, plugin);
  const status = h('div', {class: 'action-status'});
  const parts = {health: h('div'), appMetrics: h('div'), declared: h('div'), logs: h('div'), errors: h('div'),
    exports: h('div'), jobs: h('div')};
  clear(main).append(
    h('p', {class: 'crumbs'}, link('/ui/teams', 'Teams'), ' / ', link(`/ui/teams/${teamId}`, `team ${teamId}`), ' / ', plugin),
    h('h1', {}, `${plugin} (team ${teamId})`), status,
    parts.health, parts.appMetrics, parts.declared, parts.errors, parts.logs, parts.exports, parts.jobs);

  const act = async (what, call) => {
    clear(status).append(notice('info', `${what}…`));
    try {
      await call();
      clear(status).append(notice('ok', `${what}: done.`));
    } catch (error) {
      clear(status).append(notice('error', `${what}: ${error.message}`));
    }
    await refresh();
  };

  async function showHealth(info, modules) {
    const health = info.health;
    const setup = info.setup;
    const stopped = ['paused', 'disabled'].includes(health.state) || setup.state !== 'ok';
    const history = health.history.map((t) => h('tr', {}, h('td', {}, formatTime(t.at)),
      h('td', {}, badge(t.from), ' → ', badge(t.to)), h('td', {}, t.reason)));
    const module = modules.find((m) => m.name === plugin);
    clear(parts.health).append(section('Health',
      h('dl', {class: 'facts', id: 'health'},
        h('dt', {}, 'state'), h('dd', {'data-fact': 'health'}, badge(health.state)),
        h('dt', {}, 'tokens'), h('dd', {}, `${formatNumber(health.tokens)} of ${formatNumber(health.bucket)}`),
        health.paused_until ? [h('dt', {}, 'paused until'), h('dd', {}, formatTime(health.paused_until))] : null,
        h('dt', {}, 'set-up'), h('dd', {'data-fact': 'setup'}, badge(setup.state), setup.last_error ? ` ${setup.last_error}` : ''),
        h('dt', {}, 'in the chain'), h('dd', {}, info.enabled ? 'enabled' : 'disabled by its team', info.serving ? ', serving' : ', not serving'),
        module ? [h('dt', {}, 'module'), h('dd', {}, `${module.version}, ABI ${module.abi}`)] : null),
      stopped ? h('button', {type: 'button', id: 'enable-plugin', class: 'primary',
        onclick: () => act('Enable', () => api('POST', `${base}/enable`))}, 'Enable') : null,
      h('h3', {}, 'Transitions, newest first'),
      table(['at', 'change', 'why'], history, {id: 'health-history'})));
    const declared = Object.entries(info.metrics || {}).map(([name, m]) =>
      h('tr', {}, h('td', {}, name), h('td', {}, m.kind), h('td', {class: 'number'}, formatNumber(m.value, 3))));
    clear(parts.declared).append(section('Metrics', table(['metric', 'kind', 'value'], declared, {id: 'declared-metrics'})));
    return module;
  }

  async function showAppMetrics() {
    try {
      const {hours} = await api('GET', `${base}/app_metrics`);
      const label = (hour) => `${hour.hour.slice(11, 13)}:00`;
      const calls = hours.map((x) => ({label: label(x), parts: [{className: 'bar-ok', value: x.successes}, {className: 'bar-failed', value: x.failures}]}));
      const durations = hours.map((x) => ({label: label(x), parts: [{className: 'bar-duration', value: x.average_ms}]}));
      const sum = (key) => hours.reduce((total, x) => total + x[key], 0);
      clear(parts.appMetrics).append(section('App metrics, last 24 hours (UTC)',
        h('div', {class: 'charts'},
          barChart('Calls per hour', calls, [{name: 'succeeded', className: 'series-ok', current: formatNumber(sum('successes'))},
            {name: 'failed', className: 'series-failed', current: formatNumber(sum('failures'))}]),
          barChart('Average duration per hour (ms)', durations, [{name: 'average', className: 'series-duration',
            current: formatNumber(sum('duration_ms') / Math.max(1, sum('successes') + sum('failures')), 3)}]))));
    } catch (error) {
      clear(parts.appMetrics).append(section('App metrics', notice('error', error.message)));
    }
  }

  const levelSelect = h('select', {id: 'log-level'}, h('option', {value: ''}, 'every level'), levels.map((l) => h('option', {value: l}, `${l} and above`)));
  const search = h('input', {type: 'search', id: 'log-search', placeholder: 'search the messages'});
  const logList = h('div');
  let lines = [];
  function showLogs() {
    const wanted = search.value.trim().toLowerCase();
    const rows = lines.filter((l) => !wanted || l.message.toLowerCase().includes(wanted)).map((l) =>
      h('tr', {class: `log-${l.level}`}, h('td', {}, formatTime(l.at)), h('td', {}, badge(l.level)), h('td', {class: 'message'}, l.message)));
    clear(logList).append(table(['at', 'level', 'message'], rows, {id: 'logs'}));
  }
  async function loadLogs() {
    const level = levelSelect.value ? `&level=${levelSelect.value}` : '';
    lines = (await api('GET', `${base}/logs?limit=500${level}`)).logs;
    showLogs();
  }
  levelSelect.addEventListener('change', loadLogs);
  search.addEventListener('input', showLogs);
  parts.logs.append(section('Logs', h('div', {class: 'filters'}, levelSelect, ' ', search), logList));

  async function showErrors() {
    const {errors} = await api('GET', `${base}/errors?limit=100`);
    const items = errors.map((e) => h('li', {class: 'error-item'},
      h('div', {}, h('strong', {}, e.kind), ` in ${e.hook}: `, e.message, h('span', {class: 'muted'}, ` ${formatTime(e.at)}`)),
      e.event !== null && e.event !== '' ? h('details', {}, h('summary', {}, `the event as the plugin received it${e.event_uuid ? ` (${e.event_uuid})` : ''}`), json(e.event)) : null));
    clear(parts.errors).append(section(`Errors (${errors.length})`,
      items.length ? h('ol', {class: 'errors', id: 'errors'}, items) : h('p', {class: 'muted', id: 'errors'}, 'none')));
  }

  async function showExports(module) {
    if (!module?.capabilities?.includes('export_events')) return clear(parts.exports);
    const x = await api('GET', `${base}/exports`);
    const dead = x.dead_letters.map((d) => h('tr', {'data-batch': d.id}, h('td', {}, `#${d.id}`), h('td', {class: 'number'}, formatNumber(d.events)),
      h('td', {class: 'number'}, formatNumber(d.attempts)), h('td', {}, d.last_error),
      h('td', {}, h('button', {type: 'button', class: 'replay-export',
        onclick: () => act(`Replay batch #${d.id}`, () => api('POST', `/api/exports/${d.id}/replay`))}, 'Replay'))));
    clear(parts.exports).append(section('Exports',
      h('dl', {class: 'facts', id: 'exports'},
        ...[['pending events', x.pending_events], ['pending bytes', x.pending_bytes], ['batches waiting for a retry', x.retrying_batches],
          ['dead letters', x.dead_batches], ['events seen', x.events_seen], ['delivered', x.events_delivered],
          ['undelivered', x.events_undelivered], ['retry errors', x.retry_errors], ['other errors', x.other_errors]]
          .flatMap(([name, value]) => [h('dt', {}, name), h('dd', {'data-fact': name}, formatNumber(value))]),
        x.last_error ? [h('dt', {}, 'last error'), h('dd', {}, x.last_error)] : null),
      h('h3', {}, 'Dead letters'), table(['batch', 'events', 'attempts', 'last error', ''], dead, {id: 'dead-letters'})));
  }

  async function showJobs(module) {
    const scheduled = ['run_every_minute', 'run_every_hour', 'run_every_day'].filter((c) => module?.capabilities?.includes(c));
    if (!module?.capabilities?.includes('jobs') && !scheduled.length) return clear(parts.jobs);
    let jobs = null;
    let overview = null;
    try {
      [jobs, overview] = await Promise.all([api('GET', `${base}/jobs`), api('GET', '/api/jobs')]);
    } catch (error) {
      if (error.status === 404) return clear(parts.jobs);
      throw error;
    }
    const jobRow = (j, replay) => h('tr', {}, h('td', {}, `#${j.id}`), h('td', {}, j.name), h('td', {}, formatTime(j.run_at)),
      h('td', {class: 'number'}, formatNumber(j.attempts)), h('td', {}, j.last_error || ''), h('td', {}, h('code', {}, JSON.stringify(j.payload))),
      h('td', {}, replay ? h('button', {type: 'button', class: 'replay-job',
        onclick: () => act(`Replay job #${j.id}`, () => api('POST', `/api/jobs/${j.id}/replay`))}, 'Replay') : null));
    const runs = overview.schedules.filter((s) => scheduled.includes(s.task)).map((s) =>
      h('tr', {}, h('td', {}, s.task), h('td', {}, formatTime(s.next_run)), h('td', {}, formatTime(s.last_period))));
    clear(parts.jobs).append(section('Jobs and schedules',
      h('p', {}, `Declared: ${jobs.declared.join(', ') || 'none'}. Runs ${formatNumber(jobs.runs)}, succeeded ${formatNumber(jobs.succeeded)}, failed ${formatNumber(jobs.failures)}.`),
      h('h3', {}, 'Failed'), table(['job', 'name', 'due', 'attempts', 'error', 'payload', ''], jobs.failed_jobs.map((j) => jobRow(j, true)), {id: 'failed-jobs'}),
      h('h3', {}, 'Queued'), table(['job', 'name', 'due', 'attempts', 'error', 'payload', ''], jobs.queued_jobs.map((j) => jobRow(j, false)), {id: 'queued-jobs'}),
      h('h3', {}, 'Next scheduled runs'), table(['hook', 'next run', 'last period'], runs, {id: 'schedules'})));
  }

  async function refresh() {
    try {
      const [info, {modules}] = await Promise.all([api('GET', base), api('GET', '/api/modules')]);
      const module = await showHealth(info, modules);
      await Promise.all([showAppMetrics(), showErrors(), loadLogs(), showExports(module), showJobs(module)]);
    } catch (error) {
      clear(status).append(notice('error', error.message));
    }
  }
  const again = h('button', {type: 'button', id: 'refresh', onclick: refresh}, 'Refresh');
  main.querySelector('h1').after(h('div', {class: 'actions'}, again, h('span', {class: 'muted'}, ' (every 5 seconds on its own)')));
  await refresh();
  const timer = setInterval(refresh, 5000);
  return () => clearInterval(timer);
}
