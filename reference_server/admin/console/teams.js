// Teams: the list, and one team's chain: its plugins in order (dragged, or
// moved with the arrows), each enabled or not, each with its config form.
// Saving sends the whole team to PUT /api/teams/{id}; a 400 names the field
// at fault ("plugins[1].config.rules"), which is marked where it is.
import {api, path} from './api.js';
import {h, link, badge, clear, notice, section, table} from './dom.js';
import {configForm} from './config_form.js';

export async function teamsPage(main, navigate) {
  const {teams} = await api('GET', '/api/teams');
  const id = h('input', {type: 'number', min: 1, name: 'id', required: true});
  const token = h('input', {type: 'text', name: 'token', placeholder: 'phc_...'});
  const message = h('div');
  const create = h('form', {class: 'inline-form', method: 'post', onsubmit: async (event) => {
    event.preventDefault();
    try {
      await api('PUT', path.team(id.value), {token: token.value || undefined, plugins: []});
      navigate(`/ui/teams/${id.value}`);
    } catch (error) {
      clear(message).append(notice('error', error.message));
    }
  }}, h('label', {}, 'Team id ', id), h('label', {}, 'Project token ', token), h('button', {}, 'Create team'), message);
  const rows = teams.map((t) => h('tr', {},
    h('td', {}, link(`/ui/teams/${t.id}`, `team ${t.id}`)), h('td', {}, h('code', {}, t.token || '–')),
    h('td', {}, t.plugins.map((p) => h('span', {class: 'chip'}, p.name, p.enabled === false ? ' (off)' : '',
      p.status && p.status.health !== 'healthy' ? [' ', badge(p.status.health)] : null)))));
  clear(main).append(h('h1', {}, 'Teams'), section('Every team', table(['team', 'token', 'chain'], rows, {id: 'teams'})),
    section('New team', create));
}

