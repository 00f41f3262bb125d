"""Materialized views on real-shaped data: TSBS iot (50 trucks, one day; out-of-order
timestamps, missing fields and missing tags).

The oracle is DuckDB run directly on the raw line-protocol file (parsed here with plain
Python): the view must equal its defining query over every acknowledged line, with Fletch's
dedup rule applied (a row is identified by table, tags and time; per field the value of the
latest write wins). Nothing in the oracle reads Fletch's output.
"""

from __future__ import annotations

import gzip
import math
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import tsbs_oracle
from fletch_client import query_adbc, query_influx, write_ok

REPO = Path(__file__).resolve().parents[2]
IOT = tsbs_oracle.tsbs_file("iot")  # scripts/tsbs_generate.py, or $FLETCH_TSBS_DIR
DB = "iot"
TAGS = ("name", "fleet", "driver", "model", "device_version")
FIELDS = ("latitude", "longitude", "elevation", "velocity", "heading", "grade",
          "fuel_consumption", "load_capacity", "fuel_capacity", "nominal_fuel_consumption")

VIEW = (
    "SELECT date_bin(INTERVAL '1 minute', time) AS time, name, fleet, "
    "avg(velocity) AS velocity, max(fuel_consumption) AS fuel_max, count(*) AS n, "
    "count(velocity) AS n_velocity FROM {src} GROUP BY 1, 2, 3"
)
# The part of the file written before the view exists; the rest arrives after it,
# much of it into bins the view has already stored (the file is out of order).
FIRST_SHARE = 0.7


def readings_lines() -> list[bytes]:
    with gzip.open(IOT, "rb") as f:
        lines = [ln for ln in f.read().split(b"\n") if ln.startswith(b"readings,") or ln.startswith(b"readings ")]
    assert len(lines) > 300_000, len(lines)  # 50 trucks x 8,640 steps, less the points never sent
    return lines


def parse(lines: list[bytes]) -> pa.Table:
    """readings lines -> a table with a row number (write order), tags, fields, ts."""
    cols = {k: [] for k in ("seq", *TAGS, *FIELDS, "ts")}
    for seq, line in enumerate(lines):
        series, fieldset, ts = line.split(b" ")
        tags = dict(kv.split(b"=", 1) for kv in series.split(b",")[1:])
        fields = dict(kv.split(b"=", 1) for kv in fieldset.split(b","))
        cols["seq"].append(seq)
        for k in TAGS:
            v = tags.get(k.encode())
            cols[k].append(v.decode() if v is not None else None)
        for k in FIELDS:
            v = fields.get(k.encode())
            cols[k].append(float(v.rstrip(b"i")) if v is not None else None)
        cols["ts"].append(int(ts))
    return pa.table(cols)


def oracle(raw: pa.Table) -> list[tuple]:
    """The view's defining query over the deduplicated raw rows, by DuckDB directly."""
    con = duckdb.connect()
    con.register("raw", raw)
    dedup = (
        "SELECT " + ", ".join(TAGS) + ", ts, "
        + ", ".join(f"arg_max({f}, seq) FILTER (WHERE {f} IS NOT NULL) AS {f}" for f in FIELDS)
        + " FROM raw GROUP BY " + ", ".join(TAGS) + ", ts"
    )
    sql = (
        "SELECT (ts // 60000000000) * 60000000000 AS t, name, fleet, avg(velocity), "
        "max(fuel_consumption), count(*), count(velocity) "
        f"FROM ({dedup}) GROUP BY 1, 2, 3 ORDER BY 1, 2 NULLS FIRST, 3 NULLS FIRST"
    )
    return [tuple(r) for r in con.execute(sql).fetchall()]


def view_rows(srv) -> list[tuple]:
    t = query_influx(srv, "SELECT epoch_ns(time) AS t, name, fleet, velocity, fuel_max, n, n_velocity "
                     "FROM readings_1m ORDER BY 1, 2 NULLS FIRST, 3 NULLS FIRST", DB)
    return [tuple(r.values()) for r in t.to_pylist()]


def assert_same(got: list[tuple], want: list[tuple]):
    assert len(got) == len(want), (len(got), len(want))
    for g, w in zip(got, want):
        assert g[:3] == w[:3], (g, w)
        for a, b in zip(g[3:5], w[3:5]):  # floats: summation order may differ
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (g, w)
        assert g[5:] == w[5:], (g, w)


