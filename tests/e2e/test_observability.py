"""/metrics, /ping and the system tables against the real binary."""

from __future__ import annotations

import re

import requests

from fletch_client import HTTP_TIMEOUT, query_influx, write_ok

DB = "obs"
T0 = 1767225600_000000000


def metric(text: str, name: str, labels: str = "") -> float:
    pat = re.compile(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", re.M)
    m = pat.search(text)
    assert m, f"{name}{labels} not in /metrics"
    return float(m.group(1))


def test_metrics_count_writes_queries_and_files(server):
    srv = server()
    write_ok(srv, DB, "\n".join(f"m,host=h{i % 3} v={i} {T0 + i}" for i in range(50)) + "\n")
    r = requests.post(srv.http_url + "/api/v3/write_lp", params={"db": DB}, data=b"m,host=a v=\n",
                      timeout=HTTP_TIMEOUT)
    assert r.status_code == 400
    query_influx(srv, "SELECT count(*) FROM m", DB)
    srv.restart()  # persists: one Parquet file
    query_influx(srv, "SELECT count(*) FROM m", DB)
    text = requests.get(srv.http_url + "/metrics", timeout=HTTP_TIMEOUT).text
    assert metric(text, "fletch_parquet_files", f'{{database="{DB}",table="m"}}') == 1
    assert metric(text, "fletch_parquet_rows", f'{{database="{DB}",table="m"}}') == 50
    assert metric(text, "fletch_query_seconds_count", '{path="ticket"}') >= 1
    assert "fletch_wal_fsync_seconds_bucket" in text and "go_goroutines" in text
    # Counters restart with the process; the write before the restart is not here, a new one is.
    write_ok(srv, DB, f"m,host=z v=1 {T0 + 999}\n")
    text = requests.get(srv.http_url + "/metrics", timeout=HTTP_TIMEOUT).text
    assert metric(text, "fletch_rows_written_total", '{api="line_protocol"}') == 1
    assert metric(text, "fletch_buffer_bytes") > 0


def test_system_tables(server):
    srv = server()
    write_ok(srv, DB, f"m,host=a,dc=x v=1,n=2i {T0}\nm,host=b,dc=y v=2,n=3i {T0 + 1}\n")
    srv.restart()
    t = query_influx(srv, "SELECT table_name, kind, tags, fields, parquet_files, parquet_rows FROM system.tables", DB)
    assert t.to_pylist() == [{"table_name": "m", "kind": "table", "tags": ["dc", "host"],
                              "fields": ["n", "v"], "parquet_files": 1, "parquet_rows": 2}]
    t = query_influx(srv, "SELECT table_name, day, rows FROM system.parquet_files", DB)
    assert [(r["table_name"], str(r["day"]), r["rows"]) for r in t.to_pylist()] == [("m", "2026-01-01", 2)]
    query_influx(srv, "SELECT 42 AS answer", DB)
    t = query_influx(srv, "SELECT query, duration_ms IS NOT NULL AS done, error FROM system.queries "
                          "WHERE query LIKE '%42 AS answer%' ORDER BY id", DB)
    # The finished query, and this one, still running as it reads the table.
    assert t.to_pylist()[0] == {"query": "SELECT 42 AS answer", "done": True, "error": None}
    assert t.to_pylist()[1]["done"] is False
