"""Thin client helpers over Fletch's wire interfaces (HTTP line protocol, Flight, Flight SQL).

These use only stock clients (requests, pyarrow.flight, adbc_driver_flightsql), the way a
user's program would, plus a few converters that turn Arrow results into plain Python
values for comparison with independently computed expectations.
"""

from __future__ import annotations

import gzip as _gzip
import json

import pyarrow as pa
import pyarrow.flight as flight
import requests

HTTP_TIMEOUT = 120  # seconds per request
QUERY_TIMEOUT = 300  # seconds per Flight call

TS_NS_UTC = pa.timestamp("ns", tz="UTC")

# Write endpoints: name -> (path, name of the database query parameter).
WRITE_ENDPOINTS = {
    "v2": ("/api/v2/write", "bucket"),
    "v3": ("/api/v3/write_lp", "db"),
    "v1": ("/write", "db"),
}


# -- line protocol over HTTP ---------------------------------------------------------------
_DEFAULT = object()


def write_lp(srv, db: str, body, endpoint: str = "v2", precision=_DEFAULT,
             gzip: bool = False, session=None, params=None) -> requests.Response:
    """POST line protocol; returns the response without checking it.

    precision: "s" | "ms" | "us" | "ns" | "auto" (v3) ...; None sends none. The default is
    "ns" for v2 and v3, and none for v1 (whose default is nanoseconds).
    """
    path, dbparam = WRITE_ENDPOINTS[endpoint]
    q = {dbparam: db}
    if precision is _DEFAULT:
        precision = None if endpoint == "v1" else "ns"
    if precision is not None:
        q["precision"] = precision
    if params:
        q.update(params)
    data = body.encode() if isinstance(body, str) else body
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if gzip:
        data = _gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    post = (session or requests).post
    return post(srv.http_url + path, params=q, data=data, headers=headers, timeout=HTTP_TIMEOUT)


def write_ok(srv, db: str, body, **kw) -> None:
    """Write and require 204 No Content."""
    r = write_lp(srv, db, body, **kw)
    assert r.status_code == 204, f"write to {db} answered {r.status_code}: {r.text[:2000]}"


# -- Flight DoGet with JSON tickets ------------------------------------------------------
def _do_get(grpc_url: str, ticket: dict) -> pa.Table:
    client = flight.FlightClient(grpc_url)
    try:
        opts = flight.FlightCallOptions(timeout=QUERY_TIMEOUT)
        reader = client.do_get(flight.Ticket(json.dumps(ticket).encode()), options=opts)
        return reader.read_all()
    finally:
        client.close()


def query_seed(srv, sql: str, table: str) -> pa.Table:
    """DoGet with the seed blog's ticket {"sql", "table"} (default database)."""
    return _do_get(srv.grpc_url, {"sql": sql, "table": table})


def query_influx(srv, sql: str, database: str = "default") -> pa.Table:
    """DoGet with the InfluxDB 3 client ticket {"database", "sql_query", "query_type"}."""
    return _do_get(
        srv.grpc_url, {"database": database, "sql_query": sql, "query_type": "sql"}
    )


# -- Flight SQL through ADBC ---------------------------------------------------------------
def adbc_connect(srv, database: str = "default"):
    """A DB-API connection through the ADBC Flight SQL driver, as a user would open it."""
    from adbc_driver_flightsql import DatabaseOptions, dbapi

    return dbapi.connect(
        srv.grpc_url,
        db_kwargs={
            DatabaseOptions.RPC_CALL_HEADER_PREFIX.value + "database": database,
            DatabaseOptions.TIMEOUT_QUERY.value: str(QUERY_TIMEOUT),
            DatabaseOptions.TIMEOUT_FETCH.value: str(QUERY_TIMEOUT),
        },
    )


def query_adbc(srv, sql: str, database: str = "default") -> pa.Table:
    with adbc_connect(srv, database) as conn:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetch_arrow_table()


