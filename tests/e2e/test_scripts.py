"""scripts/ against the real server: machine_data.py, tsbs_load.py and bench.sh.

Each script runs as a user would (a subprocess with --host and --token, auth on) on a
small bounded input; what the server then answers is compared with an oracle that does
not share the script's code: DuckDB over the generated file with last-write-wins applied
here, tests/e2e/tsbs_oracle.py's parse of the TSBS slice, and for the iot file (which the
oracle cannot parse) the server's own line-protocol parser against the script's Arrow path.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import subprocess
import sys
import time

import duckdb
import pyarrow as pa
import pytest

import tsbs_oracle
from fletch_client import rows, run_sql, sorted_rows
from fletch_server import REPO

SCRIPTS = REPO / "scripts"
TSBS_IOT = tsbs_oracle.tsbs_file("iot")
START = "2026-01-01T00:00:00Z"
START_NS = 1767225600 * 10**9


def run_script(name: str, *args, timeout=300, check=True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, str(SCRIPTS / name), *map(str, args)],
                       capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"{name} {args} exited {p.returncode}:\n{p.stderr[-3000:]}"
    return p


def sql(srv, token, db, q) -> pa.Table:
    out = run_sql(srv, "doget", q, db, token)
    assert out.code == "OK", f"{q}: {out}"
    return out.table


@pytest.fixture
def authed(server):
    srv = server(auth=True)
    assert srv.admin_token
    return srv, srv.create_token("*", "write", "scripts")


# -- machine_data.py ---------------------------------------------------------------------
def parse_machine_file(path):
    """The generated lines as rows (lineno, machine_id, line, site, load, temperature,
    vibration, ts); written independently of the generator's formatter."""
    out = []
    for n, ln in enumerate(path.read_text().splitlines()):
        series, fieldset, ts = ln.split(" ")
        meas, *tags = series.split(",")
        assert meas == "machine_data"
        t = dict(kv.split("=") for kv in tags)
        f = {k: float(v) for k, v in (kv.split("=") for kv in fieldset.split(","))}
        out.append((n, t["machine_id"], t["line"], t["site"], f["load"], f["temperature"],
                     f["vibration"], int(ts)))
    return out


def oracle_con(raw):
    con = duckdb.connect()
    names = ["lineno", "machine_id", "line", "site", "load", "temperature", "vibration", "ts"]
    arrow_raw = pa.table(dict(zip(names, map(list, zip(*raw)))))
    con.register("arrow_raw", arrow_raw)
    con.execute("CREATE TABLE raw AS SELECT * FROM arrow_raw")
    # Last write wins on (series, time): every line carries all three fields, so the
    # last line of a key is the row the server must keep.
    con.execute("CREATE TABLE dedup AS SELECT * FROM raw "
                "QUALIFY row_number() OVER (PARTITION BY machine_id, line, site, ts ORDER BY lineno DESC) = 1")
    return con


