"""More of the ADBC Flight SQL driver (Python DB-API): bound parameters, bulk ingest,
catalog metadata (get_objects, get_table_schema, get_info), the database call header, and
DDL. The oracle is the line protocol and Arrow tables written here.
"""

import pyarrow as pa
import pytest
from adbc_driver_manager import dbapi

from fletch_client import TS_NS_UTC, adbc_connect, rows, sorted_rows, write_ok

DB = "adbcmore"
OTHER = "adbcmore_other"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z in ns
SEC = 1_000_000_000

LINES = [
    f'cpu,host=a,region=us usage=1.5,count=3i,ok=true,msg="hello" {T0}',
    f'cpu,host=b,region=eu usage=2.25,count=4i,ok=false,msg="world" {T0 + SEC}',
    f'cpu,host=a,region=us usage=3.75,count=5i,ok=true,msg="x y" {T0 + 2 * SEC}',
    f"mem,host=a used=10u {T0}",
]
CPU = [  # host, region, usage, count, ok, msg, time
    ("a", "us", 1.5, 3, True, "hello", T0),
    ("b", "eu", 2.25, 4, False, "world", T0 + SEC),
    ("a", "us", 3.75, 5, True, "x y", T0 + 2 * SEC),
]
CPU_TYPES = {"host": pa.string(), "region": pa.string(), "usage": pa.float64(),
             "count": pa.int64(), "ok": pa.bool_(), "msg": pa.string(), "time": TS_NS_UTC}
OTHER_LINES = [f"cpu,host=z usage=9.5 {T0}"]  # same table name, other database

@pytest.fixture(scope="module")
def srv(module_server):
    s = module_server()
    write_ok(s, DB, "\n".join(LINES) + "\n")
    write_ok(s, OTHER, "\n".join(OTHER_LINES) + "\n")
    return s


@pytest.fixture
def conn(srv):
    with adbc_connect(srv, DB) as c:
        yield c


@pytest.fixture
def cur(conn):
    with conn.cursor() as c:
        yield c


def bare_types(schema: pa.Schema) -> dict:
    return {f.name: f.type for f in schema}


def query(cur, sql, params=None) -> pa.Table:
    cur.execute(sql, params)
    return cur.fetch_arrow_table()


def ingest_table(hosts, values, times, counts=None) -> pa.Table:
    cols = {"host": pa.array(hosts, pa.string()), "value": pa.array(values, pa.float64())}
    if counts is not None:
        cols["n"] = pa.array(counts, pa.int64())
    cols["time"] = pa.array(times, TS_NS_UTC)
    return pa.table(cols)


# -- bound parameters ----------------------------------------------------------------------
def test_param_qmark(cur):
    t = query(cur, "SELECT host, usage, time FROM cpu WHERE host = ? ORDER BY time", ("a",))
    assert rows(t) == [(h, u, ts) for h, _, u, _, _, _, ts in CPU if h == "a"]


def test_param_qmark_typed_values(cur):
    t = query(cur, "SELECT host, count FROM cpu WHERE count >= ? AND usage < ? AND ok = ? "
                   "ORDER BY count", (4, 3.0, False))
    assert rows(t) == [(h, c) for h, _, u, c, ok, _, _ in CPU if c >= 4 and u < 3.0 and not ok]


def test_param_dollar_positional(cur):
    t = query(cur, "SELECT msg FROM cpu WHERE region = $1 AND count > $2 ORDER BY time",
              ("us", 3))
    assert rows(t) == [(m,) for _, r, _, c, _, m, _ in CPU if r == "us" and c > 3]


def test_param_reexecute_with_new_values(cur):
    """One prepared statement, executed twice with different bindings."""
    sql = "SELECT count(*) AS n FROM cpu WHERE host = ?"
    assert rows(query(cur, sql, ("a",))) == [(2,)]
    assert rows(query(cur, sql, ("b",))) == [(1,)]


