"""/api/v3/configure/database and /configure/table, and CORS, against the real binary.

Shapes and status codes follow InfluxDB 3 Core: POST/DELETE answer 200 with an empty
body, a taken name 409, a bad name or retention 400, a missing database or table 404.
"""

from __future__ import annotations

import signal

import requests

from fletch_client import HTTP_TIMEOUT

T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z
T_OLD = 1577836800_000000000  # 2020-01-01T00:00:00Z: older than any retention the tests set


def api(srv, method, path, token=None, **kw):
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, srv.http_url + path, headers=headers, timeout=HTTP_TIMEOUT, **kw)


def sql(srv, db, q, token=None):
    r = api(srv, "POST", "/api/v3/query_sql", token, json={"db": db, "q": q})
    assert r.status_code == 200, r.text
    return r.json()


def databases(srv, token=None):
    r = api(srv, "GET", "/api/v3/configure/database", token, params={"format": "json"})
    assert r.status_code == 200, r.text
    return {row["iox::database"]: row["retention_period"] for row in r.json()}


def write(srv, db, body, token=None):
    r = api(srv, "POST", "/api/v3/write_lp", token, params={"db": db}, data=body.encode())
    assert r.status_code == 204, r.text


def test_create_database_with_retention_shows_everywhere(server):
    srv = server()
    r = api(srv, "POST", "/api/v3/configure/database", json={"db": "metrics", "retention_period": "30d"})
    assert (r.status_code, r.text) == (200, "")
    assert databases(srv)["metrics"] == "30d"
    assert sql(srv, "metrics", "SELECT database, retention_seconds, tables FROM system.databases WHERE database = 'metrics'") == [
        {"database": "metrics", "retention_seconds": 30 * 86400, "tables": 0}]
    # The period applies to tables written later: a row older than 30 days is not visible.
    write(srv, "metrics", f"cpu,host=a usage=1 {T_OLD}\n")
    assert sql(srv, "metrics", "SELECT count(*) AS n FROM cpu") == [{"n": 0}]
    # PUT changes it; without a period it clears it.
    assert api(srv, "PUT", "/api/v3/configure/database", json={"db": "metrics"}).status_code == 200
    assert databases(srv)["metrics"] is None
    assert sql(srv, "metrics", "SELECT count(*) AS n FROM cpu") == [{"n": 1}]
    # Other formats come from the same rows.
    r = api(srv, "GET", "/api/v3/configure/database", params={"format": "csv"})
    assert r.text.splitlines()[0] == "iox::database,retention_period" and "metrics," in r.text


