"""Malformed line protocol over HTTP: every bad form is a 400 naming and quoting its line.

Each form (the ones InfluxDB's own parser tests reject) is posted between two good lines to
/api/v3/write_lp, with accept_partial (the default: the good lines are written) and with
accept_partial=false (nothing is), and to /api/v2/write, which writes all or nothing. The
server must answer every one and keep serving.
"""

import pytest
import requests

from fletch_client import query_influx, rows, write_lp, write_ok

T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z in ns
GOOD1 = f"good,k=a f=1 {T0}".encode()
GOOD2 = f"good,k=b f=2 {T0 + 1}".encode()
GOOD_ROWS = [("a", 1.0), ("b", 2.0)]
MAX_LINE = 1 << 20  # the server's default --max-line-bytes

# (id, line, part of the error message). Lines marked OPEN leave a string value open, so
# they run on over any later line; they are sent last.
OPEN = "open"
MALFORMED = [
    ("unterminated-string", b'm s="abc 1', "expected closing quote", OPEN),
    ("string-ending-in-escape", b'm s="abc\\" 1', "expected closing quote", OPEN),
    ("escaped-space-eats-fields", b"m\\ f=1", "no fields"),
    ("escaped-equals-in-tag-key", b"m,t\\=v f=1", "expected '=' after tag key"),
    ("escaped-space-in-tag-value", b"m,t=v\\ f=1", "syntax error"),
    ("backslash-ending-line", b"m f=1 1\\", "invalid timestamp"),
    ("utf8-measurement", b"m\xff f=1", "invalid utf-8"),
    ("utf8-tag-key", b"m,\xfe=v f=1", "invalid utf-8"),
    ("utf8-tag-value", b"m,t=\xc3\x28 f=1", "invalid utf-8"),
    ("utf8-field-key", b"m f\xff=1", "invalid utf-8"),
    ("utf8-surrogate-in-string", b'm s="\xed\xa0\x80"', "invalid utf-8"),
    ("field-without-value", b"m f= 1", "unrecognized type"),
    ("field-without-equals", b"m f 1", "want '='"),
    ("field-without-key", b"m =1 1", "start of field key"),
    ("trailing-comma", b"m f=1,", "field key"),
    ("empty-field", b"m f=1,,g=2", "start of field key"),
    ("no-fields", b"m,t=a", "no fields"),
    ("tag-without-value", b"m,t= f=1", "expected tag value"),
    ("tag-without-key", b"m,=v f=1", "syntax error"),
    ("comma-without-tag", b"m, f=1", "expected tag key"),
    ("empty-measurement", b",t=a f=1", "start of measurement"),
    ("duplicate-field-two-types", b'm f=1,f="x"', 'field "f" appears twice'),
    ("duplicate-tag", b"m,t=a,t=b f=1", 'duplicate tag "t"'),
    ("duplicate-tag-same-value", b"m,t=a,t=a f=1", 'duplicate tag "t"'),
    ("tag-and-field-same-name", b"m,f=a f=1", 'tag and field both named "f"'),
    ("float-with-i-suffix", b"m f=1.5i", 'invalid integer value "1.5"'),
    ("exponent-with-i-suffix", b"m f=1e5i", 'invalid integer value "1e5"'),
    ("float-with-u-suffix", b"m f=1.5u", 'invalid unsigned integer value "1.5"'),
    ("negative-unsigned", b"m f=-1u", 'invalid unsigned integer value "-1"'),
    ("unknown-suffix", b"m f=1x", 'invalid float value "1x"'),
    ("double-suffix", b"m f=1ii", 'invalid integer value "1i"'),
    ("plus-sign", b"m f=+1i", "unrecognized type"),
    ("boolean-with-junk", b"m f=TRUE1", 'invalid boolean value "TRUE1"'),
    ("mixed-case-boolean", b"m f=tRue", 'invalid boolean value "tRue"'),
    ("nan", b"m f=NaN", "unrecognized type"),
    ("infinity", b"m f=-Inf", 'invalid float value "-Inf"'),
    ("int-above-int64", b"m f=9223372036854775808i", "out of range"),
    ("int-below-int64", b"m f=-9223372036854775809i", "out of range"),
    ("uint-above-uint64", b"m f=18446744073709551616u", "out of range"),
    ("float-above-float64", b"m f=1e400", "out of range"),
    ("timestamp-above-int64", b"m f=1 9223372036854775808", "out of range"),
    ("timestamp-below-int64", b"m f=1 -9223372036854775809", "out of range"),
    ("timestamp-not-a-number", b"m f=1 abc", "invalid timestamp"),
    ("timestamp-fraction", b"m f=1 1.5", "invalid timestamp"),
    ("timestamp-hex", b"m f=1 0x10", "invalid timestamp"),
    ("timestamp-exponent", b"m f=1 1e9", "invalid timestamp"),
    ("trailing-garbage", b"m f=1 1 extra", "unexpected text after timestamp"),
    ("two-timestamps", b"m f=1 1 2", "unexpected text after timestamp"),
    ("nul-in-measurement", b"m\x00 f=1", "\\x00"),
    ("nul-starting-line", b"\x00 f=1", "start of measurement"),
    ("nul-in-tag-value", b"m,t=a\x00b f=1", "\\x00"),
    ("nul-in-field-key", b"m f\x00=1", "\\x00"),
    ("nul-after-number", b"m f=1\x00 1", "invalid float value"),
    ("control-char-in-name", b"m\x1b[31m f=1", "\\x1b"),
    ("time-as-tag", b"m,time=x f=1", 'tag name "time" is reserved'),
    ("time-as-field", b"m time=1", 'field name "time" is reserved'),
    ("measurement-too-long", b"m" * 257 + b" f=1", "measurement name"),
    ("line-over-max-length", b'm s="' + b"x" * MAX_LINE + b'"', "more than the limit"),
]
IDS = [c[0] for c in MALFORMED]


