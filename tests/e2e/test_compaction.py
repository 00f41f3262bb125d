"""Background compaction against the real binary: many small Parquet files of a day
become one, the answers don't change, and a SIGKILL at any point leaves exactly one
live set of files."""

from __future__ import annotations

import json
import signal
import time

from fletch_client import query_influx, write_ok

DB = "compact"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z (a closed day)
SEC = 1_000_000_000


def manifest(srv) -> list[dict]:
    path = srv.data_dir / "manifest.json"
    return json.loads(path.read_text())["files"] if path.exists() else []


def count(srv) -> tuple:
    t = query_influx(srv, "SELECT count(*) AS n, sum(v) AS s, count(DISTINCT host) AS h FROM m", DB)
    return tuple(t.to_pylist()[0].values())


def test_many_persists_compact_to_one_file_per_day(server):
    srv = server(args=["--persist-interval", "200ms"])
    expect_n, expect_s = 0, 0
    for batch in range(6):
        lines = [f"m,host=h{h} v={batch * 100 + h}i {T0 + (batch * 10 + h) * SEC}" for h in range(10)]
        write_ok(srv, DB, "\n".join(lines) + "\n")
        expect_n += 10
        expect_s += sum(batch * 100 + h for h in range(10))
        # Wait for this batch's persist, so each batch is its own file.
        deadline = time.monotonic() + 30
        while sum(f["rows"] for f in manifest(srv)) < expect_n:
            assert time.monotonic() < deadline, manifest(srv)
            time.sleep(0.05)
    assert count(srv) == (expect_n, expect_s, 10)
    # The day is closed and has several files: the compactor (every 10 s) merges them.
    deadline = time.monotonic() + 60
    while len(manifest(srv)) != 1:
        assert time.monotonic() < deadline, manifest(srv)
        time.sleep(0.2)
    [f] = manifest(srv)
    assert f["rows"] == expect_n and f["min_time"] == T0 and f["max_time"] == T0 + 59 * SEC
    assert count(srv) == (expect_n, expect_s, 10)
    # Replaced files disappear from disk (after their 15 s retirement, or at restart).
    srv.stop(signal.SIGKILL)
    srv.start()
    files = sorted(p.name for p in (srv.data_dir / DB / "m").rglob("*.parquet"))
    assert files == [f["path"].rsplit("/", 1)[1]]
    assert count(srv) == (expect_n, expect_s, 10)
