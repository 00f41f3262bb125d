"""TSBS cpu-only, one day, 100 hosts (864,000 lines) against an independent DuckDB oracle.

The whole file goes in over /api/v2/write; the server's answers to TSBS-style questions are
compared exactly with answers computed by tsbs_oracle from the raw file. Then the server is
stopped gracefully and restarted on the same directory, and answers from Parquet are checked.
"""

import glob
import math
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest
import requests

import tsbs_oracle as oracle_mod
from fletch_client import TS_NS_UTC, query_adbc, query_influx, rows, write_lp
from tsbs_oracle import FIELD_KEYS, TAG_KEYS, TSBS_CPU, TSBS_CPU_LINES

DB = "tsbs"
CHUNK_LINES = 10_000
WRITERS = 2
HOST = "host_7"
H10 = 1767261600_000000000  # 2026-01-01T10:00:00Z
H11 = H10 + oracle_mod.HOUR_NS
REL_TOL = 1e-9


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tsbs_lines():
    return oracle_mod.read_lines(TSBS_CPU)


@pytest.fixture(scope="module")
def loaded(module_server, tsbs_lines, report):
    """A server holding the whole TSBS day, written in 10,000-line chunks by 2 threads."""
    srv = module_server()
    lines = tsbs_lines
    local = threading.local()
    failed = threading.Event()

    def send(start):
        if failed.is_set():
            return 0
        if not hasattr(local, "session"):
            local.session = requests.Session()
        body = b"\n".join(lines[start:start + CHUNK_LINES]) + b"\n"
        r = write_lp(srv, DB, body, endpoint="v2", precision="ns", session=local.session)
        if r.status_code != 204:
            failed.set()
            raise AssertionError(
                f"chunk at line {start + 1}: HTTP {r.status_code}: {r.text[:2000]}"
            )
        return len(body)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(WRITERS) as ex:
        sizes = list(ex.map(send, range(0, len(lines), CHUNK_LINES)))
    dt = time.perf_counter() - t0
    report(
        f"TSBS ingest: {len(lines):,} lines ({sum(sizes) / 1e6:.1f} MB) in {dt:.2f} s = "
        f"{len(lines) / dt:,.0f} lines/s ({WRITERS} writers, {CHUNK_LINES:,}-line chunks)"
    )
    return srv


@pytest.fixture(scope="module")
def oracle(loaded, tsbs_lines, report):
    """Built after the load so that parsing does not compete with the writers for CPU."""
    t0 = time.perf_counter()
    parsed = oracle_mod.parse(tsbs_lines)
    con = oracle_mod.load_duckdb(parsed)
    report(f"TSBS oracle: parsed {len(tsbs_lines):,} lines and loaded DuckDB in "
           f"{time.perf_counter() - t0:.2f} s")
    return SimpleNamespace(con=con, parsed=parsed)


