// A virtualized result grid: only the rows in view (plus a margin) are in
// the DOM, so 100,000 rows render as fast as 100.

const ROW_H = 24;
const MARGIN = 10;

export class Grid {
  constructor(el) {
    this.el = el;
    this.el.classList.add('grid');
    this.head = document.createElement('div');
    this.head.className = 'grid-head';
    this.body = document.createElement('div');
    this.body.className = 'grid-body';
    this.spacer = document.createElement('div');
    this.spacer.className = 'grid-spacer';
    this.rowsEl = document.createElement('div');
    this.rowsEl.className = 'grid-rows';
    this.spacer.appendChild(this.rowsEl);
    this.body.appendChild(this.spacer);
    this.el.append(this.head, this.body);
    this.body.addEventListener('scroll', () => {
      this.head.scrollLeft = this.body.scrollLeft;
      this.paint();
    });
    new ResizeObserver(() => this.paint()).observe(this.body);
    this.columns = [];
    this.rows = [];
  }

  set(columns, rows) {
    this.columns = columns;
    this.rows = rows;
    this.widths = columns.map((c) => {
      let w = c.length;
      for (let i = 0; i < Math.min(rows.length, 200); i++) {
        w = Math.max(w, cell(rows[i][c]).length);
      }
      return Math.min(40, Math.max(6, w)) * 8 + 16;
    });
    this.template = this.widths.map((w) => w + 'px').join(' ');
    const total = this.widths.reduce((a, b) => a + b, 0);
    this.head.replaceChildren(...columns.map((c) => {
      const d = document.createElement('div');
      d.textContent = c;
      d.title = c;
      return d;
    }));
    this.head.style.gridTemplateColumns = this.template;
    this.head.style.width = total + 'px';
    this.spacer.style.height = rows.length * ROW_H + 'px';
    this.spacer.style.width = total + 'px';
    this.body.scrollTop = 0;
    this.first = -1;
    this.paint();
  }

  paint() {
    const n = this.rows.length;
    const first = Math.max(0, Math.floor(this.body.scrollTop / ROW_H) - MARGIN);
    const last = Math.min(n, Math.ceil((this.body.scrollTop + this.body.clientHeight) / ROW_H) + MARGIN);
    if (first === this.first && last === this.last) return;
    this.first = first;
    this.last = last;
    const frag = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
      const r = document.createElement('div');
      r.className = 'grid-row';
      r.style.gridTemplateColumns = this.template;
      const row = this.rows[i];
      for (const c of this.columns) {
        const d = document.createElement('div');
        const v = row[c];
        d.textContent = cell(v);
        if (typeof v === 'number') d.className = 'num';
        else if (v === null || v === undefined) d.className = 'null';
        r.appendChild(d);
      }
      frag.appendChild(r);
    }
    this.rowsEl.style.transform = `translateY(${first * ROW_H}px)`;
    this.rowsEl.replaceChildren(frag);
  }
}

export function cell(v) {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
