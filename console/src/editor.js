// The SQL editor: CodeMirror 6 with SQL highlighting, and completion of the
// database's tables and columns and of Fletch's functions.

import { EditorView, basicSetup } from 'codemirror';
import { keymap } from '@codemirror/view';
import { Compartment, Prec } from '@codemirror/state';
import { sql, PostgreSQL } from '@codemirror/lang-sql';

// Fletch's functions (docs/sql.md) and the aggregates most used with them,
// offered by completion.
export const FLETCH_FUNCTIONS = [
  'date_bin', 'date_bin_gapfill', 'date_bin_wallclock', 'interpolate', 'locf', 'tz',
  'selector_first', 'selector_last', 'selector_min', 'selector_max',
  'difference', 'non_negative_difference', 'derivative', 'non_negative_derivative',
  'from_unixtime', 'now', 'last_cache',
  'count', 'sum', 'avg', 'min', 'max', 'median', 'stddev', 'arg_max', 'arg_min', 'date_trunc',
];

function functionSource(context) {
  const word = context.matchBefore(/\w+/);
  if (!word || (word.from === word.to && !context.explicit)) return null;
  return {
    from: word.from,
    options: FLETCH_FUNCTIONS.map((f) => ({ label: f, type: 'function', apply: f + '(' })),
    validFor: /^\w*$/,
  };
}

function language(schema) {
  const lang = sql({ dialect: PostgreSQL, upperCaseKeywords: true, schema });
  return [lang, lang.language.data.of({ autocomplete: functionSource })];
}

// createEditor puts an editor holding doc in parent; Ctrl/Cmd-Enter and
// Shift-Enter call onRun, every edit calls onChange(text).
export function createEditor(parent, { doc, onRun, onChange }) {
  const lang = new Compartment();
  const run = () => {
    onRun();
    return true;
  };
  const view = new EditorView({
    doc,
    parent,
    extensions: [
      Prec.highest(keymap.of([
        { key: 'Mod-Enter', run },
        { key: 'Shift-Enter', run },
      ])),
      basicSetup,
      lang.of(language({})),
      EditorView.lineWrapping,
      EditorView.updateListener.of((u) => {
        if (u.docChanged && onChange) onChange(u.state.doc.toString());
      }),
    ],
  });
  return {
    view,
    text: () => view.state.doc.toString(),
    setText: (t) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: t } }),
    // setSchema completes these tables and columns ({table: [column, ...]}).
    setSchema: (schema) => view.dispatch({ effects: lang.reconfigure(language(schema)) }),
  };
}