def test_configure_database_errors(server):
    srv = server()
    assert api(srv, "POST", "/api/v3/configure/database", json={"db": "d1"}).status_code == 200
    cases = [
        ("POST", {"json": {"db": "d1"}}, 409, "d1"),
        ("POST", {"json": {"db": "system"}}, 400, "reserved"),
        ("POST", {"json": {"db": "bad\nname"}}, 400, "control character"),
        ("POST", {"json": {"db": "d2", "retention_period": "one week"}}, 400, "retention"),
        ("POST", {"json": {}}, 400, "db"),
        ("POST", {"data": "not json", "headers": {"Content-Type": "application/json"}}, 400, "JSON"),
        ("POST", {"data": "db=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415, "application/json"),
        ("DELETE", {"params": {"db": "nope"}}, 404, "nope"),
        ("DELETE", {}, 400, "db"),
    ]
    for method, kw, status, needle in cases:
        r = api(srv, method, "/api/v3/configure/database", **kw)
        assert r.status_code == status, (kw, r.text)
        assert needle in r.json()["error"], (kw, r.text)
    assert "d2" not in databases(srv)


def test_create_and_delete_table(server):
    srv = server()
    body = {"db": "fresh", "table": "cpu", "tags": ["host", "region"],
            "fields": [{"name": "usage", "type": "float64"}, {"name": "count", "type": "int64"},
                       {"name": "ok", "type": "bool"}, {"name": "note", "type": "utf8"}, {"name": "u", "type": "uint64"}]}
    r = api(srv, "POST", "/api/v3/configure/table", json=body)
    assert (r.status_code, r.text) == (200, "")
    assert "fresh" in databases(srv)  # created with the table, as InfluxDB 3 does
    assert sql(srv, "fresh", "SELECT tags, fields FROM system.tables WHERE table_name = 'cpu'") == [
        {"tags": ["host", "region"], "fields": ["usage", "count", "ok", "note", "u"]}]
    assert sql(srv, "fresh", "SELECT count(*) AS n FROM cpu") == [{"n": 0}]
    # The declared types hold: a write offering another type for a field is refused.
    r = api(srv, "POST", "/api/v3/write_lp", params={"db": "fresh", "accept_partial": "false"},
            data=f"cpu,host=a count=1.5 {T0}".encode())
    assert r.status_code == 400 and "count" in r.text
    write(srv, "fresh", f"cpu,host=a,region=eu usage=0.5,count=2i,ok=true,note=\"x\",u=3u {T0}\n")
    assert sql(srv, "fresh", "SELECT host, region, usage, count, ok, note, u FROM cpu") == [
        {"host": "a", "region": "eu", "usage": 0.5, "count": 2, "ok": True, "note": "x", "u": 3}]

    assert api(srv, "POST", "/api/v3/configure/table", json=body).status_code == 409
    bad = dict(body, table="t2", fields=[{"name": "v", "type": "decimal"}])
    r = api(srv, "POST", "/api/v3/configure/table", json=bad)
    assert r.status_code == 400 and "decimal" in r.text
    dup = dict(body, table="t3", tags=["time"], fields=[])
    assert api(srv, "POST", "/api/v3/configure/table", json=dup).status_code == 400

    r = api(srv, "DELETE", "/api/v3/configure/table", params={"db": "fresh", "table": "cpu"})
    assert (r.status_code, r.text) == (200, "")
    r = api(srv, "DELETE", "/api/v3/configure/table", params={"db": "fresh", "table": "cpu"})
    assert r.status_code == 404
    assert sql(srv, "fresh", "SELECT count(*) AS n FROM system.tables WHERE database = 'fresh'") == [{"n": 0}]


def test_delete_database_survives_crash_and_restart(server):
    srv = server()
    write(srv, "gone", "".join(f"cpu,host=h{i} usage={i} {T0 + i}\n" for i in range(50)))
    srv.restart()  # the first rows are now in Parquet files
    write(srv, "gone", "".join(f"cpu,host=h{i} usage={i} {T0 + i}\n" for i in range(50, 80)))  # in the WAL only
    sql(srv, "gone", "CREATE VIEW v AS SELECT host FROM cpu")
    write(srv, "kept", f"cpu,host=a usage=1 {T0}\n")
    parquet_before = list((srv.data_dir).rglob("*.parquet"))
    assert any("gone" in str(p) for p in parquet_before)

    r = api(srv, "DELETE", "/api/v3/configure/database", params={"db": "gone"})
    assert (r.status_code, r.text) == (200, "")
    assert "gone" not in databases(srv)
    r = api(srv, "POST", "/api/v3/query_sql", json={"db": "gone", "q": "SELECT count(*) FROM cpu"})
    assert r.status_code == 404, r.text

    srv.stop(signal.SIGKILL)  # a crash: the WAL still holds the writes before the delete
    srv.start()
    assert set(databases(srv)) == {"default", "kept"}
    r = api(srv, "POST", "/api/v3/query_sql", json={"db": "gone", "q": "SELECT count(*) FROM cpu"})
    assert r.status_code == 404, r.text
    assert not any("gone" in str(p) for p in srv.data_dir.rglob("*.parquet"))
    assert sql(srv, "kept", "SELECT count(*) AS n FROM cpu") == [{"n": 1}]

    # The name is free: writing to it starts an empty database, and a graceful restart keeps that.
    write(srv, "gone", f"cpu,host=new usage=7 {T0}\n")
    srv.restart()
    assert sql(srv, "gone", "SELECT host, usage FROM cpu") == [{"host": "new", "usage": 7.0}]
    assert sql(srv, "gone", "SELECT count(*) AS n FROM system.views WHERE database = 'gone'") == [{"n": 0}]


def test_configure_needs_admin(server):
    srv = server(auth=True)
    admin = srv.admin_token
    writer = srv.create_token("w", "write")
    assert api(srv, "POST", "/api/v3/configure/database", json={"db": "w"}).status_code == 401
    assert api(srv, "POST", "/api/v3/configure/database", writer, json={"db": "w"}).status_code == 403
    assert api(srv, "POST", "/api/v3/configure/database", admin, json={"db": "w"}).status_code == 200
    assert api(srv, "POST", "/api/v3/configure/database", admin, json={"db": "other"}).status_code == 200
    assert api(srv, "DELETE", "/api/v3/configure/database", writer, params={"db": "w"}).status_code == 403
    assert api(srv, "DELETE", "/api/v3/configure/table", writer, params={"db": "w", "table": "x"}).status_code == 403
    # A token for one database lists only that one.
    assert databases(srv, writer) == {"w": None}
    assert set(databases(srv, admin)) == {"default", "w", "other"}


def test_cors_preflight_and_response_headers(server):
    srv = server(auth=True)
    # A browser's preflight carries no credentials; it must still succeed.
    r = api(srv, "OPTIONS", "/api/v3/query_sql", headers={
        "Origin": "http://dashboard.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert r.status_code == 204 and r.text == ""
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Methods"] == "*"
    assert r.headers["Access-Control-Allow-Headers"] == "*"
    assert r.headers["Access-Control-Max-Age"] == "86400"
    # The real request needs its token, and its answer is readable cross-origin.
    r = api(srv, "POST", "/api/v3/query_sql", headers={"Origin": "http://dashboard.example"},
            json={"db": "default", "q": "SELECT 1 AS one"})
    assert r.status_code == 401 and r.headers["Access-Control-Allow-Origin"] == "*"
    r = api(srv, "POST", "/api/v3/query_sql", srv.admin_token, headers={"Origin": "http://dashboard.example"},
            json={"db": "default", "q": "SELECT 1 AS one"})
    assert r.status_code == 200 and r.json() == [{"one": 1}]
    assert r.headers["Access-Control-Allow-Origin"] == "*"