def test_machine_data_to_server_matches_duckdb_over_its_file(authed, tmp_path, report):
    srv, token = authed
    out = tmp_path / "machines.lp"
    common = ["--seed", 42, "--start", START, "--duration", "2m", "--machines", 8,
              "--late-fraction", 0.1, "--late-max-seconds", 5, "--duplicate-fraction", 0.05]
    p = run_script("machine_data.py", *common, "--batch-lines", 700, "--output", out,
                   "--host", srv.http_url, "--token", token, "--database", "factory")
    assert "rows/s" in p.stderr
    report(p.stderr.strip())

    raw = parse_machine_file(out)
    con = oracle_con(raw)
    unique = con.execute("SELECT count(*) FROM dedup").fetchone()[0]
    assert unique == 8 * 480, "every machine reports every 250 ms for 2 minutes"
    assert len(raw) > unique, "the file re-sends points"
    late = con.execute("SELECT count(*) FROM (SELECT ts < max(ts) OVER (PARTITION BY machine_id "
                       "ORDER BY lineno ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS back "
                       "FROM raw) WHERE back").fetchone()[0]
    assert late > 0, "the file holds out-of-order points"

    want = con.execute("SELECT machine_id, count(*), avg(load), avg(temperature), avg(vibration), "
                       "min(ts), max(ts) FROM dedup GROUP BY 1 ORDER BY 1").fetchall()
    got = sql(srv, token, "factory",
              "SELECT machine_id, count(*) AS n, avg(load) AS l, avg(temperature) AS t, "
              "avg(vibration) AS v, min(time) AS lo, max(time) AS hi FROM machine_data GROUP BY 1 ORDER BY 1")
    got_rows = got.to_pylist()
    assert [r["machine_id"] for r in got_rows] == [w[0] for w in want]
    for g, w in zip(got_rows, want):
        assert g["n"] == w[1], g
        assert g["l"] == pytest.approx(w[2], rel=1e-12)
        assert g["t"] == pytest.approx(w[3], rel=1e-12)
        assert g["v"] == pytest.approx(w[4], rel=1e-12)
    assert want[0][5] == START_NS

    # The re-sent values won, and they differ from the first ones: dedup is visible.
    dup = con.execute("SELECT machine_id, ts, arg_min(temperature, lineno), arg_max(temperature, lineno) "
                      "FROM raw GROUP BY machine_id, ts HAVING count(*) > 1 ORDER BY 1, 2 LIMIT 5").fetchall()
    for mid, ts, first, last in dup:
        assert first != last
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // 10**9)) + f".{ts % 10**9:09d}Z"
        t = sql(srv, token, "factory",
                f"SELECT temperature FROM machine_data WHERE machine_id = '{mid}' AND time = '{iso}'")
        assert t.column("temperature").to_pylist() == [last]

    # Same seed and start, file only: the same bytes.
    again = tmp_path / "again.lp"
    run_script("machine_data.py", *common, "--output", again)
    assert again.read_bytes() == out.read_bytes()


def test_machine_data_live_writes_in_real_time(authed):
    srv, token = authed
    t0 = time.time_ns()
    p = run_script("machine_data.py", "--live", "--duration", "2s", "--machines", 3, "--seed", 1,
                   "--host", srv.http_url, "--token", token, "--database", "live")
    elapsed = (time.time_ns() - t0) / 1e9
    assert elapsed >= 1.5, f"--live for 2 s returned after {elapsed:.2f} s"
    got = sql(srv, token, "live", "SELECT count(*) AS n, min(time) AS lo, max(time) AS hi FROM machine_data")
    n, lo, _ = rows(got, ["n", "lo", "hi"])[0]
    assert n == 3 * 8, p.stderr
    assert t0 - 1e9 <= lo <= t0 + 2e9, "live readings carry the wall-clock time they were made"


def test_machine_data_refuses_without_token(authed, tmp_path):
    srv, _ = authed
    p = run_script("machine_data.py", "--duration", "1s", "--host", srv.http_url, "--database", "x", check=False)
    assert p.returncode != 0
    assert "401" in p.stderr


# -- tsbs_load.py ------------------------------------------------------------------------
def head_lines(path, n):
    with gzip.open(path, "rb") as f:
        return [ln.rstrip(b"\n") for ln in itertools.islice(f, n)]


