// Fletch's web console: schema, SQL editor, results as a grid or a chart,
// operations at a glance, and file upload — all through the public HTTP API.

import * as api from './api.js';
import { Grid } from './grid.js';
import { chartData, drawChart } from './chart.js';
import { createEditor } from './editor.js';
import { csvToLP, parquetToLP } from './convert.js';

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  Object.assign(e, props);
  e.append(...kids);
  return e;
};
const quoteIdent = (s) => '"' + String(s).replace(/"/g, '""') + '"';
const quoteLit = (s) => "'" + String(s).replace(/'/g, "''") + "'";

const state = {
  db: localStorage.getItem('fletch.db') || '',
  result: null,
  view: 'grid',
  history: JSON.parse(localStorage.getItem('fletch.history') || '[]'),
  lastMetrics: null,
};

const grid = new Grid($('grid'));
const editor = createEditor($('editor'), {
  doc: localStorage.getItem('fletch.sql') || 'SELECT table_name, kind, tags, fields FROM system.tables',
  onRun: () => run(),
  onChange: (t) => localStorage.setItem('fletch.sql', t),
});

// --- sign-in ------------------------------------------------------------------
// withAuth runs fn, asking for a token when the server answers 401.
async function withAuth(fn) {
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof api.APIError) || e.status !== 401) throw e;
      await askToken(api.token() ? 'That token was refused: ' + e.message : '');
    }
  }
}

function askToken(message) {
  return new Promise((resolve) => {
    const dlg = $('login');
    $('login-error').hidden = !message;
    $('login-error').textContent = message;
    $('token').value = '';
    dlg.addEventListener('close', () => {
      api.setToken($('token').value.trim());
      resolve();
    }, { once: true });
    dlg.showModal();
    $('token').focus();
  });
}

// --- schema -------------------------------------------------------------------
async function loadDatabases() {
  const dbs = await withAuth(() => api.databases());
  const sel = $('database');
  sel.replaceChildren(...dbs.map((d) => el('option', { value: d, textContent: d })));
  if (!dbs.includes(state.db)) state.db = dbs.includes('default') ? 'default' : dbs[0] || 'default';
  sel.value = state.db;
  $('who').textContent = api.token() ? 'signed in with a token' : '';
  await loadSchema();
}

async function loadSchema() {
  const box = $('schema');
  box.replaceChildren(el('p', { className: 'muted', textContent: 'loading…' }));
  try {
    const db = state.db;
    const [tables, views] = await Promise.all([
      api.query(db, `SELECT table_name, kind, tags, fields FROM system.tables WHERE database = ${quoteLit(db)} ORDER BY table_name`),
      api.query(db, `SELECT * FROM system.views WHERE database = ${quoteLit(db)}`).catch(() => ({ rows: [] })),
    ]);
    const completion = {};
    const groups = { table: [], 'materialized view': [], view: [] };
    for (const t of tables.rows) {
      const tags = t.tags || [];
      const fields = t.fields || [];
      completion[t.table_name] = [...tags, ...fields, 'time'];
      (groups[t.kind] || groups.table).push({ name: t.table_name, tags, fields });
    }
    for (const v of views.rows) {
      groups.view.push({ name: v.name, tags: null, fields: null });
      completion[v.name] = [];
    }
    editor.setSchema(completion);
    const sections = [];
    for (const [kind, items] of Object.entries(groups)) {
      if (!items.length) continue;
      const list = el('ul');
      for (const t of items) list.append(tableNode(t));
      sections.push(el('h3', { textContent: kind === 'table' ? 'tables' : kind + 's' }), list);
    }
    if (!sections.length) sections.push(el('p', { className: 'muted', textContent: 'no tables yet: write some data' }));
    box.replaceChildren(el('h2', { textContent: db }), ...sections);
  } catch (e) {
    box.replaceChildren(el('p', { className: 'error', textContent: e.message }));
  }
}

