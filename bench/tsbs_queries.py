"""The TSBS devops query set over the cpu day, in three dialects, and answer checksums.

TSBS draws each query's hosts and time window at random; here they are fixed, so every
run and every system answers the same question (the day is 2026-01-01T00:00Z..+24h):

| query | hosts | window |
|---|---|---|
| single-groupby-1-1-1 | host_7 | 10:00–11:00 |
| single-groupby-5-1-12 | host_7 | 06:00–18:00 |
| cpu-max-all-8 | HOSTS_8 | 08:00–16:00 |
| double-groupby-1, -all | all | 06:00–18:00 |
| high-cpu-1 | host_7 | 06:00–18:00 |
| high-cpu-all | all | 06:00–18:00 |
| lastpoint | all | whole table |
| groupby-orderby-limit | all | time < 18:00 |

Dialects: Fletch SQL (DuckDB's plus `date_bin`), plain DuckDB over the floor's Parquet file
(`time_bucket`; `time` is a plain TIMESTAMP there) and QuestDB (SAMPLE BY, LATEST ON; the
designated timestamp column that line protocol creates is named `timestamp`). Every
query names its output columns the same way in all three, so answers can be compared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

import pyarrow as pa

FIELDS = ("usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
          "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice")
FIELDS_5 = FIELDS[:5]  # TSBS's "5 metrics" are the first five cpu fields
HOST_1 = "host_7"
HOSTS_8 = ("host_1", "host_12", "host_23", "host_34", "host_45", "host_56", "host_67", "host_78")
DAY = "2026-01-01"


@dataclass(frozen=True)
class Query:
    name: str
    what: str
    fletch: str
    duckdb: str
    questdb: str


def _window(dialect: str, start: str, end: str) -> str:
    """time >= DAY start AND time < DAY end, e.g. _window("fletch", "10:00", "11:00")."""
    a, b = f"{DAY}T{start}:00", f"{DAY}T{end}:00"
    if dialect == "fletch":
        return f"time >= '{a}Z' AND time < '{b}Z'"
    if dialect == "duckdb":
        return f"time >= TIMESTAMP '{a}' AND time < TIMESTAMP '{b}'"
    return f"timestamp >= '{a}.000000Z' AND timestamp < '{b}.000000Z'"


def _bucket(dialect: str, width: str) -> str:
    """The start of the time bucket of `width` ("1 minute" or "1 hour") holding a row."""
    if dialect == "fletch":
        return f"date_bin(INTERVAL '{width}', time)"
    return f"time_bucket(INTERVAL '{width}', time)"


def _hosts(hosts) -> str:
    return "hostname IN (" + ", ".join(f"'{h}'" for h in hosts) + ")"


def _groupby(dialect, width, aggs, where, by_host=False, tail="", order="1"):
    """SELECT bucket[, hostname], aggs ... GROUP BY bucket[, hostname] in one dialect."""
    host = ", hostname" if by_host else ""
    if dialect == "questdb":
        unit = {"1 minute": "1m", "1 hour": "1h"}[width]
        inner = (f"SELECT timestamp AS bucket{host}, {aggs} FROM cpu WHERE {where} "
                 f"SAMPLE BY {unit} ALIGN TO CALENDAR")
        if tail:
            return f"SELECT * FROM ({inner}) ORDER BY bucket DESC {tail}"
        return f"{inner} ORDER BY bucket{host}"
    keys = "1, 2" if by_host else "1"
    return (f"SELECT {_bucket(dialect, width)} AS bucket{host}, {aggs} FROM cpu WHERE {where} "
            f"GROUP BY {keys} ORDER BY {keys if not tail else order} {tail}".rstrip())


def _max(fields) -> str:
    return ", ".join(f"max({f}) AS max_{f}" for f in fields)


def _mean(fields) -> str:
    return ", ".join(f"avg({f}) AS mean_{f}" for f in fields)


def queries() -> list[Query]:
    out = []

    def add(name, what, make):
        out.append(Query(name, what, make("fletch"), make("duckdb"), make("questdb")))

    add("single-groupby-1-1-1", "max of 1 metric, 1 host, 1 h, 1-minute buckets",
        lambda d: _groupby(d, "1 minute", _max(FIELDS[:1]),
                           f"hostname = '{HOST_1}' AND {_window(d, '10:00', '11:00')}"))
    add("single-groupby-5-1-12", "max of 5 metrics, 1 host, 12 h, 1-minute buckets",
        lambda d: _groupby(d, "1 minute", _max(FIELDS_5),
                           f"hostname = '{HOST_1}' AND {_window(d, '06:00', '18:00')}"))
    add("cpu-max-all-8", "max of 10 metrics, 8 hosts, 8 h, 1-hour buckets",
        lambda d: _groupby(d, "1 hour", _max(FIELDS),
                           f"{_hosts(HOSTS_8)} AND {_window(d, '08:00', '16:00')}"))
    add("double-groupby-1", "mean of 1 metric per host per hour, 12 h",
        lambda d: _groupby(d, "1 hour", _mean(FIELDS[:1]), _window(d, "06:00", "18:00"), by_host=True))
    add("double-groupby-all", "mean of 10 metrics per host per hour, 12 h",
        lambda d: _groupby(d, "1 hour", _mean(FIELDS), _window(d, "06:00", "18:00"), by_host=True))
    add("high-cpu-1", "rows with usage_user > 90, 1 host, 12 h",
        lambda d: f"SELECT * FROM cpu WHERE usage_user > 90 AND hostname = '{HOST_1}' "
                  f"AND {_window(d, '06:00', '18:00')}")
    add("high-cpu-all", "rows with usage_user > 90, all hosts, 12 h",
        lambda d: f"SELECT * FROM cpu WHERE usage_user > 90 AND {_window(d, '06:00', '18:00')}")
    add("lastpoint", "the last row of every host",
        lambda d: ("SELECT * FROM cpu LATEST ON timestamp PARTITION BY hostname" if d == "questdb"
                   else "SELECT c.* FROM cpu c JOIN (SELECT hostname, max(time) AS time FROM cpu "
                        "GROUP BY hostname) m USING (hostname, time)"))
    add("groupby-orderby-limit", "last 5 one-minute maxima of usage_user before 18:00",
        lambda d: _groupby(d, "1 minute", _max(FIELDS[:1]),
                           ("timestamp" if d == "questdb" else "time")
                           + (f" < TIMESTAMP '{DAY}T18:00:00'" if d == "duckdb"
                              else f" < '{DAY}T18:00:00Z'" if d == "fletch"
                              else f" < '{DAY}T18:00:00.000000Z'"),
                           tail="LIMIT 5", order="1 DESC"))
    return out


# -- answers -------------------------------------------------------------------------------
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
TIME_NAMES = {"timestamp": "time"}  # QuestDB's designated timestamp is Fletch's time


def _canon_value(v):
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.timezone.utc)
        d = v - EPOCH
        return ("t", (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1_000)
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, (int, float)):
        # Means come back as doubles whose last bits depend on summation order; TSBS fields
        # are integers, so 6 decimals are far above that noise and far below any real change.
        f = float(v)
        return ("n", "nan" if math.isnan(f) else round(f, 6) + 0.0)
    return ("s", str(v))


def answer_from_arrow(table: pa.Table) -> tuple[int, str]:
    """(row count, checksum) of an Arrow result; see answer_from_rows."""
    cols = []
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_timestamp(col.type):
            ns = col.cast(pa.timestamp("ns", tz=col.type.tz)).cast(pa.int64()).to_pylist()
            values = [None if x is None else ("t", x) for x in ns]
        else:
            values = [_canon_value(x) for x in col.to_pylist()]
        cols.append((TIME_NAMES.get(name, name), values))
    return _checksum(cols, table.num_rows)


def answer_from_rows(names: list[str], rows: list[tuple]) -> tuple[int, str]:
    """(row count, checksum) of a DB-API result: the sorted canonical rows, hashed with
    columns in name order, so neither row order nor column order matters."""
    cols = [(TIME_NAMES.get(n, n), [_canon_value(r[i]) for r in rows]) for i, n in enumerate(names)]
    return _checksum(cols, len(rows))


def _checksum(cols, n: int) -> tuple[int, str]:
    cols = sorted(cols, key=lambda c: c[0])
    rows = sorted(zip(*[c[1] for c in cols]), key=repr) if cols else []
    h = hashlib.sha256(repr([c[0] for c in cols]).encode())
    for r in rows:
        h.update(repr(r).encode())
    return n, h.hexdigest()[:12]