@pytest.fixture(scope="module")
def srv(module_server):
    return module_server()


def body_with(case) -> tuple[bytes, int]:
    """The body holding the bad line and two good ones, and the bad line's number."""
    _, line, _, *flags = case
    if OPEN in flags:
        return GOOD1 + b"\n" + GOOD2 + b"\n" + line, 3
    return GOOD1 + b"\n" + line + b"\n" + GOOD2 + b"\n", 2


def as_json_text(line: bytes) -> str:
    """What the server's JSON can hold of a line: invalid UTF-8 becomes U+FFFD."""
    return line.decode("utf-8", errors="replace")


def check_line_error(item: dict, case, number: int):
    _, line, msg, *_ = case
    assert item["line_number"] == number, item
    original = item["original_line"]
    if len(line) <= 1024:
        assert original == as_json_text(line), item
    else:  # quoted, cut to 1 KiB
        assert 0 < len(original.encode()) <= 1024 and as_json_text(line).startswith(original)
    assert msg in item["error_message"], item


def good_rows(srv, db):
    return rows(query_influx(srv, "SELECT k, f FROM good ORDER BY k", database=db))


@pytest.mark.parametrize("case", MALFORMED, ids=IDS)
def test_v3_partial_writes_the_good_lines(srv, case):
    db = "mp_" + case[0].replace("-", "_")
    body, number = body_with(case)
    r = write_lp(srv, db, body, endpoint="v3")
    assert r.status_code == 400, r.text
    doc = r.json()
    assert doc["error"], doc
    assert len(doc["data"]) == 1, doc
    check_line_error(doc["data"][0], case, number)
    assert good_rows(srv, db) == GOOD_ROWS


@pytest.mark.parametrize("case", MALFORMED, ids=IDS)
def test_v3_no_partial_writes_nothing(srv, case):
    db = "mn_" + case[0].replace("-", "_")
    write_ok(srv, db, f"good,k=z f=0 {T0}\n", endpoint="v3")
    body, number = body_with(case)
    r = write_lp(srv, db, body, endpoint="v3", params={"accept_partial": "false"})
    assert r.status_code == 400, r.text
    doc = r.json()
    assert f"line {number}:" in doc["error"] and "nothing was written" in doc["error"], doc
    check_line_error(doc["data"][0], case, number)
    assert good_rows(srv, db) == [("z", 0.0)]


@pytest.mark.parametrize("case", MALFORMED, ids=IDS)
def test_v2_writes_nothing(srv, case):
    db = "m2_" + case[0].replace("-", "_")
    write_ok(srv, db, f"good,k=z f=0 {T0}\n", endpoint="v2")
    body, number = body_with(case)
    r = write_lp(srv, db, body, endpoint="v2")
    assert r.status_code == 400, r.text
    doc = r.json()
    assert doc["code"] == "invalid", doc
    assert f"line {number}:" in doc["message"], doc
    check_line_error(doc["line_errors"][0], case, number)
    assert good_rows(srv, db) == [("z", 0.0)]


@pytest.mark.parametrize("endpoint", ["v2", "v3"])
def test_type_conflict_with_an_earlier_write(srv, endpoint):
    db = f"mc_{endpoint}"
    write_ok(srv, db, f"good,k=z f=0 {T0}\n", endpoint=endpoint)
    bad = b"good,k=c f=1i"
    r = write_lp(srv, db, GOOD1 + b"\n" + bad + b"\n" + GOOD2 + b"\n", endpoint=endpoint)
    assert r.status_code == 400, r.text
    doc = r.json()
    item = (doc["data"] if endpoint == "v3" else doc["line_errors"])[0]
    check_line_error(item, ("conflict", bad, 'column "f" is float64 (float) in the catalog'), 2)
    want = [("a", 1.0), ("b", 2.0), ("z", 0.0)] if endpoint == "v3" else [("z", 0.0)]
    assert good_rows(srv, db) == want


@pytest.mark.parametrize("endpoint", ["v2", "v3"])
def test_duplicate_field_last_value_wins(srv, endpoint):
    """As in InfluxDB: a field named twice with one type keeps the last value."""
    db = f"md_{endpoint}"
    write_ok(srv, db, f'dup,k=a f=1,s="x",f=3,s="y" {T0}\n', endpoint=endpoint)
    t = query_influx(srv, "SELECT k, f, s FROM dup", database=db)
    assert rows(t) == [("a", 3.0, "y")]


def test_every_line_bad_at_once(srv):
    """All the forms in one body: one error per line, in order, and the server lives on."""
    plain = [c for c in MALFORMED if OPEN not in c[3:]]
    body = b"\n".join(c[1] for c in plain) + b"\n" + GOOD1 + b"\n"
    r = write_lp(srv, "mall", body, endpoint="v3")
    assert r.status_code == 400, r.text
    data = r.json()["data"]
    assert [d["line_number"] for d in data] == list(range(1, len(plain) + 1)), data
    for item, case in zip(data, plain):
        check_line_error(item, case, item["line_number"])
    assert good_rows(srv, "mall") == [("a", 1.0)]
    assert requests.get(srv.http_url + "/health", timeout=10).status_code == 200
