// Turning dropped CSV and Parquet files into line protocol, so they are
// written through the same /api/v3/write_lp as everything else.
//
// Columns: `time` (any case) is the timestamp (RFC 3339 text, a Parquet
// timestamp, or an integer in s, ms, us or ns told apart by magnitude);
// numbers and booleans are fields; text is a tag. A row with no field is
// skipped and counted.

// escapes for line protocol's measurement, tag key/value and field key.
const escName = (s) => String(s).replace(/[,\s\\]/g, (c) => '\\' + c);
const escKey = (s) => String(s).replace(/[,=\s\\]/g, (c) => '\\' + c);
const escStr = (s) => String(s).replace(/["\\]/g, (c) => '\\' + c);

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

// timeNs converts a time cell to nanoseconds since the epoch (a BigInt), or
// throws naming the value.
export function timeNs(v) {
  if (typeof v === 'bigint') return scaleEpoch(v);
  if (v instanceof Date) return BigInt(v.getTime()) * 1000000n;
  if (v && typeof v === 'object' && typeof v.ns === 'bigint') return v.ns;
  if (typeof v === 'number' && Number.isFinite(v)) return scaleEpoch(BigInt(Math.round(v)));
  const s = String(v ?? '').trim();
  if (/^-?\d+$/.test(s)) return scaleEpoch(BigInt(s));
  const m = RFC3339.exec(s);
  if (!m) throw new Error(`time value ${JSON.stringify(s)} is neither RFC 3339 nor an epoch number`);
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  let ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +(sec || 0));
  if (zone && zone.toUpperCase() !== 'Z') {
    const z = zone.replace(':', '');
    const off = (+z.slice(1, 3) * 60 + +z.slice(3, 5)) * 60000;
    ms -= z[0] === '-' ? -off : off;
  }
  return BigInt(ms) * 1000000n + BigInt((frac || '').padEnd(9, '0'));
}

// scaleEpoch reads an integer epoch in s, ms, us or ns by its magnitude.
function scaleEpoch(n) {
  const a = n < 0n ? -n : n;
  if (a < 100000000000n) return n * 1000000000n; // seconds until year 5138
  if (a < 100000000000000n) return n * 1000000n; // milliseconds
  if (a < 100000000000000000n) return n * 1000n; // microseconds
  return n;
}

// parseCSV reads RFC 4180 CSV (quoted cells, "" escapes, CRLF or LF) into
// an array of rows of strings.
export function parseCSV(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let i = 0;
  let quoted = false;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      cell += c;
      i++;
      continue;
    }
    if (c === '"' && cell === '') {
      quoted = true;
    } else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      cell = '';
      if (row.length > 1 || row[0] !== '') rows.push(row);
      row = [];
    } else {
      cell += c;
    }
    i++;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

// rowsToLP writes objects as line protocol for table; kinds maps each column
// to 'time', 'tag', 'float', 'int', 'bool' or 'string'. Returns
// {text, lines, skipped}.
export function rowsToLP(table, rows, kinds) {
  const cols = Object.keys(kinds);
  const timeCol = cols.find((c) => kinds[c] === 'time');
  if (!timeCol) throw new Error('no time column: name one column "time"');
  const tags = cols.filter((c) => kinds[c] === 'tag').sort();
  const fields = cols.filter((c) => !['time', 'tag'].includes(kinds[c]));
  if (!fields.length) throw new Error('no field column: no column holds numbers or booleans');
  const m = escName(table);
  const out = [];
  let skipped = 0;
  for (const r of rows) {
    let line = m;
    for (const t of tags) {
      const v = r[t];
      if (v !== null && v !== undefined && v !== '') line += ',' + escKey(t) + '=' + escKey(v);
    }
    const fs = [];
    for (const f of fields) {
      const v = r[f];
      if (v === null || v === undefined || v === '') continue;
      switch (kinds[f]) {
        case 'float': {
          const x = Number(v);
          if (Number.isFinite(x)) fs.push(escKey(f) + '=' + x);
          break;
        }
        case 'int':
          fs.push(escKey(f) + '=' + BigInt(v) + 'i');
          break;
        case 'bool':
          fs.push(escKey(f) + '=' + (v === true || String(v).toLowerCase() === 'true'));
          break;
        default:
          fs.push(escKey(f) + '="' + escStr(v) + '"');
      }
    }
    if (!fs.length || r[timeCol] === null || r[timeCol] === undefined || r[timeCol] === '') {
      skipped++;
      continue;
    }
    out.push(line + ' ' + fs.join(',') + ' ' + timeNs(r[timeCol]));
  }
  return { text: out.length ? out.join('\n') + '\n' : '', lines: out.length, skipped };
}

const NUM = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

// csvToLP converts CSV text (a header row first) to line protocol.
export function csvToLP(table, text) {
  const all = parseCSV(text);
  if (all.length < 2) throw new Error('CSV needs a header row and at least one row');
  const header = all[0].map((h) => h.trim());
  const rows = all.slice(1).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));
  const kinds = {};
  for (const h of header) {
    if (h.toLowerCase() === 'time' && !Object.values(kinds).includes('time')) {
      kinds[h] = 'time';
      continue;
    }
    const vals = rows.map((r) => r[h]).filter((v) => v !== '');
    if (vals.length && vals.every((v) => NUM.test(v))) kinds[h] = 'float';
    else if (vals.length && vals.every((v) => /^(true|false)$/i.test(v))) kinds[h] = 'bool';
    else kinds[h] = 'tag';
  }
  return rowsToLP(table, rows, kinds);
}

// parquetToLP converts a Parquet file (ArrayBuffer) to line protocol; text
// columns are tags, numbers and booleans fields.
export async function parquetToLP(table, buf) {
  const { parquetReadObjects, parquetMetadata, parquetSchema } = await import('hyparquet');
  const { decompress } = await import('fzstd');
  const meta = parquetMetadata(buf);
  const schema = parquetSchema(meta);
  const kinds = {};
  for (const child of schema.children) {
    const e = child.element;
    const name = e.name;
    const lt = e.logical_type?.type;
    const ct = e.converted_type;
    if (lt === 'TIMESTAMP' || ct === 'TIMESTAMP_MILLIS' || ct === 'TIMESTAMP_MICROS' ||
        (name.toLowerCase() === 'time' && !Object.values(kinds).includes('time'))) {
      kinds[name] = 'time';
    } else if (e.type === 'BOOLEAN') {
      kinds[name] = 'bool';
    } else if (e.type === 'INT32' || e.type === 'INT64') {
      kinds[name] = e.type === 'INT64' ? 'int' : 'float';
    } else if (e.type === 'FLOAT' || e.type === 'DOUBLE') {
      kinds[name] = 'float';
    } else {
      kinds[name] = 'tag';
    }
  }
  const times = Object.keys(kinds).filter((k) => kinds[k] === 'time');
  for (const t of times.slice(1)) kinds[t] = 'tag';
  const rows = await parquetReadObjects({
    file: buf,
    compressors: { ZSTD: (input, outputLength) => decompress(input, new Uint8Array(outputLength)) },
    parsers: {
      timestampFromMilliseconds: (v) => ({ ns: BigInt(v) * 1000000n }),
      timestampFromMicroseconds: (v) => ({ ns: BigInt(v) * 1000n }),
      timestampFromNanoseconds: (v) => ({ ns: BigInt(v) }),
    },
  });
  return rowsToLP(table, rows, kinds);
}
