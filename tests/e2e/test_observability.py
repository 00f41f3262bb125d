"""/metrics, /ping and the system tables against the real binary."""

from __future__ import annotations

import json
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


def log_lines_with(srv, needle):
    return [ln for ln in srv.log_path.read_text().splitlines() if needle in ln]


def test_request_id_on_every_request_log_line(server):
    """Each request gets an id, the client's X-Request-Id / x-request-id when it sends
    one; the response echoes it and every log line written for the request carries it,
    including lines from deep in the query engine (the query-timeout warning)."""
    import time

    import pyarrow.flight as flight

    srv = server(args=["--log-level", "debug", "--query-timeout", "1s"])
    write_ok(srv, "obs", "m,k=a v=1 1767225600000000000\n")

    # HTTP: the client's id is echoed and logged with the request's outcome.
    r = requests.get(srv.http_url + "/api/v3/query_sql",
                     params={"db": "obs", "q": "SELECT count(*) FROM range(1000000000000)"},
                     headers={"X-Request-Id": "client-chosen-42"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 504, r.text
    assert r.headers["X-Request-Id"] == "client-chosen-42"
    # Without one (or with a malformed one) the server makes one up and still echoes it.
    r2 = requests.get(srv.http_url + "/health", headers={"X-Request-Id": "bad id\twith spaces"},
                      timeout=HTTP_TIMEOUT)
    made = r2.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{16}", made), made

    # gRPC: metadata x-request-id, echoed in the response headers.
    client = flight.FlightClient(srv.grpc_url)
    ticket = flight.Ticket(json.dumps({"database": "obs", "sql_query": "SELECT * FROM nosuch",
                                       "query_type": "sql"}).encode())
    opts = flight.FlightCallOptions(headers=[(b"x-request-id", b"grpc-call-7")])
    try:
        client.do_get(ticket, options=opts).read_all()
        raise AssertionError("the query of a missing table succeeded")
    except (flight.FlightError, KeyError):  # pyarrow raises NOT_FOUND as ArrowKeyError
        pass
    finally:
        client.close()

    deadline = time.time() + 10
    while not (log_lines_with(srv, "request_id=grpc-call-7") and log_lines_with(srv, f"request_id={made}")):
        assert time.time() < deadline, srv.log_tail()
        time.sleep(0.1)
    http_lines = log_lines_with(srv, "request_id=client-chosen-42")
    # The engine's timeout warning and the request's own line, both with the id.
    assert any("query stopped by the query timeout" in ln for ln in http_lines), http_lines
    assert any('msg="http request"' in ln and "status=504" in ln for ln in http_lines), http_lines
    grpc_lines = log_lines_with(srv, "request_id=grpc-call-7")
    assert any('msg="grpc call"' in ln and "code=NotFound" in ln for ln in grpc_lines), grpc_lines
    # Lines of different requests never share an id.
    assert not any("request_id=client-chosen-42" in ln for ln in grpc_lines)


def test_one_memory_budget_sets_duckdb_buffer_and_hot_tier(server, fletch_bin, tmp_path):
    """--memory-bytes splits one budget (docs/operations.md); a finer flag beside it wins."""
    import os
    import subprocess

    gib = 1 << 30
    duck = gib // 4 * 3
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    srv = server(args=["--memory-bytes", str(gib)])
    text = requests.get(srv.http_url + "/metrics", timeout=HTTP_TIMEOUT).text
    assert metric(text, "fletch_duckdb_memory_limit_bytes") == duck
    assert metric(text, "fletch_buffer_max_bytes") == gib // 16
    assert metric(text, "fletch_buffer_hard_limit_bytes") == gib // 8
    assert metric(text, "fletch_hot_tier_limit_bytes") == min(ram // 8, duck // 4)

    srv.stop()
    srv.start(args=["--memory-bytes", str(gib), "--buffer-max-bytes", str(10 << 20)])
    text = requests.get(srv.http_url + "/metrics", timeout=HTTP_TIMEOUT).text
    assert metric(text, "fletch_duckdb_memory_limit_bytes") == duck
    assert metric(text, "fletch_buffer_max_bytes") == 10 << 20
    assert metric(text, "fletch_buffer_hard_limit_bytes") == 20 << 20, "twice the given buffer, its own default"

    p = subprocess.run([str(fletch_bin), "serve", "--data-dir", str(tmp_path / "neg"), "--addr", "127.0.0.1:0",
                        "--memory-bytes", "-5"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "--memory-bytes" in p.stderr, p.stderr