# -- bulk ingest -----------------------------------------------------------------------------
def test_ingest_create_then_query_back(cur):
    data = ingest_table(["a", "b"], [0.5, 1.5], [T0, T0 + SEC], counts=[1, 2])
    n = cur.adbc_ingest("ing_create", data, mode="create")
    assert n in (2, -1), n  # the row count, or -1 when the driver does not know it
    t = query(cur, "SELECT host, value, n, time FROM ing_create ORDER BY time")
    assert bare_types(t.schema) == {"host": pa.string(), "value": pa.float64(),
                                    "n": pa.int64(), "time": TS_NS_UTC}
    assert rows(t) == [("a", 0.5, 1, T0), ("b", 1.5, 2, T0 + SEC)]


def test_ingest_create_existing_table_fails(cur):
    data = ingest_table(["a"], [0.5], [T0])
    cur.adbc_ingest("ing_dup", data, mode="create")
    with pytest.raises(dbapi.Error) as ei:
        cur.adbc_ingest("ing_dup", data, mode="create")
    assert "ing_dup" in str(ei.value), str(ei.value)
    assert rows(query(cur, "SELECT count(*) FROM ing_dup")) == [(1,)]


def test_ingest_append(cur):
    cur.adbc_ingest("ing_append", ingest_table(["a"], [1.0], [T0]), mode="create")
    cur.adbc_ingest("ing_append", ingest_table(["b", "c"], [2.0, 3.0], [T0 + SEC, T0 + 2 * SEC]),
                    mode="append")
    t = query(cur, "SELECT host, value, time FROM ing_append")
    assert sorted_rows(t) == [("a", 1.0, T0), ("b", 2.0, T0 + SEC), ("c", 3.0, T0 + 2 * SEC)]


def test_ingest_append_missing_table_fails(cur):
    with pytest.raises(dbapi.Error) as ei:
        cur.adbc_ingest("ing_missing", ingest_table(["a"], [1.0], [T0]), mode="append")
    assert "ing_missing" in str(ei.value), str(ei.value)


def test_ingest_replace(cur):
    cur.adbc_ingest("ing_replace", ingest_table(["a", "b"], [1.0, 2.0], [T0, T0 + SEC]),
                    mode="create")
    cur.adbc_ingest("ing_replace", ingest_table(["z"], [9.0], [T0 + 5 * SEC], counts=[7]),
                    mode="replace")
    t = query(cur, "SELECT * FROM ing_replace")
    # The old rows and the old schema are gone: the table is exactly the new data.
    assert bare_types(t.schema) == {"host": pa.string(), "value": pa.float64(),
                                    "n": pa.int64(), "time": TS_NS_UTC}
    assert sorted_rows(t, ["host", "value", "n", "time"]) == [("z", 9.0, 7, T0 + 5 * SEC)]


def test_ingest_create_append(cur):
    cur.adbc_ingest("ing_ca", ingest_table(["a"], [1.0], [T0]), mode="create_append")
    cur.adbc_ingest("ing_ca", ingest_table(["b"], [2.0], [T0 + SEC]), mode="create_append")
    t = query(cur, "SELECT host, value, time FROM ing_ca")
    assert sorted_rows(t) == [("a", 1.0, T0), ("b", 2.0, T0 + SEC)]


def test_ingest_into_named_db_schema(srv, cur):
    """db_schema_name picks the database, overriding the connection's header."""
    cur.adbc_ingest("ing_other", ingest_table(["q"], [4.0], [T0]), mode="create",
                    db_schema_name=OTHER)
    with adbc_connect(srv, OTHER) as c2, c2.cursor() as cur2:
        assert rows(query(cur2, "SELECT host, value, time FROM ing_other")) == [("q", 4.0, T0)]
    with pytest.raises(dbapi.Error):
        query(cur, "SELECT * FROM ing_other")


# -- metadata ------------------------------------------------------------------------------
def _objects(conn, **kw):
    return conn.adbc_get_objects(**kw).read_all().to_pylist()


def test_get_objects_catalogs(conn):
    got = _objects(conn, depth="catalogs")
    assert [c["catalog_name"] for c in got] == ["fletch"]