function tableNode(t) {
  const cols = el('ul', { className: 'columns' });
  const summary = el('summary', {}, el('span', { className: 'tname', textContent: t.name }));
  const preview = el('button', { className: 'mini', title: 'show the newest 100 rows', textContent: '▶' });
  preview.addEventListener('click', (ev) => {
    ev.preventDefault();
    editor.setText(`SELECT * FROM ${quoteIdent(t.name)} ORDER BY time DESC LIMIT 100`);
    run();
  });
  summary.append(preview);
  const node = el('details', { className: 'table' }, summary, cols);
  node.dataset.table = t.name;
  node.addEventListener('toggle', async () => {
    if (!node.open || cols.childElementCount) return;
    try {
      const d = await api.query(state.db, 'DESCRIBE ' + quoteIdent(t.name));
      for (const c of d.rows) {
        const role = t.tags?.includes(c.column_name) ? 'tag' : c.column_name === 'time' ? 'time' : t.fields ? 'field' : '';
        cols.append(el('li', {},
          el('span', { className: 'cname', textContent: c.column_name }),
          el('span', { className: 'ctype', textContent: c.column_type }),
          role ? el('span', { className: 'badge ' + role, textContent: role }) : ''));
      }
    } catch (e) {
      cols.append(el('li', { className: 'error', textContent: e.message }));
    }
  });
  return el('li', {}, node);
}

// --- time range and macros --------------------------------------------------
const UNITS = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 };

// parseTime reads "now", "now-15m", "now-2d" or an RFC 3339 time into ms.
function parseTime(s, now = Date.now()) {
  const t = s.trim();
  const m = /^now(?:\s*-\s*(\d+)\s*([smhdw]))?$/i.exec(t);
  if (m) return m[1] ? now - m[1] * UNITS[m[2].toLowerCase()] : now;
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) throw new Error(`range: ${JSON.stringify(t)} is not "now", "now-1h" or an RFC 3339 time`);
  return ms;
}

const NICE = [1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400, 604800];

// expandMacros substitutes $__timeFrom, $__timeTo and $__interval (about
// 300 bins over the range), as Grafana does.
function expandMacros(sql, fromMs, toMs) {
  if (!sql.includes('$__')) return sql;
  const want = (toMs - fromMs) / 1000 / 300;
  const step = NICE.find((n) => n >= want) || NICE[NICE.length - 1];
  const ts = (ms) => `TIMESTAMP '${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')}'`;
  return sql
    .replaceAll('$__timeFrom', ts(fromMs))
    .replaceAll('$__timeTo', ts(toMs))
    .replaceAll('$__interval', `INTERVAL '${step} seconds'`);
}

function range() {
  const now = Date.now();
  return [parseTime($('from').value, now), parseTime($('to').value, now)];
}

// --- running a query --------------------------------------------------------
let running = 0;

async function run() {
  const text = editor.text().trim();
  if (!text) return;
  const id = ++running;
  const err = $('error');
  err.hidden = true;
  $('status').textContent = 'running…';
  $('run').disabled = true;
  try {
    const [from, to] = range();
    const sql = expandMacros(text, from, to);
    const res = await withAuth(() => api.query(state.db, sql));
    if (id !== running) return;
    state.result = res;
    remember(text);
    const server = res.serverMs === null ? '' : ` · ${fmtMs(res.serverMs)} in the server`;
    $('status').textContent = `${res.rows.length.toLocaleString()} rows${server} · ${fmtMs(res.ms)} total`;
    grid.set(res.columns, res.rows);
    if (state.view === 'chart') showChart();
  } catch (e) {
    if (id !== running) return;
    err.textContent = e.message;
    err.hidden = false;
    $('status').textContent = 'failed';
  } finally {
    if (id === running) $('run').disabled = false;
  }
}

const fmtMs = (ms) => (ms < 10 ? ms.toFixed(1) : Math.round(ms).toLocaleString()) + ' ms';

function showChart() {
  const box = $('chart');
  const res = state.result;
  const data = res && chartData(res.columns, res.rows);
  if (!data) {
    box.replaceChildren(el('p', { className: 'muted', textContent: res
      ? 'Nothing to chart: the result needs a time column and a numeric column.'
      : 'Run a query first.' }));
    return;
  }
  state.plot = drawChart(box, data, (from, to) => {
    if (!editor.text().includes('$__')) return; // uPlot zooms by itself
    $('from').value = new Date(from).toISOString();
    $('to').value = new Date(to).toISOString();
    run();
  });
  if (data.dropped) {
    box.append(el('p', { className: 'muted', textContent: `Only the first ${data.series.length} series are drawn.` }));
  }
}

function remember(sql) {
  const h = state.history.filter((x) => !(x.sql === sql && x.db === state.db));
  h.unshift({ sql, db: state.db, at: new Date().toISOString() });
  state.history = h.slice(0, 100);
  localStorage.setItem('fletch.history', JSON.stringify(state.history));
  renderHistory();
}

function renderHistory() {
  $('history').replaceChildren(...state.history.map((x) => {
    const li = el('li', { title: `${x.db} · ${x.at}` }, el('code', { textContent: x.sql }));
    li.addEventListener('click', () => {
      if (x.db !== state.db) switchDatabase(x.db);
      editor.setText(x.sql);
    });
    return li;
  }));
}

