"""Every command in README.md, docs/*.md and clients/*/README.md runs, so the docs can't rot.

Each Markdown file gets its own server (real binary, free loopback port, no auth) whose
data directory is ./fletch-data in a scratch working directory, and its fenced blocks run
in order:

- ```sh / ```bash: run by `bash -euo pipefail` in the scratch directory (which links the
  repository's scripts/, clients/, bench/, docs/ and tests/, and has bin/fletch), with
  bin/ first on PATH (so `fletch ...` is the binary under test), the repository in $REPO,
  and FLETCH_HOST pointing at the server. Must exit 0; curl runs with --fail-with-body,
  so an HTTP error status fails the block too.
- ```python: run by python3 in the scratch directory. Must exit 0.
- ```lp: line protocol, written to the file's database (a trailing `# ...` on a line is an
  annotation for the reader and is cut off first).
- ```sql: each statement run through the HTTP query API on the file's database. Must
  succeed, unless the block is marked expect-error.

The file's database is `default`, or NAME if the file contains
`<!-- docs-test: database NAME -->`.

Everywhere, `127.0.0.1:8181` and `localhost:8181` become the server's address and
`$REPO/` paths resolve. Other fences (```text, ```json, ```yaml, plain ```) are prose.

A file containing `<!-- docs-test: auth -->` gets a server with auth on, and FLETCH_TOKEN
holds its admin token; otherwise the server runs with --without-auth (FLETCH_TOKEN is set
to a placeholder, which such a server ignores). Blocks of one file share a terminal: what
one sh block exports, later blocks see.

A block can be marked by an HTML comment on the line before it:
`<!-- docs-test: skip: REASON -->` (not run: the reason must say what runs it instead or
why it can't run here), or `<!-- docs-test: expect-error -->` (sql: every statement must
fail).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from fletch_client import write_ok

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md")) + sorted(REPO.glob("clients/*/README.md"))
RUN_LANGS = {"sh", "bash", "python", "lp", "sql"}
BLOCK_TIMEOUT = 300  # seconds per block
AUTH_MARK = "<!-- docs-test: auth -->"
DB_MARK = re.compile(r"<!--\s*docs-test:\s*database\s+(\S+)\s*-->")
MARK = re.compile(r"<!--\s*docs-test:\s*(skip|expect-error)\s*(?::\s*(.*?))?\s*-->")


class Block:
    def __init__(self, path: Path, line: int, lang: str, code: str, mark: str | None, reason: str):
        self.path, self.line, self.lang, self.code, self.mark, self.reason = path, line, lang, code, mark, reason

    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with the docs-test mark before each."""
    out, lines = [], path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(```+)\s*([A-Za-z0-9_-]*)", lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2).lower(), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith(fence):
            j += 1
        prev = lines[start - 1].strip() if start > 0 else ""
        mk = MARK.search(prev)
        out.append(Block(path, start + 1, lang, "\n".join(lines[start + 1:j]) + "\n",
                         mk.group(1) if mk else None, (mk.group(2) or "") if mk else ""))
        i = j + 1
    return out


def substitute(code: str, srv) -> str:
    addr = srv.http_url.split("://", 1)[1]
    return code.replace("127.0.0.1:8181", addr).replace("localhost:8181", addr)


def statements(sql: str) -> list[str]:
    """SQL statements of a block: split at semicolons that end a line; -- comments kept."""
    out, cur = [], []
    for line in sql.splitlines():
        cur.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(cur).strip().rstrip(";"))
            cur = []
    rest = "\n".join(cur).strip()
    if rest and not all(ln.strip().startswith("--") for ln in rest.splitlines()):
        out.append(rest)
    return [s for s in out if s]


def run_block(b: Block, srv, cwd: Path, env: dict) -> str:
    """Run one block; returns what it printed (sh and python blocks)."""
    code = substitute(b.code, srv)
    if b.lang in ("sh", "bash", "python"):
        # One terminal per file: what a block exports, later blocks see.
        envfile = cwd.parent / "exports.sh"
        envfile.touch()
        if b.lang == "python":
            env = dict(env, DOCS_TEST_CODE=code)
            script = f'source "{envfile}"\nexec "{sys.executable}" -c "$DOCS_TEST_CODE"\n'
        else:
            script = f'source "{envfile}"\n{code}\nexport -p > "{envfile}"\n'
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                           text=True, timeout=BLOCK_TIMEOUT, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, (f"{b.where()}: {b.lang} block exited {p.returncode}\n--- block\n{code}"
                                   f"--- stdout\n{p.stdout[-3000:]}\n--- stderr\n{p.stderr[-3000:]}")
        return p.stdout
    elif b.lang == "lp":
        body = "\n".join(re.sub(r"\s+#.*$", "", ln) for ln in code.splitlines() if ln.strip()) + "\n"
        write_ok(srv, env["DOCS_TEST_DATABASE"], body)
    elif b.lang == "sql":
        for stmt in statements(code):
            r = requests.post(srv.http_url + "/api/v3/query_sql",
                              json={"db": env["DOCS_TEST_DATABASE"], "q": stmt, "format": "json"},
                              timeout=BLOCK_TIMEOUT)
            if b.mark == "expect-error":
                assert r.status_code >= 400, f"{b.where()}: expected an error, got {r.status_code}\n{stmt}"
            else:
                assert r.status_code == 200, f"{b.where()}: {r.status_code} {r.text[:2000]}\n--- statement\n{stmt}"
    return ""


def doc_ids():
    return [str(p.relative_to(REPO)) for p in DOCS]


def test_marks_give_reasons():
    """A skipped block says why; a mark always sits on a block."""
    for path in DOCS:
        for b in blocks(path):
            if b.mark == "skip":
                assert len(b.reason) >= 10, f"{b.where()}: a skipped block needs a reason"
        text = path.read_text().splitlines()
        for n, line in enumerate(text):
            if MARK.search(line):
                assert n + 1 < len(text) and text[n + 1].startswith("```"), \
                    f"{path.relative_to(REPO)}:{n + 1}: a docs-test mark must sit right above a fence"


def run_doc(path: Path, server, tmp_path: Path, fletch_bin) -> tuple[list[tuple[Block, str]], object]:
    """Run a Markdown file's runnable blocks in order against a fresh server; returns each
    block with what it printed, and the server."""
    todo = [b for b in blocks(path) if b.lang in RUN_LANGS and b.mark != "skip"]
    if not todo:
        pytest.skip(f"{path.relative_to(REPO)} has no runnable blocks")
    # A scratch checkout: the repository's directories linked in (so `python3
    # scripts/x.py` and `bin/fletch` work as in a clone), and ./fletch-data the server's.
    cwd = tmp_path / "work"
    cwd.mkdir()
    for name in ("scripts", "clients", "bench", "docs", "tests"):
        if (REPO / name).exists():
            (cwd / name).symlink_to(REPO / name)
    (cwd / "bin").mkdir()
    (cwd / "bin" / "fletch").symlink_to(Path(fletch_bin).resolve())
    auth = AUTH_MARK in path.read_text()
    srv = server(data_dir=cwd / "fletch-data", auth=auth)
    env = dict(os.environ)
    m = DB_MARK.search(path.read_text())
    env["DOCS_TEST_DATABASE"] = m.group(1) if m else "default"
    env["FLETCH_TOKEN"] = srv.admin_token if auth else "fletch_unused_without_auth"
    env["PATH"] = f"{Path(fletch_bin).parent}{os.pathsep}{env.get('PATH', '')}"
    env["REPO"] = str(REPO)
    env["FLETCH_HOST"] = srv.http_url
    env["MPLBACKEND"] = "Agg"
    # curl fails on an HTTP error status, so a doc whose request went stale fails here.
    (tmp_path / ".curlrc").write_text("fail-with-body\n")
    env["CURL_HOME"] = str(tmp_path)
    return [(b, run_block(b, srv, cwd, env)) for b in todo], srv


@pytest.mark.parametrize("path", [p for p in DOCS if p.name != "README.md" or p.parent != REPO],
                         ids=[i for i in doc_ids() if i != "README.md"])
def test_doc_commands_run(path, server, tmp_path, fletch_bin):
    run_doc(path, server, tmp_path, fletch_bin)


def test_readme_quickstart_as_a_reader_sees_it(server, tmp_path, fletch_bin):
    """README.md top to bottom, as written, and what a reader sees at each step: the
    count the text promises, the machines, recent bins in percent of load, the view's
    answer, and a plot with one line per machine."""
    import json
    from datetime import datetime, timedelta, timezone

    from fletch_client import series_colors

    png = Path("/tmp/machine_1m.png")
    png.unlink(missing_ok=True)
    ran, srv = run_doc(REPO / "README.md", server, tmp_path, fletch_bin)
    out = {b.line: text for b, text in ran}
    first, py, views = (text for _, text in ran[:3])
    machines = [f"machine_{i:03d}" for i in range(10)]

    # Step 1 and 2: the count the comment promises, and every machine, hottest within a
    # plausible casing temperature.
    assert "24002" in first, first
    hottest = json.loads(first[first.index("["):])
    assert [r["machine_id"] for r in hottest] == machines, hottest
    assert all(30 < r["hottest"] < 90 for r in hottest), hottest
    # pyarrow: the five newest readings, from this run (today, or yesterday for a run
    # that crosses midnight UTC).
    now = datetime.now(timezone.utc)
    days = {(now - timedelta(days=d)).strftime("%Y-%m-%d") for d in (0, 1)}
    assert sum(py.count(d) for d in days) == 5, py
    # The date_bin query, the view's statement tag, and its first bins: recent (within
    # the last day), in percent of load (the curl lines share the script's shape), from
    # the script's machines.
    parts = _json_arrays(views)
    bins, created, view_rows = parts[0], parts[1], parts[2]
    assert len(bins) == 6, bins
    for r in bins:
        t = datetime.fromisoformat(r["time"].replace("Z", "+00:00"))
        assert now - timedelta(days=1) < t <= now + timedelta(minutes=1), bins
    assert created == [{"statement": "CREATE MATERIALIZED VIEW", "rows_affected": None}], created
    assert len(view_rows) == 6 and all(r["machine_id"] in machines and r["load_max"] > 1 for r in view_rows), view_rows
    # The plot: the view it drew, one line per machine.
    assert "10 series" in views, views
    assert png.exists(), views
    assert series_colors(png, 10) == 10
    png.unlink()
    assert out  # every block ran


def _json_arrays(text: str) -> list:
    """The JSON arrays printed one after another in text, decoded."""
    import json

    dec, out, i = json.JSONDecoder(), [], 0
    while (i := text.find("[", i)) >= 0:
        try:
            value, i = dec.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        out.append(value)
    return out
