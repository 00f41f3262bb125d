"""The side-by-side benchmark: Fletch, DuckDB run directly on a Parquet file (the floor) and
QuestDB, on the TSBS cpu-only day; then Fletch alone for DoGet throughput and the leading
edge. Writes its results into docs/benchmarks.md (between marker comments) and prints them.

    pip install -r bench/requirements.txt
    make bench          # or: FLETCH_BIN=bin/fletch python3 bench/run.py --questdb-jar JAR

Measures, never asserts: a figure that misses a goal is reported as missed. Answers are
checked, though: the three systems must agree on every TSBS query before it is timed.
Every server binds to 127.0.0.1 only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(HERE))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

import cardinality  # noqa: E402
import generated  # noqa: E402
import query_path  # noqa: E402
import report  # noqa: E402
import tsbs_data  # noqa: E402
import tsbs_queries  # noqa: E402
from fletch_side import Fletch, adbc_query, send_parallel  # noqa: E402

DB = "tsbs"
QUESTDB_VERSION = "9.3.4"  # latest release on Maven Central when this harness was written
# DoPut batch: 216,000 rows = 6 hours of the TSBS day (about 27 MB of Arrow). On the 2-core
# development machine a sweep of 50k..864k-row batches ran fastest at 200k-400k; one
# 864k-row batch was slowest (nothing overlaps its single WAL write).
DOPUT_BATCH_ROWS = 216_000
DOGET_HOSTS, DOGET_STEPS = 100, 100_000  # 10 M rows, one per host per second (about 28 h)
EDGE_HOSTS, EDGE_STEP_S = 100, 60         # leading edge: 100 hosts, a point a minute
EDGE_BUFFERED_S = 120                     # the last 2 minutes are written after the restart
MIN = 60 * generated.SEC

# The ADBC driver warns on every connection that Fletch offers no transactions.
warnings.filterwarnings("ignore", message="Cannot disable autocommit")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def med(xs):
    return statistics.median(xs)


# -- 1. ingest -----------------------------------------------------------------------------
def fletch_ingest(work, data, args, res):
    """Line protocol then DoPut, each run on a fresh server. The last line-protocol server
    is stopped gracefully and kept for the storage figure and the queries."""
    lp, put = [], []
    keep = None
    for i in range(args.runs):
        f = Fletch(work, "lp")
        lp.append(f.write_lp_parallel(DB, data.bodies, args.writers))
        log(f"fletch line protocol run {i + 1}: {data.lines / lp[-1]:,.0f} lines/s")
        if i == args.runs - 1:
            keep = f
        else:
            f.close()
    persist_s = keep.stop()
    for i in range(args.runs):
        f = Fletch(work, "doput")
        try:
            put.append(f.do_put(DB, "cpu", data.table, DOPUT_BATCH_ROWS))
        finally:
            f.close()
        log(f"fletch DoPut run {i + 1}: {data.lines / put[-1]:,.0f} rows/s")
    res["ingest"].update(fletch_lp=lp, fletch_doput=put, writers=args.writers,
                         chunk_lines=tsbs_data.CHUNK_LINES, doput_batch_rows=DOPUT_BATCH_ROWS)
    pq_bytes, files = keep.parquet_bytes()
    res["storage"].update(fletch_parquet_bytes=pq_bytes, fletch_files=files,
                          fletch_dir_bytes=keep.dir_bytes(), persist_s=persist_s)
    log(f"fletch graceful stop {persist_s:.1f} s: {files} Parquet file(s), {pq_bytes:,} bytes = "
        f"{pq_bytes / data.field_values:.3f} bytes/field value")
    return keep


def questdb_ingest(qdb, data, args, res):
    lp, vis = [], []
    for i in range(args.runs):
        qdb.drop("cpu")
        lp.append(send_parallel(data.bodies, args.writers, qdb.write_lp))
        vis.append(qdb.wait_visible("cpu", data.lines))
        log(f"questdb ILP/HTTP run {i + 1}: {data.lines / lp[-1]:,.0f} lines/s, "
            f"all rows visible {vis[-1]:.2f} s after the last ack")
    res["ingest"].update(questdb_lp=lp, questdb_visible=vis)


# -- 2. TSBS queries -----------------------------------------------------------------------
def tsbs_queries_run(fletch, floor_con, qdb, args, res):
    """Verify every query's answer across the systems, warm up, then time q_runs runs of
    each system in turn (interleaved, so drift hits all of them alike)."""
    from questdb import pg_query

    conn = fletch.connect(DB)
    qconn = qdb.connect() if qdb else None
    systems = {
        "fletch": lambda q: tsbs_queries.answer_from_arrow(adbc_query(conn, q.fletch)),
        "duckdb": lambda q: tsbs_queries.answer_from_arrow(floor_con.sql(q.duckdb).to_arrow_table()),
    }
    if qconn is not None:
        systems["questdb"] = lambda q: tsbs_queries.answer_from_rows(*pg_query(qconn, q.questdb))
    timed = {
        "fletch": lambda q: adbc_query(conn, q.fletch),
        "duckdb": lambda q: floor_con.sql(q.duckdb).to_arrow_table(),
        "questdb": lambda q: pg_query(qconn, q.questdb),
    }
    try:
        res["roundtrip"] = [_time(lambda: adbc_query(conn, "SELECT 1")) for _ in range(args.query_runs + 1)][1:]
        for q in tsbs_queries.queries():
            answers, errors = {}, {}
            for name, ask in systems.items():
                try:
                    answers[name] = ask(q)
                except Exception as e:  # noqa: BLE001 — a system that fails one query is reported, not fatal
                    if name != "questdb":
                        raise
                    errors[name] = str(e).splitlines()[0][:200]
                    log(f"{q.name}: {name} failed: {errors[name]}")
            match = len(set(answers.values())) == 1
            entry = {"what": q.what, "rows": answers["fletch"][0], "match": match,
                     "answers": answers, "errors": errors}
            if not match:
                log(f"{q.name}: ANSWERS DIFFER {answers}")
            for name in answers:  # one warm-up run each (JIT, caches)
                timed[name](q)
            for name in answers:
                entry[name] = []
            for _ in range(args.query_runs):
                for name in answers:
                    entry[name].append(_time(lambda: timed[name](q)))
            entry["explain"] = [explain_total(conn, q.fletch) for _ in range(3)]
            res["queries"][q.name] = entry
            log(f"{q.name}: {entry['rows']} rows, "
                + ", ".join(f"{n} {med(entry[n]) * 1000:.1f} ms" for n in answers))
    finally:
        conn.close()
        if qconn is not None:
            qconn.close()


def buffered_run(work, data, floor_path, args, res, writers: int = 0):
    """The TSBS queries on buffered data, queried before any persist, against DuckDB on a
    native in-memory table of the same rows. writers = 0: one DoPut stream of the day in
    time order (no series ever goes back in time) → res["buffered"]. writers > 0: the
    line-protocol bodies from that many concurrent writers, whose batches of one series
    arrive out of order (the leading edge as Telegraf fleets write it) → res["edge_writers"]."""
    native = duckdb.connect()
    native.execute("SET TimeZone = 'UTC'")
    native.execute(f"CREATE TABLE cpu AS SELECT * FROM read_parquet('{floor_path}')")
    label = f"{writers} writers" if writers else "buffered"
    f = Fletch(work, "edge-writers" if writers else "buffered")
    out = {}
    try:
        if writers:
            f.write_lp_parallel(DB, data.bodies, writers)
        else:
            f.do_put(DB, "cpu", data.table, DOPUT_BATCH_ROWS)
        conn = f.connect(DB)
        try:
            for q in tsbs_queries.queries():
                a = tsbs_queries.answer_from_arrow(adbc_query(conn, q.fletch))
                b = tsbs_queries.answer_from_arrow(native.sql(q.duckdb).to_arrow_table())
                entry = {"match": a == b, "fletch": [], "duckdb": []}
                adbc_query(conn, q.fletch)
                native.sql(q.duckdb).to_arrow_table()
                for _ in range(args.query_runs):
                    entry["fletch"].append(_time(lambda: adbc_query(conn, q.fletch)))
                    entry["duckdb"].append(_time(lambda: native.sql(q.duckdb).to_arrow_table()))
                entry["explain"] = [explain_total(conn, q.fletch) for _ in range(3)]
                out[q.name] = entry
                log(f"{label} {q.name}: fletch {med(entry['fletch']) * 1000:.1f} ms, "
                    f"native {med(entry['duckdb']) * 1000:.1f} ms" + ("" if entry["match"] else " ANSWERS DIFFER"))
        finally:
            conn.close()
    finally:
        f.close()
        native.close()
    res["edge_writers" if writers else "buffered"] = out


def engine_floor_run(work, floor_path, args, res):
    """The TSBS queries on the engine Fletch embeds (its duckdb-go build of DuckDB), in
    process on a native table: the floor for Fletch's own work, with no difference of
    DuckDB version in it (the Python floor may be a newer DuckDB) → res["engine_floor"]."""
    ef = query_path.engine_floor(Path(work), str(floor_path), args.query_runs)
    if ef is None:
        log("engine floor: bench/dashload did not build (is Go on this machine?); skipped")
        return
    res["engine_floor"] = ef
    log(f"engine floor ({ef['engine']}): " + ", ".join(
        f"{name} {med(t) * 1000:.1f} ms" for name, t in ef["queries"].items()))


def persisted_variants_run(fletch, late_line: bytes, args, res):
    """The TSBS queries on the persisted day, Fletch alone: from the hot tier (res["hot_alone"];
    the TSBS table's figures ran interleaved with the other systems), with one late duplicate
    of a persisted point buffered (res["late_dup"]), then after a graceful restart with the
    hot tier off, every file read from Parquet (res["cold"])."""
    from fletch_client import write_lp

    def time_all(label):
        conn = fletch.connect(DB)
        out = {}
        try:
            for q in tsbs_queries.queries():
                got = tsbs_queries.answer_from_arrow(adbc_query(conn, q.fletch))
                out[q.name] = {"match": got == res["queries"][q.name]["answers"]["fletch"],
                               "fletch": [_time(lambda: adbc_query(conn, q.fletch)) for _ in range(args.query_runs)]}
                log(f"{label} {q.name}: fletch {med(out[q.name]['fletch']) * 1000:.1f} ms"
                    + ("" if out[q.name]["match"] else " ANSWERS DIFFER"))
        finally:
            conn.close()
        return out

    res["hot_alone"] = time_all("hot tier")
    r = write_lp(fletch.srv, DB, late_line)
    if r.status_code != 204:
        raise RuntimeError(f"late duplicate write answered {r.status_code}: {r.text[:300]}")
    res["late_dup"] = time_all("late duplicate")
    fletch.restart(args=["--hot-tier-max-bytes", "-1"])
    res["cold"] = time_all("cold Parquet")


def explain_total(conn, sql: str) -> float:
    """DuckDB's own execution time of sql inside Fletch: EXPLAIN ANALYZE's Total Time (s)."""
    plan = adbc_query(conn, "EXPLAIN ANALYZE " + sql)
    m = re.search(r"Total Time: ([0-9.]+)s", plan.column(plan.num_columns - 1)[0].as_py())
    return float(m.group(1)) if m else float("nan")


def query_path_run(fletch, qdb, args, res, floor_path: Path):
    """SELECT 1 round trips, and 16 dashboard clients at once (bench/query_path.py)."""
    out = {"roundtrips": query_path.roundtrips(fletch, DB, max(50, args.query_runs * 20))}
    log("SELECT 1: " + ", ".join(f"{k} {med(v) * 1000:.2f} ms" for k, v in out["roundtrips"].items()))
    out["dashboard_fletch"] = query_path.fletch_dashboard(fletch, DB)
    log(f"dashboard, Fletch: {out['dashboard_fletch']['qps']:.0f} queries/s, "
        f"p99 {out['dashboard_fletch']['p99'] * 1000:.1f} ms, {out['dashboard_fletch']['errors']} errors")
    if qdb is not None:
        out["dashboard_questdb"] = query_path.questdb_dashboard(qdb)
        d = out["dashboard_questdb"]
        log(f"dashboard, QuestDB: {d['qps']:.0f} queries/s, p99 {d['p99'] * 1000:.1f} ms, {d['errors']} errors")
    # The same load from Go clients, as Grafana's datasources send it; Fletch also with
    # --query-threads 1 (each query on one thread), then back to the defaults.
    addr = f"127.0.0.1:{fletch.srv.port}"
    work = Path(fletch.dir)

    def go_row(key, label, **kw):
        d = query_path.go_dashboard(work, **kw)
        if d is None:
            log("dashboard from Go clients: bench/dashload did not build (is Go on this machine?); skipped")
            return False
        out[key] = d
        log(f"dashboard, {label}, Go clients: {d['qps']:.0f} queries/s, p99 {d['p99'] * 1000:.1f} ms, {d['errors']} errors")
        return True

    if go_row("dashboard_fletch_go", "Fletch", flight=addr):
        go_row("dashboard_duckdb_go", "the DuckDB floor", duckdb=str(floor_path))
        if qdb is not None:
            go_row("dashboard_questdb_go", "QuestDB", pg=f"postgres://admin:quest@127.0.0.1:{qdb.pg_port}/qdb")
        out["curve"] = concurrency_curve(work, addr, qdb)
        fletch.restart(args=["--query-threads", "1"])
        fletch.wait_hot_tier()
        go_row("dashboard_fletch_go_t1", "Fletch --query-threads 1", flight=f"127.0.0.1:{fletch.srv.port}")
        fletch.restart(args=[])
        fletch.wait_hot_tier()
    res["query_path"] = out


CURVE_CLIENTS = (1, 4, 16, 64)
CURVE_SECONDS = 5.0


def concurrency_curve(work: Path, flight: str, qdb) -> dict:
    """Queries/s and latency of the dashboard panel query from 1, 4, 16 and 64 Go clients
    at once, Fletch then QuestDB at each step: {"fletch": {"n": dashload result}, "questdb": ...}
    (keys are strings, as they come back from the JSON results file)."""
    curve = {"fletch": {}, "questdb": {}}
    for n in CURVE_CLIENTS:
        k = str(n)
        curve["fletch"][k] = query_path.go_dashboard(work, flight=flight, seconds=CURVE_SECONDS, clients=n)
        if qdb is not None:
            curve["questdb"][k] = query_path.go_dashboard(
                work, pg=f"postgres://admin:quest@127.0.0.1:{qdb.pg_port}/qdb", seconds=CURVE_SECONDS, clients=n)
        log(f"{n} clients: " + ", ".join(f"{name} {v[k]['qps']:.0f} queries/s, p99 {v[k]['p99'] * 1000:.1f} ms"
                                         for name, v in curve.items() if k in v))
    return curve


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# -- 4. DoGet ------------------------------------------------------------------------------
def doget_run(work, args, res):
    f = Fletch(work, "doget")
    try:
        tbl = generated.cpu_like(DOGET_HOSTS, 1767225600 * generated.SEC, generated.SEC, DOGET_STEPS, seed=1)
        put = f.do_put("big", "cpu", tbl, 500_000)
        log(f"DoGet table: {tbl.num_rows:,} rows written by DoPut at {tbl.num_rows / put:,.0f} rows/s")
        del tbl
        f.restart()
        secs, nbytes = [], 0
        for i in range(args.runs + 1):  # the first run warms up
            s, got = f.do_get("big", "SELECT * FROM cpu")
            if got.num_rows != DOGET_HOSTS * DOGET_STEPS:
                raise RuntimeError(f"DoGet returned {got.num_rows} rows")
            nbytes = got.nbytes
            del got
            if i:
                secs.append(s)
                log(f"DoGet run {i}: {nbytes / s / 1e6:,.0f} MB/s")
        res["doget"] = {"rows": DOGET_HOSTS * DOGET_STEPS, "bytes": nbytes, "secs": secs}
    finally:
        f.close()


# -- 5. leading edge -----------------------------------------------------------------------
def edge_run(work, args, res):
    f = Fletch(work, "edge")
    try:
        t_end = time.time_ns() // MIN * MIN
        cut = t_end - EDGE_BUFFERED_S * generated.SEC
        recent, rows = {}, {}
        step = EDGE_STEP_S * generated.SEC
        day_steps = 86_400 // EDGE_STEP_S + 1
        for db, days in (("edge_1d", 1), ("edge_30d", 30), ("edge_365d", 365)):
            if days <= 30:
                steps = days * 86_400 // EDGE_STEP_S + 1
                tbl = generated.cpu_like(EDGE_HOSTS, t_end - (steps - 1) * step, step, steps, seed=days)
            else:
                # A year at one point an hour, then the last day as the others have it:
                # as many daily files as a year of history makes, in a bench-sized table.
                last = generated.cpu_like(EDGE_HOSTS, t_end - (day_steps - 1) * step, step, day_steps, seed=1)
                hours = (days - 1) * 24
                older = generated.cpu_like(EDGE_HOSTS, t_end - (day_steps - 1) * step - hours * 3600 * generated.SEC,
                                           3600 * generated.SEC, hours, seed=days)
                tbl = pa.concat_tables([older, last])
            ts = pc.cast(tbl["time"], pa.int64())
            f.do_put(db, "cpu", tbl.filter(pc.less_equal(ts, cut)), 500_000)
            recent[db] = tbl.filter(pc.greater(ts, cut))
            rows[db] = tbl.num_rows
        f.restart()  # SIGTERM: the history goes to Parquet
        hot_wait = f.wait_hot_tier(600)
        for db, tbl in recent.items():
            f.do_put(db, "cpu", tbl, 500_000)
        iso = lambda ns: dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        sql = ("SELECT hostname, max(usage_user) AS max_usage_user, avg(usage_system) AS mean_usage_system, "
               f"count(*) AS n FROM cpu WHERE time > '{iso(t_end - 5 * MIN)}' AND time <= '{iso(t_end)}' "
               "GROUP BY hostname ORDER BY hostname")
        sql24 = (f"SELECT hostname, avg(usage_user) AS mean_usage_user, count(*) AS n FROM cpu "
                 f"WHERE time > '{iso(t_end - 1440 * MIN)}' AND time <= '{iso(t_end)}' GROUP BY hostname ORDER BY hostname")
        conns = {db: f.connect(db) for db in recent}
        try:
            out = {db: [] for db in recent}
            out24 = {db: [] for db in recent}
            for db, c in conns.items():  # verify and warm up
                for q, want in ((sql, EDGE_HOSTS * 5), (sql24, EDGE_HOSTS * 1440)):
                    n = sum(adbc_query(c, q)["n"].to_pylist())
                    if n != want:
                        raise RuntimeError(f"{db}: {n} rows in the window, expected {want}")
                    adbc_query(c, q)
            for _ in range(args.query_runs):
                for db, c in conns.items():
                    out[db].append(_time(lambda: adbc_query(c, sql)))
                    out24[db].append(_time(lambda: adbc_query(c, sql24)))
        finally:
            for c in conns.values():
                c.close()
        shown = lambda q: (q.replace(iso(t_end - 5 * MIN), "<end − 5 min>")  # noqa: E731
                           .replace(iso(t_end - 1440 * MIN), "<end − 24 h>").replace(iso(t_end), "<end>"))
        res["edge"] = {"1d": out["edge_1d"], "30d": out["edge_30d"], "365d": out["edge_365d"],
                       "24h": {k.removeprefix("edge_"): v for k, v in out24.items()},
                       "rows_1d": rows["edge_1d"], "rows_30d": rows["edge_30d"], "rows_365d": rows["edge_365d"],
                       "sql": shown(sql), "sql24": shown(sql24), "hot_wait_s": hot_wait}
        log(f"leading edge: 1 d {med(out['edge_1d']) * 1000:.1f} ms, 30 d {med(out['edge_30d']) * 1000:.1f} ms, "
            f"365 d {med(out['edge_365d']) * 1000:.1f} ms; 24 h: "
            + ", ".join(f"{k.removeprefix('edge_')} {med(v) * 1000:.1f} ms" for k, v in out24.items()))
    finally:
        f.close()


# -- the run -------------------------------------------------------------------------------
def cpu_seconds() -> tuple[float, float]:
    """(CPU seconds the whole machine has been busy, CPU seconds this process and its
    waited-for children used): their deltas over the run tell how much other programs
    competed with the benchmark for the cores."""
    import resource

    hz = os.sysconf("SC_CLK_TCK")
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = (sum(v[:8]) - v[3] - v[4]) / hz  # user..steal, less idle and iowait
    except (OSError, ValueError, IndexError):
        busy = float("nan")
    own = sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                resource.getrusage(resource.RUSAGE_CHILDREN)))
    return busy, own


def settle(max_wait: float) -> float:
    """Wait (at most max_wait seconds) until the 1-minute load average is below 1, so the
    run starts on a quiet machine; returns the load average it starts with."""
    deadline = time.monotonic() + max_wait
    while os.getloadavg()[0] >= 1.0 and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


def environment(args) -> dict:
    def sh(*cmd) -> str:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO)
            return (p.stdout or p.stderr).strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    cpu = "?"
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
        mem_kb = next(int(ln.split()[1]) for ln in open("/proc/meminfo") if ln.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem_kb = 0
    import adbc_driver_flightsql
    return {
        "date": dt.date.today().isoformat(), "cores": os.cpu_count(),
        "machine": f"{cpu}, {os.cpu_count()} cores, {mem_kb / 2**20:.0f} GiB, {platform.system()} {platform.release()}",
        "fletch": sh("git", "describe", "--always", "--dirty"),
        "duckdb": duckdb.__version__, "pyarrow": pa.__version__,
        "adbc": getattr(adbc_driver_flightsql, "__version__", "?"),
        "java": sh(args.java, "-version").splitlines()[0] if shutil.which(args.java) else "no java",
        "questdb": "?",
        # The version make bench asked Maven for, from the jar's name (questdb-VERSION.jar).
        "questdb_version_wanted": Path(args.questdb_jar).stem.removeprefix("questdb-"),
    }


def questdb_unavailable(args) -> str | None:
    """Why QuestDB cannot run here, or None."""
    if args.no_questdb:
        return "skipped (--no-questdb)."
    if not shutil.which(args.java):
        return f"`{args.java}` not found; QuestDB {QUESTDB_VERSION} needs Java 17 or later."
    if not args.questdb_jar or not Path(args.questdb_jar).is_file():
        return (f"no QuestDB jar at `{args.questdb_jar}` (`make bench` fetches "
                f"org.questdb:questdb:{QUESTDB_VERSION} with `mvn dependency:copy`; did Maven fail?).")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (`pip install -r bench/requirements.txt`)."
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs per ingest and DoGet figure (default 5)")
    ap.add_argument("--query-runs", type=int, default=5, help="timed runs per query and system (default 5)")
    ap.add_argument("--writers", type=int, default=4, help="concurrent line-protocol writers (default 4)")
    ap.add_argument("--questdb-jar", default=str(HERE / ".cache" / f"questdb-{QUESTDB_VERSION}.jar"))
    ap.add_argument("--java", default="java")
    ap.add_argument("--no-questdb", action="store_true", help="measure Fletch and the floor only")
    ap.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"),
                    help="Markdown file whose generated section is rewritten ('-': print only)")
    ap.add_argument("--json", help="also write the raw results (every run) to this file")
    ap.add_argument("--settle", type=float, default=300, metavar="SECONDS",
                    help="wait up to this long for a 1-minute load average below 1 before starting "
                         "(default 300; 0 starts at once)")
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 20 or not 1 <= args.query_runs <= 50:
        ap.error("--runs must be 1..20 and --query-runs 1..50")

    # SIGTERM (a stopped make, a CI timeout) unwinds like an error, so every server this
    # run started is stopped and its temporary directory removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load0 = settle(args.settle)
    busy0, own0 = cpu_seconds()
    t_start = time.perf_counter()
    res = {"env": environment(args), "runs": args.runs, "query_runs": args.query_runs,
           "ingest": {}, "storage": {}, "queries": {}, "questdb_error": questdb_unavailable(args)}
    work = Path(tempfile.mkdtemp(prefix="fletch-bench-"))
    qdb = None
    try:
        data = tsbs_data.load()
        res["env"]["tsbs"] = ("the real TSBS file from $FLETCH_TSBS_DIR" if os.environ.get("FLETCH_TSBS_DIR")
                              else "generated by scripts/tsbs_generate.py")
        res["data"] = {"lines": data.lines, "field_values": data.field_values}
        log(f"TSBS day: {data.lines:,} lines parsed in {data.prep_seconds:.1f} s")
        keep = fletch_ingest(work, data, args, res)

        floor = duckdb.connect()
        floor.execute("SET TimeZone = 'UTC'")
        floor_path = work / "floor.parquet"
        res["storage"]["floor_bytes"] = tsbs_data.write_floor_parquet(floor, data.table, floor_path)
        floor.execute(f"CREATE VIEW cpu AS SELECT * FROM read_parquet('{floor_path}')")
        # The buffered runs before QuestDB starts: its background work after an ingest
        # (applying its WAL, the JVM's compiler and collector) would share the two cores
        # with them, and their figures are Fletch's against the floor alone.
        buffered_run(work, data, floor_path, args, res)
        buffered_run(work, data, floor_path, args, res, writers=args.writers)
        engine_floor_run(work, floor_path, args, res)

        if res["questdb_error"] is None:
            from questdb import QuestDB, QuestDBError
            try:
                qdb = QuestDB(Path(args.questdb_jar), args.java).start()
                res["env"]["questdb"] = qdb.version
                log(f"QuestDB up: {res['env']['questdb']}")
                questdb_ingest(qdb, data, args, res)
            except (QuestDBError, OSError) as e:
                res["questdb_error"] = f"QuestDB failed here: {str(e).splitlines()[0]}"
                log(res["questdb_error"])
                if qdb is not None:
                    qdb.stop()
                    qdb = None

        # An exact retry of the day's first line: a late duplicate of a persisted point that
        # changes no answer.
        late_line = data.bodies[0].split(b"\n", 1)[0] + b"\n"
        del data
        keep.restart()
        res["storage"]["hot_wait_s"] = keep.wait_hot_tier()
        log(f"hot tier loaded {res['storage']['hot_wait_s']:.1f} s after the restart")
        try:
            tsbs_queries_run(keep, floor, qdb, args, res)
            query_path_run(keep, qdb, args, res, floor_path)
            # QuestDB is done: stopped before Fletch's runs alone, so its JVM's
            # background work after the concurrency runs is not in them.
            if qdb is not None:
                try:
                    res["storage"]["questdb_bytes"] = qdb.stop_and_measure("cpu")
                except Exception as e:  # noqa: BLE001 — the size is a side figure
                    log(f"QuestDB table size not measured: {e}")
                qdb.stop()
                qdb = None
            persisted_variants_run(keep, late_line, args, res)
        finally:
            keep.close()
            floor.close()
        doget_run(work, args, res)
        edge_run(work, args, res)
        res["cardinality"] = cardinality.run(work, writers=args.writers, runs=args.query_runs, log=log)
    finally:
        Fletch.close_all()
        if qdb is not None:
            qdb.stop()
        shutil.rmtree(work, ignore_errors=True)
    res["elapsed_s"] = time.perf_counter() - t_start
    busy1, own1 = cpu_seconds()
    res["env"]["load_start"] = load0
    res["env"]["others_cpu_s"] = max(0.0, (busy1 - busy0) - (own1 - own0))

    section = report.render(res)
    print(section)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    if args.out != "-":
        report.splice(Path(args.out), section)
        log(f"wrote the generated section of {args.out}")
        for png in report.plot_all(res, Path(args.out).parent):
            log(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
