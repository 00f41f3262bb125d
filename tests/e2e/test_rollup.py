"""Queries over a table answered from a materialized view's rollup (docs/sql.md, "Queries
over a table answered from a view"), through the ADBC Flight SQL driver.

The data is the last three hours before the test starts (the rollup keeps the last 26),
generated here deterministically; the oracle is DuckDB run directly on the generated rows.
Every query must equal the oracle, and /metrics must count it as answered from the rollup.
"""

from __future__ import annotations

import time

import duckdb
import pyarrow as pa
import requests

from fletch_client import query_adbc, query_influx, write_ok

DB = "rollup"
SEC = 1_000_000_000
MIN = 60 * SEC
HOSTS = 12
STEP = 3 * SEC

VIEW = ("CREATE MATERIALIZED VIEW cpu_1m AS SELECT date_bin(INTERVAL '1 minute', time) AS time, host, "
        "avg(usage) AS usage, max(usage) AS usage_max, min(usage) AS usage_min FROM cpu GROUP BY 1, 2")


def rewrites(srv) -> float:
    for line in requests.get(srv.http_url + "/metrics", timeout=30).text.splitlines():
        if line.startswith("fletch_query_rollup_rewrites_total "):
            return float(line.split()[1])
    return 0.0


def generate(start: int, end: int) -> tuple[list[bytes], pa.Table]:
    """Whole-numbered usage (sums are exact in any order) for HOSTS hosts every STEP."""
    lines, hosts, usage, ts = [], [], [], []
    for t in range(start, end, STEP):
        for h in range(HOSTS):
            u = (t // SEC * (h + 3) + h) % 97
            lines.append(f"cpu,host=h{h:02d},region=r{h % 3} usage={u} {t}".encode())
            hosts.append(f"h{h:02d}")
            usage.append(float(u))
            ts.append(t)
    return lines, pa.table({"host": hosts, "usage": usage, "ts": ts})


def queries(start: int, end: int) -> list[tuple[str, str]]:
    """(Fletch SQL, the oracle's SQL over raw(host, usage, ts)), both ordered alike."""
    def lit(ns: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // SEC)) + f".{ns % SEC:09d}Z"
    lo, hi = start + 17 * MIN + 7 * SEC, end - 9 * MIN - 4 * SEC  # ragged at both ends
    hour = 60 * MIN
    return [
        (f"SELECT date_bin(INTERVAL '1 hour', time) AS hour, host, avg(usage), max(usage), count(*) FROM cpu "
         f"WHERE time >= '{lit(lo)}' AND time < '{lit(hi)}' GROUP BY 1, 2 ORDER BY 1, 2",
         f"SELECT ts // {hour} * {hour} AS hour, host, avg(usage), max(usage), count(*) FROM raw "
         f"WHERE ts >= {lo} AND ts < {hi} GROUP BY 1, 2 ORDER BY 1, 2"),
        (f"SELECT date_bin(INTERVAL '5 minutes', time) AS t, min(usage) AS lo, count(usage) AS n FROM cpu "
         f"WHERE host = 'h03' AND time > '{lit(lo)}' AND time <= '{lit(hi)}' GROUP BY 1 ORDER BY 1",
         f"SELECT ts // {5 * MIN} * {5 * MIN} AS t, min(usage), count(usage) FROM raw "
         f"WHERE host = 'h03' AND ts > {lo} AND ts <= {hi} GROUP BY 1 ORDER BY 1"),
        (f"SELECT host, sum(usage) AS s, max(usage) AS m FROM cpu WHERE host IN ('h01', 'h07', 'h11') "
         f"AND time >= '{lit(lo)}' GROUP BY host ORDER BY host",
         f"SELECT host, sum(usage), max(usage) FROM raw WHERE host IN ('h01', 'h07', 'h11') "
         f"AND ts >= {lo} GROUP BY host ORDER BY host"),
    ]


def check(srv, raw: pa.Table, start: int, end: int) -> int:
    con = duckdb.connect()
    con.register("raw", raw)
    n = 0
    for sql, oracle in queries(start, end):
        before = rewrites(srv)
        got = [tuple(r.values()) for r in query_adbc(srv, sql, DB).to_pylist()]
        assert rewrites(srv) == before + 1, sql
        want = con.execute(oracle).fetchall()
        assert len(got) == len(want) > 0, (sql, len(got), len(want))
        for g, w in zip(got, want):
            g = (int(g[0].timestamp() * SEC),) + g[1:] if hasattr(g[0], "timestamp") else g
            assert g == tuple(w), (sql, g, w)
        n += len(got)
    return n


def test_queries_over_the_source_answered_from_the_rollup(server, report):
    srv = server()
    end = time.time_ns() // MIN * MIN
    start = end - 3 * 60 * MIN
    lines, raw = generate(start, end)
    for i in range(0, len(lines), 20_000):
        write_ok(srv, DB, b"\n".join(lines[i:i + 20_000]) + b"\n")
    query_adbc(srv, VIEW, DB)

    # The materializer fills the rollup back an hour a pass after the view's first pass.
    deadline = time.monotonic() + 60
    while True:
        s = query_influx(srv, "SELECT epoch_ns(rollup_start) AS lo, rollup_rows FROM system.materialized_views",
                         DB).to_pylist()[0]
        if s["lo"] is not None and s["lo"] <= start:
            break
        assert time.monotonic() < deadline, s
        time.sleep(0.2)
    rows = check(srv, raw, start, end)

    # A late write and an overwrite into bins the rollup holds: answered at once (those
    # bins from the raw rows), and again once the materializer rewrote them.
    late = start + 61 * MIN + 1 * SEC
    over = start + 100 * MIN  # an existing point of h03: last write wins
    write_ok(srv, DB, f"cpu,host=h03,region=r0 usage=500 {late}\ncpu,host=h03,region=r0 usage=1 {over}\n".encode())
    raw = pa.concat_tables([
        raw.filter(pa.compute.invert(pa.compute.and_(pa.compute.equal(raw["host"], "h03"),
                                                     pa.compute.equal(raw["ts"], over)))),
        pa.table({"host": ["h03", "h03"], "usage": [500.0, 1.0], "ts": [late, over]}),
    ])
    check(srv, raw, start, end)
    time.sleep(3)
    check(srv, raw, start, end)
    report(f"rollup: {len(queries(start, end))} queries over {raw.num_rows:,} raw rows "
           f"({rows} result rows) equal DuckDB on the raw rows, each answered from the view's rollup, "
           f"before and after a late write and an overwrite")
