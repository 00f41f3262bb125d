"""Damaged files against the real binary: a truncated Parquet file and a flipped byte in
the WAL are detected at start, logged with file and offset, the bad Parquet file is
quarantined, the server starts and serves everything else, and system.problems says so."""

from __future__ import annotations

import json
import os
import time

from fletch_client import query_influx, write_ok

DB = "dmg"
T0 = 1767225600_000000000
DAY = 86_400_000_000_000


def count(srv, table):
    return query_influx(srv, f"SELECT count(*) AS n FROM {table}", DB).to_pylist()[0]["n"]


def test_damaged_parquet_is_quarantined_and_wal_tail_cut(server):
    srv = server(args=["--no-compaction"])
    write_ok(srv, DB, "\n".join(f"a,k=x v={i} {T0 + i}" for i in range(100)) + "\n")
    write_ok(srv, DB, "\n".join(f"b,k=x v={i} {T0 + DAY + i}" for i in range(50)) + "\n")
    srv.restart()  # both tables in Parquet
    files = json.loads((srv.data_dir / "manifest.json").read_text())["files"]
    [fa] = [f for f in files if f["table"] == "a"]
    # Writes that stay in the WAL; the last record's bytes get a flipped byte.
    write_ok(srv, DB, f"b,k=y v=1 {T0 + DAY + 1000}\n")
    write_ok(srv, DB, f"b,k=z v=2 {T0 + DAY + 2000}\n")
    srv.kill()
    path = srv.data_dir / fa["path"]
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    segs = sorted((srv.data_dir / "wal").glob("*.wal"))
    last = segs[-1]
    data = bytearray(last.read_bytes())
    data[-5] ^= 0xFF
    last.write_bytes(bytes(data))

    srv.start()
    # Table b: its Parquet rows and the intact WAL record; the corrupt last record is cut.
    assert count(srv, "b") == 51
    # Table a's only file was quarantined: the table answers, empty.
    assert count(srv, "a") == 0
    assert not path.exists()
    q = srv.data_dir / "quarantine"
    [moved] = list(q.glob("*.parquet"))
    assert "size" in (q / (moved.name + ".reason")).read_text()
    probs = query_influx(srv, "SELECT kind, path, wal_offset, reason FROM system.problems ORDER BY kind", DB).to_pylist()
    assert [p["kind"] for p in probs] == ["parquet", "wal"]
    assert probs[0]["path"] == f"quarantine/{moved.name}" and probs[0]["wal_offset"] is None
    assert probs[1]["path"] == f"wal/{last.name}" and probs[1]["wal_offset"] > 0
    assert "corrupt" in probs[1]["reason"] or "checksum" in probs[1]["reason"].lower() or "crc" in probs[1]["reason"].lower()
    log = srv.log_path.read_text()
    assert "quarantined a damaged Parquet file" in log and fa["path"] in log
    assert "truncating torn or corrupt tail" in log
    # Writes work; after another restart the quarantined file is still listed.
    write_ok(srv, DB, f"a,k=x v=1 {T0 + 5}\n")
    srv.restart()
    assert count(srv, "a") == 1
    probs = query_influx(srv, "SELECT kind FROM system.problems", DB).to_pylist()
    assert probs == [{"kind": "parquet"}]
