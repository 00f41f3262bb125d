"""The InfluxDB 3 Python client (PyPI influxdb3-python) against Fletch.

Writes go through the client's line-protocol API (strings and Point objects, over
/api/v2/write by default and /api/v3/write_lp with write_use_v2_api=False); queries go
through its Flight DoGet with the JSON ticket
{"database", "sql_query", "query_type", "params"} (influxdb_client_3/query/query_api.py).
The oracle is the data written here.

The last section runs the client against a server with auth and TLS on: `ssl_ca_cert`
(a PEM file path) is the one option that makes it trust a private CA for both its HTTPS
writes (urllib3 `ca_certs`) and its grpc+tls queries (read into pyarrow's `tls_root_certs`).
"""

import re
from datetime import datetime, timezone

import pyarrow as pa
import pytest
from influxdb_client_3 import InfluxDBClient3, Point
from influxdb_client_3.exceptions import (InfluxDB3ClientQueryError, InfluxDBError,
                                          InfluxDBPartialWriteError)

from certs import self_signed
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


def test_influxql_through_the_client(client):
    # query_type "influxql": one row per point, iox::measurement first (as InfluxDB 3).
    t = client.query("SELECT * FROM weather WHERE station != 's3'", language="influxql")
    assert t.column_names[:2] == ["iox::measurement", "time"]
    assert set(t.column("iox::measurement").to_pylist()) == {"weather"}
    want = sorted((r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in WEATHER if r[0] != "s3")
    assert sorted_rows(t, WEATHER_ORDER) == want
    t = client.query("SELECT max(temp) FROM weather GROUP BY region", language="influxql")
    got = {r["region"]: r["max"] for r in t.to_pylist()}
    assert got == {"north": 12.5, "south": 20.0}


def test_influxql_errors_name_the_problem(client):
    with pytest.raises(InfluxDB3ClientQueryError) as ei:
        client.query("SELEC * FROM weather", language="influxql")
    msg = str(ei.value)
    assert "invalid argument" in msg.lower() and "error parsing query" in msg, msg
    with pytest.raises(InfluxDB3ClientQueryError) as ei:
        client.query("SELECT holt_winters(temp, 1, 1) FROM weather", language="influxql")
    assert "holt_winters" in str(ei.value) and "not supported" in str(ei.value), str(ei.value)


# -- auth and TLS ----------------------------------------------------------------------------
TLS_DB = "influxtls"
AIR_ORDER = ["room", "co2", "time"]
AIR = [("a", 410, T0), ("b", 655, T0 + SEC), ("a", 398, T0 + 2 * SEC)]
AIR_LINES = [f"air,room={r} co2={c}i {t}" for r, c, t in AIR]
AIR_SQL = "SELECT room, co2, time FROM air ORDER BY time"


@pytest.fixture(scope="module")
def tls_srv(module_server, tmp_path_factory):
    cert, key = self_signed(tmp_path_factory.mktemp("influx-tls"))
    s = module_server(auth=True, tls_cert=cert, tls_key=key)
    assert s.http_url.startswith("https://")
    s.cert = str(cert)
    s.read_token = s.create_token(TLS_DB, "read", name="influx-reader")
    s.write_token = s.create_token(TLS_DB, "write", name="influx-writer")
    # https:// in host makes the client use grpc+tls:// for queries, on the same port.
    with InfluxDBClient3(host=s.http_url, token=s.write_token, database=TLS_DB,
                         ssl_ca_cert=s.cert) as c:
        c.write(record=AIR_LINES[0])  # /api/v2/write, "Authorization: Token T"
    with InfluxDBClient3(host=s.http_url, token=s.write_token, database=TLS_DB,
                         ssl_ca_cert=s.cert, write_use_v2_api=False, auth_scheme="Bearer") as c:
        c.write(record=Point("air").tag("room", "b").field("co2", 655).time(T0 + SEC))
        c.write(record=AIR_LINES[2])  # /api/v3/write_lp, "Authorization: Bearer T"
    return s


def _tls_client(srv, token, **kw) -> InfluxDBClient3:
    return InfluxDBClient3(host=srv.http_url, token=token, database=TLS_DB, **kw)


def test_tls_write_then_query_with_ssl_ca_cert(tls_srv):
    for token in (tls_srv.read_token, tls_srv.write_token, tls_srv.admin_token):
        with _tls_client(tls_srv, token, ssl_ca_cert=tls_srv.cert) as c:
            assert rows(c.query(AIR_SQL), AIR_ORDER) == AIR


def test_tls_wrong_token_is_401_and_unauthenticated(tls_srv):
    wrong = tls_srv.write_token[:-4] + "AAAA"
    with _tls_client(tls_srv, wrong, ssl_ca_cert=tls_srv.cert) as c:
        with pytest.raises(InfluxDBError) as ei:
            c.write(record=f"air,room=x co2=1i {T0 + 9 * SEC}")
        assert ei.value.response.status == 401
        assert ei.value.message == ("unauthorized: auth: unauthenticated: invalid token; send the "
                                    'header "Authorization: Bearer TOKEN" (or Token TOKEN, or '
                                    "Basic auth with the token as password)")
        with pytest.raises(InfluxDB3ClientQueryError,
                           match="Flight returned unauthenticated error, with message: "
                                 "auth: unauthenticated: invalid token"):
            c.query(AIR_SQL)
    with _tls_client(tls_srv, tls_srv.admin_token, ssl_ca_cert=tls_srv.cert) as c:
        assert rows(c.query(AIR_SQL), AIR_ORDER) == AIR


@pytest.mark.parametrize("v2", [True, False], ids=["api-v2-write", "api-v3-write_lp"])
def test_tls_read_token_write_is_403(tls_srv, v2):
    with _tls_client(tls_srv, tls_srv.read_token, ssl_ca_cert=tls_srv.cert,
                     write_use_v2_api=v2) as c:
        with pytest.raises(InfluxDBError) as ei:
            c.write(record=f"air,room=r co2=2i {T0 + 9 * SEC}")
        assert ei.value.response.status == 403
        # v2 answers {"code", "message"}, which the client joins as "code: message".
        prefix = "forbidden: " if v2 else ""
        assert re.fullmatch(
            prefix + r'auth: permission denied: token "influx-reader" \(id [0-9a-f]{16}\) '
            f'has read permission on database "{TLS_DB}"; this request needs write',
            ei.value.message), ei.value.message
        assert rows(c.query(AIR_SQL), AIR_ORDER) == AIR


def test_tls_token_for_another_database_is_permission_denied(tls_srv):
    with _tls_client(tls_srv, tls_srv.read_token, ssl_ca_cert=tls_srv.cert) as c:
        with pytest.raises(InfluxDB3ClientQueryError,
                           match=f"Flight returned unauthorized error, with message: auth: "
                                 f'permission denied: .* is scoped to database "{TLS_DB}"; '
                                 f'this request is for database "elsewhere"'):
            c.query(AIR_SQL, database="elsewhere")


def test_tls_without_ssl_ca_cert_is_refused(tls_srv):
    """The system CAs don't know the self-signed certificate: both paths fail the handshake."""
    with _tls_client(tls_srv, tls_srv.write_token) as c:
        with pytest.raises(InfluxDBError) as ei:
            c.write(record=f"air,room=n co2=3i {T0 + 9 * SEC}")
        assert ei.value.status == 0 and ei.value.reason.startswith("SSLError"), ei.value
        assert "CERTIFICATE_VERIFY_FAILED" in ei.value.reason
        with pytest.raises(InfluxDB3ClientQueryError,
                           match="Flight returned unavailable error.*certificate verify failed"):
            c.query(AIR_SQL)


def test_tls_verify_ssl_false_skips_verification_on_both_paths(tls_srv):
    with _tls_client(tls_srv, tls_srv.write_token, verify_ssl=False) as c:
        with pytest.warns(Warning, match="Unverified HTTPS request"):
            c.write(record=f"unverified,room=u co2=4i {T0}")
        assert rows(c.query("SELECT room, co2, time FROM unverified")) == [("u", 4, T0)]
