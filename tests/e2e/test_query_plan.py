"""One parse, one plan, one execution (query/pipeline.go, server/held.go).

A Flight SQL query is GetFlightInfo then DoGet. Fletch runs the statement once, at
GetFlightInfo, and holds its result for the DoGet; the counters on /metrics show how many
times DuckDB parsed and executed client statements. A held result belongs to the token
that ran it, and a DoGet after the hold expired runs the statement again. A plan cached
before compaction still answers after the files it was planned over are gone. A text run
again runs from DuckDB's plan kept on its connection, and `SELECT 1` from its first result.
"""

from __future__ import annotations

import json
import time

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow.flight as flight
import pytest
import requests

from fletch_client import write_ok

DB = "plan"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z, a closed day
SEC = 1_000_000_000
SQL_ANY = "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"


def counters(srv) -> dict[str, float]:
    text = requests.get(srv.http_url + "/metrics", timeout=30).text
    out = {}
    for line in text.splitlines():
        if line.startswith("fletch_query_") or line.startswith("fletch_held_"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def delta(before: dict, after: dict, name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def _field(num: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    n, varint = len(payload), b""
    while True:
        byte = n & 0x7F
        n >>= 7
        varint += bytes([byte | (0x80 if n else 0)])
        if not n:
            break
    return bytes([num << 3 | 2]) + varint + payload


def statement_descriptor(sql: str) -> flight.FlightDescriptor:
    """The descriptor a Flight SQL client sends for a query: an Any of CommandStatementQuery."""
    return flight.FlightDescriptor.for_command(
        _field(1, SQL_ANY.encode()) + _field(2, _field(1, sql.encode())))


def options(token: str | None, database: str = DB) -> flight.FlightCallOptions:
    headers = [(b"database", database.encode())]
    if token:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    return flight.FlightCallOptions(headers=headers, timeout=60)


def write_rows(srv, n_hosts=10, seconds=60, token=None):
    lines = [f"m,host=h{h} v={s * 10 + h}i {T0 + s * SEC}" for s in range(seconds) for h in range(n_hosts)]
    headers = {"Authorization": f"Bearer {token}"} if token else None
    r = requests.post(srv.http_url + "/api/v3/write_lp", params={"db": DB, "precision": "ns"},
                      data="\n".join(lines), headers=headers, timeout=60)
    assert r.status_code == 204, r.text


def test_flight_sql_query_parses_once_and_executes_once(server):
    srv = server()
    write_rows(srv)
    sql = (f"SELECT host, count(*) AS n, sum(v) AS s FROM m WHERE time >= '2026-01-01T00:00:10Z' "
           f"AND time < '2026-01-01T00:00:30Z' GROUP BY host ORDER BY host")
    expect = [(f"h{h}", 20, sum(s * 10 + h for s in range(10, 30))) for h in range(10)]
    client = flight.FlightClient(srv.grpc_url)
    try:
        # Warm up what the server parses once per process (the template pruning
        # evaluates time bounds in).
        warm = "SELECT count(*) FROM m WHERE time > '2026-01-01T00:00:00Z'"
        client.get_flight_info(statement_descriptor(warm), options(None))
        for run in range(3):
            before = counters(srv)
            info = client.get_flight_info(statement_descriptor(sql), options(None))
            assert len(info.endpoints) == 1
            got = client.do_get(info.endpoints[0].ticket, options(None)).read_all()
            after = counters(srv)
            assert [tuple(r.values()) for r in got.to_pylist()] == expect
            # The FlightInfo's schema is the stream's.
            assert info.schema.equals(got.schema, check_metadata=False)
            assert delta(before, after, "fletch_query_executions_total") == 1, (run, before, after)
            if run == 0:
                # The lockdown check, time-range pruning and the rest share one parse.
                assert delta(before, after, "fletch_query_parses_total") == 1, (before, after)
            else:
                # Planned before: nothing is parsed again.
                assert delta(before, after, "fletch_query_parses_total") == 0, (before, after)
                assert delta(before, after, "fletch_query_plan_cache_hits_total") == 1
    finally:
        client.close()


def test_repeated_query_runs_from_a_kept_plan_and_follows_writes(server):
    """A text run again runs from DuckDB's plan kept on its connection (no prepare), and
    that plan answers as a fresh one would after more rows and a new column arrive."""
    srv = server()
    write_rows(srv)
    sql = "SELECT host, count(*) AS n, sum(v) AS s FROM m GROUP BY host ORDER BY host"
    client = flight.FlightClient(srv.grpc_url)

    def run():
        info = client.get_flight_info(statement_descriptor(sql), options(None))
        return [tuple(r.values()) for r in client.do_get(info.endpoints[0].ticket, options(None)).read_all().to_pylist()]

    try:
        before = counters(srv)
        for _ in range(5):
            assert run() == [(f"h{h}", 60, sum(s * 10 + h for s in range(60))) for h in range(10)]
        after = counters(srv)
        assert delta(before, after, "fletch_query_plans_kept_total") >= 1, (before, after)
        assert delta(before, after, "fletch_query_plan_reuses_total") >= 1, (before, after)
        assert delta(before, after, "fletch_query_executions_total") == 5, (before, after)
        # More rows, one with a new field: the table's view changes under the kept plan.
        r = requests.post(srv.http_url + "/api/v3/write_lp", params={"db": DB, "precision": "ns"},
                          data=f"m,host=h0 v=1000i,w=1i {T0 + 90 * SEC}", timeout=60)
        assert r.status_code == 204, r.text
        for _ in range(3):
            got = run()
            assert got[0] == ("h0", 61, sum(s * 10 for s in range(60)) + 1000), got
            assert got[1:] == [(f"h{h}", 60, sum(s * 10 + h for s in range(60))) for h in range(1, 10)]
    finally:
        client.close()


def test_select_1_is_answered_once(server):
    """A constant statement (Grafana's health check) runs in DuckDB once; later runs
    stream its kept result."""
    srv = server()
    write_rows(srv)  # the database the calls name
    client = flight.FlightClient(srv.grpc_url)
    try:
        before = counters(srv)
        for _ in range(4):
            info = client.get_flight_info(statement_descriptor("SELECT 1 AS one"), options(None))
            got = client.do_get(info.endpoints[0].ticket, options(None)).read_all()
            assert got.to_pylist() == [{"one": 1}]
            assert info.schema.equals(got.schema, check_metadata=False)
        after = counters(srv)
        assert delta(before, after, "fletch_query_executions_total") == 1, (before, after)
        assert delta(before, after, "fletch_query_constant_answers_total") == 3, (before, after)
    finally:
        client.close()


def test_adbc_prepared_query_executes_once_per_execute(server):
    """ADBC's DB-API cursor prepares; each execute is GetFlightInfo + DoGet of the
    prepared statement, and runs the statement once."""
    srv = server()
    write_rows(srv)
    with flightsql.connect(srv.grpc_url, db_kwargs={"adbc.flight.sql.rpc.call_header.database": DB}) as conn:
        cur = conn.cursor()
        cur.execute("SELECT count(*) AS n FROM m WHERE host = 'h3'")
        assert cur.fetchall() == [(60,)]
        before = counters(srv)
        for _ in range(5):
            cur.execute("SELECT count(*) AS n FROM m WHERE host = 'h3'")
            assert cur.fetchall() == [(60,)]
        after = counters(srv)
        cur.close()
    assert delta(before, after, "fletch_query_executions_total") == 5, (before, after)
    assert delta(before, after, "fletch_query_parses_total") == 0, (before, after)


def test_adbc_new_cursor_per_query_plans_then_executes_once(server):
    """A new cursor per query (what most scripts do) is CreatePreparedStatement, then
    GetFlightInfo and DoGet. Creating needs the result's schema without running the
    statement (running it there would escape the client's query timeout, which ADBC
    doesn't set on that call): the first time it is planned under LIMIT 0, after that
    the schema of its last run is reused. The execution runs it once."""
    srv = server()
    write_rows(srv)
    sql = "SELECT host, max(v) AS m FROM m GROUP BY host ORDER BY host"
    expect = [(f"h{h}", 590 + h) for h in range(10)]
    with flightsql.connect(srv.grpc_url, db_kwargs={"adbc.flight.sql.rpc.call_header.database": DB}) as conn:
        before = counters(srv)
        for _ in range(4):
            with conn.cursor() as cur:
                cur.execute(sql)
                assert cur.fetchall() == expect
        after = counters(srv)
    # One LIMIT 0 planning run for the first query, then one execution per query.
    assert delta(before, after, "fletch_query_executions_total") == 5, (before, after)
    # Parsed for the first query only (the statement and its LIMIT 0 wrapper); the
    # three after it are planned from the cache.
    assert delta(before, after, "fletch_query_parses_total") <= 3, (before, after)
    assert delta(before, after, "fletch_query_plan_cache_hits_total") >= 6, (before, after)


def test_held_ticket_is_refused_to_another_token(server):
    srv = server(auth=True)
    admin = srv.admin_token
    other = srv.create_token("*", "read", name="other-reader")
    write_rows(srv, token=admin)
    client = flight.FlightClient(srv.grpc_url)
    try:
        info = client.get_flight_info(statement_descriptor("SELECT count(*) AS n FROM m"), options(admin))
        ticket = info.endpoints[0].ticket
        with pytest.raises(flight.FlightError) as err:
            client.do_get(ticket, options(other)).read_all()
        assert "issued to another token" in str(err.value)
        # Without a token at all: unauthenticated.
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.do_get(ticket, options(None)).read_all()
        # The token that ran it still gets its result, once.
        got = client.do_get(ticket, options(admin)).read_all()
        assert got.to_pylist() == [{"n": 600}]
        # Taken: the same ticket again (or one naming a result never held) runs the
        # query anew, under the caller's own rights.
        handle = json.loads(_unwrap_ticket(ticket.ticket))
        handle["held"] = "0" * 32
        unknown = flight.Ticket(_wrap_ticket(json.dumps(handle).encode()))
        for t in (ticket, unknown):
            assert client.do_get(t, options(admin)).read_all().to_pylist() == [{"n": 600}]
    finally:
        client.close()


def test_ticket_after_the_hold_expired_runs_the_query_again(server):
    srv = server(args=["--result-hold", "500ms"])
    write_rows(srv)
    client = flight.FlightClient(srv.grpc_url)
    try:
        before = counters(srv)
        info = client.get_flight_info(statement_descriptor("SELECT sum(v) AS s FROM m"), options(None))
        deadline = time.monotonic() + 30
        while delta(before, counters(srv), "fletch_held_results_released_total") < 1:
            assert time.monotonic() < deadline, "the held result was never released"
            time.sleep(0.1)
        got = client.do_get(info.endpoints[0].ticket, options(None)).read_all()
        after = counters(srv)
        assert got.to_pylist() == [{"s": sum(s * 10 + h for s in range(60) for h in range(10))}]
        assert delta(before, after, "fletch_query_executions_total") == 2
    finally:
        client.close()


def test_plan_cached_before_compaction_answers_after_it(server):
    srv = server(args=["--persist-interval", "200ms", "--compact-min-files", "2"])
    sql = ("SELECT count(*) AS n, sum(v) AS s FROM m "
           "WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T01:00:00Z'")
    expect_n = expect_s = 0
    with flightsql.connect(srv.grpc_url, db_kwargs={"adbc.flight.sql.rpc.call_header.database": DB}) as conn:
        cur = conn.cursor()
        batch = 0
        # Until the plan has been used over at least two persisted files, which
        # compaction will then replace.
        while batch < 3 or len(manifest(srv)) < 2:
            assert batch < 50, manifest(srv)
            lines = [f"m,host=h{h} v={batch * 100 + h}i {T0 + (batch * 10 + h) * SEC}" for h in range(10)]
            write_ok(srv, DB, "\n".join(lines) + "\n")
            expect_n += 10
            expect_s += sum(batch * 100 + h for h in range(10))
            batch += 1
            deadline = time.monotonic() + 30
            while sum(f["rows"] for f in manifest(srv)) < expect_n:
                assert time.monotonic() < deadline, manifest(srv)
                time.sleep(0.05)
            cur.execute(sql)
            assert cur.fetchall() == [(expect_n, expect_s)]
        planned = {f["path"] for f in manifest(srv)}
        before = counters(srv)
        deadline = time.monotonic() + 90
        # Compaction merges the day's files into a new one; the replaced ones leave
        # the disk after their retirement.
        while ({f["path"] for f in manifest(srv)} & planned
               or any((srv.data_dir / p).exists() for p in planned)):
            assert time.monotonic() < deadline, manifest(srv)
            time.sleep(0.2)
        cur.execute(sql)
        assert cur.fetchall() == [(expect_n, expect_s)]
        after = counters(srv)
        cur.close()
    assert delta(before, after, "fletch_query_plan_cache_hits_total") >= 1
    assert delta(before, after, "fletch_query_parses_total") == 0


def manifest(srv) -> list[dict]:
    path = srv.data_dir / "manifest.json"
    return json.loads(path.read_text())["files"] if path.exists() else []


def _unwrap_ticket(raw: bytes) -> bytes:
    """The statement handle inside a TicketStatementQuery Any."""
    value = _read_field(raw, 2)
    return _read_field(value, 1)


def _wrap_ticket(handle: bytes) -> bytes:
    any_url = b"type.googleapis.com/arrow.flight.protocol.sql.TicketStatementQuery"
    return _field(1, any_url) + _field(2, _field(1, handle))


def _read_field(buf: bytes, want: int) -> bytes:
    i = 0
    while i < len(buf):
        key = buf[i]
        i += 1
        n = shift = 0
        while True:
            b = buf[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if key >> 3 == want:
            return buf[i:i + n]
        i += n
    raise AssertionError(f"field {want} not in {buf!r}")
