"""Line protocol over HTTP: the three write endpoints, gzip, precision, errors, dedup."""

import time

import pyarrow as pa
import pytest

from fletch_client import (
    TS_NS_UTC, assert_time_column, query_influx, rows, sorted_rows, write_lp, write_ok,
)

T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z in ns
T0_S = T0 // 1_000_000_000
SEC = 1_000_000_000


@pytest.fixture(scope="module")
def srv(module_server):
    return module_server()


def q(srv, db, sql):
    return query_influx(srv, sql, database=db)


# -- endpoints -----------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", ["v1", "v2", "v3"])
def test_write_endpoint(srv, endpoint):
    db = f"ep_{endpoint}"
    body = (
        f'ep,host=h1 f=1.5,i=7i,b=true,s="str one" {T0}\n'
        f'ep,host=h2 f=-2.5,i=-8i,b=false,s="two" {T0 + SEC}\n'
    )
    write_ok(srv, db, body, endpoint=endpoint)
    t = q(srv, db, "SELECT host, f, i, b, s, time FROM ep ORDER BY time")
    assert [t.schema.field(c).type for c in t.column_names] == [
        pa.string(), pa.float64(), pa.int64(), pa.bool_(), pa.string(), TS_NS_UTC
    ], t.schema
    assert rows(t) == [
        ("h1", 1.5, 7, True, "str one", T0),
        ("h2", -2.5, -8, False, "two", T0 + SEC),
    ]


@pytest.mark.parametrize("endpoint", ["v1", "v2", "v3"])
def test_gzip_body(srv, endpoint):
    db = f"gz_{endpoint}"
    body = "".join(f"gz,host=h{i % 3} v={i}i {T0 + i * SEC}\n" for i in range(500))
    write_ok(srv, db, body, endpoint=endpoint, gzip=True)
    t = q(srv, db, "SELECT host, v, time FROM gz")
    assert sorted_rows(t) == sorted((f"h{i % 3}", i, T0 + i * SEC) for i in range(500))


def test_field_types(srv):
    write_ok(srv, "types",
             f'ty,tag=x f=1.5,i=-2i,u=5u,b1=t,b2=FALSE,b3=True,s="x" {T0}\n', endpoint="v3")
    t = q(srv, "types", "SELECT tag, f, i, u, b1, b2, b3, s, time FROM ty")
    assert [t.schema.field(c).type for c in t.column_names] == [
        pa.string(), pa.float64(), pa.int64(), pa.uint64(), pa.bool_(), pa.bool_(),
        pa.bool_(), pa.string(), TS_NS_UTC,
    ], t.schema
    assert rows(t) == [("x", 1.5, -2, 5, True, False, True, "x", T0)]


def test_escapes(srv):
    line = (r'esc,host=my\ host,loc=a\,b,eq=x\=y fld\ x="quote \"x\" back\\slash",n=1i '
            f"{T0}\n")
    write_ok(srv, "escdb", line, endpoint="v3")
    t = q(srv, "escdb", 'SELECT host, loc, eq, "fld x", n FROM esc')
    assert rows(t, ["host", "loc", "eq", "fld x", "n"]) == [
        ("my host", "a,b", "x=y", 'quote "x" back\\slash', 1)
    ]


def test_no_timestamp_gets_server_time(srv):
    before = time.time_ns()
    write_ok(srv, "nots", "nots,host=a v=1\n", endpoint="v3")
    after = time.time_ns()
    (ts,) = rows(q(srv, "nots", "SELECT time FROM nots"))[0]
    assert before - 5 * SEC <= ts <= after + 5 * SEC


# -- precision -----------------------------------------------------------------------------
def test_precision(srv):
    db = "prec"
    # The same instant in each unit, plus sub-second instants that only a correct scale keeps.
    writes = [
        ("v3", "s", f"prec,p=s v=1 {T0_S}"),
        ("v3", "ms", f"prec,p=ms v=1 {T0_S * 1000}"),
        ("v3", "us", f"prec,p=us v=1 {T0_S * 1_000_000}"),
        ("v3", "ns", f"prec,p=ns v=1 {T0}"),
        ("v3", "auto", f"prec,p=auto_s v=1 {T0_S}"),
        ("v3", "auto", f"prec,p=auto_ms v=1 {T0_S * 1000}"),
        ("v3", "auto", f"prec,p=auto_us v=1 {T0_S * 1_000_000}"),
        ("v3", "auto", f"prec,p=auto_ns v=1 {T0}"),
        ("v3", "ms", f"prec,p=ms_frac v=1 {T0_S * 1000 + 123}"),
        ("v3", "us", f"prec,p=us_frac v=1 {T0_S * 1_000_000 + 123456}"),
        ("v3", "auto", f"prec,p=auto_ms_frac v=1 {T0_S * 1000 + 123}"),
        ("v2", "s", f"prec,p=v2_s v=1 {T0_S}"),
        ("v2", "ms", f"prec,p=v2_ms v=1 {T0_S * 1000}"),
        ("v1", "s", f"prec,p=v1_s v=1 {T0_S}"),
    ]
    for endpoint, precision, line in writes:
        write_ok(srv, db, line + "\n", endpoint=endpoint, precision=precision)
    got = dict(rows(q(srv, db, "SELECT p, time FROM prec")))
    want = {line.split(",p=")[1].split(" ")[0]: T0 for _, _, line in writes}
    want["ms_frac"] = T0 + 123_000_000
    want["us_frac"] = T0 + 123_456_000
    want["auto_ms_frac"] = T0 + 123_000_000
    assert got == want


