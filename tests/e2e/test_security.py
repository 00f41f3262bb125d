"""DuckDB lockdown: client SQL reaches data only through Fletch's tables.

Every attack runs through all four ways SQL reaches the server — Flight SQL through ADBC
(cursor.execute, and a prepared statement), the InfluxDB 3 JSON ticket over Flight DoGet,
and the HTTP query API — with the admin token for all databases (the strongest there is),
and must be refused with PermissionDenied/403 or InvalidArgument/400 and a message that
says why. After each, the server still answers /health and still serves its data, and
nothing the attack tried to write exists.

Reading the data dir's own Parquet files by path is refused too: it would bypass dedup,
DELETE, retention and the database scope of tokens; clients read data through tables.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from adbc_driver_flightsql import DatabaseOptions, dbapi

from fletch_client import HTTP_TIMEOUT, SQL_PATHS, Outcome, rows, run_sql

DB = "sec"
OTHER = "hidden"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z
SEC = 1_000_000_000
LINES = [f"cpu,host=a v=1 {T0}", f"cpu,host=b v=2 {T0 + SEC}"]
CPU_ROWS = [("a", 1.0, T0), ("b", 2.0, T0 + SEC)]
PATHS = SQL_PATHS
DENIED, INVALID = "PERMISSION_DENIED", "INVALID_ARGUMENT"


# -- fixtures -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def env(module_server, tmp_path_factory):
    """A server with auth on, a persisted table cpu in DB (so its data dir holds Parquet)
    and a table in OTHER; a Parquet file outside the data dir; the tokens."""
    srv = module_server(auth=True, args=["--persist-interval", "1s"])
    outside = tmp_path_factory.mktemp("outside")
    pq.write_table(pa.table({"secret": ["outside"]}), outside / "x.parquet")
    for db, body in ((DB, "\n".join(LINES)), (OTHER, f"secret,host=z v=9 {T0}")):
        r = requests.post(srv.http_url + "/api/v3/write_lp", params={"db": db}, data=body,
                          headers={"Authorization": f"Bearer {srv.admin_token}"}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 204, r.text
    deadline = time.monotonic() + 60
    while not list((srv.data_dir / DB / "cpu").rglob("*.parquet")):
        assert time.monotonic() < deadline, "no Parquet file 60 s after the write (--persist-interval 1s)"
        time.sleep(0.2)
    own = sorted((srv.data_dir / DB / "cpu").rglob("*.parquet"))[0]
    return {
        "srv": srv,
        "admin": srv.admin_token,
        "reader": srv.create_token(DB, "read", name="reader"),
        "subs": {"data": str(srv.data_dir), "tmp": str(outside), "own": str(own)},
    }


def attempt(srv, path: str, token: str, db: str, sql: str) -> Outcome:
    return run_sql(srv, path, sql, database=db, token=token, timeout=60)


def assert_up(env):
    srv = env["srv"]
    assert srv.running(), "the server exited"
    assert requests.get(srv.http_url + "/health", timeout=10).status_code == 200
    out = attempt(srv, "http", env["admin"], DB, "SELECT host, v, time FROM cpu ORDER BY time")
    assert out.code == "OK", out


# -- the attacks ----------------------------------------------------------------------------
# (id, SQL with {data} {tmp} {own} placeholders, expected code, substring of the message)
ATTACKS = [
    ("read_csv /etc/passwd", "SELECT * FROM read_csv('/etc/passwd')", DENIED, "table function read_csv"),
    ("read_parquet outside", "SELECT * FROM read_parquet('{tmp}/x.parquet')", DENIED, "table function read_parquet"),
    ("read_text outside", "SELECT * FROM read_text('/etc/hostname')", DENIED, "table function read_text"),
    ("read_text tokens.json", "SELECT content FROM read_text('{data}/tokens.json')", DENIED, "table function read_text"),
    ("read_blob tokens.json", "SELECT content FROM read_blob('{data}/tokens.json')", DENIED, "table function read_blob"),
    ("read_json catalog.json", "SELECT * FROM read_json('{data}/catalog.json')", DENIED, "table function read_json"),
    ("file as a table", "SELECT * FROM '{data}/tokens.json'", DENIED, "files are not read by path"),
    ("glob /", "SELECT * FROM glob('/*')", DENIED, "table function glob"),
    ("glob data dir", "SELECT * FROM glob('{data}/*')", DENIED, "table function glob"),
    ("own parquet by path", "SELECT * FROM read_parquet('{own}')", DENIED, "table function read_parquet"),
    ("own parquet as a table", "SELECT * FROM '{own}'", DENIED, "files are not read by path"),
    ("parquet_metadata", "SELECT * FROM parquet_metadata('{own}')", DENIED, "table function parquet_metadata"),
    ("query() runs text", "SELECT * FROM query('SELECT * FROM _fletch.g1')", DENIED, "table function query"),
    ("query_table", "SELECT * FROM query_table('cpu')", DENIED, "table function query_table"),
    ("read in a subquery", "SELECT (SELECT count(*) FROM read_text('{data}/tokens.json')) AS n", DENIED, "read_text"),
    ("read in a CTE", "WITH t AS (SELECT * FROM read_text('{data}/tokens.json')) SELECT * FROM t", DENIED, "read_text"),
    ("EXPLAIN ANALYZE read", "EXPLAIN ANALYZE SELECT * FROM read_text('{data}/tokens.json')", DENIED, "read_text"),
    ("COPY TO outside", "COPY (SELECT 1 AS a) TO '{tmp}/copied.csv'", DENIED, "this statement is COPY"),
    ("COPY TO data dir", "COPY (SELECT * FROM cpu) TO '{data}/copied.csv'", DENIED, "this statement is COPY"),
    ("COPY FROM", "COPY cpu FROM '{tmp}/x.parquet'", DENIED, "this statement is COPY"),
    ("EXPORT DATABASE", "EXPORT DATABASE '{tmp}/exported'", DENIED, "this statement is EXPORT"),
    ("ATTACH", "ATTACH '{tmp}/attached.duckdb' AS a", DENIED, "this statement is ATTACH"),
    ("DETACH", "DETACH memory", DENIED, "this statement is DETACH"),
    ("INSTALL", "INSTALL httpfs", DENIED, "this statement is INSTALL"),
    ("LOAD", "LOAD httpfs", DENIED, "this statement is LOAD"),
    ("LOAD a file", "LOAD '{tmp}/evil.duckdb_extension'", DENIED, "this statement is LOAD"),
    ("SET memory_limit", "SET memory_limit = '1GB'", DENIED, "this statement is SET"),
    ("SET external access", "SET enable_external_access = true", DENIED, "this statement is SET"),
    ("SET allowed_directories", "SET allowed_directories = ['/']", DENIED, "this statement is SET"),
    ("SET lock_configuration", "SET lock_configuration = false", DENIED, "this statement is SET"),
    ("SET GLOBAL", "SET GLOBAL threads = 1", DENIED, "this statement is SET"),
    ("RESET", "RESET memory_limit", DENIED, "this statement is RESET"),
    ("PRAGMA setting", "PRAGMA memory_limit = '1GB'", DENIED, "this statement is PRAGMA"),
    ("PRAGMA listing", "PRAGMA database_list", DENIED, "this statement is PRAGMA"),
    ("SET VARIABLE", "SET VARIABLE x = 1", DENIED, "this statement is SET"),
    ("CREATE TABLE", "CREATE TABLE mine (a INT)", DENIED, "this statement is CREATE"),
    ("CREATE TABLE AS", "CREATE TABLE main.mine AS SELECT * FROM cpu", DENIED, "this statement is CREATE"),
    ("INSERT", "INSERT INTO cpu VALUES ('x', 5, TIMESTAMP '2026-01-01')", DENIED, "this statement is INSERT"),
    ("UPDATE", "UPDATE cpu SET v = 0", DENIED, "this statement is UPDATE"),
    ("CREATE MACRO", "CREATE MACRO leak() AS current_setting('allowed_directories')", DENIED, "this statement is CREATE"),
    ("CREATE SECRET", "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')", DENIED, "this statement is CREATE"),
    ("CALL", "CALL pragma_version()", DENIED, "this statement is CALL"),
    ("CHECKPOINT", "CHECKPOINT", DENIED, "this statement is CHECKPOINT"),
    ("VACUUM", "VACUUM", DENIED, "this statement is VACUUM"),
    ("BEGIN", "BEGIN TRANSACTION", DENIED, "this statement is BEGIN"),
    ("two statements", "SELECT 1; DROP VIEW cpu", INVALID, "one statement"),
    ("two statements, SET second", "SELECT 1; SET memory_limit = '1GB'", INVALID, "one statement"),
    ("buffer schema", "SELECT * FROM _fletch.g1", DENIED, '"_fletch" is not a database'),
    ("information_schema", "SELECT table_schema, table_name FROM information_schema.tables", DENIED,
     '"information_schema" is not a database'),
    ("pg_catalog", "SELECT * FROM pg_catalog.pg_namespace", DENIED, '"pg_catalog" is not a database'),
    ("catalog-qualified", "SELECT * FROM memory.sec.cpu", DENIED, "names a catalog"),
    ("duckdb_tables()", "SELECT * FROM duckdb_tables()", DENIED, "table function duckdb_tables"),
    ("duckdb_settings()", "SELECT * FROM duckdb_settings()", DENIED, "table function duckdb_settings"),
    ("duckdb_secrets()", "SELECT * FROM duckdb_secrets()", DENIED, "table function duckdb_secrets"),
    ("enable_profiling()", "SELECT * FROM enable_profiling()", DENIED, "table function enable_profiling"),
    ("current_setting", "SELECT current_setting('allowed_directories') AS d", DENIED, "function current_setting"),
    ("getenv", "SELECT getenv('HOME') AS h", DENIED, "function getenv"),
    ("getvariable", "SELECT getvariable('x') AS x", DENIED, "function getvariable"),
    ("current_schemas", "SELECT current_schemas(true) AS s", DENIED, "function current_schemas"),
    ("pg_get_viewdef", "SELECT pg_get_viewdef(1) AS d", DENIED, "function pg_get_viewdef"),
    ("SHOW ALL TABLES", "SHOW ALL TABLES", DENIED, "SHOW and DESCRIBE"),
    ("bare DESCRIBE", "DESCRIBE", DENIED, "SHOW and DESCRIBE"),
    ("PIVOT", "PIVOT cpu ON host USING sum(v)", DENIED, "can't check"),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("sql, code, needle", [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_attack_is_refused(env, path, sql, code, needle):
    sql = sql.format(**env["subs"])
    out = attempt(env["srv"], path, env["admin"], DB, sql)
    assert out.code == code, f"{path}: {sql!r} answered {out!r}"
    assert needle in out.message, f"{path}: {sql!r}: message lacks {needle!r}: {out.message}"
    if env["subs"]["data"] not in sql:
        assert env["subs"]["data"] not in out.message, "the message shows the data dir"
    assert_up(env)


def test_attacks_wrote_nothing(env):
    """No attack created a file (runs after the attacks: pytest keeps file order)."""
    tmp, data = Path(env["subs"]["tmp"]), Path(env["subs"]["data"])
    assert sorted(p.name for p in tmp.iterdir()) == ["x.parquet"]
    assert not (data / "copied.csv").exists()
    assert not list(data.glob("*.duckdb"))
    assert_up(env)
    out = attempt(env["srv"], "doget", env["admin"], DB, "SELECT host, v, time FROM cpu ORDER BY time")
    assert rows(out.table) == CPU_ROWS
    log = env["srv"].log_path.read_text()
    assert "panic" not in log.lower()


@pytest.mark.parametrize("path", PATHS)
def test_prepared_parameter_cannot_name_a_file(env, path):
    """A file name bound as a parameter never reaches a table function."""
    sql = "SELECT * FROM read_text($1)" if path != "http" else "SELECT * FROM read_text($f)"
    out = attempt(env["srv"], path, env["admin"], DB, sql)
    assert out.code == DENIED and "read_text" in out.message, out


def test_tables_and_allowed_functions_still_answer(env):
    srv, admin = env["srv"], env["admin"]
    for path in PATHS:
        out = attempt(srv, path, admin, DB, "SELECT host, v, time FROM cpu ORDER BY time")
        assert out.code == "OK", (path, out)
        assert [r["host"] for r in out.table.to_pylist()] == ["a", "b"]
        out = attempt(srv, path, admin, DB,
                      "SELECT count(*) AS n FROM range(3) r, generate_series(1, 2) g, unnest([1]) u")
        assert out.code == "OK" and out.table.to_pylist() == [{"n": 6}], (path, out)
        out = attempt(srv, path, admin, DB, f"SELECT count(*) AS n FROM {OTHER}.secret")
        assert out.code == "OK" and out.table.to_pylist() == [{"n": 1}], (path, out)
        out = attempt(srv, path, admin, DB, "SELECT count(*) AS n FROM (DESCRIBE cpu)")
        assert out.code == "OK" and out.table.to_pylist() == [{"n": 3}], (path, out)


# -- views and DELETE can't smuggle a read ----------------------------------------------------
@pytest.mark.parametrize("sql, code, needle", [
    ("CREATE VIEW leak AS SELECT * FROM read_text('{data}/tokens.json')", DENIED, "read_text"),
    ("CREATE VIEW leak AS SELECT * FROM _fletch.g1", DENIED, "_fletch"),
    ("CREATE VIEW leak AS SELECT current_setting('allowed_directories') AS d", DENIED, "current_setting"),
    ("CREATE MATERIALIZED VIEW leak AS SELECT date_bin(INTERVAL '1 minute', time) AS time, count(*) AS n "
     "FROM read_parquet('{own}') GROUP BY 1", DENIED, "read_parquet"),
    ("DELETE FROM cpu WHERE true UNION SELECT 1 FROM read_text('{data}/tokens.json')", INVALID,
     "one boolean expression"),
    ("DELETE FROM cpu WHERE host = current_setting('temp_directory')", DENIED, "current_setting"),
])
@pytest.mark.parametrize("path", PATHS)
def test_ddl_and_delete_cannot_smuggle_a_read(env, path, sql, code, needle):
    out = attempt(env["srv"], path, env["admin"], DB, sql.format(**env["subs"]))
    assert out.code == code and needle in out.message, (path, out)
    out = attempt(env["srv"], "http", env["reader"], DB, "SELECT * FROM leak")
    assert out.code == "NOT_FOUND", out
    out = attempt(env["srv"], "http", env["admin"], DB, "SELECT host, v, time FROM cpu ORDER BY time")
    assert [r["host"] for r in out.table.to_pylist()] == ["a", "b"], "DELETE removed rows"


@pytest.mark.parametrize("db", ["_fletch", "information_schema", "pg_catalog", "main", "system"])
def test_writes_cannot_create_reserved_databases(env, db):
    r = requests.post(env["srv"].http_url + "/api/v3/write_lp", params={"db": db}, data=f"g1 v=1 {T0}",
                      headers={"Authorization": f"Bearer {env['admin']}"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 400 and "reserved" in r.json()["error"], r.text


# -- what a token may learn of other databases ---------------------------------------------
SCOPED = [
    (f"SELECT * FROM {OTHER}.secret", DENIED, "outside database"),
    ("SELECT * FROM duckdb_schemas()", DENIED, "table function duckdb_schemas"),
    ("SELECT * FROM duckdb_databases()", DENIED, "table function duckdb_databases"),
    ("SELECT schema_name FROM information_schema.schemata", DENIED, "outside database"),
    ("SHOW ALL TABLES", DENIED, "SHOW and DESCRIBE"),
    ("SHOW TABLES", DENIED, "SHOW and DESCRIBE"),
    ("SELECT current_schemas(true) AS s", DENIED, "current_schemas"),
    (f"DESCRIBE {OTHER}.secret", DENIED, "outside database"),
    ("SELECT * FROM secret", "NOT_FOUND", f'not found in database "{DB}"'),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("sql, code, needle", SCOPED, ids=[s[0] for s in SCOPED])
def test_scoped_token_learns_nothing_of_other_databases(env, path, sql, code, needle):
    out = attempt(env["srv"], path, env["reader"], DB, sql)
    assert out.code == code and needle in out.message, (path, out)


def test_metadata_lists_databases_by_scope(env):
    srv = env["srv"]

    def schemas(token):
        kw = {DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}"}
        with dbapi.connect(srv.grpc_url, db_kwargs=kw) as conn:
            objs = conn.adbc_get_objects(depth="db_schemas").read_all().to_pylist()
        return sorted(s["db_schema_name"] for c in objs for s in c["catalog_db_schemas"])

    assert schemas(env["reader"]) == [DB]
    assert {DB, OTHER} <= set(schemas(env["admin"]))
    # Fletch's system tables show a scoped token its own database's rows only.
    out = attempt(srv, "http", env["admin"], OTHER, f"ALTER DATABASE {OTHER} SET (retention = '3650d')")
    assert out.code == "OK", out
    q = "SELECT database FROM system.retention"
    assert attempt(srv, "http", env["reader"], DB, q).table.num_rows == 0
    assert [r["database"] for r in attempt(srv, "http", env["admin"], DB, q).table.to_pylist()] == [OTHER]
