"""Apache Superset's path to Fletch: flightsql-dbapi's SQLAlchemy dialect
(`datafusion://`, the name its entry point registers: `datafusion://` does not
load in a fresh process), driven the way Superset drives it.

Superset 6.1 has no DataFusion engine spec; docs/superset.md gives the time grains to add
with TIME_GRAIN_ADDON_EXPRESSIONS (test_docs_time_grains_are_the_tested_ones checks they are
GRAINS below), the expressions Superset's later DataFusion spec renders: time grains as DATE_TRUNC('<unit>', col) or DATE_BIN(INTERVAL '<n> <unit>', col,
TIMESTAMP '1970-01-01 00:00:00'), epoch seconds as from_unixtime(col), and datetimes as
TIMESTAMP 'YYYY-MM-DD HH:MM:SS.ffffff' (isoformat(sep=" ", timespec="microseconds")).
The oracle computes every bucket in Python from the points written here.

flightsql-dbapi 0.2.2 pins sqlalchemy<2 (1.4.x works) and needs pandas at run time; it
works with pyarrow 26 and protobuf 7. Without a token it sends `authorization: Bearer None`.

With auth and TLS (the last section): `user:TOKEN@host` makes the dialect call Handshake
with Basic credentials once, in create_engine, and send the Bearer token it returns;
`?token=TOKEN` sends `authorization: Bearer TOKEN` on every call. Without `insecure` it
connects with TLS, but its URL has no option for a CA file (and connect_args never reach
its FlightClient), so a private CA is trusted only through gRPC's own environment variable
GRPC_DEFAULT_SSL_ROOTS_FILE_PATH=ca.pem (read once per process, so those tests run the
client in a child process) — or verification is skipped with `disable_server_verification=true`.
Both flags are parsed with bool(str): `insecure=false` also means plaintext.
"""

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow.flight as flight
import pytest
import requests
import sqlalchemy as sa
from sqlalchemy import types as satypes

from certs import self_signed
from fletch_client import HTTP_TIMEOUT, write_ok

DB = "supersetdb"
SEC = 1_000_000_000
UTC = timezone.utc
BASE = int(datetime(2026, 3, 14, 10, 0, tzinfo=UTC).timestamp()) * SEC