# -- errors ----------------------------------------------------------------------------------
def test_partial_write_names_bad_line(srv):
    db = "partial"
    bad = f"pw,host=b {T0}"  # no field set
    body = f"pw,host=a v=1 {T0}\n{bad}\npw,host=c v=3 {T0 + SEC}\n"
    r = write_lp(srv, db, body, endpoint="v3")
    assert r.status_code == 400, r.text
    doc = r.json()
    assert isinstance(doc.get("error"), str) and doc["error"], doc
    assert len(doc["data"]) == 1, doc
    item = doc["data"][0]
    assert item["line_number"] == 2, item
    assert item["original_line"] == bad, item
    assert isinstance(item["error_message"], str) and item["error_message"], item
    # accept_partial defaults to true: the good lines were written.
    t = q(srv, db, "SELECT host, v, time FROM pw")
    assert sorted_rows(t) == [("a", 1.0, T0), ("c", 3.0, T0 + SEC)]


def test_no_partial_write_rejects_all(srv):
    db = "nopartial"
    write_ok(srv, db, f"np,host=z v=0 {T0}\n", endpoint="v3")  # the table exists
    body = f"np,host=a v=1 {T0}\nnp,host=b {T0}\nnp,host=c v=3 {T0}\n"
    r = write_lp(srv, db, body, endpoint="v3", params={"accept_partial": "false"})
    assert r.status_code == 400, r.text
    assert rows(q(srv, db, "SELECT host FROM np")) == [("z",)]


@pytest.mark.parametrize("endpoint", ["v2", "v3"])
def test_field_type_conflict(srv, endpoint):
    db = f"conflict_{endpoint}"
    table, column = f"conflict_tbl_{endpoint}", "fld_conflict"
    write_ok(srv, db, f"{table} {column}=1i {T0}\n", endpoint=endpoint)
    r = write_lp(srv, db, f"{table} {column}=1.5 {T0 + SEC}\n", endpoint=endpoint)
    assert r.status_code == 400, r.text
    assert table in r.text and column in r.text, r.text
    t = q(srv, db, f"SELECT {column}, time FROM {table}")
    assert t.schema.field(column).type == pa.int64()
    assert rows(t) == [(1, T0)]


@pytest.mark.parametrize("endpoint", ["v1", "v2", "v3"])
def test_empty_body(srv, endpoint):
    r = write_lp(srv, "empty", b"", endpoint=endpoint)
    assert r.status_code == 400, (r.status_code, r.text)


# -- dedup ---------------------------------------------------------------------------------
def test_dedup_later_write_overwrites_fields(srv):
    db = "dedup"
    write_ok(srv, db, "m,host=a f=1,g=2 100\n")
    write_ok(srv, db, "m,host=a f=3 100\n")
    t = q(srv, db, "SELECT host, f, g, time FROM m")
    assert_time_column(t)
    assert rows(t) == [("a", 3.0, 2.0, 100)]

    # Another tag set at the same time is another row.
    write_ok(srv, db, "m,host=b f=9 100\n")
    t = q(srv, db, "SELECT host, f, g, time FROM m")
    assert sorted_rows(t) == [("a", 3.0, 2.0, 100), ("b", 9.0, None, 100)]


def test_dedup_within_one_request(srv):
    db = "dedup1"
    write_ok(srv, db, "m,host=a f=1,g=2 100\nm,host=a f=3 100\nm,host=a g=5 200\n")
    t = q(srv, db, "SELECT host, f, g, time FROM m ORDER BY time")
    assert rows(t) == [("a", 3.0, 2.0, 100), ("a", None, 5.0, 200)]
