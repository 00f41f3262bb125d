"""Persistence to Parquet: one directory per UTC day, sorted by tags then time, deduplicated,
ZSTD-compressed; queries answer the same before and after persist and after a restart.

The Parquet files are read with pyarrow.parquet directly, not through Fletch.
"""

import glob
import random
import signal
import time
from pathlib import Path

import pyarrow.parquet as pq

from fletch_client import query_influx, query_seed, row_sort_key, sorted_rows, ts_to_ns, write_ok

TABLE = "p"
DAY1 = 1767225600_000000000  # 2026-01-01T00:00:00Z
DAY_NS = 86_400_000_000_000
HOUR_NS = 3_600_000_000_000
DAY2 = DAY1 + DAY_NS
DAYS = {"2026-01-01": DAY1, "2026-01-02": DAY2}
# Region is a function of host, so "sorted by tags" is the same order whatever the tag order.
SERIES = [("a", "r1"), ("b", "r2"), ("c", "r3")]
# Offsets within the day, including its first and its very last nanosecond.
OFFSETS = [0, 1_000_000_007, 3_600_000_000_000, 43_200_123_456_789, DAY_NS - 1]
PERSIST_WAIT_S = 30.0


def build_data():
    """Line protocol (shuffled) and the expected rows {(host, region, ts): (v, w)} per day."""
    expected = {day: {} for day in DAYS}
    lines = []
    for day, base in DAYS.items():
        for si, (host, region) in enumerate(SERIES):
            for k, off in enumerate(OFFSETS):
                ts = base + off
                v = si * 100 + k + (0.25 if base == DAY1 else 0.75)
                w = si * 1000 + k * 10 + (1 if base == DAY1 else 2)
                if (host, base, k) == ("c", DAY2, 0):  # a row without w
                    lines.append(f"{TABLE},host={host},region={region} v={v} {ts}")
                    expected[day][(host, region, ts)] = (v, None)
                else:
                    lines.append(f"{TABLE},host={host},region={region} v={v},w={w}i {ts}")
                    expected[day][(host, region, ts)] = (v, w)
    random.Random(7).shuffle(lines)
    # A later line for an existing (tags, time): overwrites v, keeps w.
    dup_key = ("b", "r2", DAY1 + OFFSETS[3])
    lines.append(f"{TABLE},host=b,region=r2 v=2.5 {dup_key[2]}")
    expected["2026-01-01"][dup_key] = (2.5, expected["2026-01-01"][dup_key][1])
    return "\n".join(lines) + "\n", expected, dup_key


def all_rows(expected):
    return sorted(((h, r, v, w, ts) for day in expected.values()
                   for (h, r, ts), (v, w) in day.items()), key=row_sort_key)


def query_all(srv):
    t = query_seed(srv, f"SELECT host, region, v, w, time FROM {TABLE}", table=TABLE)
    return sorted_rows(t, ["host", "region", "v", "w", "time"])


def day_files(srv, day):
    return sorted(glob.glob(str(Path(srv.data_dir) / "default" / TABLE / day / "*.parquet")))


def file_state(srv, day):
    """{path: mtime} of a day's Parquet files, to notice the next persist."""
    state = {}
    for f in day_files(srv, day):
        try:
            state[f] = Path(f).stat().st_mtime_ns
        except OSError:
            pass
    return state


def wait_for_persist(srv, expected):
    """Wait until each day's Parquet files hold as many rows as expected for that day."""
    deadline = time.monotonic() + PERSIST_WAIT_S
    counts = {}
    while time.monotonic() < deadline:
        try:
            counts = {day: sum(pq.ParquetFile(f).metadata.num_rows for f in day_files(srv, day))
                      for day in DAYS}
        except (OSError, ValueError):  # a file replaced while we looked
            counts = {}
        if counts and all(counts[d] >= len(expected[d]) for d in DAYS):
            return
        time.sleep(0.2)
    raise AssertionError(f"after {PERSIST_WAIT_S:.0f}s with --persist-interval 1s, Parquet "
                         f"rows per day are {counts}; expected {({d: len(e) for d, e in expected.items()})}")


