"""Every kind of token against every endpoint, with auth on.

Tokens: none, a wrong one, read/write/admin for DB, read for OTHER, admin for all
databases. Endpoints: HTTP writes (v1, v2, v3), the HTTP query API (SELECT, DELETE,
CREATE VIEW), Flight DoGet with a JSON ticket, Flight DoPut with a path descriptor,
Flight SQL through ADBC (query, update, DDL, bulk ingest, GetTables), ListFlights and
`fletch query`. Each cell asserts the exact outcome — 401 / Unauthenticated, 403 /
PermissionDenied, or allowed — and then, read back with the admin token, that the
effect happened exactly when it was allowed (rows written or deleted, a view created,
the right rows or tables returned).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import requests
from adbc_driver_flightsql import DatabaseOptions, dbapi

from fletch_client import CODE_FOR_HTTP, HTTP_TIMEOUT, grpc_code, run_sql

DB = "mx"
OTHER = "mxother"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z
SEC = 1_000_000_000
SEED = [("a", 1.0), ("b", 2.0)]
OK, UNAUTH, DENIED = "OK", "UNAUTHENTICATED", "PERMISSION_DENIED"

TOKENS = ["none", "wrong", "read", "write", "admin", "read_other", "admin_all"]
# Permission each token has on DB (0: none) and on OTHER.
LEVEL = {"read": 1, "write": 2, "admin": 3}
ON_DB = {"none": None, "wrong": None, "read": 1, "write": 2, "admin": 3, "read_other": 0, "admin_all": 3}
ON_OTHER = {"none": None, "wrong": None, "read": 0, "write": 0, "admin": 0, "read_other": 1, "admin_all": 3}


# -- server and tokens ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def env(module_server):
    srv = module_server(auth=True)
    tokens = {
        "none": None,
        "wrong": "fletch_" + "A" * 43,
        "read": srv.create_token(DB, "read", name="r"),
        "write": srv.create_token(DB, "write", name="w"),
        "admin": srv.create_token(DB, "admin", name="a"),
        "read_other": srv.create_token(OTHER, "read", name="ro"),
        "admin_all": srv.admin_token,
    }
    seed = "\n".join(f"seed,host={h} v={v} {T0 + i * SEC}" for i, (h, v) in enumerate(SEED))
    for db, body in ((DB, seed), (OTHER, f"hidden,host=z v=9 {T0}")):
        r = requests.post(srv.http_url + "/api/v3/write_lp", params={"db": db}, data=body,
                          headers=bearer(srv.admin_token), timeout=HTTP_TIMEOUT)
        assert r.status_code == 204, r.text
    return {"srv": srv, "tokens": tokens, "results": {}}


def bearer(token):
    return {"Authorization": f"Bearer {token}"} if token else {}


def grpc_opts(token, database=None):
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    if database:
        headers.append((b"database", database.encode()))
    return flight.FlightCallOptions(headers=headers, timeout=60)


def adbc(srv, token, database=DB):
    kw = {DatabaseOptions.RPC_CALL_HEADER_PREFIX.value + "database": database}
    if token:
        kw[DatabaseOptions.AUTHORIZATION_HEADER.value] = f"Bearer {token}"
    return dbapi.connect(srv.grpc_url, db_kwargs=kw)


def http_code(r) -> str:
    return OK if r.status_code in (200, 204) else CODE_FOR_HTTP.get(r.status_code, f"HTTP {r.status_code}")


def admin_sql(env, sql, database=DB):
    out = run_sql(env["srv"], "http", sql, database, env["tokens"]["admin_all"], timeout=60)
    return out


def count(env, table, cell, database=DB) -> int:
    out = admin_sql(env, f"SELECT count(*) AS n FROM {table} WHERE cell = '{cell}'", database)
    if out.code == "NOT_FOUND":
        return 0
    assert out.code == OK, out
    return out.table.to_pylist()[0]["n"]


# -- the endpoints: each does its thing with a token and returns (code, check) -------------
# check(env, allowed) asserts the effect happened exactly when the call was allowed.

def write_http(path, dbparam, extra=None):
    def run(env, token, cell):
        params = {dbparam: DB, **(extra or {})}
        r = requests.post(env["srv"].http_url + path, params=params, data=f"lp,cell={cell} v=1 {T0}",
                          headers=bearer(token), timeout=HTTP_TIMEOUT)
        return http_code(r), lambda allowed: count(env, "lp", cell) == int(allowed)
    return run


def http_select(env, token, cell):
    out = run_sql(env["srv"], "http", "SELECT host, v FROM seed ORDER BY host", DB, token, timeout=60)
    return out.code, lambda allowed: (not allowed) or [tuple(r.values()) for r in out.table.to_pylist()] == SEED


def http_delete(env, token, cell):
    r = requests.post(env["srv"].http_url + "/api/v3/write_lp", params={"db": DB},
                      data=f"doomed,cell={cell} v=1 {T0}", headers=bearer(env["tokens"]["admin_all"]),
                      timeout=HTTP_TIMEOUT)
    assert r.status_code == 204, r.text
    out = run_sql(env["srv"], "http", f"DELETE FROM doomed WHERE cell = '{cell}'", DB, token, timeout=60)
    return out.code, lambda allowed: count(env, "doomed", cell) == int(not allowed)


def view_exists(env, name) -> bool:
    out = admin_sql(env, f"SELECT count(*) AS n FROM {name}")
    assert out.code in (OK, "NOT_FOUND"), out
    return out.code == OK


def http_create_view(env, token, cell):
    name = f"v_{cell}"
    out = run_sql(env["srv"], "http", f"CREATE VIEW {name} AS SELECT host FROM seed", DB, token, timeout=60)
    return out.code, lambda allowed: view_exists(env, name) == allowed


def doget(env, token, cell):
    out = run_sql(env["srv"], "doget", "SELECT host, v FROM seed ORDER BY host", DB, token, timeout=60)
    return out.code, lambda allowed: (not allowed) or list(zip(*out.table.to_pydict().values())) == SEED


def doput(env, token, cell):
    table = pa.table({"cell": pa.array([cell]).dictionary_encode(), "v": [1.0],
                      "time": pa.array([T0], pa.timestamp("ns", tz="UTC"))})
    try:
        with flight.connect(env["srv"].grpc_url) as client:
            writer, _ = client.do_put(flight.FlightDescriptor.for_path(DB, "put"), table.schema, grpc_opts(token))
            writer.write_table(table)
            writer.close()
        code = OK
    except (flight.FlightError, pa.ArrowException) as e:
        code = grpc_code(e)
    return code, lambda allowed: count(env, "put", cell) == int(allowed)


def fsql_query(env, token, cell):
    out = run_sql(env["srv"], "adbc", "SELECT host, v FROM seed ORDER BY host", DB, token, timeout=60)
    return out.code, lambda allowed: (not allowed) or list(zip(*out.table.to_pydict().values())) == SEED


def fsql_execute_update(env, token, sql):
    try:
        with adbc(env["srv"], token) as conn, conn.cursor() as cur:
            cur.executescript(sql)  # CommandStatementUpdate
        return OK
    except dbapi.Error as e:
        return grpc_code(e)


def fsql_update(env, token, cell):
    r = requests.post(env["srv"].http_url + "/api/v3/write_lp", params={"db": DB},
                      data=f"doomed,cell={cell} v=1 {T0}", headers=bearer(env["tokens"]["admin_all"]),
                      timeout=HTTP_TIMEOUT)
    assert r.status_code == 204, r.text
    code = fsql_execute_update(env, token, f"DELETE FROM doomed WHERE cell = '{cell}'")
    return code, lambda allowed: count(env, "doomed", cell) == int(not allowed)


def fsql_ddl(env, token, cell):
    name = f"v_{cell}"
    code = fsql_execute_update(env, token, f"CREATE VIEW {name} AS SELECT host FROM seed")
    return code, lambda allowed: view_exists(env, name) == allowed


def adbc_ingest(env, token, cell):
    try:
        with adbc(env["srv"], token) as conn, conn.cursor() as cur:
            cur.adbc_ingest("ingested", pa.table({"cell": [cell], "v": [1.0]}), mode="create_append")
        code = OK
    except dbapi.Error as e:
        code = grpc_code(e)
    return code, lambda allowed: count(env, "ingested", cell) == int(allowed)


def listed_dbs(pairs):
    return {db for db, _ in pairs}


def list_flights(env, token, cell):
    try:
        with flight.connect(env["srv"].grpc_url) as client:
            pairs = [tuple(p.decode() if isinstance(p, bytes) else p for p in f.descriptor.path)
                     for f in client.list_flights(options=grpc_opts(token))]
        code = OK
    except (flight.FlightError, pa.ArrowException) as e:
        return grpc_code(e), lambda allowed: True
    return code, lambda allowed: listing_matches(env, token, pairs)


def get_tables(env, token, cell):
    try:
        with adbc(env["srv"], token) as conn:
            # A schema filter: with the database header alone, GetTables lists that database
            # only (as InfluxDB 3); "%" asks for every database the token may read.
            objs = conn.adbc_get_objects(depth="tables", db_schema_filter="%").read_all().to_pylist()
        pairs = [(s["db_schema_name"], t["table_name"]) for c in objs for s in c["catalog_db_schemas"]
                 for t in (s["db_schema_tables"] or [])]
        code = OK
    except dbapi.Error as e:
        return grpc_code(e), lambda allowed: True
    return code, lambda allowed: listing_matches(env, token, pairs)


def listing_matches(env, token_name_or_value, pairs) -> bool:
    """A listing shows DB's seed table iff the token reads DB, OTHER's iff it reads OTHER,
    and nothing of a database it may not read."""
    name = next(k for k, v in env["tokens"].items() if v == token_name_or_value)
    dbs = listed_dbs(pairs)
    want_db, want_other = ON_DB[name] >= 1, ON_OTHER[name] >= 1
    return ((DB, "seed") in pairs) == want_db and ((OTHER, "hidden") in pairs) == want_other \
        and (DB in dbs) == want_db and (OTHER in dbs) == want_other


def cli_query(env, token, cell):
    srv = env["srv"]
    cmd = [str(srv.binary), "query", "--host", srv.http_url, "--database", DB, "--format", "json",
           "SELECT host, v FROM seed ORDER BY host"]
    if token:
        cmd[2:2] = ["--token", token]
    env_vars = {k: v for k, v in os.environ.items() if k != "FLETCH_TOKEN"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env_vars)
    if proc.returncode == 0:
        got = [tuple(r.values()) for r in json.loads(proc.stdout)]
        return OK, lambda allowed: got == SEED
    m = re.search(r"\(HTTP (\d+)\)", proc.stderr)
    assert m, proc.stderr
    return CODE_FOR_HTTP[int(m.group(1))], lambda allowed: True


# endpoint -> (function, permission needed on DB; None: any valid token, filtered listing)
ENDPOINTS = {
    "write_v1": (write_http("/write", "db"), "write"),
    "write_v2": (write_http("/api/v2/write", "bucket", {"precision": "ns"}), "write"),
    "write_v3": (write_http("/api/v3/write_lp", "db"), "write"),
    "http_select": (http_select, "read"),
    "http_delete": (http_delete, "write"),
    "http_create_view": (http_create_view, "admin"),
    "doget_json_ticket": (doget, "read"),
    "doput_path": (doput, "write"),
    "flightsql_query": (fsql_query, "read"),
    "flightsql_update_delete": (fsql_update, "write"),
    "flightsql_ddl": (fsql_ddl, "admin"),
    "adbc_ingest": (adbc_ingest, "write"),
    "list_flights": (list_flights, None),
    "get_tables": (get_tables, None),
    "cli_query": (cli_query, "read"),
}


def expected(token: str, need: str | None) -> str:
    if ON_DB[token] is None:
        return UNAUTH
    if need is None or ON_DB[token] >= LEVEL[need]:
        return OK
    return DENIED


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("token", TOKENS)
def test_token_endpoint(env, token, endpoint):
    fn, need = ENDPOINTS[endpoint]
    cell = f"{token}_{endpoint}"
    code, check = fn(env, env["tokens"][token], cell)
    env["results"][(token, endpoint)] = code
    want = expected(token, need)
    assert code == want, f"{token} on {endpoint}: got {code}, want {want}"
    assert check(code == OK), f"{token} on {endpoint} ({code}): the effect does not match"


def test_matrix_report(env, report):
    """Print the matrix the cells above filled (runs last in this module)."""
    res = env["results"]
    if len(res) < len(TOKENS) * len(ENDPOINTS):
        pytest.skip("the matrix is printed when the whole module runs")
    short = {OK: "ok", UNAUTH: "401", DENIED: "403"}
    report("token matrix (ok / 401 / 403):")
    report(f"  {'':<24}" + " ".join(f"{t:>10}" for t in TOKENS))
    for ep in ENDPOINTS:
        report(f"  {ep:<24}" + " ".join(f"{short.get(res.get((t, ep)), '?'):>10}" for t in TOKENS))


def test_unauthenticated_update_always_reports_unauthenticated(env):
    """arrow-go's Flight SQL client (under ADBC) reads a refused DoPut's status only if its
    first Send got through; the server lets it through before refusing, so the client
    sees Unauthenticated, never a bare EOF, however the race goes."""
    for token in (None, env["tokens"]["wrong"]):
        for _ in range(5):
            assert fsql_execute_update(env, token, "DELETE FROM seed WHERE host = 'nobody'") == UNAUTH
