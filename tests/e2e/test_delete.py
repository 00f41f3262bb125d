"""DELETE against the real binary: rows go from the buffer and from Parquet, durably
(through the WAL), across SIGKILL; a write token may delete, a read token may not."""

from __future__ import annotations

import requests

from fletch_client import HTTP_TIMEOUT, query_influx, write_ok

DB = "del"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z
SEC = 1_000_000_000


def sql(srv, q, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(srv.http_url + "/api/v3/query_sql", json={"db": DB, "q": q},
                         headers=headers, timeout=HTTP_TIMEOUT)


def counts(srv):
    t = query_influx(srv, "SELECT host, count(*) AS n FROM m GROUP BY host ORDER BY host", DB)
    return {r["host"]: r["n"] for r in t.to_pylist()}


def test_delete_from_buffer_and_parquet_survives_sigkill(server):
    srv = server()
    write_ok(srv, DB, "\n".join(f"m,host=h{h} v={i} {T0 + i * SEC}" for i in range(100) for h in range(3)) + "\n")
    srv.restart()  # SIGTERM persists: these rows are in Parquet now
    write_ok(srv, DB, "\n".join(f"m,host=h{h} v={i} {T0 + (100 + i) * SEC}" for i in range(10) for h in range(3)) + "\n")
    assert counts(srv) == {"h0": 110, "h1": 110, "h2": 110}
    r = sql(srv, "DELETE FROM m WHERE host = 'h1' OR (host = 'h2' AND time >= '2026-01-01T00:01:00Z')")
    assert r.status_code == 200, r.text
    # Answered like other databases' "DELETE 160": the statement and the rows it removed.
    assert r.json() == [{"statement": "DELETE", "rows_affected": 110 + 50}]
    assert counts(srv) == {"h0": 110, "h2": 60}
    write_ok(srv, DB, f"m,host=h1 v=1 {T0 + 500 * SEC}\n")  # after the delete: stays
    srv.kill()
    srv.start()
    assert counts(srv) == {"h0": 110, "h1": 1, "h2": 60}


def test_delete_needs_write_and_a_deterministic_predicate(server):
    srv = server(auth=True)
    write_ok_auth = lambda body: requests.post(  # noqa: E731
        srv.http_url + "/api/v3/write_lp", params={"db": DB}, data=body,
        headers={"Authorization": f"Bearer {srv.admin_token}"}, timeout=HTTP_TIMEOUT)
    assert write_ok_auth(f"m,host=a v=1 {T0}\nm,host=b v=2 {T0}\n").status_code == 204
    reader = srv.create_token(DB, "read")
    writer = srv.create_token(DB, "write")
    r = sql(srv, "DELETE FROM m WHERE host = 'a'", reader)
    assert r.status_code == 403 and "needs write" in r.json()["error"], r.text
    r = sql(srv, "DELETE FROM m WHERE time < now()", writer)
    assert r.status_code == 400 and "literal time" in r.json()["error"], r.text
    r = sql(srv, "DELETE FROM m WHERE host = 'a'", writer)
    assert r.status_code == 200, r.text
    r = sql(srv, "SELECT host FROM m", reader)
    assert r.json() == [{"host": "b"}]
    r = sql(srv, "DROP TABLE m", writer)  # schema changes still need admin
    assert r.status_code == 403, r.text


def test_delete_and_ddl_answer_like_other_databases(server, fletch_bin):
    """ADBC's rowcount is the rows a DELETE removed; a JSON-ticket DoGet and the CLI's
    table get the statement's tag; schema changes answer their tag with no count."""
    import subprocess

    import adbc_driver_flightsql.dbapi as flightsql

    from fletch_client import _do_get

    srv = server()
    write_ok(srv, DB, "\n".join(f"m,host=h{h} v={i} {T0 + i * SEC}" for i in range(10) for h in range(3)) + "\n")
    with flightsql.connect(srv.grpc_url, db_kwargs={"adbc.flight.sql.rpc.call_header.database": DB}) as conn:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM m WHERE host = 'h0'")
            assert cur.rowcount == 10
            cur.execute("CREATE VIEW hosts AS SELECT DISTINCT host FROM m")
            assert cur.rowcount == 0
    t = _do_get(srv.grpc_url, {"database": DB, "sql_query": "DELETE FROM m WHERE host = 'h1' AND time < '2026-01-01T00:00:04Z'",
                               "query_type": "sql"})
    assert t.to_pylist() == [{"statement": "DELETE", "rows_affected": 4}]
    r = sql(srv, "CREATE MATERIALIZED VIEW m_1m AS SELECT date_bin(INTERVAL '1 minute', time) AS time, host, max(v) AS v FROM m GROUP BY 1, 2")
    assert r.json() == [{"statement": "CREATE MATERIALIZED VIEW", "rows_affected": None}], r.text
    p = subprocess.run([str(fletch_bin), "query", "--host", srv.http_url, "-d", DB, "--format", "table",
                        "DELETE FROM m WHERE host = 'h2'"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "DELETE" in p.stdout and "10" in p.stdout, p.stdout
    assert counts(srv) == {"h1": 6}
