"""The standard mixed workload against the real binary on loopback (make loadtest).

One server (started with --memory-bytes, the cap as one budget) and one Go load
generator, bench/loadgen (arrow-go's Flight SQL client, as Grafana's datasource; net/http
for line protocol), in two phases:
1. calibration: LP_WRITERS line-protocol writers send 24 hours of history for HOSTS hosts
   (a point every 10 s: 8.64 M rows, several persists) as fast as they can: their rate is
   the writers' sustained maximum.
2. mixed load for DURATION seconds (default 600; LOADTEST_SECONDS overrides):
   - the same writers at half that maximum, stamping now;
   - one Arrow DoPut writer (DOPUT_ROWS rows a second, table sensor);
   - a 1-minute materialized view over cpu (cpu_1m) kept current, and compaction running;
   - SMALL_READERS Grafana-style dashboards, one connection each: every REFRESH seconds,
     4 small panels over the last hour (one host's raw points of cpu and of sensor, one
     host of cpu_1m, every host's 1-minute average from cpu_1m);
   - one heavy reader: a 24-hour double group-by over raw cpu every HEAVY_EVERY seconds.
It reports p50/p99/max per query class and per panel, the writers' rate kept against their
target, every error (there should be none), the server's RSS over time against its cap
with DuckDB's own count and the Go heap beside it (LOADTEST_PLOT=FILE.png draws them), and,
after a warm-up (a fifth of the run, at most 120 s), the first, last and largest RSS, open
files, goroutines, Go heap and DuckDB memory, with DuckDB's largest components at the end:
a soak (LOADTEST_SECONDS=3600) should show them flat. The slowest queries are listed with
their start (seconds into the mixed load); LOADTEST_SERVER_ARGS="--flag value ..." adds server
flags and LOADTEST_LP_ROWS_PER_S=N fixes the writers' rate (the calibration varies by 20%
from run to run: an A/B of one setting wants the same load); LOADTEST_LOG=FILE keeps the server's log to set
them beside. Nothing is asserted; the exit status is 1 if any request failed or memory
went past the cap.

    FLETCH_BIN=bin/fletch LOADTEST_SECONDS=120 python3 bench/loadtest.py

Needs Go (to build bench/loadgen) and requests; matplotlib for the plot.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from fletch_server import FletchServer, fletch_binary  # noqa: E402

DURATION = float(os.environ.get("LOADTEST_SECONDS", "600"))
LP_WRITERS, LP_BATCH = 2, 5000
SMALL_READERS, REFRESH = 16, 10.0
HEAVY_EVERY = 30.0
DOPUT_ROWS = 20_000
BUFFER_MAX = 64 << 20
QUERY_MEM = 1 << 30
MEM_CAP = 3 * BUFFER_MAX + QUERY_MEM + (512 << 20)  # 1,728 MiB: the budget, and RSS's cap
DB = "load"
HOSTS = 1000


def rss_bytes(pid: int) -> int:
    try:
        for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) * 1024
    except OSError:
        pass
    return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def server_metrics(http_url: str) -> dict:
    """From /metrics: goroutines, the Go heap in use, DuckDB's memory (bytes, per tag and
    in total) and the C allocators' resident and free bytes (jemalloc: DuckDB's buffer-managed
    memory; glibc: its other C++ objects), so a rise in RSS can be laid at the right door."""
    out = {"goroutines": 0, "go_heap": 0, "duckdb": 0, "duckdb_tags": {}, "native": {}}
    try:
        for ln in requests.get(http_url + "/metrics", timeout=10).text.splitlines():
            if ln.startswith("go_goroutines "):
                out["goroutines"] = int(float(ln.split()[1]))
            elif ln.startswith("go_memstats_heap_inuse_bytes "):
                out["go_heap"] = int(float(ln.split()[1]))
            elif ln.startswith("fletch_duckdb_memory_bytes{"):
                tag = ln.split('tag="', 1)[1].split('"', 1)[0]
                v = int(float(ln.rsplit(" ", 1)[1]))
                out["duckdb_tags"][tag] = v
                out["duckdb"] += v
            elif ln.startswith("fletch_native_memory_bytes{"):
                alloc = ln.split('allocator="', 1)[1].split('"', 1)[0]
                state = ln.split('state="', 1)[1].split('"', 1)[0]
                out["native"][f"{alloc}_{state}"] = int(float(ln.rsplit(" ", 1)[1]))
    except (requests.RequestException, ValueError, IndexError):
        pass
    return out


def leak_check(samples: list[tuple], warm: float) -> dict:
    """RSS, open files, goroutines, Go heap, DuckDB's memory and the C allocators' (MiB)
    after the warm-up: first, last and largest, so growth over a soak shows; and DuckDB's
    largest tags at the last sample."""
    after = [s for s in samples if s["t"] >= warm] or samples
    out = {"warmup_s": round(warm)}
    names = ["rss_mb", "open_files", "goroutines", "go_heap_mb", "duckdb_mb"]
    names += [k + "_mb" for k in ("jemalloc_resident", "jemalloc_allocated", "glibc_in_use", "glibc_free")
              if k in after[-1]["native"]]
    for name in names:
        key = name.removesuffix("_mb")
        vals = [s[key] if key in s else s["native"].get(key, 0) for s in after]
        scale = 2**20 if name.endswith("_mb") else 1
        out[name] = {"first": round(vals[0] / scale), "last": round(vals[-1] / scale), "max": round(max(vals) / scale)}
    tags = after[-1]["duckdb_tags"]
    out["duckdb_last_mb"] = {t: round(b / 2**20) for t, b in sorted(tags.items(), key=lambda kv: -kv[1]) if b >= 2**20}
    return out


def build_loadgen(work: Path) -> Path:
    exe = work / "loadgen"
    subprocess.run(["go", "build", "-o", str(exe), "./bench/loadgen"], cwd=REPO, check=True, timeout=600)
    return exe


def memory_args() -> list[str]:
    """The server's memory flags: the cap as one budget (--memory-bytes: DuckDB, the
    buffer and the hot tier split it), or with LOADTEST_MEMORY=split the 64 MiB buffer
    and 1 GiB DuckDB limit the runs before 2026-12-04's thirteenth session used."""
    if os.environ.get("LOADTEST_MEMORY") == "split":
        return ["--buffer-max-bytes", str(BUFFER_MAX), "--query-memory-bytes", str(QUERY_MEM)]
    return ["--memory-bytes", str(MEM_CAP)]


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        exe = build_loadgen(Path(d))
        srv = FletchServer(fletch_binary(), Path(d) / "data", Path(d) / "fletch.log",
                           args=[*memory_args(), "--persist-interval", "30s",
                                 *shlex.split(os.environ.get("LOADTEST_SERVER_ARGS", ""))]).start()
        base = [str(exe), "-http", srv.http_url, "-flight", srv.grpc_url.removeprefix("grpc://"), "-db", DB,
                "-hosts", str(HOSTS), "-lp-writers", str(LP_WRITERS), "-lp-batch", str(LP_BATCH)]

        # 1. Calibration.
        cal = subprocess.run(base + ["-calibrate"], capture_output=True, text=True, timeout=1800)
        if cal.returncode != 0:
            print(f"calibration failed:\n{cal.stdout}\n{cal.stderr}", file=sys.stderr)
            return 1
        cal_out = json.loads(cal.stdout)
        target = float(os.environ.get("LOADTEST_LP_ROWS_PER_S") or cal_out["rows_per_s"] / 2)
        r = requests.post(srv.http_url + "/api/v3/query_sql", timeout=60, json={"db": DB, "q": (
            "CREATE MATERIALIZED VIEW cpu_1m AS SELECT date_bin(INTERVAL '1 minute', time) AS time, host, "
            "avg(usage) AS usage, max(usage) AS usage_max FROM cpu GROUP BY 1, 2")})
        if r.status_code != 200:
            print(f"create view: {r.status_code} {r.text[:200]}", file=sys.stderr)
            return 1

        # 2. The mixed load, the server's RSS sampled every second.
        start = time.monotonic()
        start_utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        proc = subprocess.Popen(base + ["-lp-rate", str(target), "-seconds", str(DURATION),
                                        "-doput-rows", str(DOPUT_ROWS), "-dashboards", str(SMALL_READERS),
                                        "-refresh", f"{REFRESH}s", "-heavy-every", f"{HEAVY_EVERY}s"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rss: list[tuple[float, int]] = []
        # every 10 s: t, RSS, open files and server_metrics()
        leaks: list[dict] = []
        while proc.poll() is None:
            now = time.monotonic() - start
            rss.append((now, rss_bytes(srv.proc.pid)))
            if not leaks or now - leaks[-1]["t"] >= 10:
                leaks.append({"t": now, "rss": rss[-1][1], "open_files": open_fds(srv.proc.pid),
                              **server_metrics(srv.http_url)})
            time.sleep(1.0)
        stdout, stderr = proc.communicate()
        srv.stop()
        log = (Path(d) / "fletch.log").read_text(errors="replace")
        if keep := os.environ.get("LOADTEST_LOG"):
            Path(keep).write_text(log)
        persists = log.count(" msg=persisted ")
        compactions = log.count(" msg=compacted ")
    try:
        mixed = json.loads(stdout)
    except json.JSONDecodeError:
        print(f"load generator failed ({proc.returncode}):\n{stdout}\n{stderr}", file=sys.stderr)
        return 1

    peak = max((b for _, b in rss), default=0)
    out = {"hosts": HOSTS, "mixed_start_utc": start_utc, "calibration_rows": cal_out["rows"], "lp_max_rows_per_s": round(cal_out["rows_per_s"]),
           **mixed, "peak_rss_mb": round(peak / 2**20), "rss_cap_mb": round(MEM_CAP / 2**20),
           "persists": persists, "compaction_passes": compactions,
           "after_warmup": leak_check(leaks, min(120.0, DURATION / 5))}
    print(json.dumps(out, indent=1))
    plot = os.environ.get("LOADTEST_PLOT")
    if plot and rss:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 3.2))
        ax.plot([t for t, _ in rss], [b / 2**20 for _, b in rss], label="fletch RSS")
        ts = [s["t"] for s in leaks]
        ax.plot(ts, [s["duckdb"] / 2**20 for s in leaks], label="DuckDB's own count")
        ax.plot(ts, [s["go_heap"] / 2**20 for s in leaks], label="Go heap in use")
        if any(s["native"] for s in leaks):
            ax.plot(ts, [s["native"].get("jemalloc_resident", 0) / 2**20 for s in leaks], label="jemalloc resident")
            ax.plot(ts, [(s["native"].get("glibc_in_use", 0) + s["native"].get("glibc_free", 0)) / 2**20
                         for s in leaks], label="glibc heap")
        ax.axhline(MEM_CAP / 2**20, color="C3", linestyle="--", label="cap")
        ax.set_xlabel("seconds into the mixed load")
        ax.set_ylabel("MiB")
        ax.set_title(f"RSS under the mixed load ({round(mixed['seconds'])} s)")
        ax.legend(loc="lower left", ncol=3, fontsize="small")
        fig.tight_layout()
        fig.savefig(plot, dpi=100)
    return 1 if mixed["errors"] or peak > MEM_CAP else 0


if __name__ == "__main__":
    sys.exit(main())