def test_get_objects_db_schemas(conn):
    got = _objects(conn, depth="db_schemas")
    schemas = [s["db_schema_name"] for c in got for s in (c["catalog_db_schemas"] or [])]
    assert {DB, OTHER} <= set(schemas), schemas
    filtered = _objects(conn, depth="db_schemas", db_schema_filter="adbcmore_%")
    assert [s["db_schema_name"] for c in filtered for s in c["catalog_db_schemas"]] == [OTHER]


def test_get_objects_tables(conn):
    got = _objects(conn, depth="tables", db_schema_filter=DB)
    tables = {(s["db_schema_name"], t["table_name"], t["table_type"])
              for c in got for s in c["catalog_db_schemas"] for t in s["db_schema_tables"]}
    # Tables the ingest tests create may be there too; the written ones must.
    listed = {(d, n) for d, n, _ in tables if not n.startswith("ing_")}
    assert listed == {(DB, "cpu"), (DB, "mem")}
    assert all(t == "table" for _, n, t in tables), tables
    got = _objects(conn, depth="tables", table_name_filter="me%")
    names = {(s["db_schema_name"], t["table_name"])
             for c in got for s in c["catalog_db_schemas"] for t in (s["db_schema_tables"] or [])}
    assert names == {(DB, "mem")}


def test_get_objects_lists_the_header_database_only(conn):
    # Both databases hold a cpu table. With the database header and no schema filter only
    # the header's is listed (as InfluxDB 3): Grafana's column picker reads the first row.
    got = _objects(conn, depth="tables", table_name_filter="cpu")
    names = [(s["db_schema_name"], t["table_name"])
             for c in got for s in c["catalog_db_schemas"] for t in (s["db_schema_tables"] or [])]
    assert names == [(DB, "cpu")]
    got = _objects(conn, depth="tables", db_schema_filter="%", table_name_filter="cpu")
    names = {(s["db_schema_name"], t["table_name"])
             for c in got for s in c["catalog_db_schemas"] for t in (s["db_schema_tables"] or [])}
    assert {(DB, "cpu"), (OTHER, "cpu")} <= names  # a schema filter still reaches the others


def test_get_objects_columns(conn):
    got = _objects(conn, depth="all", db_schema_filter=DB, table_name_filter="cpu")
    [cat] = got
    [schema] = cat["catalog_db_schemas"]
    [table] = schema["db_schema_tables"]
    cols = table["table_columns"]
    assert {c["column_name"] for c in cols} == set(CPU_TYPES)
    assert [c["ordinal_position"] for c in cols] == list(range(1, len(cols) + 1))
    # xdbc_data_type: JDBC/ODBC type codes (VARCHAR 12, DOUBLE 8 or FLOAT 6, BIGINT -5,
    # BIT -7 or BOOLEAN 16, TIMESTAMP 93).
    codes = {c["column_name"]: c["xdbc_data_type"] for c in cols}
    assert codes["host"] == 12 and codes["msg"] == 12
    assert codes["count"] == -5 and codes["time"] == 93
    assert codes["usage"] in (6, 8) and codes["ok"] in (-7, 16), codes
    only = _objects(conn, depth="all", db_schema_filter=DB, table_name_filter="cpu",
                    column_name_filter="us%")
    names = [c["column_name"] for c in only[0]["catalog_db_schemas"][0]["db_schema_tables"][0]
             ["table_columns"]]
    assert names == ["usage"]


def test_get_table_schema(conn):
    schema = conn.adbc_get_table_schema("cpu", db_schema_filter=DB)
    assert bare_types(schema) == CPU_TYPES
    # The same call without db_schema resolves in the connection's database.
    assert bare_types(conn.adbc_get_table_schema("cpu")) == CPU_TYPES
    other = conn.adbc_get_table_schema("cpu", db_schema_filter=OTHER)
    assert bare_types(other) == {"host": pa.string(), "usage": pa.float64(), "time": TS_NS_UTC}


def test_get_table_schema_matches_query_schema(conn, cur):
    """What the catalog says a table holds is what SELECT * returns (metadata aside)."""
    schema = conn.adbc_get_table_schema("cpu", db_schema_filter=DB)
    t = query(cur, "SELECT * FROM cpu")
    assert [(f.name, f.type) for f in schema] == [(f.name, f.type) for f in t.schema]