async function downloadAs(format) {
  const err = $('error');
  err.hidden = true;
  try {
    const [from, to] = range();
    await withAuth(() => api.download(state.db, expandMacros(editor.text(), from, to), format));
  } catch (e) {
    err.textContent = e.message;
    err.hidden = false;
  }
}

// --- operations ---------------------------------------------------------------
async function loadOps() {
  const box = $('ops');
  $('ops-status').textContent = 'loading…';
  const db = state.db;
  const where = `WHERE database = ${quoteLit(db)}`;
  const sections = [
    ['Materialized views', `SELECT name, source, bin_seconds, watermark, lag_seconds, pending_bins, last_refresh, last_error FROM system.materialized_views ${where} ORDER BY name`],
    ['Subscriptions', `SELECT name, topic, format, state, partitions, lag, messages_per_second, messages, dead_letters, last_error FROM system.subscriptions ${where} ORDER BY name`],
    ['Retention', `SELECT table_name, retention_seconds, cutoff, files_removed, rows_removed, last_run FROM system.retention ${where} ORDER BY table_name`],
    ['Problems', 'SELECT * FROM system.problems'],
    ['Tables', `SELECT table_name, kind, parquet_files, parquet_rows, parquet_bytes, retention_seconds FROM system.tables ${where} ORDER BY table_name`],
  ];
  const parts = [metricsCard(await withAuth(() => api.metrics()).catch((e) => e))];
  for (const [title, sql] of sections) {
    let body;
    try {
      const r = await api.query(db, sql);
      body = r.rows.length ? smallTable(r.columns, r.rows) : el('p', { className: 'muted', textContent: 'none' });
    } catch (e) {
      body = el('p', { className: 'error', textContent: e.message });
    }
    parts.push(el('h3', { textContent: title }), body);
  }
  box.replaceChildren(...parts);
  $('ops-status').textContent = 'as of ' + new Date().toLocaleTimeString();
}

// metricSum adds up every sample of a Prometheus metric in text.
function metricSum(text, name) {
  let sum = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = parseFloat(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isNaN(v)) {
      sum += v;
      seen = true;
    }
  }
  return seen ? sum : null;
}

function metricsCard(text) {
  if (text instanceof Error) return el('p', { className: 'error', textContent: text.message });
  const now = performance.now();
  const rows = metricSum(text, 'fletch_rows_written_total') || 0;
  let rate = '—';
  if (state.lastMetrics) {
    const dt = (now - state.lastMetrics.at) / 1000;
    if (dt > 0) rate = Math.round((rows - state.lastMetrics.rows) / dt).toLocaleString() + ' rows/s';
  }
  state.lastMetrics = { at: now, rows };
  const mb = (n) => (n === null ? '—' : (n / 1048576).toFixed(1) + ' MiB');
  const items = [
    ['buffer', mb(metricSum(text, 'fletch_buffer_bytes'))],
    ['hot tier', mb(metricSum(text, 'fletch_hot_tier_bytes'))],
    ['Parquet', mb(metricSum(text, 'fletch_parquet_bytes'))],
    ['rows written', rows.toLocaleString()],
    ['ingest rate', rate],
  ];
  return el('div', { className: 'cards' }, ...items.map(([k, v]) =>
    el('div', { className: 'card' }, el('div', { className: 'k', textContent: k }), el('div', { className: 'v', textContent: v }))));
}

function smallTable(columns, rows) {
  const t = el('table', { className: 'small' });
  t.append(el('tr', {}, ...columns.map((c) => el('th', { textContent: c }))));
  for (const r of rows.slice(0, 200)) {
    t.append(el('tr', {}, ...columns.map((c) => el('td', { textContent: r[c] === null ? 'NULL' : typeof r[c] === 'object' ? JSON.stringify(r[c]) : String(r[c]) }))));
  }
  return t;
}