def status(srv) -> dict:
    t = query_influx(srv, "SELECT name, epoch_ns(watermark) AS w, pending_bins, last_error, rows_written "
                     "FROM system.materialized_views", DB)
    return {r["name"]: r for r in t.to_pylist()}


def wait_caught_up(srv, last_ns: int, timeout=120.0):
    """Until the view has stored every bin up to the data's last minute, nothing pending."""
    deadline = time.monotonic() + timeout
    while True:
        s = status(srv)["readings_1m"]
        if s["pending_bins"] == 0 and s["w"] > last_ns and s["last_error"] is None:
            return s
        assert time.monotonic() < deadline, s
        time.sleep(0.2)


def write_chunks(srv, lines: list[bytes], size=20_000):
    for i in range(0, len(lines), size):
        write_ok(srv, DB, b"\n".join(lines[i:i + size]) + b"\n")


@pytest.fixture(scope="module")
def data():
    lines = readings_lines()
    return lines, parse(lines)


def test_materialized_view_equals_its_query_through_late_writes_and_sigkill(server, data, report):
    lines, raw = data
    srv = server()
    cut = int(len(lines) * FIRST_SHARE)
    write_chunks(srv, lines[:cut])
    query_adbc(srv, "CREATE MATERIALIZED VIEW readings_1m AS " + VIEW.format(src="readings"), DB)

    # At once (before or during the backfill): computed from the raw rows where not stored.
    want_first = oracle(raw.slice(0, cut))
    assert_same(view_rows(srv), want_first)
    t0 = time.monotonic()
    s = wait_caught_up(srv, max(raw.column("ts").to_pylist()[:cut]))
    report(f"matview backfill: {s['rows_written']:,} rows of readings_1m from {cut:,} lines "
           f"caught up within {time.monotonic() - t0:.1f} s of creation")
    assert_same(view_rows(srv), want_first)

    # The rest of the file: out-of-order lines land in bins already stored.
    late_before = sum(1 for ts in raw.column("ts").to_pylist()[cut:] if ts < s["w"])
    assert late_before > 0
    write_chunks(srv, lines[cut:])
    want_all = oracle(raw)
    assert_same(view_rows(srv), want_all)  # immediately, dirty bins computed from raw
    wait_caught_up(srv, max(raw.column("ts").to_pylist()))
    assert_same(view_rows(srv), want_all)
    report(f"matview late writes: {late_before:,} lines into stored bins; view equals the oracle "
           f"({len(want_all):,} rows) before and after re-materialization")

    # SIGKILL and restart: the view is still its query over every acknowledged line.
    srv.kill()
    srv.start()
    assert_same(view_rows(srv), want_all)
    wait_caught_up(srv, max(raw.column("ts").to_pylist()))
    assert_same(view_rows(srv), want_all)


def test_grafana_query_on_view_equals_raw(server, data):
    """A Grafana $__dateBin query over the 1-minute view gives the same frame as the same
    aggregation over the raw table. (The range ends at hh:59:59: a view row stands for a
    whole minute, so a filter that ends inside a minute can only match raw rows.)"""
    lines, _ = data
    srv = server()
    write_chunks(srv, lines)
    query_adbc(srv, "CREATE MATERIALIZED VIEW readings_1m AS " + VIEW.format(src="readings"), DB)
    time_filter = "time >= '2026-01-01T06:00:00Z' AND time <= '2026-01-01T08:59:59Z'"
    bin5 = "date_bin(interval '5 minute', time, timestamp '1970-01-01T00:00:00Z')"
    raw = query_adbc(srv, f"SELECT {bin5} AS time, max(fuel_consumption) AS fuel_max, count(*) AS n "
                          f"FROM readings WHERE {time_filter} GROUP BY 1 ORDER BY 1", DB)
    view = query_adbc(srv, f"SELECT {bin5} AS time, max(fuel_max) AS fuel_max, sum(n) AS n "
                           f"FROM readings_1m WHERE {time_filter} GROUP BY 1 ORDER BY 1", DB)
    assert raw.num_rows == 36
    assert view.column("time").to_pylist() == raw.column("time").to_pylist()
    assert view.column("fuel_max").to_pylist() == raw.column("fuel_max").to_pylist()
    assert view.column("n").to_pylist() == raw.column("n").to_pylist()
