"""An independent oracle for the TSBS cpu-only data set.

It parses the raw line-protocol file with plain Python (TSBS cpu lines have no escapes:
`cpu,<tags> <fields> <ts>`, integer fields end with `i`) and loads it into an in-process
DuckDB table `cpu(hostname, ts BIGINT ns, <10 fields BIGINT>)`. Nothing here talks to Fletch.

Run `python3 tsbs_oracle.py [file]` to time the parse on its own.
"""

from __future__ import annotations

import gzip
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TSBS_CPU = REPO.parent / "shared" / "data" / "tsbs-cpu-100hosts-1day.lp.gz"
TSBS_CPU_LINES = 864_000  # from the data set's README (100 hosts x 8,640 ten-second steps)

TAG_KEYS = ("hostname", "region", "datacenter", "rack", "os", "arch", "team", "service",
            "service_version", "service_environment")
FIELD_KEYS = ("usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
              "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice")


def read_lines(path: Path = TSBS_CPU) -> list[bytes]:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    lines = raw.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines


@dataclass
class Parsed:
    hostname: list = field(default_factory=list)
    ts: list = field(default_factory=list)
    fields: dict = field(default_factory=dict)  # field key -> list of int
    tagsets: Counter = field(default_factory=Counter)  # tuple of TAG_KEYS values -> lines


def parse(lines: list[bytes]) -> Parsed:
    """Parse TSBS cpu lines; raises ValueError on anything unexpected."""
    out = Parsed()
    keys = None
    cols = None
    series_host: dict[bytes, str] = {}
    series_count: Counter = Counter()
    host_append, ts_append = out.hostname.append, out.ts.append
    for n, line in enumerate(lines, 1):
        parts = line.split(b" ")
        if len(parts) != 3:
            raise ValueError(f"line {n}: expected 3 space-separated parts: {line[:200]!r}")
        series, fieldset, ts = parts
        host = series_host.get(series)
        if host is None:
            meas, *tags = series.decode().split(",")
            if meas != "cpu":
                raise ValueError(f"line {n}: measurement {meas!r}")
            tagmap = dict(t.split("=", 1) for t in tags)
            if tuple(sorted(tagmap)) != tuple(sorted(TAG_KEYS)):
                raise ValueError(f"line {n}: tag keys {sorted(tagmap)}")
            host = series_host[series] = tagmap["hostname"]
        series_count[series] += 1
        host_append(host)
        ts_append(int(ts))
        kvs = fieldset.split(b",")
        k = tuple(kv[: kv.index(b"=")] for kv in kvs)
        if k != keys:
            if keys is not None:
                raise ValueError(f"line {n}: field keys {k} differ from {keys}")
            keys = k
            cols = [[] for _ in keys]
        for col, kv in zip(cols, kvs):
            if kv[-1:] != b"i":
                raise ValueError(f"line {n}: not an integer field: {kv!r}")
            col.append(int(kv[kv.index(b"=") + 1 : -1]))
    names = tuple(k.decode() for k in keys)
    if sorted(names) != sorted(FIELD_KEYS):
        raise ValueError(f"field keys {names}")
    out.fields = dict(zip(names, cols))
    for series, count in series_count.items():
        tagmap = dict(t.split("=", 1) for t in series.decode().split(",")[1:])
        out.tagsets[tuple(tagmap[k] for k in TAG_KEYS)] += count
    return out


def load_duckdb(parsed: Parsed):
    """An in-process DuckDB connection holding table cpu(hostname, ts BIGINT, fields...)."""
    import duckdb
    import pyarrow as pa

    cols = {"hostname": pa.array(parsed.hostname, pa.string()),
            "ts": pa.array(parsed.ts, pa.int64())}
    for k in FIELD_KEYS:
        cols[k] = pa.array(parsed.fields[k], pa.int64())
    arrow_cpu = pa.table(cols)
    con = duckdb.connect()
    con.register("arrow_cpu", arrow_cpu)
    con.execute("CREATE TABLE cpu AS SELECT * FROM arrow_cpu").fetchall()
    con.unregister("arrow_cpu")
    return con


# -- the oracle's answers (plain integer time arithmetic, no date_bin) ---------------------
MINUTE_NS = 60 * 1_000_000_000
HOUR_NS = 60 * MINUTE_NS


def minute_max(con, host: str, start_ns: int, end_ns: int) -> list[tuple]:
    """(bucket_ns, max(usage_user)) per 1-minute bucket in [start, end)."""
    return con.execute(
        f"SELECT ts // {MINUTE_NS} * {MINUTE_NS} AS bucket, max(usage_user) FROM cpu "
        "WHERE hostname = ? AND ts >= ? AND ts < ? GROUP BY 1 ORDER BY 1",
        [host, start_ns, end_ns],
    ).fetchall()


def hourly_means(con) -> list[tuple]:
    """(hostname, hour_ns, avg(f) for f in FIELD_KEYS) per host and hour."""
    avgs = ", ".join(f"avg({k})" for k in FIELD_KEYS)
    return con.execute(
        f"SELECT hostname, ts // {HOUR_NS} * {HOUR_NS} AS hour, {avgs} FROM cpu "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()


def lastpoint(con) -> list[tuple]:
    """(hostname, usage_user at the host's latest ts, latest ts) per host."""
    return con.execute(
        "SELECT hostname, arg_max(usage_user, ts), max(ts) FROM cpu GROUP BY 1 ORDER BY 1"
    ).fetchall()


def count(con) -> int:
    return con.execute("SELECT count(*) FROM cpu").fetchall()[0][0]


def main(argv):
    path = Path(argv[1]) if len(argv) > 1 else TSBS_CPU
    t0 = time.perf_counter()
    lines = read_lines(path)
    t1 = time.perf_counter()
    parsed = parse(lines)
    t2 = time.perf_counter()
    con = load_duckdb(parsed)
    t3 = time.perf_counter()
    print(f"read+gunzip {t1 - t0:.2f}s, parse {len(lines):,} lines {t2 - t1:.2f}s, "
          f"duckdb load {t3 - t2:.2f}s")
    print("count", count(con), "tag sets", len(parsed.tagsets))
    print("lastpoint[:3]", lastpoint(con)[:3])
    print("minute_max host_7 10:00..10:03", minute_max(
        con, "host_7", 1767261600 * 10**9, 1767261600 * 10**9 + 3 * MINUTE_NS))
    print("hourly_means[0]", hourly_means(con)[0])


if __name__ == "__main__":
    main(sys.argv)
