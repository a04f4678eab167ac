// Building the page from data without ever parsing it as HTML: every string
// becomes a text node or an attribute value, so a plugin's log line or an
// event's property cannot turn into markup (and the CSP forbids inline
// script anyway).

// h('a', {href: '/ui/teams', class: 'x', onclick: fn}, 'text', child, [more]).
export function h(tag, attributes, ...children) {
  return fill(document.createElement(tag), attributes, children);
}

const svgNamespace = 'http://www.w3.org/2000/svg';
export function svg(tag, attributes, ...children) {
  return fill(document.createElementNS(svgNamespace, tag), attributes, children);
}

function fill(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// A link inside the console: followed without reloading the page.
export function link(path, ...children) {
  return h('a', {href: path, 'data-route': true}, ...children);
}

export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
  return element;
}

export function formatNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return Number(value).toLocaleString('en-US', {maximumFractionDigits: digits, minimumFractionDigits: 0});
}

// ISO text or epoch milliseconds, shown in UTC like the server's logs.
export function formatTime(value) {
  if (value === null || value === undefined || value === '') return '–';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

// A state (healthy, degraded, paused, disabled, ok, retrying, failed) as a badge.
export function badge(state) {
  return h('span', {class: `badge badge-${state}`}, state);
}

// A small status line that says what just happened (saved, refused ...).
export function notice(kind, text) {
  return h('p', {class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status'}, text);
}

export function section(title, ...children) {
  return h('section', {class: 'panel'}, h('h2', {}, title), ...children);
}

export function table(headings, rows, attributes = {}) {
  return h('table', attributes,
    h('thead', {}, h('tr', {}, headings.map((text) => h('th', {}, text)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', {colspan: headings.length, class: 'muted'}, 'none'))));
}