@pytest.mark.parametrize("protocol", ["lp", "arrow"])
def test_tsbs_load_cpu_slice_matches_the_oracle(authed, protocol, report):
    srv, token = authed
    n = 3000  # 30 ten-second steps of 100 hosts
    p = run_script("tsbs_load.py", "--protocol", protocol, "--limit", n, "--batch-lines", 1000,
                   "--host", srv.http_url, "--token", token, "--database", f"cpu_{protocol}")
    report(p.stderr.strip().splitlines()[-1])
    parsed = tsbs_oracle.parse(head_lines(tsbs_oracle.TSBS_CPU, n))
    con = tsbs_oracle.load_duckdb(parsed)
    want = con.execute("SELECT hostname, count(*), sum(usage_user), sum(usage_idle), sum(usage_guest_nice), "
                       "min(ts), max(ts) FROM cpu GROUP BY 1 ORDER BY 1").fetchall()
    got = sql(srv, token, f"cpu_{protocol}",
              "SELECT hostname, count(*) AS n, sum(usage_user) AS u, sum(usage_idle) AS i, "
              "sum(usage_guest_nice) AS g, min(time) AS lo, max(time) AS hi FROM cpu GROUP BY 1 ORDER BY 1")
    assert rows(got, ["hostname", "n", "u", "i", "g", "lo", "hi"]) == want
    # Tags arrive as tags, with the values each host's lines carry.
    tags = sql(srv, token, f"cpu_{protocol}",
               "SELECT DISTINCT " + ", ".join(tsbs_oracle.TAG_KEYS) + " FROM cpu")
    assert {tuple(r.values()) for r in tags.to_pylist()} == set(parsed.tagsets)


def test_tsbs_load_iot_arrow_equals_line_protocol(authed):
    """iot has missing tags and fields and out-of-order times: the script's Arrow path must
    store exactly what the server's own line-protocol parser makes of the same lines."""
    srv, token = authed
    n = 4000
    for protocol in ("lp", "arrow"):
        run_script("tsbs_load.py", "--file", TSBS_IOT, "--protocol", protocol, "--limit", n,
                   "--batch-lines", 300, "--writers", 4, "--host", srv.http_url, "--token", token, "--database", f"iot_{protocol}")
    lines = head_lines(TSBS_IOT, n)
    keys = {}
    for ln in lines:
        series, _, ts = ln.split(b" ")
        meas, *tags = series.split(b",")
        keys.setdefault(meas.decode(), set()).add((frozenset(tags), ts))
    tag_sets = {frozenset(kv.split(b"=", 1)[0] for kv in ln.split(b" ")[0].split(b",")[1:]) for ln in lines}
    assert len(tag_sets) > 1, "the slice should include lines without some tags"
    for table, want_keys in keys.items():
        a = sql(srv, token, "iot_lp", f"SELECT * FROM {table}")
        b = sql(srv, token, "iot_arrow", f"SELECT * FROM {table}")
        assert a.num_rows == len(want_keys), f"{table}: one row per series and time"
        assert sorted(a.column_names) == sorted(b.column_names)
        cols = sorted(a.column_names)
        assert sorted_rows(a, cols) == sorted_rows(b, cols)


# -- bench.sh ----------------------------------------------------------------------------
def test_bench_sh_starts_the_runner(fletch_bin):
    """Only that it reaches bench/run.py with the flags given (a full run takes minutes)."""
    p = subprocess.run([str(SCRIPTS / "bench.sh"), "--help"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "FLETCH_BIN": str(fletch_bin)})
    assert p.returncode == 0, p.stderr
    assert "usage: run.py" in p.stdout and "--no-questdb" in p.stdout


# -- bench/cardinality.py ----------------------------------------------------------------
def test_cardinality_bench_checks_every_series_it_queries(fletch_bin, tmp_path):
    """The scale curve's harness, small: each cardinality on a fresh server, one series'
    points queried buffered and persisted and compared with the values it generated (the
    script raises on a difference), figures for every cardinality."""
    out = tmp_path / "card.json"
    p = subprocess.run([sys.executable, str(REPO / "bench" / "cardinality.py"), "--series", "10,1000",
                        "--lines", "20000", "--runs", "2", "--json", str(out)],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "FLETCH_BIN": str(fletch_bin)})
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(out.read_text())
    assert sorted(res) == ["10", "1000"]
    for n, r in res.items():
        assert r["lines"] == 20000 and r["series"] == int(n)
        assert r["lines_per_s"] > 0 and r["peak_rss_bytes"] >= r["rss_bytes"] > 0
        assert len(r["query_buffered_s"]) == len(r["query_persisted_s"]) == 2
        assert r["files"] == 1, "one UTC day persists as one file"
