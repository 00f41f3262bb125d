// The console's only way to the server: Fletch's public HTTP API, with the
// token (if the server wants one) kept in this tab's sessionStorage.

const TOKEN_KEY = 'fletch.token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// An Error carrying the HTTP status; 401 means the token is missing or wrong.
export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function request(path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  const t = token();
  if (t) headers.set('Authorization', 'Bearer ' + t);
  const res = await fetch(path, { ...opts, headers });
  if (!res.ok) {
    let msg = res.status + ' ' + res.statusText;
    const text = await res.text();
    try {
      const body = JSON.parse(text);
      msg = body.error || body.message || msg;
    } catch {
      if (text) msg = text;
    }
    throw new APIError(res.status, msg);
  }
  return res;
}

// serverMs reads the query's own time from the Server-Timing header.
function serverMs(res) {
  const h = res.headers.get('Server-Timing') || '';
  const m = /query;dur=([0-9.]+)/.exec(h);
  return m ? parseFloat(m[1]) : null;
}

// query runs sql against db and returns {rows, columns, ms, serverMs}; rows
// are objects as /api/v3/query_sql's format=json gives them.
export async function query(db, sql) {
  const t0 = performance.now();
  const res = await request('/api/v3/query_sql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ db, q: sql, format: 'json' }),
  });
  const rows = await res.json();
  const columns = rows.length ? Object.keys(rows[0]) : [];
  return { rows, columns, ms: performance.now() - t0, serverMs: serverMs(res) };
}

// download fetches sql's result as format (csv or parquet) and saves it.
export async function download(db, sql, format) {
  const res = await request('/api/v3/query_sql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ db, q: sql, format }),
  });
  const blob = await res.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'result.' + format;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

export async function databases() {
  const res = await request('/api/v3/configure/database?format=json');
  const rows = await res.json();
  return rows.map((r) => r['iox::database']).sort();
}

// writeLP sends line protocol to db in bodies of about chunkBytes, cut at
// line ends, with precision (auto, s, ms, us or ns) for its timestamps,
// calling progress(charsSent, totalChars) after each.
export async function writeLP(db, text, precision, progress, chunkBytes = 4 << 20) {
  const enc = new TextEncoder();
  let sent = 0;
  const total = text.length;
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + chunkBytes);
    if (end < text.length) {
      const nl = text.lastIndexOf('\n', end);
      end = nl > start ? nl + 1 : end;
    }
    const body = enc.encode(text.slice(start, end));
    await request('/api/v3/write_lp?db=' + encodeURIComponent(db) + '&precision=' + precision, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      body,
    });
    sent = end;
    start = end;
    if (progress) progress(sent, total);
  }
}

export async function metrics() {
  const res = await request('/metrics');
  return res.text();
}
