// A line chart of any result with a time column: one line per numeric
// column and combination of the string (tag) columns, drawn with uPlot.

import uPlot from 'uplot';

const MAX_SERIES = 100;
const ISO = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;

// chartData returns {x (seconds), series [{label, values}], dropped} for rows,
// or null when no column holds times or no column holds numbers.
export function chartData(columns, rows) {
  if (!rows.length) return null;
  const sample = rows.slice(0, 50);
  const isTime = (c) => sample.some((r) => typeof r[c] === 'string' && ISO.test(r[c])) &&
    sample.every((r) => r[c] === null || (typeof r[c] === 'string' && ISO.test(r[c])));
  const timeCol = columns.includes('time') && isTime('time') ? 'time' : columns.find(isTime);
  if (!timeCol) return null;
  const numCols = columns.filter((c) => c !== timeCol && sample.some((r) => typeof r[c] === 'number'));
  if (!numCols.length) return null;
  const keyCols = columns.filter((c) => c !== timeCol && !numCols.includes(c) &&
    sample.some((r) => typeof r[c] === 'string'));

  const times = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) times[i] = Date.parse(rows[i][timeCol]) / 1000;
  const xs = Array.from(new Set(times)).filter((t) => !Number.isNaN(t)).sort((a, b) => a - b);
  const at = new Map(xs.map((t, i) => [t, i]));

  const series = new Map();
  let dropped = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const xi = at.get(times[i]);
    if (xi === undefined) continue;
    const key = keyCols.map((c) => r[c] ?? '').join(', ');
    for (const c of numCols) {
      const label = numCols.length > 1 ? (key ? `${c} ${key}` : c) : (key || c);
      let s = series.get(label);
      if (!s) {
        if (series.size >= MAX_SERIES) {
          dropped++;
          continue;
        }
        s = { label, values: new Array(xs.length).fill(null) };
        series.set(label, s);
      }
      const v = r[c];
      s.values[xi] = typeof v === 'number' ? v : null;
    }
  }
  return { timeCol, x: xs, series: [...series.values()], dropped };
}

function color(i, n) {
  return `hsl(${Math.round((i * 360) / Math.max(n, 1) + 210) % 360}, 65%, 48%)`;
}

// drawChart replaces el's content with a chart of data; onZoom(fromMs, toMs)
// is called when the user selects a time range (the chart zooms itself too).
export function drawChart(el, data, onZoom) {
  el.replaceChildren();
  const width = Math.max(300, el.clientWidth - 8);
  const height = Math.max(200, el.clientHeight - 70);
  const n = data.series.length;
  const opts = {
    width,
    height,
    legend: { live: false },
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    series: [
      { label: data.timeCol },
      ...data.series.map((s, i) => ({ label: s.label, stroke: color(i, n), width: 1.5, spanGaps: false })),
    ],
    axes: [{ stroke: '#555' }, { stroke: '#555' }],
    hooks: {
      setSelect: [
        (u) => {
          if (u.select.width < 5 || !onZoom) return;
          const from = u.posToVal(u.select.left, 'x') * 1000;
          const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
          onZoom(from, to);
        },
      ],
    },
  };
  const plot = new uPlot(opts, [data.x, ...data.series.map((s) => s.values)], el);
  return plot;
}
