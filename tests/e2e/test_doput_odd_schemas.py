"""Arrow DoPut with odd schemas from pyarrow: stored when Fletch has a type for every column,
refused with a message naming the column otherwise, and the server keeps serving.
"""

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from fletch_client import TS_NS_UTC, query_influx, rows

DB = "oddput"
T0 = 1767225600  # 2026-01-01T00:00:00Z in s
N = 3


@pytest.fixture(scope="module")
def srv(module_server):
    return module_server()


def put(srv, table: str, data: pa.Table):
    client = flight.FlightClient(srv.grpc_url)
    try:
        writer, reader = client.do_put(flight.FlightDescriptor.for_path(DB, table), data.schema)
        writer.write_table(data)
        writer.done_writing()
        reader.read()
        writer.close()
    finally:
        client.close()


def times(unit: str):
    mult = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    return pa.array([(T0 + i) * mult for i in range(N)], pa.timestamp(unit))


REFUSED = {
    "list": pa.array([[1], [], None], pa.list_(pa.int64())),
    "large_list": pa.array([["a"], [], None], pa.large_list(pa.string())),
    "struct": pa.array([{"a": 1, "b": "x"}] * N, pa.struct([("a", pa.int64()), ("b", pa.string())])),
    "map": pa.array([[("k", 1)], [], None], pa.map_(pa.string(), pa.int64())),
    "int_dictionary": pa.array([1, 2, 1], pa.int64()).dictionary_encode(),
    "binary": pa.array([b"\x00", b"", None], pa.binary()),
    "decimal": pa.array([1, 2, 3], pa.decimal128(10, 2)),
    "date": pa.array([1, 2, 3], pa.date32()),
    "null": pa.nulls(N),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_unsupported_column_refused(srv, name):
    data = pa.table({"ok": pa.array([1.0] * N), name: REFUSED[name], "time": times("s")})
    with pytest.raises(pa.ArrowException) as err:  # FlightServerError or ArrowInvalid
        put(srv, f"refused_{name}", data)
    assert name in str(err.value), err.value


def test_duplicate_column_names_refused(srv):
    data = pa.Table.from_arrays([pa.array([1.0] * N), pa.array([2.0] * N), times("s")],
                                names=["f", "f", "time"])
    with pytest.raises(pa.ArrowException) as err:
        put(srv, "dupnames", data)
    assert "appears twice" in str(err.value), err.value


def test_time_with_nulls_or_past_2262_refused(srv):
    with pytest.raises(pa.ArrowException) as err:
        put(srv, "nulltime", pa.table({"f": [1.0, 2.0], "time": pa.array([T0, None], pa.timestamp("s"))}))
    assert "null" in str(err.value), err.value
    with pytest.raises(pa.ArrowException) as err:
        put(srv, "farfuture", pa.table({"f": [1.0], "time": pa.array([10**12], pa.timestamp("s"))}))
    assert "time" in str(err.value), err.value


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_every_time_unit_stored_as_ns(srv, unit):
    table = f"unit_{unit}"
    put(srv, table, pa.table({"f": pa.array(range(N), pa.float64()), "time": times(unit)}))
    t = query_influx(srv, f"SELECT f, time FROM {table} ORDER BY time", database=DB)
    assert t.schema.field("time").type == TS_NS_UTC
    assert rows(t) == [(float(i), (T0 + i) * 10**9) for i in range(N)]


def test_int64_time_missing_time_and_zero_rows(srv):
    put(srv, "inttime", pa.table({"f": [1.0], "time": pa.array([T0 * 10**9], pa.int64())}))
    assert rows(query_influx(srv, "SELECT f, time FROM inttime", database=DB)) == [(1.0, T0 * 10**9)]
    put(srv, "notime", pa.table({"f": [5.0]}))
    assert rows(query_influx(srv, "SELECT f FROM notime", database=DB)) == [(5.0,)]
    put(srv, "zerorows", pa.table({"f": pa.array([], pa.float64()), "time": times("s")[:0]}))


def test_huge_string_and_string_kinds(srv):
    huge = "ä" * (4 << 20)  # 8 MiB of UTF-8
    data = pa.table({
        "s": pa.array([huge, "x"], pa.string()),
        "ls": pa.array(["l1", None], pa.large_string()),
        "tag": pa.array(["a", "b"]).dictionary_encode(),
        "time": pa.array([T0, T0 + 1], pa.timestamp("s")),
    })
    put(srv, "strings", data)
    t = query_influx(srv, "SELECT length(s) AS n, ls, tag FROM strings ORDER BY time", database=DB)
    assert rows(t) == [(4 << 20, "l1", "a"), (1, None, "b")]


def test_server_still_serves(srv):
    put(srv, "after", pa.table({"f": [1.0], "time": times("s")[:1]}))
    assert rows(query_influx(srv, "SELECT f FROM after", database=DB)) == [(1.0,)]
