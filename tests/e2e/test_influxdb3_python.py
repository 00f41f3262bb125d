"""The InfluxDB 3 Python client (PyPI influxdb3-python) against Fletch.

Writes go through the client's line-protocol API (strings and Point objects, over
/api/v2/write by default and /api/v3/write_lp with write_use_v2_api=False); queries go
through its Flight DoGet with the JSON ticket
{"database", "sql_query", "query_type", "params"} (influxdb_client_3/query/query_api.py).
The oracle is the data written here.
"""

from datetime import datetime, timezone

import pyarrow as pa
import pytest
from influxdb_client_3 import InfluxDBClient3, Point
from influxdb_client_3.exceptions import (InfluxDB3ClientQueryError, InfluxDBError,
                                          InfluxDBPartialWriteError)

from fletch_client import TS_NS_UTC, rows, sorted_rows

DB = "influxpy"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z in ns
SEC = 1_000_000_000

# weather: tags station, region; fields temp (float), hum (integer), ok (boolean),
# note (string). Row tuples follow WEATHER_ORDER.
WEATHER_ORDER = ["station", "region", "temp", "hum", "ok", "note", "time"]
WEATHER = [
    ("s1", "north", 12.5, 40, True, "clear", T0),
    ("s2", "south", 20.0, 55, False, "rain", T0 + SEC),
    ("s1", "north", -3.25, 61, True, "snow, heavy", T0 + 2 * SEC),
    ("s3", "south", 7.0, 70, False, 'say "hi"', T0 + 3 * SEC),
    ("s2", "south", 15.5, 58, True, "fog", T0 + 4 * SEC),  # written through /api/v3/write_lp
]
COUNTERS_ORDER = ["dev", "bytes", "time"]
COUNTERS = [("d1", 7, T0), ("d2", 18446744073709551615, T0 + SEC)]  # uint64 max

IOX_TYPE = b"iox::column::type"
WEATHER_IOX = {
    "station": "iox::column_type::tag",
    "region": "iox::column_type::tag",
    "temp": "iox::column_type::field::float",
    "hum": "iox::column_type::field::integer",
    "ok": "iox::column_type::field::boolean",
    "note": "iox::column_type::field::string",
    "time": "iox::column_type::timestamp",
}

def _client(srv, **kw) -> InfluxDBClient3:
    return InfluxDBClient3(host=srv.http_url, database=DB, token="x", **kw)


@pytest.fixture(scope="module")
def srv(module_server):
    s = module_server()
    c = _client(s)
    try:
        # A single string, with an escaped string field value.
        c.write(record=f'weather,station=s1,region=north temp=12.5,hum=40i,ok=true,'
                       f'note="clear" {T0}')
        # A Point whose float 20.0 the client renders as "temp=20" (a float in line protocol).
        c.write(record=Point("weather").tag("station", "s2").tag("region", "south")
                .field("temp", 20.0).field("hum", 55).field("ok", False).field("note", "rain")
                .time(T0 + SEC))
        # A list of Points; the second with a datetime timestamp.
        c.write(record=[
            Point("weather").tag("station", "s1").tag("region", "north").field("temp", -3.25)
            .field("hum", 61).field("ok", True).field("note", "snow, heavy").time(T0 + 2 * SEC),
            Point("weather").tag("station", "s3").tag("region", "south").field("temp", 7.0)
            .field("hum", 70).field("ok", False).field("note", 'say "hi"')
            .time(datetime(2026, 1, 1, 0, 0, 3, tzinfo=timezone.utc)),
        ])
        # A list of strings and a dict Point with an unsigned field.
        c.write(record=[f"counters,dev=d1 bytes=7u {T0}"])
        c.write(record=Point.from_dict(
            {"measurement": "counters", "tags": {"dev": "d2"},
             "fields": {"bytes": 18446744073709551615}, "time": T0 + SEC},
            field_types={"bytes": "uint"}))
    finally:
        c.close()
    c3 = _client(s, write_use_v2_api=False)
    try:
        c3.write(record=f'weather,station=s2,region=south temp=15.5,hum=58i,ok=true,'
                        f'note="fog" {T0 + 4 * SEC}')
    finally:
        c3.close()
    return s


@pytest.fixture
def client(srv):
    c = _client(srv)
    yield c
    c.close()


def test_query_all_returns_written_rows(client):
    t = client.query("SELECT * FROM weather", mode="all")
    assert isinstance(t, pa.Table)
    assert sorted_rows(t, WEATHER_ORDER) == sorted(WEATHER)
    assert t.schema.field("time").type == TS_NS_UTC
    types = {f.name: f.type for f in t.schema}
    assert types == {"station": pa.string(), "region": pa.string(), "temp": pa.float64(),
                     "hum": pa.int64(), "ok": pa.bool_(), "note": pa.string(),
                     "time": TS_NS_UTC}


