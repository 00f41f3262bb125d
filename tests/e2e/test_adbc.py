"""Flight SQL through the ADBC driver (Python DB-API), over data written as line protocol."""

import pyarrow as pa
import pytest
from adbc_driver_manager import dbapi

from fletch_client import TS_NS_UTC, adbc_connect, rows, write_ok

DB = "adbcdb"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z in ns
SEC = 1_000_000_000

LINES = [
    f'cpu,host=a,region=us-east usage=1.5,count=3i,ok=true,msg="hello" {T0}',
    f'cpu,host=b,region=us-west usage=2.25,count=4i,ok=false,msg="world" {T0 + SEC}',
    f'cpu,host=a,region=us-east usage=3.75,count=5i,ok=true,msg="x y" {T0 + 2 * SEC}',
    f'cpu,host=c,region=eu usage=-0.5,count=-6i,ok=false,msg="z" {T0 + 3 * SEC}',
]
EXPECTED = [
    ("a", "us-east", 1.5, 3, True, "hello", T0),
    ("b", "us-west", 2.25, 4, False, "world", T0 + SEC),
    ("a", "us-east", 3.75, 5, True, "x y", T0 + 2 * SEC),
    ("c", "eu", -0.5, -6, False, "z", T0 + 3 * SEC),
]


@pytest.fixture(scope="module")
def srv(module_server):
    s = module_server()
    write_ok(s, DB, "\n".join(LINES) + "\n")
    return s


@pytest.fixture
def cur(srv):
    with adbc_connect(srv, DB) as conn:
        with conn.cursor() as c:
            yield c


def test_select_all_ordered(cur):
    cur.execute("SELECT host, region, usage, count, ok, msg, time FROM cpu ORDER BY time")
    t = cur.fetch_arrow_table()
    assert t.column_names == ["host", "region", "usage", "count", "ok", "msg", "time"]
    types = [t.schema.field(c).type for c in t.column_names]
    assert types == [pa.string(), pa.string(), pa.float64(), pa.int64(), pa.bool_(),
                     pa.string(), TS_NS_UTC], t.schema
    assert rows(t) == EXPECTED


def test_aggregate_and_filter(cur):
    cur.execute(
        "SELECT host, count(*) AS n, sum(usage) AS s FROM cpu "
        "WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T00:00:03Z' "
        "GROUP BY host ORDER BY host"
    )
    assert rows(cur.fetch_arrow_table()) == [("a", 2, 5.25), ("b", 1, 2.25)]


def test_date_bin_and_selector(cur):
    cur.execute(
        "SELECT date_bin(INTERVAL '2 seconds', time) AS b, count(*) AS n "
        "FROM cpu GROUP BY 1 ORDER BY 1"
    )
    assert rows(cur.fetch_arrow_table()) == [(T0, 2), (T0 + 2 * SEC, 2)]

    cur.execute(
        "SELECT host, selector_last(usage, time)['value'] AS v, "
        "selector_last(usage, time)['time'] AS t FROM cpu GROUP BY host ORDER BY host"
    )
    assert rows(cur.fetch_arrow_table()) == [
        ("a", 3.75, T0 + 2 * SEC), ("b", 2.25, T0 + SEC), ("c", -0.5, T0 + 3 * SEC)
    ]


def test_fetchall_dbapi(cur):
    cur.execute("SELECT host, count FROM cpu ORDER BY time")
    assert cur.fetchall() == [("a", 3), ("b", 4), ("a", 5), ("c", -6)]


def test_bad_sql_raises_with_message(cur):
    with pytest.raises(dbapi.Error) as ei:
        cur.execute("SELEC host FROM cpu")
        cur.fetch_arrow_table()
    msg = str(ei.value).lower()
    assert "selec" in msg or "syntax" in msg, str(ei.value)
    # The connection stays usable after a failed statement.
    cur.execute("SELECT count(*) AS n FROM cpu")
    assert rows(cur.fetch_arrow_table()) == [(4,)]


def test_unknown_table_raises(cur):
    with pytest.raises(dbapi.Error) as ei:
        cur.execute("SELECT * FROM nosuchtable")
        cur.fetch_arrow_table()
    assert "nosuchtable" in str(ei.value).lower(), str(ei.value)


def test_database_header_selects_database(srv):
    """The same table name in another database is not visible."""
    write_ok(srv, "default", f"other,host=a v=1 {T0}\n")  # so the database surely exists
    with adbc_connect(srv, "default") as conn, conn.cursor() as c:
        with pytest.raises(dbapi.Error) as ei:
            c.execute("SELECT * FROM cpu")
            c.fetch_arrow_table()
        assert "cpu" in str(ei.value).lower(), str(ei.value)
