"""The standard mixed workload against the real binary on loopback (make loadtest).

Two phases on one server (started with --buffer-max-bytes / --query-memory-bytes caps):
1. calibration: LP_WRITERS line-protocol writers send 24 hours of history for HOSTS hosts
   (one point a minute) as fast as they can: their rate is the writers' maximum.
2. mixed load for DURATION seconds (default 600; LOADTEST_SECONDS overrides):
   - the same writers at half that maximum, stamping now;
   - one Arrow DoPut writer (DOPUT_ROWS rows a second);
   - a 1-minute materialized view over cpu kept current, and compaction running;
   - SMALL_READERS Grafana-style dashboards (ADBC, one connection each): every REFRESH
     seconds, PANELS small date_bin queries over the last hour;
   - one heavy reader: a 24-hour double group-by every HEAVY_EVERY seconds.
It reports per query class p50/p99/max, the writers' rate kept against their target, every
error (there should be none), and the server's RSS over time against its cap
(LOADTEST_PLOT=FILE.png draws it). Nothing is asserted; the exit status is 1 if any request
failed or memory went past the cap.

    FLETCH_BIN=bin/fletch LOADTEST_SECONDS=120 python3 bench/loadtest.py
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from fletch_client import adbc_connect, grpc_code  # noqa: E402
from fletch_server import FletchServer, fletch_binary  # noqa: E402

DURATION = float(os.environ.get("LOADTEST_SECONDS", "600"))
LP_WRITERS = 2
SMALL_READERS, REFRESH, PANELS = 16, 10.0, 4
HEAVY_EVERY = 30.0
DOPUT_ROWS = 20_000
LP_BATCH = 5000
BUFFER_MAX = 64 << 20
QUERY_MEM = 1 << 30
MEM_CAP = 3 * BUFFER_MAX + QUERY_MEM + (512 << 20)  # buffers, queries, runtime slack
DB = "load"
HOSTS = 200
RETRY_FOR = 30.0  # seconds a writer keeps retrying one batch through back-pressure


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def pct(xs: list[float], q: float) -> float | None:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))] * 1000, 1) if xs else None


def main() -> int:
    errors: list[str] = []
    lock = threading.Lock()
    stats = {"lp_rows": 0, "arrow_rows": 0, "backpressure_retries": 0}
    latencies: dict[str, list[float]] = {"small": [], "heavy": []}

    def fail(msg):
        with lock:
            errors.append(msg)

    def backpressure(since: float, wait: float) -> bool:
        """Count one retry and sleep; False once the batch has been refused for RETRY_FOR."""
        if time.monotonic() - since > RETRY_FOR:
            return False
        with lock:
            stats["backpressure_retries"] += 1
        time.sleep(wait)
        return True

    def post_lp(s: requests.Session, srv, body: str) -> bool:
        since = time.monotonic()
        while True:
            r = s.post(srv.http_url + "/api/v2/write", params={"bucket": DB, "precision": "ns"}, data=body, timeout=60)
            if r.status_code != 429:
                break
            try:
                wait = float(r.headers.get("Retry-After", "1"))
            except ValueError:
                wait = 1.0
            if not backpressure(since, wait):
                break
        if r.status_code != 204:
            fail(f"lp write: {r.status_code} {r.text[:200]}")
            return False
        return True

    with tempfile.TemporaryDirectory() as d:
        srv = FletchServer(fletch_binary(), Path(d) / "data", Path(d) / "fletch.log",
                           args=["--buffer-max-bytes", str(BUFFER_MAX), "--query-memory-bytes", str(QUERY_MEM),
                                 "--persist-interval", "30s"]).start()

        # 1. Calibration: 24 h of history, as fast as the writers go.
        history_end = time.time_ns() // 60_000_000_000 * 60_000_000_000
        minutes = 24 * 60
        t_cal = time.perf_counter()

        def history_writer(n):
            s = requests.Session()
            rnd = random.Random(n)
            lines = []
            for m in range(n, minutes, LP_WRITERS):
                ts = history_end - (minutes - m) * 60_000_000_000
                lines.extend(f"cpu,host=h{h},w=lp{n} usage={rnd.random() * 100},n={m}i {ts}" for h in range(HOSTS))
                if len(lines) >= LP_BATCH:
                    if post_lp(s, srv, "\n".join(lines)):
                        with lock:
                            stats["lp_rows"] += len(lines)
                    lines = []
            if lines and post_lp(s, srv, "\n".join(lines)):
                with lock:
                    stats["lp_rows"] += len(lines)

        cal = [threading.Thread(target=history_writer, args=(i,)) for i in range(LP_WRITERS)]
        for t in cal:
            t.start()
        for t in cal:
            t.join()
        max_rate = stats["lp_rows"] / (time.perf_counter() - t_cal)
        target = max_rate / 2
        stats["lp_rows"] = 0
        r = requests.post(srv.http_url + "/api/v3/query_sql", timeout=60, json={"db": DB, "q": (
            "CREATE MATERIALIZED VIEW cpu_1m AS SELECT date_bin(INTERVAL '1 minute', time) AS time, host, "
            "avg(usage) AS usage, max(usage) AS usage_max FROM cpu GROUP BY 1, 2")})
        if r.status_code != 200:
            fail(f"create view: {r.status_code} {r.text[:200]}")

        # 2. The mixed load.
        stop = time.monotonic() + DURATION

        def lp_writer(n):
            s = requests.Session()
            rnd = random.Random(n)
            per_writer = target / LP_WRITERS
            t0 = time.monotonic()
            sent = 0
            while time.monotonic() < stop:
                ahead = sent / per_writer - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(min(ahead, 1.0))
                    continue
                now = time.time_ns()
                body = "\n".join(f"cpu,host=h{rnd.randrange(HOSTS)},w=lp{n} usage={rnd.random() * 100},n={i}i {now + i}"
                                  for i in range(LP_BATCH))
                if post_lp(s, srv, body):
                    with lock:
                        stats["lp_rows"] += LP_BATCH
                sent += LP_BATCH

        def arrow_writer():
            client = flight.connect(srv.grpc_url)
            rnd = random.Random(100)
            while time.monotonic() < stop:
                t_next = time.monotonic() + 1.0
                now = time.time_ns()
                t = pa.table({
                    "host": pa.array([f"h{rnd.randrange(HOSTS)}" for _ in range(DOPUT_ROWS)]).dictionary_encode(),
                    "temp": pa.array([rnd.random() * 40 for _ in range(DOPUT_ROWS)]),
                    "time": pa.array([now + i for i in range(DOPUT_ROWS)], pa.timestamp("ns", tz="UTC")),
                })
                since = time.monotonic()
                while True:
                    try:
                        w, r = client.do_put(flight.FlightDescriptor.for_path(DB, "sensor"), t.schema)
                        w.write_table(t)
                        w.done_writing()
                        r.read()
                        w.close()
                        with lock:
                            stats["arrow_rows"] += DOPUT_ROWS
                    except Exception as e:  # noqa: BLE001
                        if grpc_code(e) == "RESOURCE_EXHAUSTED" and backpressure(since, 1.0):
                            continue
                        fail(f"doput: {e}")
                    break
                time.sleep(max(0.0, t_next - time.monotonic()))

        def panels(rnd) -> list[str]:
            h = rnd.randrange(HOSTS)
            return [
                f"SELECT date_bin(INTERVAL '1 minute', time) AS time, max(usage) FROM cpu WHERE host = 'h{h}' "
                "AND time >= now() - INTERVAL '1 hour' GROUP BY 1 ORDER BY 1",
                "SELECT date_bin(INTERVAL '1 minute', time) AS time, avg(usage) FROM cpu "
                "WHERE time >= now() - INTERVAL '1 hour' GROUP BY 1 ORDER BY 1",
                "SELECT date_bin(INTERVAL '10 seconds', time) AS time, avg(temp) FROM sensor "
                "WHERE time >= now() - INTERVAL '1 hour' GROUP BY 1 ORDER BY 1",
                f"SELECT time, usage, usage_max FROM cpu_1m WHERE host = 'h{h}' "
                "AND time >= now() - INTERVAL '1 hour' ORDER BY time",
            ][:PANELS]

        def run_query(conn, q: str, cls: str):
            t0 = time.perf_counter()
            try:
                with conn.cursor() as cur:
                    cur.execute(q)
                    cur.fetch_arrow_table()
            except Exception as e:  # noqa: BLE001
                fail(f"{cls} query {q[:50]}: {e}")
                return
            with lock:
                latencies[cls].append(time.perf_counter() - t0)

        def dashboard(n):
            rnd = random.Random(200 + n)
            with adbc_connect(srv, DB) as conn:
                time.sleep(rnd.uniform(0, REFRESH))  # dashboards do not refresh in step
                while time.monotonic() < stop:
                    t_next = time.monotonic() + REFRESH
                    for q in panels(rnd):
                        run_query(conn, q, "small")
                    time.sleep(max(0.0, min(t_next, stop) - time.monotonic()))

        def heavy():
            with adbc_connect(srv, DB) as conn:
                while time.monotonic() < stop:
                    t_next = time.monotonic() + HEAVY_EVERY
                    run_query(conn, "SELECT date_bin(INTERVAL '1 hour', time) AS hour, host, avg(usage), max(usage), "
                                    "count(*) FROM cpu WHERE time >= now() - INTERVAL '24 hours' GROUP BY 1, 2 ORDER BY 1, 2",
                              "heavy")
                    time.sleep(max(0.0, min(t_next, stop) - time.monotonic()))

        threads = ([threading.Thread(target=lp_writer, args=(i,)) for i in range(LP_WRITERS)]
                   + [threading.Thread(target=arrow_writer)]
                   + [threading.Thread(target=dashboard, args=(i,)) for i in range(SMALL_READERS)]
                   + [threading.Thread(target=heavy)])
        start = time.monotonic()
        for t in threads:
            t.start()
        rss: list[tuple[float, int]] = []
        while any(t.is_alive() for t in threads):
            rss.append((time.monotonic() - start, rss_bytes(srv.proc.pid)))
            time.sleep(1.0)
        elapsed = time.monotonic() - start
        srv.stop()
        log = (Path(d) / "fletch.log").read_text(errors="replace")
        persists = log.count(" msg=persisted ")
        compactions = log.count(" msg=compacted ")

    peak = max((b for _, b in rss), default=0)
    out = {
        "seconds": round(elapsed, 1),
        "lp_max_rows_per_s": round(max_rate), "lp_target_rows_per_s": round(target),
        "lp_rows_per_s": round(stats["lp_rows"] / elapsed),
        "lp_kept": round(stats["lp_rows"] / elapsed / target, 3),
        "arrow_rows_per_s": round(stats["arrow_rows"] / elapsed),
        "peak_rss_mb": round(peak / 2**20), "rss_cap_mb": round(MEM_CAP / 2**20),
        "persists": persists, "compaction_passes": compactions,
        "backpressure_retries": stats["backpressure_retries"],
        "errors": len(errors),
    }
    for cls, xs in latencies.items():
        out[cls] = {"queries": len(xs), "p50_ms": pct(xs, 0.5), "p99_ms": pct(xs, 0.99), "max_ms": pct(xs, 1.0)}
    print(json.dumps(out, indent=1))
    plot = os.environ.get("LOADTEST_PLOT")
    if plot and rss:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 3.2))
        ax.plot([t for t, _ in rss], [b / 2**20 for _, b in rss], label="fletch RSS")
        ax.axhline(MEM_CAP / 2**20, color="C3", linestyle="--", label="cap")
        ax.set_xlabel("seconds into the mixed load")
        ax.set_ylabel("MiB")
        ax.set_title(f"RSS under the mixed load ({round(elapsed)} s)")
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(plot, dpi=100)
    for e in errors[:20]:
        print("error:", e)
    return 1 if errors or peak > MEM_CAP else 0


if __name__ == "__main__":
    sys.exit(main())
