"""The seed blog's client flow ("Write a database in 50 lines of code"), run against Fletch.

Plain pyarrow Flight: DoPut with a path descriptor and an arbitrary schema, DoGet with the
blog's JSON ticket {"sql", "table"}; also the InfluxDB 3 client ticket format.
"""

import json
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from fletch_client import TS_NS_UTC, query_influx, query_seed, rows, sorted_rows

SEED_ROWS = [{"col1": 3, "col2": "one"}, {"col1": 3, "col2": "two"}]


def seed_write(srv, descriptor=None):
    """The blog's write.py, verbatim in spirit."""
    table = pa.Table.from_pylist(SEED_ROWS)
    descriptor = descriptor or flight.FlightDescriptor.for_path("mytable")
    client = flight.FlightClient(srv.grpc_url)
    try:
        writer, _ = client.do_put(descriptor, table.schema)
        writer.write_table(table)
        writer.close()
    finally:
        client.close()


def seed_read(srv, sql):
    """The blog's read.py."""
    client = flight.FlightClient(srv.grpc_url)
    try:
        ticket = flight.Ticket(json.dumps({"sql": sql, "table": "mytable"}))
        return client.do_get(ticket).read_all()
    finally:
        client.close()


def test_seed_flow(server):
    srv = server()
    before_ns = time.time_ns()
    seed_write(srv)
    after_ns = time.time_ns()

    t = seed_read(srv, "select * from mytable")
    assert set(t.column_names) == {"col1", "col2", "time"}, t.schema
    assert t.schema.field("col1").type == pa.int64()
    assert t.schema.field("col2").type == pa.string()
    assert t.schema.field("time").type == TS_NS_UTC
    assert sorted_rows(t, ["col1", "col2"]) == [(3, "one"), (3, "two")]
    # The server stamps rows that carry no time with its own clock at write time.
    slack = 5_000_000_000
    for (ts,) in rows(t, ["time"]):
        assert before_ns - slack <= ts <= after_ns + slack, (ts, before_ns, after_ns)

    # No tag columns: the table is append-only, so the same rows again are new rows.
    seed_write(srv)
    t = seed_read(srv, "select * from mytable")
    assert sorted_rows(t, ["col1", "col2"]) == [(3, "one"), (3, "one"), (3, "two"), (3, "two")]

    t = seed_read(srv, "select mean(col1) as mean from mytable")
    assert t.column_names == ["mean"]
    assert t.column("mean").to_pylist() == [3.0]

    # The InfluxDB 3 ticket format reaches the same table in the default database.
    t = query_influx(srv, "select col1, col2 from mytable", database="default")
    assert sorted_rows(t, ["col1", "col2"]) == [(3, "one"), (3, "one"), (3, "two"), (3, "two")]


def test_seed_put_two_segment_path(server):
    """for_path("db", "table") writes to that database, not the default one."""
    srv = server()
    seed_write(srv, flight.FlightDescriptor.for_path("seeddb", "t2"))
    t = query_influx(srv, "SELECT col1, col2 FROM t2", database="seeddb")
    assert sorted_rows(t, ["col1", "col2"]) == [(3, "one"), (3, "two")]
    # Not in the default database. (pyarrow maps gRPC NOT_FOUND to ArrowKeyError, other
    # codes to FlightError subclasses; both are ArrowException.)
    with pytest.raises(pa.ArrowException) as ei:
        query_seed(srv, "SELECT * FROM t2", table="t2")
    assert "t2" in str(ei.value), str(ei.value)


def test_seed_put_with_explicit_time(server):
    """A client-supplied `time` column (timestamp[ns, UTC]) is kept as sent."""
    srv = server()
    times = [1767225600_000000001, 1767225600_500000000]
    table = pa.table(
        {
            "col1": pa.array([1, 2], pa.int64()),
            "time": pa.array(times, TS_NS_UTC),
        }
    )
    client = flight.FlightClient(srv.grpc_url)
    try:
        writer, _ = client.do_put(flight.FlightDescriptor.for_path("timed"), table.schema)
        writer.write_table(table)
        writer.close()
    finally:
        client.close()
    t = query_seed(srv, "SELECT col1, time FROM timed ORDER BY time", table="timed")
    assert t.schema.field("time").type == TS_NS_UTC
    assert rows(t, ["col1", "time"]) == [(1, times[0]), (2, times[1])]
