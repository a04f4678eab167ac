// The admin API as the console uses it: same-origin fetches carrying the
// session cookie (the browser sends it; no script can read it), and on every
// request that changes something the session's CSRF token, which lives only
// in this module's memory. A reload asks the server for it again.

let csrfToken = null;
let whenSignedOut = () => {};

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `the server answered ${status}`);
    this.status = status;
    this.body = body;
    this.field = body && body.field;
  }
}

export function onSignedOut(callback) {
  whenSignedOut = callback;
}

export async function api(method, path, body, options = {}) {
  const headers = {};
  let payload;
  if (body !== undefined) {
    if (options.file) {
      payload = body;
      headers['Content-Type'] = body.type || 'application/octet-stream';
    } else {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
  }
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const response = await fetch(path, {method, headers, body: payload, credentials: 'same-origin', cache: 'no-store'});
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = {error: text};
  }
  if (!response.ok) {
    if (response.status === 401 && !options.signingIn) {
      csrfToken = null;
      whenSignedOut();
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

// True when the browser still holds a live session.
export async function resumeSession() {
  try {
    const session = await api('GET', '/api/session', undefined, {signingIn: true});
    csrfToken = session.csrf_token;
    return true;
  } catch (error) {
    if (error.status === 401) return false;
    throw error;
  }
}

export async function signIn(token) {
  const session = await api('POST', '/api/session', {token}, {signingIn: true});
  csrfToken = session.csrf_token;
}

export async function signOut() {
  try {
    await api('DELETE', '/api/session', undefined, {signingIn: true});
  } finally {
    csrfToken = null;
  }
}

export const path = {
  team: (id) => `/api/teams/${encodeURIComponent(id)}`,
  plugin: (id, name) => `/api/teams/${encodeURIComponent(id)}/plugins/${encodeURIComponent(name)}`,
};
