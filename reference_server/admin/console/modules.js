// Modules: each loaded plugin module (version, ABI, the build it was made
// with, its capabilities), the versions that served it in turn, the builds a
// swap refused (with the step and field at fault), the files refused at
// start, and a rollback to the version that served before.
import {api} from './api.js';
import {h, clear, notice, section, table, formatTime, formatNumber} from './dom.js';

export async function modulesPage(main) {
  const status = h('div', {class: 'action-status'});
  async function render() {
    const [{modules, load_errors: refusedAtStart}, versions] = await Promise.all([
      api('GET', '/api/modules'),
      api('GET', '/api/plugins').catch((error) => (error.status === 404 ? {plugins: []} : Promise.reject(error))),
    ]);
    const byPlugin = new Map(versions.plugins.map((p) => [p.plugin, p]));
    const cards = modules.map((m) => {
      const v = byPlugin.get(m.name) || {history: [], failed: []};
      const rollback = v.previous ? h('button', {type: 'button', class: 'rollback', onclick: async () => {
        clear(status).append(notice('info', `Rolling ${m.name} back to ${v.previous.version}…`));
        try {
          const result = await api('POST', `/api/plugins/${encodeURIComponent(m.name)}/rollback`);
          clear(status).append(notice('ok', `${m.name} serves ${result.to_version} again (it served ${result.from_version}).`));
        } catch (error) {
          clear(status).append(notice('error', `${m.name} was not rolled back: ${error.message}`));
        }
        await render();
      }}, `Roll back to ${v.previous.version}`) : null;
      const history = (v.history || []).map((x) => h('tr', {}, h('td', {}, x.version), h('td', {}, x.trigger),
        h('td', {class: 'number'}, formatNumber(x.generation)), h('td', {}, formatTime(x.at_ms)),
        h('td', {class: 'number'}, formatNumber(x.drain_ms, 2)), h('td', {}, h('code', {}, (x.content_hash || '').slice(0, 12)))));
      const refused = (v.failed || []).map((f) => h('tr', {}, h('td', {}, formatTime(f.at_ms)), h('td', {}, f.trigger), h('td', {}, f.step),
        h('td', {}, f.field || ''), h('td', {}, f.team_id ?? ''), h('td', {}, f.message)));
      return h('section', {class: 'panel module', 'data-module': m.name},
        h('h2', {}, m.name, ' ', h('span', {class: 'version', 'data-fact': 'serving'}, m.version)),
        h('dl', {class: 'facts'},
          h('dt', {}, 'ABI'), h('dd', {}, m.abi),
          h('dt', {}, 'built with'), h('dd', {}, m.build_fingerprint),
          h('dt', {}, 'file'), h('dd', {}, h('code', {}, m.file)),
          h('dt', {}, 'capabilities'), h('dd', {}, m.capabilities.map((c) => h('span', {class: 'chip'}, c))),
          h('dt', {}, 'swaps'), h('dd', {}, formatNumber(v.swaps || 0)),
          h('dt', {}, 'previous version'), h('dd', {'data-fact': 'previous'}, v.previous ? v.previous.version : 'none')),
        rollback,
        h('h3', {}, 'Versions that served, newest first'),
        table(['version', 'how', 'generation', 'since', 'drain (ms)', 'content'], history, {class: 'history'}),
        h('h3', {}, 'Refused builds'),
        table(['at', 'how', 'step', 'field', 'team', 'why'], refused, {class: 'refused'}));
    });
    const atStart = (refusedAtStart || []).map((r) => h('tr', {}, h('td', {}, h('code', {}, r.file)), h('td', {}, r.step),
      h('td', {}, r.field || ''), h('td', {}, r.details.join('; '))));
    clear(main).append(h('h1', {}, 'Modules'), status, ...cards,
      section('Refused at start', table(['file', 'step', 'field', 'why'], atStart, {id: 'load-errors'})));
  }
  await render();
}
