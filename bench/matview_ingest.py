"""Cost of keeping a 1-minute materialized view current during TSBS cpu ingest, and the
latency of a 24-hour question asked of the view versus the raw table.

    FLETCH_BIN=bin/fletch python3 bench/matview_ingest.py   (or: make bench-e2e)

The TSBS day is shifted so that it ends now: the view then materializes bins as they close,
as it would under live ingest. Three runs, each on a fresh server and data dir:
no view; the view created before the ingest; and (the worst case) historical data, where
every write lands in bins the view has already closed and is re-materialized.
Prints one line per figure; asserts nothing.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from fletch_client import query_adbc, query_influx, write_lp  # noqa: E402
from fletch_server import FletchServer, fletch_binary  # noqa: E402
import tsbs_oracle  # noqa: E402

DB = "tsbs"
WRITERS, CHUNK = 2, 10_000
VIEW = ("CREATE MATERIALIZED VIEW cpu_1m AS SELECT date_bin(INTERVAL '1 minute', time) AS time, "
        "hostname, avg(usage_user) AS usage_user, max(usage_user) AS usage_user_max, count(*) AS n "
        "FROM cpu GROUP BY 1, 2")
Q_RAW = "SELECT hostname, date_bin(INTERVAL '1 hour', time) AS h, avg(usage_user), max(usage_user) FROM cpu GROUP BY 1, 2"
Q_VIEW = ("SELECT hostname, date_bin(INTERVAL '1 hour', time) AS h, sum(usage_user * n) / sum(n), max(usage_user_max) "
          "FROM cpu_1m GROUP BY 1, 2")


def shifted(lines: list[bytes], end_ns: int) -> list[bytes]:
    last = int(lines[-1].rsplit(b" ", 1)[1])
    off = end_ns - last
    out = []
    for ln in lines:
        head, ts = ln.rsplit(b" ", 1)
        out.append(head + b" " + str(int(ts) + off).encode())
    return out


def ingest(srv, lines) -> float:
    local = threading.local()

    def send(start):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        r = write_lp(srv, DB, b"\n".join(lines[start:start + CHUNK]) + b"\n", session=local.s)
        assert r.status_code == 204, r.text
    t0 = time.perf_counter()
    with ThreadPoolExecutor(WRITERS) as ex:
        list(ex.map(send, range(0, len(lines), CHUNK)))
    return time.perf_counter() - t0


def caught_up(srv, timeout=300) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        s = query_influx(srv, "SELECT pending_bins, lag_seconds FROM system.materialized_views", DB).to_pylist()[0]
        if s["pending_bins"] == 0 and s["lag_seconds"] < 60:
            return time.perf_counter() - t0
        time.sleep(0.2)
    raise TimeoutError("view did not catch up")


def best_of(n, fn):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(label, lines, with_view):
    with tempfile.TemporaryDirectory() as d:
        srv = FletchServer(fletch_binary(), Path(d) / "data", Path(d) / "fletch.log").start()
        try:
            if with_view:
                write_lp(srv, DB, lines[0] + b"\n")  # the table must exist for the view
                query_adbc(srv, VIEW, DB)
            dt = ingest(srv, lines)
            print(f"{label}: ingest {len(lines):,} lines in {dt:.2f} s = {len(lines) / dt:,.0f} lines/s", flush=True)
            if with_view:
                print(f"{label}: view caught up {caught_up(srv):.2f} s after the last write", flush=True)
                raw = best_of(3, lambda: query_influx(srv, Q_RAW, DB))
                view = best_of(3, lambda: query_influx(srv, Q_VIEW, DB))
                print(f"{label}: 24 h hourly avg/max per host: raw {raw * 1000:.0f} ms, view {view * 1000:.0f} ms", flush=True)
        finally:
            srv.stop()


def main():
    lines = tsbs_oracle.read_lines()
    live = shifted(lines, time.time_ns() - 1_000_000_000)
    run("live, no view", live, False)
    run("live, 1-minute view", live, True)
    run("historical, 1-minute view", lines, True)


if __name__ == "__main__":
    main()
