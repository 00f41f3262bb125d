"""Per-query overhead and many small queries at once: the query-path rows of `make bench`.

- round trips: `SELECT 1` through ADBC (one cursor reused, and a new cursor per query, which
  prepares every time) and through the arrow-go Flight SQL client that Grafana's datasource
  uses (`go test -bench FlightSQL_Select1 ./tests/grafana`, the real binary);
- dashboard load: 16 clients at once, each sending Grafana-style panel queries (1-minute
  `date_bin` maxima of one host over one hour of the TSBS day, a different host and hour
  each time) for a fixed time, through Flight SQL (ADBC, a connection per client) and
  QuestDB's PG wire (psycopg, a connection per client). Reports queries/s and p50/p99.

Every loop is bounded in count and time; everything runs on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path

import tsbs_queries
from fletch_side import adbc_query

REPO = Path(__file__).resolve().parent.parent
DASHBOARD_CLIENTS = 16
DASHBOARD_SECONDS = 10.0


def roundtrips(fletch, db: str, runs: int) -> dict:
    """Seconds of SELECT 1 per client path (lists of runs), against Fletch and, under
    "floor_" keys, against bench/flightfloor (a Flight SQL server that does no work)."""
    out = select1_loops(lambda: fletch.connect(db), runs)
    go = go_select1(fletch)
    if go is not None:
        out["arrow_go"] = [go]
    floor = start_floor()
    if floor is not None:
        proc, addr = floor
        try:
            import adbc_driver_flightsql.dbapi as flightsql

            out.update({"floor_" + k: v for k, v in
                        select1_loops(lambda: flightsql.connect("grpc://" + addr), runs).items()})
            go = go_select1(fletch, floor=addr)
            if go is not None:
                out["floor_arrow_go"] = [go]
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # go run's child too
            proc.wait()
    return out


def start_floor() -> tuple[subprocess.Popen, str] | None:
    """bench/flightfloor started on a free port: (process, HOST:PORT); None without Go."""
    try:
        proc = subprocess.Popen(["go", "run", "./bench/flightfloor"], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    except OSError:
        return None
    line = proc.stdout.readline()
    if not line.startswith("listening "):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None
    return proc, line.split()[1]


def select1_loops(connect, runs: int) -> dict:
    """SELECT 1 through ADBC: one cursor reused, then a new cursor per query."""
    out = {}
    conn = connect()
    try:
        cur = conn.cursor()
        for _ in range(20):
            cur.execute("SELECT 1")
            cur.fetch_arrow_table()
        xs = []
        for _ in range(runs):
            t0 = time.perf_counter()
            cur.execute("SELECT 1")
            cur.fetch_arrow_table()
            xs.append(time.perf_counter() - t0)
        cur.close()
        out["adbc_cursor"] = xs
        for _ in range(20):
            adbc_query(conn, "SELECT 1")
        xs = []
        for _ in range(runs):
            t0 = time.perf_counter()
            adbc_query(conn, "SELECT 1")
            xs.append(time.perf_counter() - t0)
        out["adbc_new_cursor"] = xs
    finally:
        conn.close()
    return out


def go_select1(fletch, floor: str | None = None) -> float | None:
    """Seconds per SELECT 1 from the Go benchmark (it starts its own server from the same
    binary), or against the floor server at floor=HOST:PORT; None when Go is not on this
    machine."""
    env = dict(os.environ, FLETCH_BIN=str(fletch.srv.binary))
    name = "FlightSQL_Select1$"
    if floor:
        env["FLIGHT_FLOOR_ADDR"], name = floor, "FlightSQL_Select1Floor$"
    try:
        proc = subprocess.run(
            ["go", "test", "-tags", "duckdb_arrow", "-run", "^$", "-bench", name,
             "-benchtime", "3s", "./tests/grafana"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"BenchmarkFlightSQL_Select1\S*\s+\d+\s+(\d+) ns/op", proc.stdout)
    return int(m.group(1)) / 1e9 if m else None


def panel_queries(seed: int, n: int) -> list[tuple[str, str, str]]:
    """n Grafana-style panel queries as (host, hour start, hour end) over the TSBS day."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        h = rnd.randrange(100)
        start = rnd.randrange(23 * 60)
        a, b = start, start + 60
        out.append((f"host_{h}", f"{a // 60:02d}:{a % 60:02d}", f"{b // 60:02d}:{b % 60:02d}"))
    return out


def fletch_panel(host: str, a: str, b: str) -> str:
    d = tsbs_queries.DAY
    return (f"SELECT date_bin(INTERVAL '1 minute', time) AS minute, max(usage_user) AS max_usage_user "
            f"FROM cpu WHERE hostname = '{host}' AND time >= '{d}T{a}:00Z' AND time < '{d}T{b}:00Z' "
            f"GROUP BY 1 ORDER BY 1")


