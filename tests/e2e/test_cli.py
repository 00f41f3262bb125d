"""The fletch CLI (create/delete/show, write) against the real binary.

`fletch write` results are checked against DuckDB reading the same file directly: the
rows the server returns must be the rows in the file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import requests

from fletch_client import HTTP_TIMEOUT

T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z
SUMMARY = re.compile(r"^wrote (\d+) rows to (\S+) in [\d.]+s \((\d+) rows/s\)$")


def fletch(srv, fletch_bin, *args, stdin=None, token=None, check=True):
    env = dict(os.environ, FLETCH_HOST=srv.http_url)
    env.pop("FLETCH_TOKEN", None)
    env.pop("FLETCH_DATABASE", None)
    if token:
        env["FLETCH_TOKEN"] = token
    p = subprocess.run([str(fletch_bin), *args], input=stdin, capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert p.returncode == 0, f"fletch {' '.join(args)}: {p.returncode}\n{p.stderr}"
    return p


def fails(p, needle, prompt=False, pointer=False):
    """A failed command: non-zero exit, one line on stderr naming the problem (after the
    confirmation question when prompt); with pointer, then DuckDB's two lines pointing into
    the SQL, the caret under the spot."""
    assert p.returncode != 0
    lines = p.stderr.rstrip("\n").splitlines()
    if prompt:
        assert lines[0].rstrip().endswith("Enter yes to confirm:"), p.stderr
        lines = lines[1:]
    assert len(lines) == (3 if pointer else 1) and lines[0].startswith("fletch: "), p.stderr
    assert needle in lines[0], p.stderr
    if pointer:
        assert lines[1].startswith("LINE 1: ") and lines[2].strip() == "^", p.stderr
        # The caret sits under the first character of the offending token.
        assert lines[1][len(lines[2]) - 1] == "S", p.stderr


def sql(srv, db, q):
    r = requests.post(srv.http_url + "/api/v3/query_sql", json={"db": db, "q": q}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def test_database_table_view_lifecycle(server, fletch_bin):
    srv = server()
    run = lambda *a, **kw: fletch(srv, fletch_bin, *a, **kw)  # noqa: E731
    assert run("create", "database", "metrics", "--retention-period", "30d").stdout == 'Database "metrics" created\n'
    fails(run("create", "database", "metrics", check=False), "already exists")
    fails(run("create", "database", "system", check=False), "reserved")
    fails(run("create", "database", "x", "--retention-period", "soon", check=False), "retention")
    dbs = json.loads(run("show", "databases").stdout)  # not a terminal: JSON
    assert {"database": "metrics", "retention_period": "30d"} in dbs
    table = run("show", "databases", "--format", "table").stdout
    assert "| database      | retention_period |" in table and "| metrics       | 30d" in table, table
    assert run("show", "databases", "--format", "csv").stdout.splitlines()[0] == "database,retention_period"

    run("create", "table", "cpu", "-d", "metrics", "--tags", "host,region", "--fields", "usage:float64,count:int64")
    fails(run("create", "table", "t", "-d", "metrics", "--fields", "usage", check=False), "name:type")
    fails(run("create", "table", "t", check=False), "--database")
    tables = json.loads(run("show", "tables", "-d", "metrics").stdout)
    assert tables == [{"table_name": "cpu", "kind": "table", "tags": ["host", "region"],
                       "fields": ["usage", "count"], "retention_seconds": 30 * 86400}]

    run("create", "view", "-d", "metrics", "by_host", "SELECT host, avg(usage) AS usage FROM cpu GROUP BY host")
    fails(run("create", "view", "-d", "metrics", "by_host", "SELECT 1", check=False), "already exists")
    run("create", "view", "-d", "metrics", "--replace", "by_host", "SELECT host FROM cpu")
    assert json.loads(run("show", "views", "-d", "metrics").stdout) == [{"name": "by_host", "sql": "SELECT host FROM cpu"}]
    run("delete", "view", "-d", "metrics", "by_host")
    assert json.loads(run("show", "views", "-d", "metrics").stdout) == []
    fails(run("delete", "view", "-d", "metrics", "by_host", check=False), "by_host")

    # Deleting asks first; anything but yes keeps the table.
    fails(run("delete", "table", "-d", "metrics", "cpu", stdin="no\n", check=False), "--yes", prompt=True)
    fails(run("delete", "table", "-d", "metrics", "cpu", stdin="", check=False), "--yes", prompt=True)
    assert len(json.loads(run("show", "tables", "-d", "metrics").stdout)) == 1
    run("delete", "table", "-d", "metrics", "cpu", stdin="yes\n")
    assert json.loads(run("show", "tables", "-d", "metrics").stdout) == []
    fails(run("delete", "table", "-d", "metrics", "cpu", "-y", check=False), "not found")

    run("delete", "database", "metrics", "--force")
    assert "metrics" not in [d["database"] for d in json.loads(run("show", "databases").stdout)]
    fails(run("delete", "database", "metrics", "-y", check=False), "not found")


def test_errors_are_one_line(server, fletch_bin, tmp_path):
    srv = server()
    run = lambda *a, **kw: fletch(srv, fletch_bin, *a, check=False, **kw)  # noqa: E731
    (tmp_path / "data.xyz").write_text("x")
    fails(run("write", "-d", "db", str(tmp_path / "data.xyz")), "--format")
    fails(run("write", str(tmp_path / "data.xyz")), "--database")
    fails(run("write", "-d", "db", str(tmp_path / "missing.lp")), "missing.lp")
    fails(run("write", "-d", "db", "--format", "parquet", "-"), "stdin")
    fails(run("query", "-d", "default", "SELEC 1"), "syntax", pointer=True)
    fails(run("query", "-d", "default"), "needs the SQL")
    fails(run("query", "SELECT 1"), "--database is required")  # as show tables and write
    fails(run("query", "-d", "default", "SELECT", "1"), "in quotes")
    p = subprocess.run([str(fletch_bin), "show", "databases", "--host", "http://127.0.0.1:1"],
                       capture_output=True, text=True, timeout=60)
    fails(p, "connect")


def test_write_line_protocol_in_chunks(server, fletch_bin, tmp_path, report):
    srv = server()
    n = 20_000
    lines = [f"m,host=h{i % 7} v={i}i,f={i / 4} {T0 + i * 1_000_000}" for i in range(n)]
    path = tmp_path / "m.lp"
    path.write_text("# a comment\n\n" + "\n".join(lines) + "\n")
    # 16 KiB chunks: dozens of requests, each ending at a line boundary.
    p = fletch(srv, fletch_bin, "write", "-d", "lp", "--chunk-bytes", "16384", str(path))
    m = SUMMARY.match(p.stdout.strip())
    assert m and m.group(1) == str(n) and m.group(2) == "lp", p.stdout
    assert p.stderr == ""  # no progress bar off a terminal
    got = sql(srv, "lp", "SELECT count(*) AS n, sum(v) AS v, sum(f) AS f, count(DISTINCT host) AS hosts FROM m")
    assert got == [{"n": n, "v": sum(range(n)), "f": sum(i / 4 for i in range(n)), "hosts": 7}]
    report(f"cli write lp: {n} lines in 16 KiB chunks: {m.group(3)} rows/s")

    # A bad line is named by its number in the whole file, not in its chunk.
    bad = lines[:5000] + ["m,host=x v=oops"] + lines[5000:6000]
    path.write_text("\n".join(bad) + "\n")
    fails(fletch(srv, fletch_bin, "write", "-d", "lp2", "--chunk-bytes", "16384", str(path), check=False), "line 5001:")
    # --accept-partial: every good line of every chunk is written, and the command says
    # so, then names the bad line and still fails.
    bad2 = bad + ["m,host=y v=1i not-a-time"]
    path.write_text("\n".join(bad2) + "\n")
    p = fletch(srv, fletch_bin, "write", "-d", "lp4", "--chunk-bytes", "16384", "--accept-partial", str(path), check=False)
    assert SUMMARY.match(p.stdout.strip()).group(1) == "6000", p.stdout
    fails(p, "2 bad lines were skipped and 6000 lines written")
    assert "line 5001:" in p.stderr, p.stderr
    assert sql(srv, "lp4", "SELECT count(*) AS n FROM m") == [{"n": 6000}]
    # From stdin, with a precision.
    p = fletch(srv, fletch_bin, "write", "-d", "lp3", "--precision", "s", "-", stdin="m,host=a v=1i 1767225600\n")
    assert SUMMARY.match(p.stdout.strip()).group(1) == "1"
    assert sql(srv, "lp3", "SELECT epoch_ns(time) AS t FROM m") == [{"t": T0}]


def sample_table(n: int) -> pa.Table:
    return pa.table({
        "host": pa.array([f"host-{i % 13}" for i in range(n)]),
        "region": pa.array(["eu" if i % 3 else "us" for i in range(n)]),
        "usage": pa.array([None if i % 17 == 0 else i * 0.25 for i in range(n)], pa.float64()),
        "count": pa.array([i * 3 - 1000 for i in range(n)], pa.int64()),
        "ok": pa.array([i % 2 == 0 for i in range(n)]),
        "note": pa.array([f"n{i}" if i % 5 else None for i in range(n)]),
        "ts": pa.array([T0 + i * 1_000_000_000 for i in range(n)], pa.timestamp("ns", tz="UTC")),
    })


# Columns compared between the server and DuckDB on the raw file; the time as epoch ns.
COMPARE = "host, region, usage, count, ok, note, epoch_ns({time}) AS t"


def server_rows(srv, db, table):
    return sql(srv, db, f"SELECT {COMPARE.format(time='time')} FROM {table} ORDER BY t")


def duckdb_rows(query: str):
    con = duckdb.connect()
    cur = con.execute(query)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def test_write_csv_matches_duckdb(server, fletch_bin, tmp_path, report):
    srv = server()
    n = 30_000
    path = tmp_path / "readings.csv"
    pacsv.write_csv(sample_table(n), path)  # timestamps as "2026-01-01 00:00:00.000000000Z"
    p = fletch(srv, fletch_bin, "write", "-d", "files", "--tags", "host,region", "--time-column", "ts",
               "--batch-rows", "4096", str(path))
    m = SUMMARY.match(p.stdout.strip())
    assert m and m.group(1) == str(n) and m.group(2) == "files.readings", p.stdout
    report(f"cli write csv: {n} rows: {m.group(3)} rows/s")
    want = duckdb_rows(f"SELECT {COMPARE.format(time='ts')} FROM read_csv('{path}') ORDER BY t")
    assert server_rows(srv, "files", "readings") == want
    tables = sql(srv, "files", "SELECT tags, fields FROM system.tables WHERE table_name = 'readings'")
    assert tables == [{"tags": ["host", "region"], "fields": ["usage", "count", "ok", "note"]}]

    # Integer times in --precision units; the table named by --table; from stdin.
    csv = "time,host,v\n1767225600,a,1\n1767225601,b,2\n"
    fletch(srv, fletch_bin, "write", "-d", "files", "--format", "csv", "--table", "secs", "--precision", "s", "-", stdin=csv)
    assert sql(srv, "files", "SELECT host, v, epoch_ns(time) AS t FROM secs ORDER BY t") == [
        {"host": "a", "v": 1, "t": T0}, {"host": "b", "v": 2, "t": T0 + 1_000_000_000}]
    fails(fletch(srv, fletch_bin, "write", "-d", "files", "--tags", "nope", str(path), check=False), "nope")
    fails(fletch(srv, fletch_bin, "write", "-d", "files", "--time-column", "zz", str(path), check=False), "zz")


def test_write_parquet_matches_duckdb(server, fletch_bin, tmp_path, report):
    srv = server()
    n = 100_000
    t = sample_table(n)
    # host dictionary-encoded: a tag without --tags; region a tag through --tags.
    t = t.set_column(0, "host", t.column("host").dictionary_encode())
    path = tmp_path / "big.parquet"
    pq.write_table(t, path, row_group_size=25_000)
    p = fletch(srv, fletch_bin, "write", "-d", "files", "--table", "pq", "--tags", "region", "--time-column", "ts", str(path))
    m = SUMMARY.match(p.stdout.strip())
    assert m and m.group(1) == str(n) and m.group(2) == "files.pq", p.stdout
    report(f"cli write parquet: {n} rows: {m.group(3)} rows/s")
    want = duckdb_rows(f"SELECT {COMPARE.format(time='ts')} FROM read_parquet('{path}') ORDER BY t")
    assert server_rows(srv, "files", "pq") == want
    assert sql(srv, "files", "SELECT tags FROM system.tables WHERE table_name = 'pq'") == [{"tags": ["host", "region"]}]
    # A type conflict with the existing table is refused with the server's message.
    bad = pa.table({"count": pa.array(["x"]), "time": pa.array([T0], pa.timestamp("ns", tz="UTC"))})
    pq.write_table(bad, tmp_path / "pq.parquet")
    fails(fletch(srv, fletch_bin, "write", "-d", "files", str(tmp_path / "pq.parquet"), check=False), "count")


def test_token_commands_wrap_token(server, fletch_bin):
    srv = server(auth=True)
    run = lambda *a, **kw: fletch(srv, fletch_bin, *a, **kw)  # noqa: E731
    dd = ["--data-dir", str(srv.data_dir)]
    secret = run("create", "token", *dd, "--database", "tok", "--permission", "admin", "--name", "cli").stdout.strip()
    assert secret.startswith("fletch_")
    listing = run("show", "tokens", *dd).stdout
    assert "cli" in listing and listing == run("token", "list", *dd).stdout
    # The new token works at once against the running server.
    assert run("create", "database", "tok", token=secret).returncode == 0
    fails(run("create", "database", "tok2", token=secret, check=False), "HTTP 403")
    # Writes carry the token too: over HTTP (line protocol) and Flight (CSV).
    run("write", "-d", "tok", "-", stdin=f"m,host=a v=1i {T0}\n", token=secret)
    run("write", "-d", "tok", "--format", "csv", "--table", "m", "-", stdin=f"time,host,v\n{T0 + 1},b,2\n", token=secret)
    fails(run("write", "-d", "tok", "--format", "csv", "--table", "m", "-", stdin=f"time,host,v\n{T0},b,2\n", check=False),
          "Unauthenticated")
    got = run("query", "-d", "tok", "SELECT host, v FROM m ORDER BY time", token=secret).stdout
    assert json.loads(got) == [{"host": "a", "v": 1}, {"host": "b", "v": 2}]
    fails(run("show", "databases", check=False), "HTTP 401")
    token_id = next(line.split()[0] for line in listing.splitlines() if " cli " in f" {line} ")
    run("delete", "token", *dd, token_id)
    assert "cli" not in run("show", "tokens", *dd).stdout


def test_make_run_takes_the_address_from_the_environment_or_the_command_line():
    """`make run` serves where FLETCH_ADDR / FLETCH_DATA_DIR say, as `fletch serve` reads
    them, and `make run ADDR=... DATA_DIR=...` overrides both (make -n: print, don't run)."""
    repo = Path(__file__).resolve().parents[2]

    def serve_line(*args, **env):
        p = subprocess.run(["make", "-n", "run", *args], cwd=repo, capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in {**os.environ, **env}.items() if v is not None})
        assert p.returncode == 0, p.stderr
        return [ln for ln in p.stdout.splitlines() if " serve " in ln][-1]

    base = dict(FLETCH_ADDR=None, FLETCH_DATA_DIR=None)
    assert "--data-dir ./fletch-data --addr 127.0.0.1:8181" in serve_line(**base)
    assert "--data-dir /tmp/d1 --addr 127.0.0.1:9001" in serve_line(FLETCH_ADDR="127.0.0.1:9001", FLETCH_DATA_DIR="/tmp/d1")
    assert "--data-dir /tmp/d2 --addr 127.0.0.1:9002" in serve_line(
        "ADDR=127.0.0.1:9002", "DATA_DIR=/tmp/d2", FLETCH_ADDR="127.0.0.1:9001", FLETCH_DATA_DIR="/tmp/d1")
