// The API client: the signed-in session (kept in this tab's session storage, sent only as a bearer
// header, never in a URL), JSON calls that turn problem+json into errors, and event streams read with
// fetch (EventSource cannot send the header) that resume by Last-Event-ID after any break.

const BASE = '/api/v1';
const KEY = 'airline.console.session';

let session = load();
const listeners = new Set();

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

function store(next) {
  session = next;
  if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
  else sessionStorage.removeItem(KEY);
  for (const fn of listeners) fn(session);
}

/** The signed-in user ({id, email, role}) or null. */
export function user() {
  return session ? session.user : null;
}

export function isAdmin() {
  return user()?.role === 'admin';
}

/** Calls `fn(session)` whenever the session changes (sign-in, refresh, sign-out). */
export function onSession(fn) {
  listeners.add(fn);
}

/** An API failure: the problem's status, code and detail. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code || 'http_error';
    this.problem = problem;
  }
}

async function failure(response) {
  let problem = null;
  try {
    problem = await response.json();
  } catch {
    // Not JSON: the status says enough.
  }
  return new ApiError(response.status, problem);
}

export async function login(email, password) {
  const response = await fetch(`${BASE}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (!response.ok) throw await failure(response);
  store(await response.json());
}

export async function logout() {
  const token = session?.access_token;
  store(null);
  if (token) {
    await fetch(`${BASE}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }).catch(() => {});
  }
}

let refreshing = null;

/** Trades the refresh token for a new pair; false (and signed out) when the session is over. */
async function refresh() {
  if (!session?.refresh_token) return false;
  // One refresh at a time: a refresh token works once, and several requests may find the token expired.
  refreshing ??= (async () => {
    const response = await fetch(`${BASE}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: session.refresh_token }),
    });
    if (!response.ok) {
      store(null);
      return false;
    }
    store(await response.json());
    return true;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function headers(extra = {}) {
  const all = { accept: 'application/json', ...extra };
  if (session) all.authorization = `Bearer ${session.access_token}`;
  return all;
}

async function send(path, init, retried = false) {
  const response = await fetch(BASE + path, init());
  if (response.status === 401 && session && !retried && (await refresh())) return send(path, init, true);
  return response;
}

/** GET a JSON resource. */
export async function get(path, signal) {
  const response = await send(path, () => ({ headers: headers(), signal }));
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** POST JSON (with an Idempotency-Key, so a retried click cannot act twice). */
export async function post(path, body = {}) {
  const key = crypto.randomUUID();
  const response = await send(path, () => ({
    method: 'POST',
    headers: headers({ 'content-type': 'application/json', 'idempotency-key': key }),
    body: JSON.stringify(body),
  }));
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

/** PATCH JSON. */
export async function patch(path, body) {
  const response = await send(path, () => ({
    method: 'PATCH',
    headers: headers({ 'content-type': 'application/json' }),
    body: JSON.stringify(body),
  }));
  if (!response.ok) throw await failure(response);
  return response.json();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Follows an event stream until the returned function is called. `handlers.event({id, type, data})`
 * gets each event, `handlers.state('live' | 'reconnecting' | 'failed', error?)` the connection's state.
 * After a break it reconnects with the last id it saw (the stream's position, sent first even before
 * any event), so nothing is missed or repeated.
 */
export function follow(path, handlers) {
  const abort = new AbortController();
  let last = null;
  let stopped = false;
  const state = (word, error) => handlers.state?.(word, error);
  (async () => {
    let delay = 500;
    while (!stopped) {
      try {
        const response = await send(path, () => {
          const extra = { accept: 'text/event-stream' };
          if (last) extra['last-event-id'] = last;
          return { headers: headers(extra), signal: abort.signal, cache: 'no-store' };
        });
        if (!response.ok) {
          const error = await failure(response);
          if (response.status < 500 && response.status !== 429) {
            state('failed', error);
            return;
          }
          // Rate limited or unavailable: wait at least as long as the server asks.
          const asked = Number(response.headers.get('retry-after')) * 1000;
          if (asked > delay) delay = Math.min(asked, 60000);
          throw error;
        }
        state('live');
        delay = 500;
        await read(response.body, (id) => (last = id), handlers.event);
      } catch (error) {
        if (stopped) return;
        state('reconnecting', error);
        await sleep(delay);
        delay = Math.min(delay * 2, 10000);
        continue;
      }
      // The server ended the stream (a restart, the token's end): reconnect after it.
      if (stopped) return;
      state('reconnecting');
      await sleep(delay);
      delay = Math.min(delay * 2, 10000);
    }
  })();
  return () => {
    stopped = true;
    abort.abort();
  };
}

async function read(body, setId, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      dispatch(block, setId, onEvent);
    }
  }
}

function dispatch(block, setId, onEvent) {
  let id = null;
  let type = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':') || line === '') continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'id') id = value;
    else if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  }
  if (id !== null) setId(id);
  if (data.length === 0) return;
  let parsed;
  try {
    parsed = JSON.parse(data.join('\n'));
  } catch {
    return;
  }
  onEvent?.({ id, type, data: parsed });
}