def _points():
    """(host, value, n, ts_s, time_ns): 40 points 37.5 s apart, some with sub-µs parts,
    plus a few far apart for the day-and-longer grains."""
    pts = []
    for i in range(40):
        t = BASE + i * 37_500_000_000 + (i % 3) * 123_456_789
        pts.append(("a" if i % 2 else "b", (i % 7) * 0.25 - 0.5, i, t // SEC, t))
    for j, dt in enumerate([datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC),
                            datetime(2026, 2, 1, tzinfo=UTC),
                            datetime(2026, 6, 30, 12, tzinfo=UTC),
                            datetime(2026, 3, 16, 0, 0, 1, tzinfo=UTC)]):
        t = int(dt.timestamp()) * SEC + 999_999_999
        pts.append(("c", 1.25 * (j + 1), 100 + j, t // SEC, t))
    return pts


POINTS = _points()
LINES = [f"events,host={h} value={v},n={n}i,ts_s={s}i {t}" for h, v, n, s, t in POINTS]


# -- the oracle ----------------------------------------------------------------------------
def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // SEC, UTC).replace(microsecond=(ns % SEC) // 1000)


def _ns(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) * 1000


def _bin(seconds):
    return lambda ns: ns - ns % (seconds * SEC)


def _trunc(unit):
    def f(ns):
        d = _dt(ns)
        if unit == "day":
            d = d.replace(hour=0, minute=0, second=0, microsecond=0)
        elif unit == "week":  # ISO weeks start on Monday
            d = (d - timedelta(days=d.weekday())).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
        elif unit == "month":
            d = d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        elif unit == "quarter":
            d = d.replace(month=(d.month - 1) // 3 * 3 + 1, day=1, hour=0, minute=0, second=0,
                          microsecond=0)
        elif unit == "year":
            d = d.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        return _ns(d)
    return f


def _date_bin(interval):
    return f"DATE_BIN(INTERVAL '{interval}', time, TIMESTAMP '1970-01-01 00:00:00')"


# The DataFusion time grains: (name, SQL expression, oracle bucket function).
GRAINS = [
    ("PT1S", "DATE_TRUNC('second', time)", _bin(1)),
    ("PT5S", _date_bin("5 seconds"), _bin(5)),
    ("PT30S", _date_bin("30 seconds"), _bin(30)),
    ("PT1M", "DATE_TRUNC('minute', time)", _bin(60)),
    ("PT5M", _date_bin("5 minutes"), _bin(300)),
    ("PT10M", _date_bin("10 minutes"), _bin(600)),
    ("PT15M", _date_bin("15 minutes"), _bin(900)),
    ("PT30M", _date_bin("30 minutes"), _bin(1800)),
    ("PT1H", "DATE_TRUNC('hour', time)", _bin(3600)),
    ("P1D", "DATE_TRUNC('day', time)", _trunc("day")),
    ("P1W", "DATE_TRUNC('week', time)", _trunc("week")),
    ("P1M", "DATE_TRUNC('month', time)", _trunc("month")),
    ("P3M", "DATE_TRUNC('quarter', time)", _trunc("quarter")),
    ("P1Y", "DATE_TRUNC('year', time)", _trunc("year")),
]


def test_docs_time_grains_are_the_tested_ones():
    """docs/superset.md's TIME_GRAIN_ADDON_EXPRESSIONS, run as Superset would read
    superset_config.py, hold exactly the grains tested here."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "superset.md").read_text()
    block = re.search(r"```python\n(TIME_GRAIN_ADDON_EXPRESSIONS = .*?)```", doc, re.S).group(1)
    ns = {}
    exec(block, ns)  # noqa: S102 — our own documentation
    got = {k: v.format(col="time") for k, v in ns["TIME_GRAIN_ADDON_EXPRESSIONS"]["datafusion"].items()}
    assert got == {g: e for g, e, _ in GRAINS}


def test_url_loads_in_a_fresh_process(srv):
    """A fresh Superset worker resolves the URL through the dialect's entry point alone."""
    code = ("import sqlalchemy as sa, sys; e = sa.create_engine(sys.argv[1]); "
            "print(sa.inspect(e).get_schema_names())")
    out = subprocess.run([sys.executable, "-c", code, f"datafusion://127.0.0.1:{srv.port}?insecure=true&database={DB}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert DB in out.stdout


def superset_dttm(ns: int) -> str:
    """What DataFusionEngineSpec.convert_dttm renders for a datetime column (Superset hands
    it naive UTC datetimes)."""
    naive = _dt(ns).replace(tzinfo=None)
    return f"TIMESTAMP '{naive.isoformat(sep=' ', timespec='microseconds')}'"


def expected_buckets(bucket, lo_ns, hi_ns):
    acc = {}
    for _, v, _, _, t in POINTS:
        if lo_ns <= t < hi_ns:
            b = bucket(t)
            n, s = acc.get(b, (0, 0.0))
            acc[b] = (n + 1, s + v)
    return sorted((b, n, s) for b, (n, s) in acc.items())


def to_ns(v) -> int:
    ts = pd.Timestamp(v)
    return (ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")).value


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def srv(module_server):
    s = module_server()
    write_ok(s, DB, "\n".join(LINES) + "\n")
    write_ok(s, DB, f"gauges,site=x level=3.5 {BASE}\n")
    return s


@pytest.fixture(scope="module")
def engine(srv):
    e = sa.create_engine(f"datafusion://127.0.0.1:{srv.port}"
                         f"?insecure=true&database={DB}")
    yield e
    e.dispose()


def run(engine, sql):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).fetchall()


# -- metadata ------------------------------------------------------------------------------
def test_dialect_initialize_reads_sql_info(engine):
    """On first connect the dialect asks GetSqlInfo([0, 2, 3, 504]) and indexes the reply."""
    with engine.connect():
        pass
    info = engine.dialect.sql_info
    assert info[0] == "Fletch"
    assert info[3] is False  # read-only
    assert info[504] == '"'  # identifier quote char
    assert engine.dialect.identifier_preparer.initial_quote == '"'


def test_select_one(engine):
    assert run(engine, "SELECT 1") == [(1,)]


def test_inspector_schema_names(engine):
    names = sa.inspect(engine).get_schema_names()
    assert DB in names and "default" in names, names


def test_inspector_table_names(engine):
    assert sorted(sa.inspect(engine).get_table_names(schema=DB)) == ["events", "gauges"]


def test_inspector_columns(engine):
    cols = {c["name"]: type(c["type"])
            for c in sa.inspect(engine).get_columns("events", schema=DB)}
    assert cols == {"host": satypes.TEXT, "value": satypes.FLOAT, "n": satypes.BIGINT,
                    "ts_s": satypes.BIGINT, "time": satypes.TIMESTAMP}


def test_reflected_table_select(engine):
    """Superset's dataset: a reflected Table, a Core SELECT with a LIMIT (literal binds)."""
    tbl = sa.Table("events", sa.MetaData(), autoload_with=engine, schema=DB)
    stmt = (sa.select(tbl.c.host, tbl.c.n, tbl.c.time)
            .where(tbl.c.host == "c").order_by(tbl.c.n).limit(3))
    with engine.connect() as conn:
        got = [(h, n, to_ns(t)) for h, n, t in conn.execute(stmt).fetchall()]
    want = sorted((n, h, t) for h, _, n, _, t in POINTS if h == "c")[:3]
    assert got == [(h, n, t) for n, h, t in want]


# -- Superset's SQL ------------------------------------------------------------------------
@pytest.mark.parametrize("grain,expr,bucket", GRAINS, ids=[g[0] for g in GRAINS])
def test_time_grain(engine, grain, expr, bucket):
    sub_day = grain.startswith("PT")
    lo = BASE if sub_day else _ns(datetime(2025, 1, 1, tzinfo=UTC))
    hi = BASE + 20 * 60 * SEC if sub_day else _ns(datetime(2027, 1, 1, tzinfo=UTC))
    sql = (f"SELECT {expr} AS __timestamp, count(*) AS count, SUM(value) AS \"SUM(value)\" "
           f"FROM events WHERE time >= {superset_dttm(lo)} AND time < {superset_dttm(hi)} "
           f"GROUP BY {expr} ORDER BY __timestamp LIMIT 10000")
    got = [(to_ns(b), n, s) for b, n, s in run(engine, sql)]
    assert got == expected_buckets(bucket, lo, hi)


def test_timestamp_literal_microsecond_bounds(engine):
    """A point at …37.623456789: the µs literal below it includes it, the one above not."""
    t = BASE + 37_500_000_000 + 123_456_789
    assert any(p[4] == t for p in POINTS)
    below, above = superset_dttm(t), superset_dttm(t + 1000)
    assert below.endswith(".623456'") and above.endswith(".623457'"), (below, above)
    q = "SELECT n FROM events WHERE time >= {} AND time < {} ORDER BY n"
    end = superset_dttm(BASE + 60 * SEC)
    want_incl = sorted(p[2] for p in POINTS if t <= p[4] < BASE + 60 * SEC)
    assert [r[0] for r in run(engine, q.format(below, end))] == want_incl
    assert [r[0] for r in run(engine, q.format(above, end))] == want_incl[1:]


def test_schema_qualified_table(engine):
    """Superset qualifies the table with the schema picked in the dataset editor."""
    assert run(engine, f"SELECT count(*) FROM {DB}.events") == [(len(POINTS),)]


def test_from_unixtime_epoch_seconds(engine):
    lo, hi = BASE, BASE + 10 * 60 * SEC
    sql = (f"SELECT DATE_TRUNC('minute', from_unixtime(ts_s)) AS __timestamp, count(*) "
           f"FROM events WHERE from_unixtime(ts_s) >= {superset_dttm(lo)} "
           f"AND from_unixtime(ts_s) < {superset_dttm(hi)} GROUP BY 1 ORDER BY 1")
    got = [(to_ns(b), n) for b, n in run(engine, sql)]
    acc = {}
    for _, _, _, s, _ in POINTS:
        if lo <= s * SEC < hi:
            b = _bin(60)(s * SEC)
            acc[b] = acc.get(b, 0) + 1
    assert got == sorted(acc.items())


def test_cursor_description_types(engine):
    """SQL Lab reads cursor.description to type the result grid."""
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute("SELECT host, value, n, time FROM events ORDER BY time LIMIT 2")
        assert [(name, t) for name, t in cur.description] == [
            ("host", satypes.TEXT), ("value", satypes.FLOAT), ("n", satypes.BIGINT),
            ("time", satypes.TIMESTAMP)]
        got = [(h, v, n, to_ns(t)) for h, v, n, t in cur.fetchall()]
        assert got == [(h, v, n, t) for h, v, n, _, t in sorted(POINTS, key=lambda p: p[4])[:2]]
    finally:
        conn.close()


def test_dbapi_parameters_as_dense_unions(engine):
    """flightsql-dbapi binds each parameter as a dense union of int/float/str/bytes/bool."""
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute("SELECT count(*), sum(n) FROM events WHERE host = ? AND n >= ? AND value > ?",
                    ["a", 10, -0.3])
        want = [p for p in POINTS if p[0] == "a" and p[2] >= 10 and p[1] > -0.3]
        assert [tuple(r) for r in cur.fetchall()] == [(len(want), sum(p[2] for p in want))]
        # The same statement text with other values: nothing cached from the first run.
        cur.execute("SELECT count(*), sum(n) FROM events WHERE host = ? AND n >= ? AND value > ?",
                    ["b", 0, 0.0])
        want = [p for p in POINTS if p[0] == "b" and p[1] > 0.0]
        assert [tuple(r) for r in cur.fetchall()] == [(len(want), sum(p[2] for p in want))]
    finally:
        conn.close()


# -- auth and TLS --------------------------------------------------------------------------
TLS_DB = "supersettls"
TLS_POINTS = sorted(POINTS, key=lambda p: p[4])[:6]
TLS_SQL = "SELECT host, value, n, time FROM events ORDER BY time"
TLS_ROWS = [(h, v, n, t) for h, v, n, _, t in TLS_POINTS]
EVENTS_COLUMNS = {"host": "TEXT", "value": "FLOAT", "n": "BIGINT", "ts_s": "BIGINT",
                  "time": "TIMESTAMP"}

# What Superset does with a database URL, in a process of its own: inspect, then query.
SUPERSET_CHILD = r"""
import json, sys
import pandas as pd
import sqlalchemy as sa

def to_ns(v):
    ts = pd.Timestamp(v)
    return (ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")).value

out = []
for url in json.load(sys.stdin):
    engine = sa.create_engine(url)
    insp = sa.inspect(engine)
    schema = insp.get_schema_names()
    tables = {s: insp.get_table_names(schema=s) for s in schema}
    columns = {c["name"]: type(c["type"]).__name__ for c in insp.get_columns("events", schema=schema[0])}
    with engine.connect() as conn:
        got = [[h, v, n, to_ns(t)] for h, v, n, t in conn.execute(sa.text(sys.argv[1])).fetchall()]
    engine.dispose()
    out.append({"schemas": schema, "tables": tables, "columns": columns, "rows": got})
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def tls_srv(module_server, tmp_path_factory):
    cert, key = self_signed(tmp_path_factory.mktemp("superset-tls"))
    s = module_server(auth=True, tls_cert=cert, tls_key=key)
    s.cert = str(cert)
    s.read_token = s.create_token(TLS_DB, "read", name="superset")
    body = "\n".join(f"events,host={h} value={v},n={n}i,ts_s={ts}i {t}" for h, v, n, ts, t in TLS_POINTS)
    r = requests.post(s.http_url + "/api/v3/write_lp", params={"db": TLS_DB}, data=body,
                      headers={"Authorization": "Bearer " + s.admin_token}, verify=s.cert,
                      timeout=HTTP_TIMEOUT)
    assert r.status_code == 204, r.text
    return s


def tls_url(srv, user_token=None, **query):
    cred = f"superset:{user_token}@" if user_token else ""
    q = "&".join(f"{k}={v}" for k, v in {"database": TLS_DB, **query}.items())
    return f"datafusion://{cred}127.0.0.1:{srv.port}?{q}"


def test_tls_private_ca_through_grpc_env(tls_srv):
    """Basic handshake (user:TOKEN@) and Bearer (?token=), each verifying the server's
    certificate against the CA named by GRPC_DEFAULT_SSL_ROOTS_FILE_PATH."""
    urls = [tls_url(tls_srv, tls_srv.read_token), tls_url(tls_srv, token=tls_srv.read_token)]
    proc = subprocess.run([sys.executable, "-c", SUPERSET_CHILD, TLS_SQL], input=json.dumps(urls),
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": tls_srv.cert})
    assert proc.returncode == 0, proc.stderr[-3000:]
    for got in json.loads(proc.stdout):
        # The read token for TLS_DB sees only TLS_DB.
        assert got["schemas"] == [TLS_DB]
        assert got["tables"] == {TLS_DB: ["events"]}
        assert got["columns"] == EVENTS_COLUMNS
        assert [tuple(r) for r in got["rows"]] == TLS_ROWS


def test_tls_disable_server_verification(tls_srv):
    """The URL-only way to TLS with a private CA: encrypted, but the certificate is not
    checked (flightsql-dbapi 0.2.2 has no CA option)."""
    engine = sa.create_engine(tls_url(tls_srv, tls_srv.read_token, disable_server_verification="true"))
    try:
        insp = sa.inspect(engine)
        assert insp.get_schema_names() == [TLS_DB]
        assert insp.get_table_names(schema=TLS_DB) == ["events"]
        cols = {c["name"]: type(c["type"]).__name__ for c in insp.get_columns("events", schema=TLS_DB)}
        assert cols == EVENTS_COLUMNS
        got = [(h, v, n, to_ns(t)) for h, v, n, t in run(engine, TLS_SQL)]
        assert got == TLS_ROWS
    finally:
        engine.dispose()


@pytest.mark.parametrize("user_token, query, message", [
    # No credentials: the dialect sends "Bearer None".
    (None, {}, 'invalid token; send the metadata "authorization: Bearer TOKEN"'),
    (None, {"token": "fletch_wrong"}, 'invalid token; send the metadata "authorization: Bearer TOKEN"'),
    ("fletch_wrong", {}, 'invalid token; send the metadata "authorization: Basic base64(USER:TOKEN)"'),
], ids=["no-token", "wrong-bearer", "wrong-basic"])
def test_tls_missing_or_wrong_token_is_unauthenticated(tls_srv, user_token, query, message):
    url = tls_url(tls_srv, user_token, disable_server_verification="true", **query)
    with pytest.raises(flight.FlightUnauthenticatedError,
                       match="unauthenticated error, with message: " +
                             re.escape("auth: unauthenticated: " + message)):
        engine = sa.create_engine(url)  # a Basic handshake fails here already
        try:
            run(engine, "SELECT 1")
        finally:
            engine.dispose()


@pytest.mark.parametrize("basic", [False, True], ids=["bearer", "basic"])
def test_tls_untrusted_certificate_is_refused(tls_srv, basic):
    """Verification on, no CA: the Bearer path names the failed handshake; the Basic one
    only says pyarrow "Could not finish writing before closing"."""
    if basic:
        url, err, msg = (tls_url(tls_srv, tls_srv.read_token), flight.FlightInternalError,
                         "Could not finish writing before closing")
    else:
        url, err, msg = (tls_url(tls_srv, token=tls_srv.read_token), flight.FlightUnavailableError,
                         "certificate verify failed")
    with pytest.raises(err, match=msg):
        engine = sa.create_engine(url)
        try:
            run(engine, "SELECT 1")
        finally:
            engine.dispose()


def test_tls_insecure_false_still_means_plaintext(tls_srv):
    """client_from_url does bool("false"), which is True: plaintext to a TLS port."""
    url = tls_url(tls_srv, token=tls_srv.read_token, insecure="false")
    engine = sa.create_engine(url)
    try:
        with pytest.raises(flight.FlightUnavailableError):
            run(engine, "SELECT 1")
    finally:
        engine.dispose()
