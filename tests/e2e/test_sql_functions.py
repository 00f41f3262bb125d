"""Fletch's time-series SQL functions through the real binary: line protocol in over HTTP,
queries through pyarrow Flight DoGet with the InfluxDB 3 ticket.

The oracle is hand-written: every expected table below was worked out from the points
written here (see docs/sql.md for the rules), independently of the server's code.
"""

from datetime import datetime, timezone

import pyarrow as pa
import pytest

from fletch_client import TS_NS_UTC, query_influx, rows, write_ok

DB = "sqlfn"


def ns(iso: str) -> int:
    """Nanoseconds since the epoch of an ISO time in UTC ('2026-01-01T00:05')."""
    return int(datetime.fromisoformat(iso).replace(tzinfo=timezone.utc).timestamp()) * 10**9


# Host a has rows in the 10-minute bins 00:00, 00:20 (two rows) and 00:50 of
# 2026-01-01; host b only in 00:40.
CPU = [
    ("a", 1.0, "2026-01-01T00:05"),
    ("a", 3.0, "2026-01-01T00:25"),
    ("a", 5.0, "2026-01-01T00:27"),
    ("a", 10.0, "2026-01-01T00:55"),
    ("b", 10.0, "2026-01-01T00:40"),
]

# Berlin days around both 2026 DST changes (CEST from 03-29T01:00Z to 10-25T01:00Z).
BERLIN = [
    (1, "2026-03-28T22:30"),  # 23:30 CET  03-28
    (2, "2026-03-28T23:30"),  # 00:30 CET  03-29, the 23-hour day
    (3, "2026-03-29T21:30"),  # 23:30 CEST 03-29
    (4, "2026-03-29T22:30"),  # 00:30 CEST 03-30
    (5, "2026-10-24T22:30"),  # 00:30 CEST 10-25, the 25-hour day
    (6, "2026-10-25T22:30"),  # 23:30 CET  10-25
    (7, "2026-10-25T23:30"),  # 00:30 CET  10-26
]

# A counter that resets between 00:10 and 00:20.
NET = [(100, "2026-01-01T00:00:00"), (150, "2026-01-01T00:00:10"),
       (30, "2026-01-01T00:00:20"), (90, "2026-01-01T00:00:30")]

HOUR0 = "time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T01:00:00Z'"
BINS = [ns(f"2026-01-01T00:{m:02d}") for m in range(0, 60, 10)]


@pytest.fixture(scope="module")
def srv(module_server):
    s = module_server()
    lines = [f"cpu,host={h} usage={v} {ns(t)}" for h, v, t in CPU]
    lines += [f"berlin v={v}i {ns(t)}" for v, t in BERLIN]
    lines += [f"net,host=a bytes={v}u {ns(t)}" for v, t in NET]
    write_ok(s, DB, "\n".join(lines) + "\n")
    return s


def q(srv, sql):
    return query_influx(srv, sql, database=DB)


def test_gapfill_inserts_null_rows_per_group(srv):
    t = q(srv, f"""SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS time, host, avg(usage) AS a
                   FROM cpu WHERE {HOUR0} GROUP BY 1, host""")
    assert t.schema.field("time").type == TS_NS_UTC
    assert t.schema.field("a").type == pa.float64()
    assert rows(t) == list(zip(BINS, ["a"] * 6, [1.0, None, 4.0, None, None, 10.0])) + \
        list(zip(BINS, ["b"] * 6, [None, None, None, None, 10.0, None]))


def test_gapfill_locf_and_interpolate(srv):
    t = q(srv, f"""SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS time, host,
                          locf(avg(usage)) AS l, interpolate(avg(usage)) AS i
                   FROM cpu WHERE {HOUR0} GROUP BY time, host""")
    assert rows(t) == [
        (BINS[0], "a", 1.0, 1.0), (BINS[1], "a", 1.0, 2.5), (BINS[2], "a", 4.0, 4.0),
        (BINS[3], "a", 4.0, 6.0), (BINS[4], "a", 4.0, 8.0), (BINS[5], "a", 10.0, 10.0),
        (BINS[0], "b", None, None), (BINS[1], "b", None, None), (BINS[2], "b", None, None),
        (BINS[3], "b", None, None), (BINS[4], "b", 10.0, 10.0), (BINS[5], "b", 10.0, None),
    ]


def test_gapfill_inclusive_upper_bound_adds_its_bin(srv):
    t = q(srv, """SELECT date_bin_gapfill(INTERVAL '30 minutes', time) AS time, count(*) AS n
                  FROM cpu WHERE time > '2026-01-01T00:00:00Z' AND time <= '2026-01-01T01:00:00Z'
                  GROUP BY 1""")
    assert rows(t) == [(ns("2026-01-01T00:00"), 3), (ns("2026-01-01T00:30"), 2),
                       (ns("2026-01-01T01:00"), None)]


def test_gapfill_without_both_bounds_is_invalid_argument(srv):
    with pytest.raises(pa.ArrowInvalid, match="needs both a lower and an upper bound") as ei:
        q(srv, "SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, avg(usage) FROM cpu "
               "WHERE time >= '2026-01-01T00:00:00Z' GROUP BY 1")
    assert "no upper bound" in str(ei.value)


def test_date_bin_wallclock_berlin_dst_days(srv):
    t = q(srv, """SELECT date_bin_wallclock(INTERVAL '1 day', tz(time, 'Europe/Berlin')) AS day,
                         count(*) AS n, sum(v) AS s
                  FROM berlin GROUP BY 1 ORDER BY 1""")
    assert t.schema.field("day").type == TS_NS_UTC
    # Local midnights as UTC instants: 03-29 is 23 hours long, 10-25 25 hours.
    assert rows(t) == [
        (ns("2026-03-27T23:00"), 1, 1),
        (ns("2026-03-28T23:00"), 2, 5),
        (ns("2026-03-29T22:00"), 1, 4),
        (ns("2026-10-24T22:00"), 2, 11),
        (ns("2026-10-25T23:00"), 1, 7),
    ]


def test_non_negative_derivative_skips_counter_reset(srv):
    t = q(srv, """SELECT time, non_negative_derivative(bytes) OVER (PARTITION BY host ORDER BY time) AS r,
                         difference(bytes) OVER (PARTITION BY host ORDER BY time) AS d
                  FROM net ORDER BY time""")
    assert t.schema.field("r").type == pa.float64()
    assert t.schema.field("d").type == pa.int64()
    assert [(r, d) for _, r, d in rows(t)] == [(None, None), (5.0, 50), (None, -120), (6.0, 60)]


def test_difference_without_over_is_invalid_argument(srv):
    with pytest.raises(pa.ArrowInvalid, match="is a window function"):
        q(srv, "SELECT difference(bytes) FROM net")
