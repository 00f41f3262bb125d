"""Plain Arrow Flight with pyarrow's FlightClient: ListFlights, GetFlightInfo and GetSchema
on path descriptors, and DoGet of the endpoint a FlightInfo names.

The oracle is the line protocol written here: the column names and Arrow types each table
must have, and the rows. The table's schema as the server reports it for `SELECT *` (DoGet
with a JSON ticket, which works today) is the reference the descriptor calls must match.
"""

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from fletch_client import QUERY_TIMEOUT, TS_NS_UTC, query_influx, sorted_rows, write_ok

DB = "flightdb"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z in ns
SEC = 1_000_000_000

# Two tables in a named database, one table in the default database.
CPU_LINES = [
    f'cpu,host=a,region=us usage=1.5,count=3i,ok=true,msg="one" {T0}',
    f'cpu,host=b,region=eu usage=2.5,count=4i,ok=false,msg="two" {T0 + SEC}',
    f'cpu,host=a,region=us usage=-1,count=-5i,ok=true,msg="three" {T0 + 2 * SEC}',
]
CPU_COLUMNS = {
    "host": pa.string(), "region": pa.string(), "usage": pa.float64(), "count": pa.int64(),
    "ok": pa.bool_(), "msg": pa.string(), "time": TS_NS_UTC,
}
CPU_ROWS = sorted([
    ("a", "us", 1.5, 3, True, "one", T0),
    ("b", "eu", 2.5, 4, False, "two", T0 + SEC),
    ("a", "us", -1.0, -5, True, "three", T0 + 2 * SEC),
])
CPU_ORDER = ["host", "region", "usage", "count", "ok", "msg", "time"]

MEM_LINES = [f"mem,host=a used=10u {T0}", f"mem,host=b used=20u {T0 + SEC}"]
MEM_COLUMNS = {"host": pa.string(), "used": pa.uint64(), "time": TS_NS_UTC}

DISK_LINES = [f"disk,dev=sda free=0.25 {T0}"]  # default database
DISK_COLUMNS = {"dev": pa.string(), "free": pa.float64(), "time": TS_NS_UTC}

TABLES = {(DB, "cpu"): CPU_COLUMNS, (DB, "mem"): MEM_COLUMNS, ("default", "disk"): DISK_COLUMNS}

@pytest.fixture(scope="module")
def srv(module_server):
    s = module_server()
    write_ok(s, DB, "\n".join(CPU_LINES + MEM_LINES) + "\n")
    write_ok(s, "default", "\n".join(DISK_LINES) + "\n")
    return s


@pytest.fixture
def client(srv):
    c = flight.FlightClient(srv.grpc_url)
    yield c
    c.close()


def opts(database=None):
    headers = [(b"database", database.encode())] if database else []
    return flight.FlightCallOptions(timeout=QUERY_TIMEOUT, headers=headers)


def bare(schema: pa.Schema) -> pa.Schema:
    """The schema without schema- or field-level metadata."""
    return pa.schema([pa.field(f.name, f.type, f.nullable) for f in schema])


def columns(schema: pa.Schema) -> dict:
    return {f.name: f.type for f in schema}


def select_star_schema(srv, db, table) -> pa.Schema:
    return bare(query_influx(srv, f"SELECT * FROM {table}", database=db).schema)


def table_key(path, default_db="default"):
    """(database, table) from a descriptor path [table] or [database, table]."""
    path = [p.decode() if isinstance(p, bytes) else p for p in path]
    assert len(path) in (1, 2), f"descriptor path {path} is neither [table] nor [db, table]"
    return (default_db, path[0]) if len(path) == 1 else tuple(path)


def read_endpoint(client, info) -> pa.Table:
    assert len(info.endpoints) == 1, f"expected one endpoint, got {len(info.endpoints)}"
    reader = client.do_get(info.endpoints[0].ticket, options=opts())
    got = reader.read_all()
    # The FlightInfo promises the stream's schema (metadata aside).
    assert bare(got.schema) == bare(info.schema), (got.schema, info.schema)
    return got


def test_select_star_schema_matches_written_types(srv):
    """The reference the descriptor tests compare with: today's DoGet JSON-ticket path."""
    for (db, table), cols in TABLES.items():
        assert columns(select_star_schema(srv, db, table)) == cols, (db, table)


def test_list_flights_one_info_per_table(srv, client):
    infos = list(client.list_flights(options=opts()))
    got = {}
    for info in infos:
        desc = info.descriptor
        assert desc.descriptor_type == flight.DescriptorType.PATH, desc
        key = table_key(desc.path)
        assert key not in got, f"table {key} listed twice"
        got[key] = info
    assert set(got) == set(TABLES), sorted(got)
    for key, info in got.items():
        assert columns(info.schema) == TABLES[key], key
        assert bare(info.schema) == select_star_schema(srv, *key), key


def test_get_flight_info_path_table_uses_header_database(srv, client):
    """for_path("cpu") resolves in the database the `database` header names."""
    info = client.get_flight_info(flight.FlightDescriptor.for_path("cpu"), options=opts(DB))
    assert bare(info.schema) == select_star_schema(srv, DB, "cpu")
    got = read_endpoint(client, info)
    assert sorted_rows(got, CPU_ORDER) == CPU_ROWS


def test_get_flight_info_path_table_default_database(srv, client):
    info = client.get_flight_info(flight.FlightDescriptor.for_path("disk"), options=opts())
    assert columns(info.schema) == DISK_COLUMNS
    got = read_endpoint(client, info)
    assert sorted_rows(got, ["dev", "free", "time"]) == [("sda", 0.25, T0)]


def test_get_flight_info_path_db_table(srv, client):
    info = client.get_flight_info(flight.FlightDescriptor.for_path(DB, "mem"), options=opts())
    assert columns(info.schema) == MEM_COLUMNS
    assert info.descriptor.path == [b"flightdb", b"mem"] or info.descriptor.path == [DB, "mem"]
    got = read_endpoint(client, info)
    assert sorted_rows(got, ["host", "used", "time"]) == [("a", 10, T0), ("b", 20, T0 + SEC)]


def test_get_schema_path(srv, client):
    res = client.get_schema(flight.FlightDescriptor.for_path(DB, "cpu"), options=opts())
    assert bare(res.schema) == select_star_schema(srv, DB, "cpu")
    assert columns(res.schema) == CPU_COLUMNS


def test_get_flight_info_unknown_table_is_not_found(client):
    # pyarrow turns gRPC NOT_FOUND into ArrowKeyError (not a FlightError subclass).
    with pytest.raises(pa.ArrowKeyError) as ei:
        client.get_flight_info(flight.FlightDescriptor.for_path(DB, "nosuch"), options=opts())
    assert "nosuch" in str(ei.value)
