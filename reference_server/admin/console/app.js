// The console's entry: sign-in, the navigation, and which page a path shows.
// Paths are real (/ui/teams/2), so a page can be reloaded or linked to; the
// server answers every /ui/ path with this same page.
import {onSignedOut, resumeSession, signIn, signOut} from './api.js';
import {h, clear, notice} from './dom.js';
import {overviewPage} from './overview.js';
import {teamsPage, teamPage} from './teams.js';
import {pluginPage} from './plugin_page.js';
import {modulesPage} from './modules.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');

const routes = [
  [/^\/(?:ui\/?)?$/, (_, go) => overviewPage(main, go)],
  [/^\/ui\/teams\/?$/, (_, go) => teamsPage(main, go)],
  [/^\/ui\/teams\/(\d+)\/?$/, ([, id], go) => teamPage(main, go, id)],
  [/^\/ui\/teams\/(\d+)\/plugins\/([^/]+)\/?$/, ([, id, name], go) => pluginPage(main, go, id, decodeURIComponent(name))],
  [/^\/ui\/modules\/?$/, (_, go) => modulesPage(main, go)],
];

let leavePage = null;  // what the page showing needs to stop (its polling)

async function show(path) {
  if (leavePage) leavePage();
  leavePage = null;
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('current', a.getAttribute('href') === path);
  const route = routes.find(([pattern]) => pattern.test(path));
  if (!route) {
    clear(main).append(h('h1', {}, 'Not found'), h('p', {}, `The console has no page at ${path}.`));
    return;
  }
  const shownFor = path;
  try {
    const leave = await route[1](route[0].exec(path), navigate);
    if (location.pathname === shownFor) leavePage = typeof leave === 'function' ? leave : null;
    else if (typeof leave === 'function') leave();
  } catch (error) {
    if (error.status !== 401) clear(main).append(notice('error', `This page could not be shown: ${error.message}`));
  }
}

function navigate(path) {
  if (location.pathname !== path) history.pushState({}, '', path);
  show(path);
}

function showSignIn(reason) {
  if (leavePage) leavePage();
  leavePage = null;
  nav.hidden = true;
  const token = h('input', {type: 'password', id: 'admin-token', name: 'token', autocomplete: 'current-password', required: true});
  const message = h('div', {id: 'sign-in-message'});
  if (reason) message.append(notice('info', reason));
  // POSTed as JSON by the script: the token never goes in a URL, and the page
  // keeps nothing of it once the server has answered.
  const form = h('form', {id: 'sign-in', method: 'post', onsubmit: async (event) => {
    event.preventDefault();
    const value = token.value;
    token.value = '';
    try {
      await signIn(value);
      nav.hidden = false;
      show(location.pathname);
    } catch (error) {
      clear(message).append(notice('error', error.status === 401 ? 'That is not the admin token.' : error.message));
      token.focus();
    }
  }},
  h('h1', {}, 'Sign in'),
  h('p', {}, 'The admin token is the server\'s ADMIN_TOKEN (or serve.admin.token). It is exchanged for a session that ends when you sign out or after a few hours.'),
  h('label', {for: 'admin-token'}, 'Admin token'), token, h('button', {class: 'primary'}, 'Sign in'), message);
  clear(main).append(form);
  token.focus();
}

document.addEventListener('click', (event) => {
  const a = event.target.closest('a[data-route]');
  if (!a || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', () => show(location.pathname));
document.getElementById('sign-out').addEventListener('click', async () => {
  try {
    await signOut();
  } finally {
    showSignIn('Signed out.');
  }
});
onSignedOut(() => showSignIn('The session has ended: sign in again.'));

(async () => {
  try {
    if (await resumeSession()) {
      nav.hidden = false;
      show(location.pathname);
    } else {
      showSignIn();
    }
  } catch (error) {
    clear(main).append(notice('error', `The admin API did not answer: ${error.message}`));
  }
})();
