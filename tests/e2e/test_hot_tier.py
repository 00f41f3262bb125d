"""The hot tier against the real binary: after a restart the newest Parquet days come back
into DuckDB's in-memory tables in the background (system.parquet_files.hot_bytes, /metrics),
queries answer exactly as DuckDB does on the raw rows, and `--hot-tier-max-bytes -1` turns
the tier off."""

from __future__ import annotations

import random
import time

import duckdb
import pyarrow as pa
import requests

from fletch_client import HTTP_TIMEOUT, query_adbc, write_ok
from test_observability import metric

DB = "hot"
DAY0 = 1767225600_000000000  # 2026-01-01T00:00:00Z
MIN_NS = 60_000_000_000
DAYS = 3
HOSTS = ["h0", "h1", "h2", "h3"]


def data():
    """Line protocol for DAYS days (one point per host every 5 minutes, written out of order
    and with one rewritten point), and the rows it must leave: {(host, ns): (v, n)}."""
    rng = random.Random(11)
    want, lines = {}, []
    for d in range(DAYS):
        for m in range(0, 24 * 60, 5):
            for h in HOSTS:
                ts = DAY0 + d * 1440 * MIN_NS + m * MIN_NS
                v, n = round(rng.uniform(0, 100), 3), rng.randrange(1000)
                lines.append(f"cpu,host={h} v={v},n={n}i {ts}")
                want[(h, ts)] = (v, n)
    rng.shuffle(lines)
    ts = DAY0 + 1440 * MIN_NS + 600 * MIN_NS
    lines.append(f"cpu,host=h2 v=-1.5 {ts}")  # overwrites v, keeps n
    want[("h2", ts)] = (-1.5, want[("h2", ts)][1])
    return "\n".join(lines) + "\n", want


QUERIES = [
    "SELECT host, count(*) AS c, round(sum(v), 3) AS s, sum(n) AS sn FROM cpu GROUP BY host ORDER BY host",
    "SELECT host, max(v) AS m FROM cpu WHERE time >= '2026-01-02T06:00:00Z' AND time < '2026-01-02T12:00:00Z' "
    "GROUP BY host ORDER BY host",
    "SELECT host, v, n, time FROM cpu WHERE v < 0 OR (host = 'h3' AND time = '2026-01-03T23:55:00Z') ORDER BY host",
]


def oracle(want):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    keys = sorted(want)
    tbl = pa.table({
        "host": [h for h, _ in keys],
        "v": [want[k][0] for k in keys],
        "n": [want[k][1] for k in keys],
        "time": pa.array([ts for _, ts in keys], pa.timestamp("ns", "UTC")),
    })
    con.register("cpu", tbl)
    return [con.sql(q).to_arrow_table().to_pylist() for q in QUERIES]


def hot_bytes(srv):
    t = query_adbc(srv, "SELECT day, hot_bytes FROM system.parquet_files WHERE table_name = 'cpu' ORDER BY day", DB)
    return t.to_pylist()


def answers(srv):
    out = []
    for q in QUERIES:
        t = query_adbc(srv, q, DB)
        out.append(t.cast(pa.schema([f.with_type(pa.timestamp("ns", "UTC")) if pa.types.is_timestamp(f.type) else f
                                      for f in t.schema])).to_pylist())
    return out


def test_hot_tier_loads_after_restart_and_answers_like_duckdb(server, report):
    body, want = data()
    srv = server()
    write_ok(srv, DB, body)
    expect = oracle(want)
    assert answers(srv) == expect, "buffered"
    srv.restart()  # SIGTERM persists; the new process loads the newest days into the tier
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        files = hot_bytes(srv)
        if len(files) == DAYS and all(f["hot_bytes"] for f in files):
            break
        time.sleep(0.1)
    assert len(files) == DAYS and all(f["hot_bytes"] for f in files), files
    text = requests.get(srv.http_url + "/metrics", timeout=HTTP_TIMEOUT).text
    assert metric(text, "fletch_hot_tier_files") == DAYS
    total = metric(text, "fletch_hot_tier_bytes")
    assert total == sum(f["hot_bytes"] for f in files)
    assert 0 < total <= metric(text, "fletch_hot_tier_limit_bytes")
    assert metric(text, "fletch_duckdb_memory_bytes", '{tag="IN_MEMORY_TABLE"}') > 0
    # system.memory: DuckDB's components, and Fletch's accounts within them.
    mem = {r["component"]: r for r in query_adbc(srv, "SELECT * FROM system.memory", DB).to_pylist()}
    assert mem["fletch.hot_tier"]["memory_bytes"] == total
    assert mem["fletch.buffer"]["memory_bytes"] == 0, "nothing written since the restart"
    assert mem["IN_MEMORY_TABLE"]["memory_bytes"] > 0, mem
    assert answers(srv) == expect, "from the hot tier"
    report(f"hot tier: {DAYS} days ({len(want):,} rows) in {total / 1e6:.2f} MB after a restart")

    # A late duplicate of a hot row is deduplicated against it.
    ts = DAY0 + 2 * 1440 * MIN_NS + 5 * MIN_NS
    write_ok(srv, DB, f"cpu,host=h1 n=7i {ts}\n")
    want[("h1", ts)] = (want[("h1", ts)][0], 7)
    assert answers(srv) == oracle(want), "late duplicate over the hot tier"


def test_hot_tier_off(server):
    body, want = data()
    srv = server(args=["--hot-tier-max-bytes", "-1"])
    write_ok(srv, DB, body)
    srv.restart()
    assert all(f["hot_bytes"] is None for f in hot_bytes(srv))
    text = requests.get(srv.http_url + "/metrics", timeout=HTTP_TIMEOUT).text
    assert metric(text, "fletch_hot_tier_files") == 0
    assert metric(text, "fletch_hot_tier_limit_bytes") == -1
    assert answers(srv) == oracle(want)
