// A plugin's config form, generated from its plugin.json: string, json, choice
// and attachment fields, required marks, defaults as placeholders, markdown
// help, and secret fields that say only whether they are set. values() gives
// the config to send in PUT /api/teams/{id}; mark() points at a field the
// server refused.
import {api, path} from './api.js';
import {h, formatNumber} from './dom.js';
import {renderMarkdown} from './markdown.js';

const redacted = '********';

// PostHog read these from any exporting plugin's config, declared or not; the
// server adds them to such a plugin's schema, so the form offers them too.
const exportFields = [
  {key: 'exportEventsToIgnore', name: 'Events to leave out of exports', type: 'string',
    hint: 'Comma-separated event names, like `$pageleave, $autocapture`.'},
  {key: 'exportEventsBufferBytes', name: 'Export batch size (bytes)', type: 'string',
    hint: 'From 1 to 104857600; 1 MiB when empty.'},
  {key: 'exportEventsBufferSeconds', name: 'Export batch age (seconds)', type: 'string',
    hint: 'From 1 to 600; 10 when empty.'},
];

export function schemaOf(module) {
  const entries = Array.isArray(module?.manifest?.config) ? module.manifest.config : [];
  const declared = new Set(entries.map((e) => e.key));
  const extra = module?.capabilities?.includes('export_events') ? exportFields.filter((f) => !declared.has(f.key)) : [];
  return [...entries, ...extra];
}

function text(value) {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

// options: {teamId, plugin, saved: is the plugin in the team on the server,
// attachments: what was uploaded, by key, onUploaded()}
export function configForm(module, config, options) {
  const fields = new Map();  // key -> {field, control, message, read()}
  const form = h('div', {class: 'config-form'});
  const schema = schemaOf(module);
  if (!schema.length) form.append(h('p', {class: 'muted'}, 'This plugin has no per-team settings.'));

  for (const field of schema) {
    if (!field.key) {
      if (field.markdown) form.append(renderMarkdown(field.markdown));
      continue;
    }
    const id = `field-${options.teamId}-${module.name}-${field.key}`.replace(/[^A-Za-z0-9_-]/g, '_');
    const message = h('p', {class: 'field-error', role: 'alert', hidden: true});
    const label = h('label', {for: id}, field.name || field.key, field.required ? h('span', {class: 'required', title: 'required'}, ' *') : null);
    const given = config[field.key];
    let control;
    let read;
    const placeholder = field.default !== undefined ? `default: ${text(field.default)}` : '';
    if (field.type === 'choice') {
      control = h('select', {id, name: field.key},
        h('option', {value: ''}, field.default !== undefined ? `(default: ${field.default})` : '(none)'),
        (field.choices || []).map((c) => h('option', {value: c, selected: given === c}, c)));
      read = () => control.value || undefined;
    } else if (field.type === 'json') {
      control = h('textarea', {id, name: field.key, rows: 4, spellcheck: 'false', placeholder});
      control.value = text(given);
      read = () => (control.value.trim() === '' ? undefined : control.value);
    } else if (field.type === 'attachment') {
      control = attachmentControl(field, id, options);
      read = () => given;  // uploads go through their own endpoint; an inline one is kept as it was
    } else if (field.secret) {
      const set = given !== undefined && given !== null && given !== '';
      const state = h('span', {class: `secret-state ${set ? 'is-set' : 'is-unset'}`}, set ? 'set' : 'unset');
      const input = h('input', {id, name: field.key, type: 'password', autocomplete: 'off',
        placeholder: set ? 'set: type to replace it' : 'unset'});
      const clearBox = h('input', {type: 'checkbox', class: 'secret-clear'});
      control = h('span', {class: 'secret'}, input, ' ', state,
        set ? h('label', {class: 'inline'}, clearBox, ' clear it') : null);
      // Never shown, never read back: "********" asks the server to keep what it has.
      read = () => {
        if (input.value !== '') return input.value;
        if (set && !clearBox.checked) return redacted;
        return undefined;
      };
    } else {
      control = h('input', {id, name: field.key, type: 'text', placeholder, autocomplete: 'off'});
      control.value = text(given);
      read = () => (control.value === '' ? undefined : control.value);
    }
    const row = h('div', {class: 'field', 'data-key': field.key}, label, control,
      field.hint ? h('div', {class: 'hint'}, renderMarkdown(field.hint)) : null, message);
    fields.set(field.key, {row, message, read});
    form.append(row);
  }

  return {
    element: form,
    // Keys the form does not know (written by hand or by another tool) are
    // sent back as they were, so saving from here never loses them.
    values() {
      const out = {};
      for (const [key, value] of Object.entries(config)) if (!fields.has(key)) out[key] = value;
      for (const [key, f] of fields) {
        const value = f.read();
        if (value !== undefined) out[key] = value;
      }
      return out;
    },
    mark(key, text) {
      const f = fields.get(key);
      if (!f) return false;
      f.row.classList.add('invalid');
      f.row.querySelectorAll('input, select, textarea').forEach((c) => c.setAttribute('aria-invalid', 'true'));
      f.message.textContent = text;
      f.message.hidden = false;
      f.row.scrollIntoView({block: 'center'});
      return true;
    },
    clearMarks() {
      for (const f of fields.values()) {
        f.row.classList.remove('invalid');
        f.row.querySelectorAll('[aria-invalid]').forEach((c) => c.removeAttribute('aria-invalid'));
        f.message.hidden = true;
      }
    },
  };
}

function attachmentControl(field, id, options) {
  const uploaded = options.attachments?.[field.key];
  const status = h('span', {class: 'attachment-state'},
    uploaded ? `${uploaded.file_name} (${formatNumber(uploaded.size)} bytes, ${uploaded.content_type})` : 'nothing uploaded');
  if (!options.saved) return h('span', {class: 'attachment'}, status, h('span', {class: 'muted'}, ' (save the team first, then upload)'));
  const input = h('input', {id, type: 'file'});
  const result = h('span', {class: 'attachment-result', role: 'status'});
  const upload = h('button', {type: 'button', onclick: async () => {
    const file = input.files[0];
    if (!file) return;
    result.textContent = 'uploading…';
    try {
      const answer = await api('PUT',
        `${path.plugin(options.teamId, options.plugin)}/attachments/${encodeURIComponent(field.key)}?file_name=${encodeURIComponent(file.name)}`,
        file, {file: true});
      const a = answer.attachment;
      status.textContent = `${a.file_name} (${formatNumber(a.size)} bytes, ${a.content_type})`;
      result.textContent = 'uploaded; the team was set up again with it';
      options.onUploaded?.();
    } catch (error) {
      result.textContent = `refused: ${error.message}`;
    }
  }}, 'Upload');
  return h('span', {class: 'attachment'}, status, ' ', input, upload, ' ', result);
}
