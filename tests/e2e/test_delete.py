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
