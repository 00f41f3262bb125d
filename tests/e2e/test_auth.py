"""Token auth against the real binary: HTTP line protocol, Flight, Flight SQL (ADBC).

The server runs with auth on. Its admin token is the one it printed on first start; a read
and a write token for DB come from `fletch token create`. Every refusal is checked for its
exact status and for a message that says what was missing; every acceptance is checked by
reading back the exact rows.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests
from adbc_driver_flightsql import DatabaseOptions, dbapi

from fletch_client import HTTP_TIMEOUT, rows

DB = "sensors"
OTHER = "elsewhere"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z in ns
SEC = 1_000_000_000
TOKEN_RE = re.compile(r"^fletch_[A-Za-z0-9_-]{43}$")

SEED = [f"temp,room=a v=1 {T0}", f"temp,room=b v=2 {T0 + SEC}"]
SEED_ROWS = [("a", 1.0, T0), ("b", 2.0, T0 + SEC)]
OTHER_ROWS = [("z", 9.0, T0)]


# -- helpers ------------------------------------------------------------------------------
def post_lp(srv, path, params, body, headers=None):
    return requests.post(srv.http_url + path, params=params, data=body.encode(),
                         headers=headers or {}, timeout=HTTP_TIMEOUT)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def call_opts(token=None, database=None):
    headers = [(b"authorization", b"Bearer " + token.encode())] if token else []
    if database:
        headers.append((b"database", database.encode()))
    return flight.FlightCallOptions(headers=headers, timeout=60)


def influx_ticket(db, sql):
    return flight.Ticket(json.dumps({"database": db, "sql_query": sql, "query_type": "sql"}).encode())


def flight_query(srv, token, db, sql) -> pa.Table:
    with flight.connect(srv.grpc_url) as client:
        return client.do_get(influx_ticket(db, sql), call_opts(token)).read_all()


def temps(srv, token, db=DB):
    t = flight_query(srv, token, db, "SELECT room, v, time FROM temp ORDER BY time, room")
    return rows(t, ["room", "v", "time"])


def adbc(srv, db=DB, **kw):
    opts = {DatabaseOptions.RPC_CALL_HEADER_PREFIX.value + "database": db}
    opts.update(kw)
    return dbapi.connect(srv.grpc_url, db_kwargs=opts)


# -- fixtures -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def srv(module_server):
    s = module_server(auth=True)
    assert s.admin_token and TOKEN_RE.match(s.admin_token), s.admin_token
    s.read_token = s.create_token(DB, "read", name="reader")
    s.write_token = s.create_token(DB, "write", name="writer")
    for t in (s.read_token, s.write_token):
        assert TOKEN_RE.match(t), t
    r = post_lp(s, "/api/v3/write_lp", {"db": DB}, "\n".join(SEED), bearer(s.admin_token))
    assert r.status_code == 204, r.text
    r = post_lp(s, "/api/v3/write_lp", {"db": OTHER}, f"temp,room=z v=9 {T0}", bearer(s.admin_token))
    assert r.status_code == 204, r.text
    return s


# -- tokens on disk -----------------------------------------------------------------------
def test_token_file_holds_hashes_only(srv):
    path = srv.data_dir / "tokens.json"
    text = path.read_text()
    for t in (srv.admin_token, srv.read_token, srv.write_token):
        assert t not in text
        assert t.removeprefix("fletch_") not in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    doc = json.loads(text)
    assert sorted((t["name"], t["database"], t["permission"]) for t in doc["tokens"]) == [
        ("admin", "*", "admin"), ("reader", DB, "read"), ("writer", DB, "write")]


def test_admin_token_printed_only_on_first_start(server):
    s = server(auth=True)
    first = s.admin_token
    assert TOKEN_RE.match(first)
    s.restart()
    log = s.log_path.read_text()
    assert log.count("admin token: ") == 1
    assert first in log
    # The token from the first start still works after the restart.
    r = post_lp(s, "/api/v3/write_lp", {"db": "x"}, f"m f=1 {T0}", bearer(first))
    assert r.status_code == 204, r.text


def test_token_list_shows_no_secrets(srv):
    out = subprocess.run([str(srv.binary), "token", "list", "--data-dir", str(srv.data_dir)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    lines = out.strip().splitlines()
    assert lines[0].split() == ["ID", "NAME", "DATABASE", "PERMISSION", "CREATED"]
    fields = {tuple(line.split()[1:4]) for line in lines[1:]}
    assert {("admin", "*", "admin"), ("reader", DB, "read"), ("writer", DB, "write")} <= fields
    assert "fletch_" not in out


# -- HTTP ---------------------------------------------------------------------------------
def test_health_and_ping_need_no_token(srv):
    assert requests.get(srv.http_url + "/health", timeout=10).status_code == 200
    r = requests.get(srv.http_url + "/ping", timeout=10)
    assert r.status_code == 200 and "version" in r.json()


@pytest.mark.parametrize("path,dbparam,errkey", [
    ("/api/v3/write_lp", "db", "error"),
    ("/api/v2/write", "bucket", "message"),
    ("/write", "db", "message"),
])
def test_http_write_without_or_with_wrong_token_is_401(srv, path, dbparam, errkey):
    line = f"temp,room=x v=0 {T0 + 100 * SEC}"
    r = post_lp(srv, path, {dbparam: DB}, line)
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "no token" in r.json()[errkey]
    if errkey == "message":
        assert r.json()["code"] == "unauthorized"

    wrong = srv.write_token[:-4] + "AAAA"
    for headers in (bearer(wrong), {"Authorization": "Token " + wrong}):
        r = post_lp(srv, path, {dbparam: DB}, line, headers)
        assert r.status_code == 401, r.text
        assert "invalid token" in r.json()[errkey]
    r = post_lp(srv, path, {dbparam: DB}, line, {"Authorization": "Digest abc"})
    assert r.status_code == 401 and "malformed" in r.json()[errkey]
    # None of it was written.
    assert temps(srv, srv.admin_token) == SEED_ROWS


def test_http_read_token_may_not_write(srv):
    r = post_lp(srv, "/api/v3/write_lp", {"db": DB}, f"temp,room=r v=5 {T0 + 50 * SEC}",
                bearer(srv.read_token))
    assert r.status_code == 403, r.text
    msg = r.json()["error"]
    assert 'token "reader"' in msg and "has read permission" in msg and "needs write" in msg, msg
    r = post_lp(srv, "/api/v2/write", {"bucket": DB}, f"temp,room=r v=5 {T0 + 50 * SEC}",
                {"Authorization": "Token " + srv.read_token})
    assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    assert temps(srv, srv.admin_token) == SEED_ROWS


def test_http_token_scoped_to_another_database_is_403(srv):
    r = post_lp(srv, "/api/v3/write_lp", {"db": OTHER}, f"temp,room=q v=7 {T0 + 60 * SEC}",
                bearer(srv.write_token))
    assert r.status_code == 403, r.text
    assert f'scoped to database "{DB}"' in r.json()["error"]
    assert f'for database "{OTHER}"' in r.json()["error"]
    assert temps(srv, srv.admin_token, OTHER) == OTHER_ROWS


def test_http_write_token_writes_with_every_scheme(server):
    s = server(auth=True)
    w = s.create_token("wdb", "write")
    basic = base64.b64encode(f"telegraf:{w}".encode()).decode()
    cases = [
        ("/api/v3/write_lp", {"db": "wdb"}, bearer(w)),
        ("/api/v2/write", {"bucket": "wdb", "precision": "ns"}, {"Authorization": "Token " + w}),
        ("/write", {"db": "wdb"}, {"Authorization": "Basic " + basic}),
        ("/write", {"db": "wdb", "u": "telegraf", "p": w}, {}),
    ]
    for i, (path, params, headers) in enumerate(cases):
        r = post_lp(s, path, params, f"m,case={i} f={i}i {T0 + i * SEC}", headers)
        assert r.status_code == 204, (path, r.status_code, r.text)
    t = flight_query(s, w, "wdb", "SELECT \"case\", f, time FROM m ORDER BY time")
    assert rows(t, ["case", "f", "time"]) == [(str(i), i, T0 + i * SEC) for i in range(4)]
    # ?p= is only for the v1 endpoint.
    r = post_lp(s, "/api/v3/write_lp", {"db": "wdb", "p": w}, f"m,case=9 f=9i {T0}")
    assert r.status_code == 401, r.text


def test_token_created_while_running_works_at_once_and_delete_revokes(srv):
    tok = srv.create_token(DB, "write", name="late")
    r = post_lp(srv, "/api/v3/write_lp", {"db": "latedb"}, f"m f=1 {T0}", bearer(tok))
    assert r.status_code == 403, r.text  # scoped to DB: the server knows it already
    r = post_lp(srv, "/api/v3/write_lp", {"db": DB}, f"late f=1i {T0}", bearer(tok))
    assert r.status_code == 204, r.text
    assert rows(flight_query(srv, tok, DB, "SELECT f, time FROM late")) == [(1, T0)]

    listed = subprocess.run([str(srv.binary), "token", "list", "--data-dir", str(srv.data_dir)],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    tid = next(line.split()[0] for line in listed.splitlines() if line.split()[1:2] == ["late"])
    subprocess.run([str(srv.binary), "token", "delete", "--data-dir", str(srv.data_dir), tid],
                   capture_output=True, text=True, timeout=60, check=True)
    deadline = time.monotonic() + 10
    while True:  # the server re-checks the file at least once a second
        r = post_lp(srv, "/api/v3/write_lp", {"db": DB}, f"late f=2i {T0 + SEC}", bearer(tok))
        if r.status_code != 204 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 401, r.text
    assert "invalid token" in r.json()["error"]


# -- Flight -------------------------------------------------------------------------------
def test_flight_query_needs_a_valid_token(srv):
    with flight.connect(srv.grpc_url) as client:
        with pytest.raises(flight.FlightUnauthenticatedError, match="no token"):
            client.do_get(influx_ticket(DB, "SELECT 1"), call_opts()).read_all()
        with pytest.raises(flight.FlightUnauthenticatedError, match="invalid token"):
            client.do_get(influx_ticket(DB, "SELECT 1"), call_opts("fletch_nope")).read_all()
    assert temps(srv, srv.read_token) == SEED_ROWS


def test_flight_query_of_another_database_is_permission_denied(srv):
    with pytest.raises(flight.FlightUnauthorizedError, match=f'scoped to database "{DB}"'):
        flight_query(srv, srv.read_token, OTHER, "SELECT * FROM temp")
    assert temps(srv, srv.admin_token, OTHER) == OTHER_ROWS


def test_flight_doput_needs_write(server):
    s = server(auth=True)
    r_tok = s.create_token("putdb", "read")
    w_tok = s.create_token("putdb", "write")
    table = pa.table({"room": pa.array(["p"]).dictionary_encode(), "v": [3.5],
                      "time": pa.array([T0], pa.timestamp("ns", tz="UTC"))})

    def put(token):
        with flight.connect(s.grpc_url) as client:
            desc = flight.FlightDescriptor.for_path("putdb", "temp")
            writer, _ = client.do_put(desc, table.schema, call_opts(token))
            writer.write_table(table)
            writer.close()

    with pytest.raises(flight.FlightUnauthorizedError, match="needs write"):
        put(r_tok)
    with pytest.raises(flight.FlightUnauthenticatedError):
        put(None)
    put(w_tok)
    assert temps(s, r_tok, "putdb") == [("p", 3.5, T0)]


def test_flight_handshake_basic_returns_bearer(srv):
    with flight.connect(srv.grpc_url) as client:
        header = client.authenticate_basic_token("grafana", srv.read_token)
        assert header == (b"authorization", b"Bearer " + srv.read_token.encode())
        opts = flight.FlightCallOptions(headers=[header])
        t = client.do_get(influx_ticket(DB, "SELECT room, v, time FROM temp ORDER BY time"), opts).read_all()
        assert rows(t) == SEED_ROWS
        with pytest.raises(flight.FlightUnauthenticatedError, match="invalid token"):
            client.authenticate_basic_token("grafana", "fletch_wrong")


def test_flight_actions_need_admin_except_prepare(srv):
    def action(token, name, database=DB):
        with flight.connect(srv.grpc_url) as client:
            return list(client.do_action(flight.Action(name, b""), call_opts(token, database)))

    with pytest.raises(flight.FlightUnauthorizedError, match="needs admin"):
        action(srv.write_token, "BeginTransaction")
    # Actions act on the database header (default: "default").
    with pytest.raises(flight.FlightUnauthorizedError, match=f'scoped to database "{DB}"'):
        action(srv.read_token, "CreatePreparedStatement", database=None)
    # Admin passes the check and reaches arrow-go's dispatch, which rejects the empty body.
    with pytest.raises(pa.ArrowInvalid, match="unmarshal"):
        action(srv.admin_token, "BeginTransaction")
    # Preparing is read: a read token gets past the check to the same body error.
    with pytest.raises(pa.ArrowInvalid, match="unmarshal"):
        action(srv.read_token, "CreatePreparedStatement")


# -- Flight SQL through ADBC --------------------------------------------------------------
def test_adbc_username_password_handshake(srv):
    with adbc(srv, username="anyone", password=srv.read_token) as conn, conn.cursor() as cur:
        cur.execute("SELECT room, v, time FROM temp ORDER BY time")
        assert rows(cur.fetch_arrow_table()) == SEED_ROWS
    with pytest.raises(dbapi.Error, match="invalid token"):
        with adbc(srv, username="anyone", password="fletch_wrong") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")


def test_adbc_authorization_header(srv):
    opt = {"adbc.flight.sql.authorization_header": "Bearer " + srv.read_token}
    with adbc(srv, **opt) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT room, v, time FROM temp ORDER BY time")
            assert rows(cur.fetch_arrow_table()) == SEED_ROWS
        # Metadata lists only the databases the token may read.
        objs = conn.adbc_get_objects(depth="db_schemas").read_all().to_pylist()
        assert [s["db_schema_name"] for c in objs for s in c["catalog_db_schemas"]] == [DB]
    with adbc(srv, db=OTHER, **opt) as conn, conn.cursor() as cur:
        with pytest.raises(dbapi.Error, match=f'scoped to database "{DB}"'):
            cur.execute("SELECT * FROM temp")


def test_adbc_ingest_needs_write(srv):
    data = pa.table({"room": ["i"], "v": [1.0]})
    opt = {"adbc.flight.sql.authorization_header": "Bearer " + srv.read_token}
    with adbc(srv, **opt) as conn, conn.cursor() as cur:
        with pytest.raises(dbapi.Error, match="needs write"):
            cur.adbc_ingest("ingested", data, mode="create_append")


# -- auth off -----------------------------------------------------------------------------
def test_without_auth_accepts_anything_including_bearer_none(server):
    s = server()  # --without-auth
    assert s.admin_token is None
    r = post_lp(s, "/api/v3/write_lp", {"db": "open"}, f"m f=1i {T0}", {"Authorization": "Bearer None"})
    assert r.status_code == 204, r.text
    r = post_lp(s, "/api/v3/write_lp", {"db": "open"}, f"m f=2i {T0 + SEC}")
    assert r.status_code == 204, r.text
    t = flight_query(s, "None", "open", "SELECT f, time FROM m ORDER BY time")
    assert rows(t) == [(1, T0), (2, T0 + SEC)]
    assert not (s.data_dir / "tokens.json").exists()


# -- SQL can't reach around a token's database -------------------------------------------
@pytest.mark.parametrize("sql, why", [
    (f"SELECT * FROM {OTHER}.temp", "outside database"),
    (f'SELECT * FROM "{OTHER}"."temp"', "outside database"),
    (f"SELECT * FROM temp JOIN {OTHER}.temp AS o USING (room)", "outside database"),
    ("SELECT * FROM duckdb_tables()", "table function"),
    ("SELECT * FROM information_schema.tables", "outside database"),
    ("SELECT * FROM duckdb_views", "not found"),
    (f"WITH x AS (SELECT * FROM {OTHER}.temp) SELECT * FROM x", "outside database"),
    ("SELECT * FROM read_parquet('x.parquet')", "table function"),
])
def test_scoped_token_sql_reads_only_its_database(srv, sql, why):
    """The read token for DB names another database, a table function or the system
    catalog in its SQL: refused before DuckDB runs it, over DoGet and over ADBC."""
    with pytest.raises((flight.FlightUnauthorizedError, flight.FlightServerError, pa.ArrowKeyError),
                       match=why):
        flight_query(srv, srv.read_token, DB, sql)
    with adbc(srv, **{DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {srv.read_token}"}) as conn:
        with conn.cursor() as cur, pytest.raises(Exception, match=why):
            cur.execute(sql)
    # Its own database still answers, including through CTEs and subqueries.
    t = flight_query(srv, srv.read_token, DB,
                     "WITH x AS (SELECT * FROM temp) SELECT room, v, time FROM (SELECT * FROM x) "
                     f"WHERE time >= '2026-01-01T00:00:00Z' ORDER BY time")
    assert rows(t, ["room", "v", "time"]) == SEED_ROWS


def test_admin_token_for_all_databases_may_join_them(srv):
    t = flight_query(srv, srv.admin_token, DB,
                     f"SELECT a.room AS r, b.room AS o FROM temp a, {OTHER}.temp b ORDER BY r")
    assert t.to_pylist() == [{"r": "a", "o": "z"}, {"r": "b", "o": "z"}]


def test_ddl_needs_admin(srv):
    """CREATE VIEW changes schema: the write token is refused, the admin token may."""
    sql = "CREATE VIEW warm AS SELECT room FROM temp WHERE v > 1"
    with adbc(srv, **{DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {srv.write_token}"}) as conn:
        with conn.cursor() as cur, pytest.raises(Exception, match="needs admin"):
            cur.execute(sql)
    with adbc(srv, **{DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {srv.admin_token}"}) as conn:
        with conn.cursor() as cur:
            cur.execute(sql)
            cur.execute("SELECT room FROM warm")
            assert cur.fetchall() == [("b",)]
            cur.execute("DROP VIEW warm")
