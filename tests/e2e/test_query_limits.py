"""Query limits against the real binary: --query-timeout, a client going away, and
--max-concurrent-queries with its queue (--query-queue-timeout).

The slow query counts 10^12 rows of range(): many minutes on any machine, so it ends only
when the server stops it. That it was stopped is shown by what happens next, never by a
clock: with one query slot, a later query runs only if the slow one let go of it.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from fletch_client import SQL_PATHS, run_sql, write_ok

DB = "limits"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z
SLOW = "SELECT count(*) AS n FROM range(1000000000000)"
FAST = "SELECT count(*) AS n FROM m"
# Bound on polling loops (each try waits at most the server's queue timeout).
MAX_TRIES = 20


def seeded(server, *args):
    srv = server(args=list(args))
    write_ok(srv, DB, f"m v=1 {T0}\n")
    return srv


def fast_ok(srv, path="http"):
    out = run_sql(srv, path, FAST, DB, timeout=60)
    assert out.code == "OK" and out.table.to_pylist() == [{"n": 1}], (path, out)


class HeldQuery:
    """The slow query sent over a raw HTTP connection that stays open, without reading
    the answer, until close() — which is how a client that goes away looks to the server."""

    def __init__(self, srv, sql=SLOW):
        body = json.dumps({"db": DB, "q": sql}).encode()
        self.sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        self.sock.sendall(b"POST /api/v3/query_sql HTTP/1.1\r\nHost: fletch\r\n"
                          b"Content-Type: application/json\r\n"
                          + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def close(self):
        self.sock.close()


def test_query_timeout_stops_the_query_on_every_path(server):
    srv = seeded(server, "--query-timeout", "2s", "--max-concurrent-queries", "1",
                 "--query-queue-timeout", "30s")
    for path in SQL_PATHS:
        out = run_sql(srv, path, SLOW, DB, timeout=120)
        assert out.code == "DEADLINE_EXCEEDED", (path, out)
        assert "query timeout (2s)" in out.message and "stopped" in out.message, (path, out)
        # The one slot is free again: the slow query really stopped.
        fast_ok(srv, path)
    assert srv.running()


@pytest.mark.parametrize("path", SQL_PATHS)
def test_client_giving_up_cancels_its_query(server, path):
    """No --query-timeout: only the client's giving up (a read timeout for HTTP, which
    closes the connection; a deadline for gRPC) can stop the slow query. With one slot
    and a 30 s queue, the next query runs only if it did."""
    srv = seeded(server, "--query-timeout", "0", "--max-concurrent-queries", "1",
                 "--query-queue-timeout", "30s")
    out = run_sql(srv, path, SLOW, DB, timeout=1.5)
    # gRPC sends the deadline to the server too; when the server's copy of it fires
    # first, it resets the stream and the client reports CANCELLED, not its own deadline.
    assert out.code in ("CLIENT_TIMEOUT", "DEADLINE_EXCEEDED", "CANCELLED"), out
    fast_ok(srv)
    assert srv.running()


def test_queries_over_the_cap_get_429_after_the_queue_wait(server):
    srv = seeded(server, "--query-timeout", "0", "--max-concurrent-queries", "1",
                 "--query-queue-timeout", "2s")
    held = HeldQuery(srv)
    try:
        # Once the held query has its slot, every path is refused after the queue wait.
        for path in SQL_PATHS:
            for _ in range(MAX_TRIES):
                out = run_sql(srv, path, FAST, DB, timeout=60)
                if out.code != "OK":
                    break
                time.sleep(0.1)  # the held query was not admitted yet
            assert out.code == "RESOURCE_EXHAUSTED", (path, out)
            assert "at most 1 queries at once" in out.message and "retry later" in out.message, out
            if path == "http":
                assert out.headers.get("Retry-After") == "1"
    finally:
        held.close()
    # Its client gone, the held query stops and the slot serves others again.
    for _ in range(MAX_TRIES):
        out = run_sql(srv, "doget", FAST, DB, timeout=60)
        if out.code != "RESOURCE_EXHAUSTED":
            break
    assert out.code == "OK", out


def test_queued_query_runs_when_the_slot_frees(server):
    srv = seeded(server, "--query-timeout", "0", "--max-concurrent-queries", "1",
                 "--query-queue-timeout", "60s")
    held = HeldQuery(srv)
    try:
        # A probe whose client gives up while it waits shows the held query has the
        # slot (and that a waiting query leaves the queue with its client).
        for _ in range(MAX_TRIES):
            out = run_sql(srv, "http", FAST, DB, timeout=0.5)
            if out.code != "OK":
                break
        assert out.code == "CLIENT_TIMEOUT", out
        result = {}
        waiter = threading.Thread(target=lambda: result.setdefault("out", run_sql(srv, "http", FAST, DB, timeout=120)))
        waiter.start()
        time.sleep(0.3)  # the waiter is in the queue behind the held query
    finally:
        held.close()
    waiter.join(timeout=120)
    assert result["out"].code == "OK", result["out"]
    fast_ok(srv, "doget")


def test_limit_flags_are_validated(fletch_bin, tmp_path):
    import subprocess

    for flag, value in (("--query-timeout", "-1s"), ("--max-concurrent-queries", "-1"),
                        ("--query-queue-timeout", "-5s")):
        proc = subprocess.run([str(fletch_bin), "serve", "--data-dir", str(tmp_path / "d"), "--without-auth",
                               "--addr", "127.0.0.1:0", f"{flag}={value}"], capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and "negative" in proc.stderr, (flag, proc.stderr)