# -- converting results --------------------------------------------------------------------
def ts_to_ns(col) -> list:
    """Timestamps (any unit) as int nanoseconds since the epoch (None for nulls)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    assert pa.types.is_timestamp(col.type), f"expected a timestamp column, got {col.type}"
    if col.type.unit != "ns":
        col = col.cast(pa.timestamp("ns", tz=col.type.tz))
    return col.cast(pa.int64()).to_pylist()


def column_values(table: pa.Table, name: str) -> list:
    col = table.column(name)
    if pa.types.is_timestamp(col.type):
        return ts_to_ns(col)
    return col.to_pylist()


def rows(table: pa.Table, columns=None) -> list[tuple]:
    """The table as a list of tuples (timestamps as int ns), in the given column order."""
    columns = list(columns or table.column_names)
    missing = [c for c in columns if c not in table.column_names]
    assert not missing, f"result lacks columns {missing}; it has {table.column_names}"
    cols = [column_values(table, c) for c in columns]
    return list(zip(*cols))


def sorted_rows(table: pa.Table, columns=None) -> list[tuple]:
    return sorted(rows(table, columns), key=row_sort_key)


def row_sort_key(row):
    """Sort key for rows that may hold None (None sorts first)."""
    return tuple((v is not None, v) for v in row)


def assert_time_column(table: pa.Table, name: str = "time"):
    t = table.schema.field(name).type
    assert t == TS_NS_UTC, f"column {name!r} is {t}, expected timestamp[ns, tz=UTC]"


# -- status codes ----------------------------------------------------------------------------
# gRPC status codes by number (ADBC's Flight SQL driver reports them as the vendor code).
GRPC_CODES = {0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
              5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
              9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED",
              13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED"}
# The HTTP status Fletch answers for each gRPC code it uses.
HTTP_FOR_CODE = {"INVALID_ARGUMENT": 400, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403,
                 "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "RESOURCE_EXHAUSTED": 429,
                 "UNIMPLEMENTED": 501, "DEADLINE_EXCEEDED": 504}
CODE_FOR_HTTP = {v: k for k, v in HTTP_FOR_CODE.items()}


def grpc_code(exc) -> str:
    """The gRPC status code name behind an exception from pyarrow.flight or ADBC."""
    vendor = getattr(exc, "vendor_code", None)
    if isinstance(vendor, int) and vendor in GRPC_CODES and vendor != 0:
        return GRPC_CODES[vendor]
    import re
    m = re.search(r"gRPC client debug context: ([A-Z_]+):", str(exc))
    if m:
        return m.group(1)
    by_class = [(flight.FlightUnauthenticatedError, "UNAUTHENTICATED"),
                (flight.FlightUnauthorizedError, "PERMISSION_DENIED"),
                (flight.FlightTimedOutError, "DEADLINE_EXCEEDED"),
                (flight.FlightCancelledError, "CANCELLED"),
                (pa.ArrowInvalid, "INVALID_ARGUMENT"), (pa.ArrowKeyError, "NOT_FOUND"),
                (pa.ArrowNotImplementedError, "UNIMPLEMENTED")]
    for cls, name in by_class:
        if isinstance(exc, cls):
            return name
    return f"UNRECOGNIZED({type(exc).__name__})"


# -- one SQL statement through any path ----------------------------------------------------
SQL_PATHS = ["adbc", "adbc_prepared", "doget", "http"]


class Outcome:
    """What a SQL statement got: code (a gRPC code name; HTTP statuses mapped, "OK" on
    success, "CLIENT_TIMEOUT" when the client gave up), message, and the rows as a table."""

    def __init__(self, code: str, message: str = "", table: pa.Table | None = None, headers=None):
        self.code, self.message, self.table, self.headers = code, message, table, headers or {}

    def __repr__(self):
        return f"{self.code}: {self.message[:300]}"


def run_sql(srv, path: str, sql: str, database: str = "default", token: str | None = None,
            timeout: float = QUERY_TIMEOUT) -> Outcome:
    """Run sql through one path — "adbc" (cursor.execute), "adbc_prepared" (adbc_prepare,
    then execute), "doget" (InfluxDB 3 JSON ticket) or "http" (/api/v3/query_sql) — with an
    optional token, giving up after timeout seconds (a deadline for gRPC, a read timeout
    for HTTP). Never raises for a refusal."""
    from adbc_driver_flightsql import DatabaseOptions, dbapi

    auth = [(b"authorization", f"Bearer {token}".encode())] if token else []
    if path == "http":
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            r = requests.post(srv.http_url + "/api/v3/query_sql", json={"db": database, "q": sql},
                              headers=headers, timeout=timeout)
        except requests.Timeout as e:
            return Outcome("CLIENT_TIMEOUT", str(e))
        if r.status_code == 200:
            return Outcome("OK", table=pa.Table.from_pylist(r.json()), headers=r.headers)
        try:
            msg = r.json().get("error", r.text)
        except ValueError:
            msg = r.text
        return Outcome(CODE_FOR_HTTP.get(r.status_code, f"HTTP {r.status_code}"), msg, headers=r.headers)
    if path == "doget":
        ticket = flight.Ticket(json.dumps({"database": database, "sql_query": sql, "query_type": "sql"}).encode())
        opts = flight.FlightCallOptions(headers=auth, timeout=timeout)
        try:
            with flight.connect(srv.grpc_url) as client:
                return Outcome("OK", table=client.do_get(ticket, opts).read_all())
        except (flight.FlightError, pa.ArrowException) as e:
            return Outcome(grpc_code(e), str(e))
    kw = {DatabaseOptions.RPC_CALL_HEADER_PREFIX.value + "database": database,
          DatabaseOptions.TIMEOUT_QUERY.value: str(timeout),
          DatabaseOptions.TIMEOUT_FETCH.value: str(timeout)}
    if token:
        kw[DatabaseOptions.AUTHORIZATION_HEADER.value] = f"Bearer {token}"
    try:
        with dbapi.connect(srv.grpc_url, db_kwargs=kw) as conn, conn.cursor() as cur:
            if path == "adbc_prepared":
                cur.adbc_prepare(sql)
            cur.execute(sql)
            return Outcome("OK", table=cur.fetch_arrow_table())
    except dbapi.Error as e:
        return Outcome(grpc_code(e), str(e))


# -- pictures ------------------------------------------------------------------------------
def series_colors(png, n: int) -> int:
    """How many of matplotlib's first n cycle colours a PNG draws with (each in at least
    200 pixels): the number of series a reader sees in a plot."""
    from matplotlib import colors as mcolors
    from PIL import Image

    pixels = Image.open(png).convert("RGB").getcolors(maxcolors=1 << 24)
    seen = 0
    for i in range(n):
        target = tuple(round(255 * x) for x in mcolors.to_rgb(f"C{i}"))
        near = sum(count for count, px in pixels if all(abs(a - b) <= 8 for a, b in zip(px, target)))
        seen += near >= 200
    return seen