def test_get_table_schema_unknown_table(conn):
    # GetTables answers no row; the driver itself raises a bare NOT_FOUND.
    with pytest.raises(dbapi.Error) as ei:
        conn.adbc_get_table_schema("nosuchtable", db_schema_filter=DB)
    assert "NOT_FOUND" in str(ei.value), str(ei.value)


def test_get_info(conn):
    info = conn.adbc_get_info()
    assert info["vendor_name"] == "Fletch"
    assert isinstance(info["vendor_version"], str) and info["vendor_version"]
    assert info["vendor_arrow_version"]
    assert "Flight SQL" in info["driver_name"]


def test_get_table_types(conn):
    assert "table" in [t.lower() for t in conn.adbc_get_table_types()]


def test_database_header_picks_database(srv):
    """The same SQL under two `database` headers reads two different tables."""
    with adbc_connect(srv, DB) as c1, c1.cursor() as k1:
        assert sorted_rows(query(k1, "SELECT host, usage FROM cpu")) == sorted(
            (h, u) for h, _, u, _, _, _, _ in CPU)
    with adbc_connect(srv, OTHER) as c2, c2.cursor() as k2:
        assert rows(query(k2, "SELECT host, usage FROM cpu")) == [("z", 9.5)]


# -- DDL -----------------------------------------------------------------------------------
def test_ddl_create_view_then_query(srv):
    with adbc_connect(srv, DB) as c, c.cursor() as k:
        k.execute("CREATE VIEW cpu_a AS SELECT host, usage, time FROM cpu WHERE host = 'a'")
        k.fetchall() if k.description else None
        assert rows(query(k, "SELECT usage FROM cpu_a ORDER BY time")) == [(1.5,), (3.75,)]
    # The view lives in the database, not only in that connection.
    with adbc_connect(srv, DB) as c, c.cursor() as k:
        assert rows(query(k, "SELECT count(*) FROM cpu_a")) == [(2,)]


def test_ddl_drop_table(srv):
    write_ok(srv, DB, f"dropme,k=a v=1 {T0}\n")
    with adbc_connect(srv, DB) as c, c.cursor() as k:
        assert rows(query(k, "SELECT count(*) FROM dropme")) == [(1,)]
        k.execute("DROP TABLE dropme")
        with pytest.raises(dbapi.Error) as ei:
            query(k, "SELECT * FROM dropme")
        assert "dropme" in str(ei.value)
        tables = [t["table_name"] for cat in _objects(c, depth="tables", db_schema_filter=DB)
                  for s in cat["catalog_db_schemas"] for t in s["db_schema_tables"]]
        assert "dropme" not in tables


def test_view_listed_as_VIEW_and_survives_restart(server):
    """CREATE VIEW is stored in the catalog: GetTables lists it as type VIEW with its
    columns, and after a restart (and after SIGKILL) it still answers; DROP VIEW removes it."""
    s = server()
    write_ok(s, DB, "\n".join(LINES) + "\n")
    with adbc_connect(s, DB) as c, c.cursor() as k:
        k.execute("CREATE VIEW busy AS SELECT host, usage * 2 AS double_usage, time FROM cpu "
                  "WHERE usage > 2")
    for restart in (lambda: s.restart(), lambda: (s.kill(), s.start())):
        restart()
        with adbc_connect(s, DB) as c:
            objs = c.adbc_get_objects(depth="all", db_schema_filter=DB, table_name_filter="busy")
            [cat] = objs.read_all().to_pylist()
            [schema] = cat["catalog_db_schemas"]
            [t] = schema["db_schema_tables"]
            assert t["table_type"] == "VIEW"
            assert [col["column_name"] for col in t["table_columns"]] == ["host", "double_usage", "time"]
            with c.cursor() as k:
                got = rows(query(k, "SELECT host, double_usage FROM busy ORDER BY time"))
                assert got == [("b", 4.5), ("a", 7.5)]
    with adbc_connect(s, DB) as c, c.cursor() as k:
        k.execute("DROP VIEW busy")
        with pytest.raises(dbapi.Error, match="busy"):
            query(k, "SELECT * FROM busy")