def questdb_panel(host: str, a: str, b: str) -> str:
    d = tsbs_queries.DAY
    return (f"SELECT timestamp AS minute, max(usage_user) AS max_usage_user FROM cpu "
            f"WHERE hostname = '{host}' AND timestamp >= '{d}T{a}:00.000000Z' "
            f"AND timestamp < '{d}T{b}:00.000000Z' SAMPLE BY 1m ALIGN TO CALENDAR ORDER BY 1")


def dashboard(connect, run, render, clients: int = DASHBOARD_CLIENTS,
              seconds: float = DASHBOARD_SECONDS) -> dict:
    """clients threads, each with its own connection, send queries back to back for
    `seconds`; returns queries/s, latencies (s) and errors."""
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    conns = [connect() for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(i: int):
        qs = [render(*q) for q in panel_queries(1000 + i, 2000)]
        mine = []
        start.wait()
        k = 0
        while time.perf_counter() < stop_at[0] and k < len(qs):
            t0 = time.perf_counter()
            try:
                run(conns[i], qs[k])
            except Exception as e:  # noqa: BLE001 — counted, not fatal
                with lock:
                    errors.append(str(e).splitlines()[0][:200])
            mine.append(time.perf_counter() - t0)
            k += 1
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join(seconds + 120)
    wall = time.perf_counter() - t0
    for c in conns:
        try:
            c.close()
        except Exception:  # noqa: BLE001
            pass
    lat.sort()
    return {"clients": clients, "seconds": wall, "queries": len(lat), "qps": len(lat) / wall,
            "p50": statistics.median(lat) if lat else None,
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
            "errors": len(errors), "first_error": errors[0] if errors else None}


def fletch_dashboard(fletch, db: str) -> dict:
    # Check one answer has rows before timing.
    conn = fletch.connect(db)
    try:
        assert adbc_query(conn, fletch_panel("host_7", "10:00", "11:00")).num_rows == 60
    finally:
        conn.close()

    def run(conn, sql):
        with conn.cursor() as cur:
            cur.execute(sql)
            cur.fetch_arrow_table()

    return dashboard(lambda: fletch.connect(db), run, fletch_panel)


def dashload_exe(work: Path) -> Path | None:
    """bench/dashload built into work (once), or None when Go is not on this machine."""
    exe = work / "dashload"
    if not exe.exists():
        try:
            subprocess.run(["go", "build", "-tags", "duckdb_arrow", "-o", str(exe), "./bench/dashload"],
                           cwd=REPO, check=True, capture_output=True, timeout=600)
        except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
            return None
    return exe


def go_dashboard(work: Path, flight: str | None = None, pg: str | None = None,
                 duckdb: str | None = None, seconds: float = DASHBOARD_SECONDS,
                 clients: int = DASHBOARD_CLIENTS) -> dict | None:
    """The dashboard load from Go clients, as Grafana sends it (bench/dashload: arrow-go's
    Flight SQL client for Fletch given flight=HOST:PORT, pgx for QuestDB given pg=URL, and
    the DuckDB floor in process on a native table of the Parquet file duckdb=PATH).
    None when Go is not on this machine; raises when the load generator fails."""
    exe = dashload_exe(work)
    if exe is None:
        return None
    cmd = [str(exe), "-clients", str(clients), "-seconds", str(seconds)]
    cmd += (["-flight", flight, "-db", "tsbs"] if flight else ["-pg", pg] if pg else ["-duckdb", duckdb])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300)
    if proc.returncode != 0:
        raise RuntimeError(f"dashload failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    out = json.loads(proc.stdout)
    if out["check_rows"] != 60:
        raise RuntimeError(f"dashload's check query returned {out['check_rows']} rows, not 60")
    return out


def engine_floor(work: Path, floor_parquet: str, runs: int) -> dict | None:
    """The TSBS queries timed on the engine Fletch embeds (duckdb-go's DuckDB, in process, a
    native table of floor_parquet, answers read as Arrow): {"engine": "DuckDB vX", "queries":
    {name: [seconds, ...]}}. None when Go is not on this machine."""
    exe = dashload_exe(work)
    if exe is None:
        return None
    qfile = work / "tsbs-duckdb-queries.json"
    qfile.write_text(json.dumps([{"name": q.name, "sql": q.duckdb} for q in tsbs_queries.queries()]))
    proc = subprocess.run([str(exe), "-duckdb", floor_parquet, "-queries", str(qfile), "-runs", str(runs)],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"dashload -queries failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def questdb_dashboard(qdb) -> dict:
    from questdb import pg_query

    return dashboard(qdb.connect, pg_query, questdb_panel)