def timed(report, label, fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    report(f"TSBS query {label}: {(time.perf_counter() - t0) * 1000:.1f} ms")
    return out


def assert_rows_match(got, want, rel_tol=None):
    """Same rows in the same order; floats within rel_tol when given, else exact."""
    assert len(got) == len(want), f"{len(got)} rows, expected {len(want)}"
    bad = []
    for i, (g, w) in enumerate(zip(got, want)):
        same = len(g) == len(w) and all(
            (math.isclose(a, b, rel_tol=rel_tol, abs_tol=0.0)
             if rel_tol is not None and isinstance(b, float) and isinstance(a, float)
             else a == b)
            for a, b in zip(g, w)
        )
        if not same:
            bad.append((i, g, w))
    assert not bad, f"{len(bad)} of {len(want)} rows differ; first ones (index, got, want): " \
        + "\n".join(repr(b) for b in bad[:5])


# -- the queries (server SQL and the oracle's answer) ------------------------------------
SQL_MINUTE_MAX = (
    "SELECT date_bin(INTERVAL '1 minute', time) AS minute, max(usage_user) AS max_usage_user "
    f"FROM cpu WHERE hostname = '{HOST}' "
    "AND time >= '2026-01-01T10:00:00Z' AND time < '2026-01-01T11:00:00Z' "
    "GROUP BY 1 ORDER BY 1"
)
SQL_HOURLY_MEANS = (
    "SELECT hostname, date_bin(INTERVAL '1 hour', time) AS hour, "
    + ", ".join(f"avg({k}) AS avg_{k}" for k in FIELD_KEYS)
    + " FROM cpu GROUP BY 1, 2 ORDER BY 1, 2"
)
SQL_LASTPOINT = (
    "SELECT hostname, selector_last(usage_user, time)['value'] AS usage_user, "
    "selector_last(usage_user, time)['time'] AS last_time "
    "FROM cpu GROUP BY hostname ORDER BY hostname"
)
SQL_COUNT = "SELECT count(*) AS n FROM cpu"


def check_lastpoint(table, oracle):
    assert_rows_match(sorted(rows(table, ["hostname", "usage_user", "last_time"])),
                      oracle_mod.lastpoint(oracle.con))


# -- tests ---------------------------------------------------------------------------------
def test_count(loaded, oracle, report):
    assert oracle_mod.count(oracle.con) == TSBS_CPU_LINES
    t = timed(report, "(d) count(*) [influx ticket]", query_influx, loaded, SQL_COUNT, DB)
    assert rows(t) == [(TSBS_CPU_LINES,)]


def test_schema(loaded):
    t = query_influx(loaded, "SELECT * FROM cpu LIMIT 3", DB)
    assert t.num_rows == 3
    types = {f.name: f.type for f in t.schema}
    want = {**{k: pa.string() for k in TAG_KEYS}, **{k: pa.int64() for k in FIELD_KEYS},
            "time": TS_NS_UTC}
    assert types == want


def test_tag_sets(loaded, oracle):
    cols = ", ".join(TAG_KEYS)
    t = query_influx(
        loaded, f"SELECT {cols}, count(*) AS n FROM cpu GROUP BY {cols}", DB)
    want = sorted(k + (n,) for k, n in oracle.parsed.tagsets.items())
    assert sorted(rows(t, list(TAG_KEYS) + ["n"])) == want


def test_minute_max_one_host_one_hour(loaded, oracle, report):
    want = oracle_mod.minute_max(oracle.con, HOST, H10, H11)
    assert len(want) == 60  # one bucket per minute: the oracle itself is sane
    t = timed(report, "(a) 1-minute max, 1 host, 1 h [influx ticket]",
              query_influx, loaded, SQL_MINUTE_MAX, DB)
    assert_rows_match(sorted(rows(t, ["minute", "max_usage_user"])), want)
    t = timed(report, "(a) 1-minute max, 1 host, 1 h [ADBC]",
              query_adbc, loaded, SQL_MINUTE_MAX, DB)
    assert_rows_match(sorted(rows(t, ["minute", "max_usage_user"])), want)


def test_hourly_mean_every_field_per_host(loaded, oracle, report):
    want = oracle_mod.hourly_means(oracle.con)
    assert len(want) == 100 * 24
    t = timed(report, "(b) hourly mean of 10 fields per host [influx ticket]",
              query_influx, loaded, SQL_HOURLY_MEANS, DB)
    got = sorted(rows(t, ["hostname", "hour"] + [f"avg_{k}" for k in FIELD_KEYS]))
    assert_rows_match(got, want, rel_tol=REL_TOL)


def test_lastpoint(loaded, oracle, report):
    t = timed(report, "(c) lastpoint per host [influx ticket]",
              query_influx, loaded, SQL_LASTPOINT, DB)
    check_lastpoint(t, oracle)
    t = timed(report, "(c) lastpoint per host [ADBC]", query_adbc, loaded, SQL_LASTPOINT, DB)
    check_lastpoint(t, oracle)


def test_high_cpu_one_host(loaded, oracle, report):
    """TSBS high-cpu-1: every row of one host with usage_user > 90 over 12 hours."""
    fields = ", ".join(FIELD_KEYS)
    start, end = H10 - 4 * oracle_mod.HOUR_NS, H10 + 8 * oracle_mod.HOUR_NS
    want = oracle.con.execute(
        f"SELECT ts, {fields} FROM cpu WHERE hostname = ? AND usage_user > 90 "
        "AND ts >= ? AND ts < ? ORDER BY ts", [HOST, start, end]).fetchall()
    assert want, "the oracle found no rows; pick another window"
    sql = (f"SELECT time, {fields} FROM cpu WHERE hostname = '{HOST}' AND usage_user > 90 "
           "AND time >= '2026-01-01T06:00:00Z' AND time < '2026-01-01T18:00:00Z' "
           "ORDER BY time")
    t = timed(report, "high-cpu-1 (12 h, 1 host) [influx ticket]", query_influx, loaded, sql, DB)
    assert rows(t, ["time", *FIELD_KEYS]) == want


def test_restart_serves_from_parquet(loaded, oracle, report):
    """SIGTERM persists everything; a restart on the same directory answers the same."""
    srv = loaded
    t0 = time.perf_counter()
    rc = srv.stop(signal.SIGTERM)
    report(f"TSBS graceful stop (persist) took {time.perf_counter() - t0:.2f} s")
    assert rc == 0, f"fletch exited with {rc} after SIGTERM"

    day_dir = Path(srv.data_dir) / DB / "cpu" / "2026-01-01"
    files = sorted(glob.glob(str(day_dir / "*.parquet")))
    assert files, f"no Parquet files under {day_dir}"
    # Read the files with DuckDB directly, not through Fletch.
    n_rows, n_keys = oracle.con.execute(
        "SELECT count(*), count(DISTINCT (hostname, time)) FROM read_parquet(?)", [files]
    ).fetchall()[0]
    size = sum(Path(f).stat().st_size for f in files)
    report(f"TSBS Parquet after SIGTERM: {len(files)} file(s), {size / 1e6:.1f} MB, "
           f"{n_rows:,} rows")
    assert n_keys == TSBS_CPU_LINES, "not every (hostname, time) reached Parquet"

    t0 = time.perf_counter()
    srv.start()
    report(f"TSBS restart until /health: {time.perf_counter() - t0:.2f} s")
    t = timed(report, "(d) count(*) after restart [influx ticket]",
              query_influx, srv, SQL_COUNT, DB)
    assert rows(t) == [(TSBS_CPU_LINES,)]
    t = timed(report, "(c) lastpoint after restart [influx ticket]",
              query_influx, srv, SQL_LASTPOINT, DB)
    check_lastpoint(t, oracle)
    t = timed(report, "(a) 1-minute max after restart [ADBC]",
              query_adbc, srv, SQL_MINUTE_MAX, DB)
    assert_rows_match(sorted(rows(t, ["minute", "max_usage_user"])),
                      oracle_mod.minute_max(oracle.con, HOST, H10, H11))
