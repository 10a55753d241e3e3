// The analytics API as the dashboard asks it: the session cookie (set by
// POST /v1/session, HttpOnly) goes with every request; a 401 anywhere
// means the session is over, and the app returns to the sign-in form.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized = () => {};

export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

async function request(method, path, body) {
  const init = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
    cache: 'no-store',
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', e.message);
  }
  if (resp.status === 204) return null;
  let data = null;
  const text = await resp.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (_) {
      data = null;
    }
  }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(resp.status, err.code, err.message);
  }
  return data;
}

// GET of a data route: a 401 ends the session.
async function getData(path) {
  try {
    return await request('GET', path);
  } catch (e) {
    if (e.status === 401) onUnauthorized();
    throw e;
  }
}

export const session = {
  get: () => request('GET', '/v1/session'),
  create: (key) => request('POST', '/v1/session', { key }),
  remove: () => request('DELETE', '/v1/session'),
};

// A query string of params (arrays joined by commas; null, undefined and
// '' left out unless keepEmpty names them: a records filter of an empty
// group value is "the row without one").
export function query(params, keepEmpty = []) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined) continue;
    const text = Array.isArray(v) ? v.join(',') : String(v);
    if (text === '' && !keepEmpty.includes(k)) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(text)}`);
  }
  return parts.join('&');
}

export function report(name, qs) {
  return getData(`/v1/reports/${name}?${qs}`);
}

export function records(kind, qs) {
  return getData(`/v1/records/${kind}?${qs}`);
}

export function worklist(qs) {
  return getData(`/v1/worklist${qs ? `?${qs}` : ''}`);
}

// --- dates as the reports take them (YYYY-MM-DD, whole days) ---

export function parseDay(s) {
  const [y, m, d] = s.split('-').map(Number);
  return Date.UTC(y, m - 1, d);
}

export function formatDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

export function addDays(s, n) {
  return formatDay(parseDay(s) + n * 86400000);
}

export function daysBetween(from, to) {
  return Math.round((parseDay(to) - parseDay(from)) / 86400000);
}

// Today in zone tz (the network's: its reports' days), else the browser's.
export function today(tz) {
  if (tz) {
    try {
      // en-CA writes dates as YYYY-MM-DD
      return new Intl.DateTimeFormat('en-CA', {
        timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit',
      }).format(new Date());
    } catch (_) { /* a zone this browser does not know: its own day */ }
  }
  const d = new Date();
  return formatDay(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()));
}

// The period of the same length just before [from, to].
export function previousPeriod(from, to) {
  const n = daysBetween(from, to) + 1;
  return { from: addDays(from, -n), to: addDays(from, -1) };
}

export function isDay(s) {
  return typeof s === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(parseDay(s));
}

// The filters a page carries to the others (from, to, clinic, source,
// attribution). A records page drilled from a figure carries those of the
// page it came from (back_*, set by the drill), not the row's clinic or
// source or a cohort's month it narrowed itself to.
export const FILTER_KEYS = ['from', 'to', 'clinic', 'source', 'attribution'];
export function originFilters(params) {
  const drilled = params.back && params.back_from;
  const out = {};
  for (const k of FILTER_KEYS) {
    const v = drilled ? params[`back_${k}`] : params[k];
    if (v) out[k] = v;
  }
  return out;
}

// The back_* parameters that keep filters (a page's own) on a drill.
export function backParams(filters) {
  const out = {};
  for (const k of FILTER_KEYS) if (filters[k]) out[`back_${k}`] = filters[k];
  return out;
}
