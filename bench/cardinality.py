"""Series cardinality: ingest rate, memory and a one-series query at 1 K, 100 K and 1 M series.

High cardinality is where InfluxDB 1.x/2.x users were hurt: an index per series that grew
with every new tag value. Each cardinality writes the same number of lines (so rates compare),
spread over one UTC day, to a fresh server by 4 line-protocol writers:

    card,host=host_<i>,region=r<i mod 16> v=<float>,n=<int>i <time>

one point of every series per step, steps in time order, so 1 M series get 4 points each and
1 K series 4,000. Then one series' points are queried while they sit in the buffer, and again
after a graceful restart (persisted to Parquet, loaded into the hot tier). Values are a
function of (series, step): the data is the same on every run and machine.

    FLETCH_BIN=bin/fletch python3 bench/cardinality.py [--series 1000,100000] [--json F]

run.py calls run() as part of `make bench`. Measures, never asserts; answers are checked.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))
sys.path.insert(0, str(HERE))

from fletch_side import Fletch, adbc_query  # noqa: E402

DB = "card"
LINES = 4_000_000               # per cardinality; 1 M series get 4 points each
SERIES = (1_000, 100_000, 1_000_000)
BODY_LINES = 10_000
DAY_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
QUERIED = 5                     # one-series queries per phase, each a different series


def bodies(series: int, lines: int = LINES) -> list[bytes]:
    """lines lines in BODY_LINES-line bodies: every series once per step, steps in time order."""
    steps = lines // series
    step_ns = 86_400 * 10**9 // steps
    out, buf = [], []
    for k in range(steps):
        ts = DAY_NS + k * step_ns
        for i in range(series):
            buf.append(f"card,host=host_{i},region=r{i % 16} v={value(i, k)},n={k}i {ts}")
            if len(buf) == BODY_LINES:
                out.append("\n".join(buf).encode())
                buf = []
    if buf:
        out.append("\n".join(buf).encode())
    return out


def value(i: int, k: int) -> float:
    return ((i * 7919 + k * 104_729) % 100_000) / 100.0


def peak_rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of pid in bytes: resident now, and the most it has been."""
    now = hwm = 0
    for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
        if ln.startswith("VmRSS:"):
            now = int(ln.split()[1]) * 1024
        elif ln.startswith("VmHWM:"):
            hwm = int(ln.split()[1]) * 1024
    return now, hwm


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds pid has used."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def query_series(f: Fletch, series: int, steps: int, runs: int) -> list[float]:
    """Time the one-series query on `runs` different series; check every answer (the
    values of bodies())."""
    conn = f.connect(DB)
    try:
        out = []
        for r in range(runs + 1):  # the first is a warm-up
            i = (r * 7_654_321 + 12_345) % series
            sql = f"SELECT time, v FROM card WHERE host = 'host_{i}' ORDER BY time"
            t0 = time.perf_counter()
            tbl = adbc_query(conn, sql)
            dt = time.perf_counter() - t0
            want = [value(i, k) for k in range(steps)]
            if tbl["v"].to_pylist() != want:
                raise RuntimeError(f"{series} series: host_{i} answered {tbl.num_rows} rows, expected {steps}")
            if r:
                out.append(dt)
        return out
    finally:
        conn.close()


def run(work: Path, series_list=SERIES, writers: int = 4, runs: int = QUERIED, lines: int = LINES,
        log=print) -> dict:
    """One fresh server per cardinality, `lines` lines each; returns {str(series): figures}.
    Raises if a queried series answers other than what was written."""
    res = {}
    for series in series_list:
        if not 1 <= series <= lines:
            raise ValueError(f"{series} series do not fit in {lines} lines")
        steps = lines // series
        n = steps * series  # whole steps
        t0 = time.perf_counter()
        bs = bodies(series, n)
        gen_s = time.perf_counter() - t0
        f = Fletch(work, f"card{series}")
        try:
            cpu0 = cpu_seconds(f.srv.proc.pid)
            secs = f.write_lp_parallel(DB, bs, writers)
            cpu = cpu_seconds(f.srv.proc.pid) - cpu0
            del bs
            rss, hwm = peak_rss(f.srv.proc.pid)
            buffered = query_series(f, series, steps, runs)
            t1 = time.perf_counter()
            f.restart()  # SIGTERM persists the day
            restart_s = time.perf_counter() - t1
            hot_wait = f.wait_hot_tier(600)
            persisted = query_series(f, series, steps, runs)
            rss_after, _ = peak_rss(f.srv.proc.pid)
            pq_bytes, files = f.parquet_bytes()
        finally:
            f.close()
        r = {"series": series, "lines": n, "lines_per_s": n / secs, "ingest_s": secs,
             "server_cpu_us_per_line": cpu / n * 1e6,
             "rss_bytes": rss, "peak_rss_bytes": hwm, "rss_after_restart_bytes": rss_after,
             "query_buffered_s": buffered, "query_persisted_s": persisted,
             "restart_s": restart_s, "hot_wait_s": hot_wait, "parquet_bytes": pq_bytes, "files": files,
             "generate_s": gen_s}
        res[str(series)] = r
        log(f"{series:,} series: {r['lines_per_s']:,.0f} lines/s ({r['server_cpu_us_per_line']:.2f} µs of server CPU each), peak RSS {hwm / 2**20:,.0f} MB, "
            f"one series {statistics.median(buffered) * 1000:.1f} ms buffered, "
            f"{statistics.median(persisted) * 1000:.1f} ms persisted")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", default=",".join(map(str, SERIES)), help="comma-separated cardinalities")
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--lines", type=int, default=LINES, help=f"lines per cardinality (default {LINES:,})")
    ap.add_argument("--runs", type=int, default=QUERIED, help="timed one-series queries per phase")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fletch-card-") as d:
        try:
            res = run(Path(d), [int(s) for s in args.series.split(",")], args.writers, args.runs, args.lines,
                      log=lambda m: print(m, file=sys.stderr))
        finally:
            Fletch.close_all()
    text = json.dumps(res, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