def test_query_unsigned_field(client):
    t = client.query("SELECT dev, bytes, time FROM counters ORDER BY time")
    assert t.schema.field("bytes").type == pa.uint64()
    assert rows(t, COUNTERS_ORDER) == COUNTERS


def test_query_pandas(client):
    df = client.query("SELECT station, temp, hum, time FROM weather WHERE region = 'south' "
                      "ORDER BY time", mode="pandas")
    assert str(df["time"].dtype) == "datetime64[ns, UTC]", df.dtypes
    got = [(r.station, r.temp, r.hum, r.time.value) for r in df.itertuples()]
    want = [(s, t, h, ts) for s, region, t, h, _, _, ts in WEATHER if region == "south"]
    assert got == sorted(want, key=lambda r: r[3])


def test_query_aggregate_matches_oracle(client):
    t = client.query("SELECT station, count(*) AS n, sum(temp) AS s, max(hum) AS m "
                     "FROM weather GROUP BY station ORDER BY station")
    want = {}
    for st, _, temp, hum, _, _, _ in WEATHER:
        n, s, m = want.get(st, (0, 0.0, None))
        want[st] = (n + 1, s + temp, hum if m is None else max(m, hum))
    assert rows(t) == [(st, *want[st]) for st in sorted(want)]


def test_query_other_database_argument(srv, client):
    other = _client(srv)
    try:
        other.write(record=f"weather,station=zz temp=99.5 {T0}", database="influxpy_other")
        t = client.query("SELECT station, temp FROM weather", database="influxpy_other")
        assert rows(t) == [("zz", 99.5)]
    finally:
        other.close()


def test_v3_partial_write_names_the_bad_line(srv, client):
    """/api/v3/write_lp with accept_partial (the client's default): the good line is
    written, the client raises InfluxDBPartialWriteError listing the bad one."""
    c3 = _client(srv, write_use_v2_api=False)
    try:
        with pytest.raises(InfluxDBPartialWriteError) as ei:
            c3.write(record=[f"partial,k=good v=1.5 {T0}", "partial,k=bad v=notanumber"])
        errs = ei.value.line_errors
        assert [(e.line_number, e.original_line) for e in errs] == [
            (2, "partial,k=bad v=notanumber")], errs
    finally:
        c3.close()
    assert rows(client.query("SELECT k, v, time FROM partial")) == [("good", 1.5, T0)]


def test_v2_write_error_is_influxdb_error(client):
    with pytest.raises(InfluxDBError) as ei:
        client.write(record="badwrite,k=x v=notanumber")
    assert "line 1" in str(ei.value), str(ei.value)


def test_query_parameters_bind_to_dollar_names(client):
    t = client.query("SELECT station, temp, time FROM weather WHERE station = $station "
                     "ORDER BY time", query_parameters={"station": "s1"})
    assert rows(t) == [(s, temp, ts) for s, _, temp, _, _, _, ts in WEATHER if s == "s1"]


def test_query_parameters_typed_values(client):
    """params values keep their JSON type: a number compares as a number."""
    t = client.query("SELECT station, hum FROM weather WHERE hum > $min AND ok = $ok "
                     "AND region = $region ORDER BY hum",
                     query_parameters={"min": 50, "ok": True, "region": "south"})
    want = sorted((s, h) for s, r, _, h, ok, _, _ in WEATHER if h > 50 and ok and r == "south")
    assert rows(t) == want


def test_result_fields_carry_iox_column_type(client):
    t = client.query("SELECT * FROM weather", mode="all")
    got = {f.name: (f.metadata or {}).get(IOX_TYPE, b"").decode() for f in t.schema}
    assert got == WEATHER_IOX


def test_result_fields_carry_iox_column_type_uinteger(client):
    schema = client.query("SELECT dev, bytes, time FROM counters", mode="schema")
    got = {f.name: (f.metadata or {}).get(IOX_TYPE, b"").decode() for f in schema}
    assert got == {"dev": "iox::column_type::tag",
                   "bytes": "iox::column_type::field::uinteger",
                   "time": "iox::column_type::timestamp"}


def test_influxql_is_a_clear_unimplemented_error(client):
    with pytest.raises(InfluxDB3ClientQueryError) as ei:
        client.query("SELECT * FROM weather", language="influxql")
    msg = str(ei.value)
    assert "unimplemented" in msg.lower(), msg
    assert "influxql" in msg.lower(), msg
