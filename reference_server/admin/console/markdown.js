// The markdown of plugin.json (a field's hint, a text block) rendered as DOM
// nodes, never as HTML: paragraphs, "- " lists, "#" headings, `code`,
// **bold**, *emphasis* and [links](https://...). A link goes only to http,
// https or mailto addresses, opens in a new tab and tells it nothing of the
// console. Anything else is shown as the text it is.
import {h} from './dom.js';

const inline = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|(\[[^\]]+\]\([^)\s]+\))/g;

function safeHref(url) {
  try {
    const parsed = new URL(url);
    return ['http:', 'https:', 'mailto:'].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

function renderInline(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(inline)) {
    if (match.index > last) nodes.push(text.slice(last, match.index));
    const [token] = match;
    if (match[1]) nodes.push(h('code', {}, token.slice(1, -1)));
    else if (match[2]) nodes.push(h('strong', {}, token.slice(2, -2)));
    else if (match[3]) nodes.push(h('em', {}, token.slice(1, -1)));
    else {
      const [, label, url] = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(token);
      const href = safeHref(url);
      nodes.push(href ? h('a', {href, target: '_blank', rel: 'noopener noreferrer'}, label) : token);
    }
    last = match.index + token.length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}

export function renderMarkdown(text) {
  const root = h('div', {class: 'markdown'});
  const blocks = String(text ?? '').replace(/\r/g, '').split(/\n\s*\n/);
  for (const block of blocks) {
    const lines = block.split('\n').filter((line) => line.trim() !== '');
    if (!lines.length) continue;
    if (lines.every((line) => /^\s*[-*] /.test(line))) {
      root.append(h('ul', {}, lines.map((line) => h('li', {}, renderInline(line.replace(/^\s*[-*] /, ''))))));
    } else if (lines.length === 1 && /^#{1,6} /.test(lines[0])) {
      root.append(h('h4', {}, renderInline(lines[0].replace(/^#+ /, ''))));
    } else {
      root.append(h('p', {}, renderInline(lines.join(' '))));
    }
  }
  return root;
}