def check_day_files(srv, day, want):
    files = day_files(srv, day)
    assert files, f"no Parquet file for {day}"
    start = DAYS[day]
    union = {}
    for f in files:
        pf = pq.ParquetFile(f)
        md = pf.metadata
        for rg in range(md.num_row_groups):
            for ci in range(md.num_columns):
                col = md.row_group(rg).column(ci)
                assert col.compression == "ZSTD", \
                    f"{f}: row group {rg} column {col.path_in_schema} is {col.compression}"
        t = pf.read()
        for c in ("host", "region", "v", "w", "time"):
            assert c in t.column_names, f"{f} lacks column {c}: {t.schema}"
        hosts, regions = t.column("host").to_pylist(), t.column("region").to_pylist()
        vs, ws, tss = t.column("v").to_pylist(), t.column("w").to_pylist(), ts_to_ns(t.column("time"))
        keys = list(zip(hosts, regions, tss))
        # The persisted order (docs/design.md#parquet): the hour of time, then the
        # series key (tags by name), then time.
        order = [(ts // HOUR_NS, h, r, ts) for h, r, ts in keys]
        assert order == sorted(order), f"{f}: rows are not sorted by hour, tags, time: {keys}"
        assert len(set(keys)) == len(keys), f"{f}: duplicate (tags, time) rows"
        assert all(start <= ts < start + DAY_NS for ts in tss), f"{f}: a row outside {day}"
        for k, v, w in zip(keys, vs, ws):
            assert k not in union, f"{k} is in more than one file of {day}"
            union[k] = (v, w)
    assert union == want, f"Parquet rows for {day} differ from what was written"
    return files


def test_persist_to_parquet(server, report):
    # Compaction off until the restart, to see the late row's file on its own.
    srv = server(args=["--persist-interval", "1s", "--no-compaction"])
    body, expected, dup_key = build_data()
    write_ok(srv, "default", body, endpoint="v3", precision="ns")
    want = all_rows(expected)
    assert query_all(srv) == want  # most likely still from the buffer

    t0 = time.monotonic()
    wait_for_persist(srv, expected)
    report(f"persist: Parquet for both days visible {time.monotonic() - t0:.2f} s after write")
    for day in DAYS:
        check_day_files(srv, day, expected[day])
    assert query_all(srv) == want  # now from Parquet

    # Overwrite a persisted row: the new v wins, the persisted w stays.
    write_ok(srv, "default", f"{TABLE},host=b,region=r2 v=3.5 {dup_key[2]}\n",
             endpoint="v3", precision="ns")
    expected["2026-01-01"][dup_key] = (3.5, expected["2026-01-01"][dup_key][1])
    want = all_rows(expected)
    assert query_all(srv) == want

    # The next persist writes the late row to a file of its own, its time marked dirty
    # (docs/design.md#persist-snapshot): the day's first file is not rewritten.
    first = day_files(srv, "2026-01-01")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(day_files(srv, "2026-01-01")) < len(first) + 1:
        time.sleep(0.2)
    files = day_files(srv, "2026-01-01")
    assert set(first) < set(files), f"the day's files were rewritten: {first} -> {files}"
    late = [f for f in files if f not in first]
    t = pq.read_table(late[0])
    assert t.num_rows == 1 and t.column("v").to_pylist() == [3.5], t
    t = query_influx(srv, "SELECT day::VARCHAR AS day, dirty_ranges FROM system.parquet_files "
                          f"WHERE table_name = '{TABLE}' ORDER BY day, dirty_ranges")
    assert [(r["day"], r["dirty_ranges"]) for r in t.to_pylist()] == \
        [("2026-01-01", 0), ("2026-01-01", 1), ("2026-01-02", 0)], t.to_pylist()
    assert query_all(srv) == want

    # After a graceful restart with compaction on, the closed day is merged into one
    # file without duplicates and the answer is the same.
    assert srv.stop(signal.SIGTERM) == 0
    srv.start(args=["--persist-interval", "1s"])
    assert query_all(srv) == want
    deadline = time.monotonic() + PERSIST_WAIT_S
    while time.monotonic() < deadline and len(day_files(srv, "2026-01-01")) != 1:
        time.sleep(0.2)
    check_day_files(srv, "2026-01-01", expected["2026-01-01"])
    assert len(day_files(srv, "2026-01-01")) == 1
    assert query_all(srv) == want