export async function teamPage(main, navigate, teamId) {
  const [team, {modules}] = await Promise.all([api('GET', path.team(teamId)), api('GET', '/api/modules')]);
  const byName = new Map(modules.map((m) => [m.name, m]));
  const status = h('div', {class: 'save-status'});
  const tokenInput = h('input', {type: 'text', id: 'team-token', value: team.token || '', placeholder: 'phc_...'});
  const tokenError = h('p', {class: 'field-error', role: 'alert', hidden: true});
  const list = h('ol', {class: 'chain', id: 'chain'});
  const chain = [];  // {name, enabled, item, form, enabledBox}

  function plugin(entry, saved) {
    const module = byName.get(entry.name);
    const form = module ? configForm(module, entry.config || {}, {teamId, plugin: entry.name, saved,
      attachments: entry.attachments, onUploaded: () => {}}) : null;
    const enabledBox = h('input', {type: 'checkbox', class: 'enabled', checked: entry.enabled !== false});
    const details = h('details', {class: 'plugin-config', open: !saved},
      h('summary', {}, 'Config'), form ? form.element : h('p', {class: 'notice notice-error'}, 'no module of this name is loaded'));
    const item = h('li', {class: 'chain-item', draggable: 'true', 'data-plugin': entry.name});
    const self = {name: entry.name, item, form, enabledBox, details};
    const move = (by) => {
      const at = chain.indexOf(self);
      const to = at + by;
      if (to < 0 || to >= chain.length) return;
      chain.splice(at, 1);
      chain.splice(to, 0, self);
      layout();
    };
    item.append(
      h('div', {class: 'chain-row'},
        h('span', {class: 'handle', title: 'drag to reorder'}, '⋮⋮'),
        h('span', {class: 'position'}),
        saved ? link(`/ui/teams/${teamId}/plugins/${encodeURIComponent(entry.name)}`, entry.name) : h('strong', {}, entry.name),
        module ? h('span', {class: 'muted'}, ` ${module.version}`) : null,
        entry.status ? [' ', badge(entry.status.health)] : null,
        h('label', {class: 'inline'}, enabledBox, ' enabled'),
        h('span', {class: 'spacer'}),
        h('button', {type: 'button', class: 'move-up', title: 'earlier in the chain', onclick: () => move(-1)}, '↑'),
        h('button', {type: 'button', class: 'move-down', title: 'later in the chain', onclick: () => move(1)}, '↓'),
        h('button', {type: 'button', class: 'remove', onclick: () => { chain.splice(chain.indexOf(self), 1); layout(); }}, 'Remove')),
      details);
    // Dragging: the item dropped on another takes its place.
    item.addEventListener('dragstart', (event) => { event.dataTransfer.setData('text/plain', entry.name); item.classList.add('dragging'); });
    item.addEventListener('dragend', () => item.classList.remove('dragging'));
    item.addEventListener('dragover', (event) => event.preventDefault());
    item.addEventListener('drop', (event) => {
      event.preventDefault();
      const from = chain.findIndex((p) => p.name === event.dataTransfer.getData('text/plain'));
      const to = chain.indexOf(self);
      if (from < 0 || from === to) return;
      const [moved] = chain.splice(from, 1);
      chain.splice(to, 0, moved);
      layout();
    });
    return self;
  }

  function layout() {
    clear(list);
    chain.forEach((p, i) => {
      p.item.querySelector('.position').textContent = `${i + 1}.`;
      list.append(p.item);
    });
    addSelect.replaceChildren(...addOptions().flat());
  }

  const addSelect = h('select', {id: 'add-plugin'});
  const addOptions = () => [h('option', {value: ''}, 'a loaded plugin…'),
    modules.filter((m) => !chain.some((p) => p.name === m.name)).map((m) => h('option', {value: m.name}, `${m.name} ${m.version}`))];
  const add = h('button', {type: 'button', id: 'add-plugin-button', onclick: () => {
    if (!addSelect.value) return;
    chain.push(plugin({name: addSelect.value, enabled: true, config: {}}, false));
    layout();
  }}, 'Add to the chain');

  function clearMarks() {
    tokenError.hidden = true;
    for (const p of chain) { p.item.classList.remove('invalid'); p.form?.clearMarks(); }
  }

  // "plugins[2].config.rules", "plugins[2]", "token": marked where they are.
  function mark(field, text) {
    const m = /^plugins\[(\d+)\](?:\.config\.(.+)|\.(\w+))?$/.exec(field || '');
    if (m && chain[Number(m[1])]) {
      const p = chain[Number(m[1])];
      p.details.open = true;
      if (m[2] && p.form?.mark(m[2], text)) return true;
      p.item.classList.add('invalid');
      p.item.scrollIntoView({block: 'center'});
      return false;
    }
    if (field === 'token') {
      tokenError.textContent = text;
      tokenError.hidden = false;
      return true;
    }
    return false;
  }

  const save = h('button', {type: 'button', id: 'save-team', class: 'primary', onclick: async () => {
    clearMarks();
    clear(status).append(notice('info', 'Saving…'));
    const document = {
      token: tokenInput.value.trim() || undefined,
      plugins: chain.map((p) => ({name: p.name, enabled: p.enabledBox.checked, config: p.form ? p.form.values() : {}})),
    };
    try {
      await api('PUT', path.team(teamId), document);
      clear(status).append(notice('ok', `Saved: team ${teamId} runs the new chain from its next batch.`));
      const fresh = await api('GET', path.team(teamId));
      await reload(fresh);
    } catch (error) {
      const where = error.field ? ` (${error.field})` : '';
      mark(error.field, error.message);
      clear(status).append(notice('error', `Not saved${where}: ${error.message}`));
    }
  }}, 'Save');

  async function reload(current) {
    chain.length = 0;
    for (const entry of current.plugins) {
      let attachments;
      if (Object.values(byName.get(entry.name)?.manifest?.config || []).some((f) => f.type === 'attachment')) {
        attachments = (await api('GET', path.plugin(teamId, entry.name))).attachments;
      }
      chain.push(plugin({...entry, attachments}, true));
    }
    layout();
  }

  clear(main).append(
    h('h1', {}, `Team ${teamId}`),
    section('Project token', h('label', {for: 'team-token'}, 'Token '), tokenInput, tokenError),
    section('Plugin chain', h('p', {class: 'muted'}, 'Events go through the enabled plugins from the top down. Drag a plugin, or use the arrows, to change the order.'),
      list, h('div', {class: 'add-row'}, addSelect, add)),
    h('div', {class: 'actions'}, save, status,
      h('button', {type: 'button', class: 'danger', onclick: async (event) => {
        // Two clicks: the first only asks (no dialog, which a CSP-strict page keeps simple).
        const button = event.currentTarget;
        if (!button.dataset.armed) {
          button.dataset.armed = 'yes';
          button.textContent = `Delete team ${teamId}: click again to confirm`;
          return;
        }
        try { await api('DELETE', path.team(teamId)); navigate('/ui/teams'); } catch (error) { clear(status).append(notice('error', error.message)); }
      }}, 'Delete team')));
  await reload(team);
}
