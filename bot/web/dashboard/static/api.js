// The one way the page talks to Dockerverse: the same /api/* routes as every other client, with the
// session cookie (sent by the browser) and, on every change, the session's CSRF token.

export const session = { csrf: null, role: null, actor: null };
let onSignedOut = () => {};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function whenSignedOut(callback) {
  onSignedOut = callback;
}

export function url(path, { host, query } = {}) {
  const u = new URL(path, location.origin);
  if (host) u.searchParams.set('host', host);
  for (const [key, value] of Object.entries(query || {})) u.searchParams.set(key, value);
  return u;
}

export async function call(path, { method = 'GET', body, host, query } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = session.csrf || '';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(url(path, { host, query }), {
      method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'Dockerverse cannot be reached: is `dockerverse web` running? Try again in a moment.');
  }
  return answer(resp, path);
}

export async function answer(resp, path = '') {
  const data = await resp.json().catch(() => ({}));
  if (resp.ok) return data;
  const error = new ApiError(resp.status, data.error || `${resp.status} ${resp.statusText}`);
  if (resp.status === 401 && path !== '/session') onSignedOut(error.message);
  throw error;
}