// --- writing files ----------------------------------------------------------
async function writeFile(file) {
  const status = $('write-status');
  const bar = $('write-progress');
  const name = file.name.replace(/\.gz$/i, '');
  const ext = (/\.([a-z]+)$/i.exec(name) || [])[1]?.toLowerCase() || '';
  const table = $('write-table').value.trim() || name.replace(/\.[^.]*$/, '').replace(/[^\w-]+/g, '_');
  status.className = '';
  status.textContent = `reading ${file.name}…`;
  bar.hidden = false;
  bar.value = 0;
  const t0 = performance.now();
  try {
    let data = file;
    if (/\.gz$/i.test(file.name)) data = await new Response(file.stream().pipeThrough(new DecompressionStream('gzip'))).blob();
    let lp;
    let precision = $('write-precision').value;
    let note = '';
    if (ext === 'csv') {
      const r = csvToLP(table, await data.text());
      lp = r.text;
      precision = 'ns';
      note = r.skipped ? ` (${r.skipped} rows without a field or time skipped)` : '';
    } else if (ext === 'parquet') {
      const r = await parquetToLP(table, await data.arrayBuffer());
      lp = r.text;
      precision = 'ns';
      note = r.skipped ? ` (${r.skipped} rows without a field or time skipped)` : '';
    } else {
      lp = await data.text();
    }
    const lines = lp.split('\n').filter((l) => l && !l.startsWith('#')).length;
    await withAuth(() => api.writeLP(state.db, lp, precision, (sent, total) => {
      bar.value = sent / total;
      status.textContent = `writing ${file.name}: ${Math.round((100 * sent) / total)}%`;
    }));
    const secs = (performance.now() - t0) / 1000;
    const tables = measurements(lp);
    const counts = [];
    for (const t of tables.slice(0, 20)) {
      try {
        const r = await api.query(state.db, `SELECT count(*) AS n FROM ${quoteIdent(t)}`);
        counts.push(`${t}: ${Number(r.rows[0].n).toLocaleString()} rows`);
      } catch (e) {
        counts.push(`${t}: ${e.message}`);
      }
    }
    status.textContent = `Wrote ${lines.toLocaleString()} lines from ${file.name} to ${state.db} in ${secs.toFixed(1)} s${note}. Now ${counts.join('; ')}.`;
    status.dataset.lines = String(lines);
    loadSchema();
  } catch (e) {
    status.className = 'error';
    status.textContent = `${file.name}: ${e.message}`;
  } finally {
    bar.hidden = true;
  }
}

async function writeFiles(files) {
  for (const f of files) await writeFile(f);
}

// measurements lists the tables named by line protocol's lines.
function measurements(lp) {
  const seen = new Set();
  let start = 0;
  while (start < lp.length && seen.size < 1000) {
    let end = lp.indexOf('\n', start);
    if (end < 0) end = lp.length;
    if (end > start && lp[start] !== '#') {
      let i = start;
      let m = '';
      while (i < end && lp[i] !== ',' && lp[i] !== ' ') {
        if (lp[i] === '\\' && i + 1 < end) i++;
        m += lp[i++];
      }
      if (m) seen.add(m);
    }
    start = end + 1;
  }
  return [...seen];
}

// --- wiring -------------------------------------------------------------------
function switchDatabase(db) {
  state.db = db;
  localStorage.setItem('fletch.db', db);
  $('database').value = db;
  loadSchema();
  if (document.querySelector('#tab-ops.active')) loadOps();
}

$('database').addEventListener('change', (e) => switchDatabase(e.target.value));
$('run').addEventListener('click', () => run());
$('csv').addEventListener('click', () => downloadAs('csv'));
$('parquet').addEventListener('click', () => downloadAs('parquet'));
$('ops-refresh').addEventListener('click', () => {
  loadOps();
  loadSchema();
});
for (const b of document.querySelectorAll('nav button')) {
  b.addEventListener('click', () => {
    for (const x of document.querySelectorAll('nav button')) x.classList.toggle('active', x === b);
    for (const s of document.querySelectorAll('.tab')) s.classList.toggle('active', s.id === 'tab-' + b.dataset.tab);
    if (b.dataset.tab === 'ops') loadOps();
  });
}
for (const b of document.querySelectorAll('.result-bar button')) {
  b.addEventListener('click', () => {
    state.view = b.dataset.view;
    for (const x of document.querySelectorAll('.result-bar button')) x.classList.toggle('active', x === b);
    for (const v of document.querySelectorAll('#result .view')) v.classList.toggle('active', v.id === state.view);
    if (state.view === 'chart') showChart();
  });
}
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  writeFiles([...e.dataTransfer.files]);
});
$('file').addEventListener('change', (e) => {
  writeFiles([...e.target.files]);
  e.target.value = '';
});

// For scripts and browser tests: the editor, run() (a promise) and state.
window.fletch = { editor, run, state };

renderHistory();
loadDatabases().catch((e) => {
  $('schema').replaceChildren(el('p', { className: 'error', textContent: e.message }));
});
