"""A bounded load test against the real binary on loopback (make loadtest).

For DURATION seconds (default 600; LOADTEST_SECONDS overrides): line-protocol writers
over HTTP, Arrow DoPut writers and Flight SQL (ADBC) readers run at once against one
server started with --buffer-max-bytes / --query-memory-bytes caps. It reports writes
(rows/s), query latency (p50, p99), every error (there should be none), and the server's
peak resident memory against its cap. Nothing is asserted; the exit status is 1 if any
request failed or memory went past the cap.

    FLETCH_BIN=bin/fletch LOADTEST_SECONDS=120 python3 bench/loadtest.py
"""

from __future__ import annotations

import json
import os
import random
import statistics
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
LP_WRITERS, ARROW_WRITERS, READERS = 2, 1, 2
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


def main() -> int:
    stop = time.monotonic() + DURATION
    errors: list[str] = []
    lock = threading.Lock()
    stats = {"lp_rows": 0, "arrow_rows": 0, "queries": 0, "backpressure_retries": 0}
    latencies: list[float] = []

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

    with tempfile.TemporaryDirectory() as d:
        srv = FletchServer(fletch_binary(), Path(d) / "data", Path(d) / "fletch.log",
                           args=["--buffer-max-bytes", str(BUFFER_MAX), "--query-memory-bytes", str(QUERY_MEM),
                                 "--persist-interval", "30s"]).start()
        peak = 0

        def lp_writer(n):
            s = requests.Session()
            rnd = random.Random(n)
            while time.monotonic() < stop:
                now = time.time_ns()
                body = "\n".join(f"cpu,host=h{rnd.randrange(HOSTS)},w=lp{n} usage={rnd.random() * 100},n={i}i {now + i}"
                                 for i in range(5000))
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
                    continue
                with lock:
                    stats["lp_rows"] += 5000

        def arrow_writer(n):
            client = flight.connect(srv.grpc_url)
            rnd = random.Random(100 + n)
            while time.monotonic() < stop:
                now = time.time_ns()
                rows = 20000
                t = pa.table({
                    "host": pa.array([f"h{rnd.randrange(HOSTS)}" for _ in range(rows)]).dictionary_encode(),
                    "temp": pa.array([rnd.random() * 40 for _ in range(rows)]),
                    "time": pa.array([now + i for i in range(rows)], pa.timestamp("ns", tz="UTC")),
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
                            stats["arrow_rows"] += rows
                    except Exception as e:  # noqa: BLE001
                        if grpc_code(e) == "RESOURCE_EXHAUSTED" and backpressure(since, 1.0):
                            continue
                        fail(f"doput: {e}")
                    break

        queries = [
            "SELECT host, max(usage) FROM cpu WHERE time >= now() - INTERVAL '1 minute' GROUP BY host",
            "SELECT date_bin(INTERVAL '10 seconds', time) AS t, avg(temp) FROM sensor WHERE time >= now() - INTERVAL '5 minutes' GROUP BY 1 ORDER BY 1",
            "SELECT host, selector_last(usage, time)['value'] FROM cpu GROUP BY host",
            "SELECT count(*) FROM cpu",
        ]

        def reader(n):
            rnd = random.Random(200 + n)
            with adbc_connect(srv, DB) as conn:
                while time.monotonic() < stop:
                    q = rnd.choice(queries)
                    t0 = time.perf_counter()
                    try:
                        with conn.cursor() as cur:
                            cur.execute(q)
                            cur.fetch_arrow_table()
                    except Exception as e:  # noqa: BLE001
                        if "does not exist" in str(e) and time.monotonic() < stop - DURATION + 10:
                            time.sleep(0.2)  # tables appear with the first writes
                            continue
                        fail(f"query {q[:40]}: {e}")
                        continue
                    with lock:
                        latencies.append(time.perf_counter() - t0)
                        stats["queries"] += 1

        threads = ([threading.Thread(target=lp_writer, args=(i,)) for i in range(LP_WRITERS)]
                   + [threading.Thread(target=arrow_writer, args=(i,)) for i in range(ARROW_WRITERS)]
                   + [threading.Thread(target=reader, args=(i,)) for i in range(READERS)])
        start = time.monotonic()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            peak = max(peak, rss_bytes(srv.proc.pid))
            time.sleep(0.5)
        elapsed = time.monotonic() - start
        srv.stop()
        log = (Path(d) / "fletch.log").read_text(errors="replace")
        persists = log.count(" msg=persisted ")
        compactions = log.count(" msg=compacted ")

    lat = sorted(latencies)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")  # noqa: E731
    print(json.dumps({
        "seconds": round(elapsed, 1),
        "lp_rows_per_s": round(stats["lp_rows"] / elapsed),
        "arrow_rows_per_s": round(stats["arrow_rows"] / elapsed),
        "queries": stats["queries"],
        "query_p50_ms": round(p(0.50), 1), "query_p99_ms": round(p(0.99), 1),
        "query_mean_ms": round(statistics.mean(lat) * 1000, 1) if lat else None,
        "peak_rss_mb": round(peak / 2**20), "rss_cap_mb": round(MEM_CAP / 2**20),
        "persists": persists, "compaction_passes": compactions,
        "backpressure_retries": stats["backpressure_retries"],
        "errors": len(errors),
    }, indent=1))
    for e in errors[:20]:
        print("error:", e)
    return 1 if errors or peak > MEM_CAP else 0


if __name__ == "__main__":
    sys.exit(main())
