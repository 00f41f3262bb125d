"""The HTTP query API (/api/v3/query_sql) and `fletch query`, against the real binary.

Rows are written with line protocol; every answer is compared with those rows.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pyarrow.parquet as pq
import pytest
import requests

from fletch_client import HTTP_TIMEOUT, write_ok

DB = "httpq"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z
SEC = 1_000_000_000
LINES = [
    f'cpu,host=a usage=1.5,n=3i,ok=true,msg="hi, there" {T0}',
    f"cpu,host=b usage=2.25,n=4i,ok=false {T0 + SEC}",
    f"cpu,host=a usage=3.75,n=5i,ok=true {T0 + 2 * SEC + 5}",
]
ROWS = [
    {"host": "a", "usage": 1.5, "n": 3, "ok": True, "msg": "hi, there", "time": "2026-01-01T00:00:00Z"},
    {"host": "b", "usage": 2.25, "n": 4, "ok": False, "msg": None, "time": "2026-01-01T00:00:01Z"},
    {"host": "a", "usage": 3.75, "n": 5, "ok": True, "msg": None, "time": "2026-01-01T00:00:02.000000005Z"},
]
SQL = "SELECT host, usage, n, ok, msg, time FROM cpu ORDER BY time"


@pytest.fixture(scope="module")
def srv(module_server):
    s = module_server()
    write_ok(s, DB, "\n".join(LINES) + "\n")
    return s


def get(srv, **params):
    return requests.get(srv.http_url + "/api/v3/query_sql", params=params, timeout=HTTP_TIMEOUT)


def test_json_is_an_array_of_rows_in_column_order(srv):
    r = get(srv, db=DB, q=SQL)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == ROWS
    assert list(json.loads(r.text)[0]) == ["host", "usage", "n", "ok", "msg", "time"]


def test_post_json_body_with_params(srv):
    r = requests.post(srv.http_url + "/api/v3/query_sql", timeout=HTTP_TIMEOUT,
                      json={"db": DB, "q": "SELECT usage FROM cpu WHERE host = $h AND n > $n ORDER BY time",
                            "params": {"h": "a", "n": 3}})
    assert r.status_code == 200, r.text
    assert r.json() == [{"usage": 3.75}]


def test_jsonl_csv_pretty_parquet(srv):
    r = get(srv, db=DB, q=SQL, format="jsonl")
    assert [json.loads(ln) for ln in r.text.splitlines()] == ROWS
    r = get(srv, db=DB, q=SQL, format="csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["host", "usage", "n", "ok", "msg", "time"]
    assert rows[1] == ["a", "1.5", "3", "true", "hi, there", "2026-01-01T00:00:00Z"]
    assert rows[2][4] == ""  # NULL
    r = get(srv, db=DB, q=SQL, format="pretty")
    lines = r.text.splitlines()
    assert lines[1].split("|")[1].strip() == "host" and lines[3].split("|")[1].strip() == "a"
    assert len(lines) == 3 + 3 + 1
    r = get(srv, db=DB, q=SQL, format="parquet")
    t = pq.read_table(io.BytesIO(r.content))
    assert t.column("usage").to_pylist() == [1.5, 2.25, 3.75]
    assert t.schema.field("time").type.unit == "ns"


@pytest.mark.parametrize("params, status, needle", [
    ({"db": DB, "q": "SELEC 1"}, 400, "syntax error"),
    ({"db": DB, "q": "SELECT * FROM nope"}, 404, "nope"),
    ({"db": "nodb", "q": "SELECT 1"}, 404, "nodb"),
    ({"db": DB}, 400, "missing q"),
    ({"db": DB, "q": "SELECT 1", "format": "xml"}, 400, "unknown format"),
    ({"db": DB, "q": "COPY cpu TO 'x.csv'"}, 403, "this statement is COPY"),
    ({"db": DB, "q": "ATTACH 'x.db' AS x"}, 403, "ATTACH"),
])
def test_errors(srv, params, status, needle):
    r = get(srv, **params)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]


def fletch(srv, fletch_bin, *args, check=True):
    p = subprocess.run([str(fletch_bin), "query", "--host", srv.http_url, *args],
                       capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_cli_query_formats_and_ddl(srv, fletch_bin):
    out = fletch(srv, fletch_bin, "-d", DB, "--format", "json", SQL).stdout
    assert json.loads(out) == ROWS
    out = fletch(srv, fletch_bin, "-d", DB, "--format", "csv", "SELECT count(*) AS c FROM cpu").stdout
    assert out.splitlines() == ["c", "3"]
    # Schema changes go the same way: a materialized view with retention, then retention on the table.
    fletch(srv, fletch_bin, "-d", DB, "CREATE MATERIALIZED VIEW cpu_1s WITH (retention = '90d') AS "
           "SELECT date_bin(INTERVAL '1 second', time) AS time, host, max(usage) AS usage FROM cpu GROUP BY 1, 2")
    fletch(srv, fletch_bin, "-d", DB, "ALTER TABLE cpu SET (retention = '3650d')")
    out = fletch(srv, fletch_bin, "-d", DB, "--format", "jsonl", "SELECT host, usage FROM cpu_1s ORDER BY time").stdout
    assert [json.loads(ln) for ln in out.splitlines()] == [
        {"host": "a", "usage": 1.5}, {"host": "b", "usage": 2.25}, {"host": "a", "usage": 3.75}]
    out = fletch(srv, fletch_bin, "-d", DB, "--format", "json",
                 "SELECT table_name, retention_seconds FROM system.retention ORDER BY 1").stdout
    assert {r["table_name"]: r["retention_seconds"] for r in json.loads(out)} == {
        "cpu": 3650 * 86400, "cpu_1s": 90 * 86400}
    # One clear line and a non-zero exit on error.
    p = fletch(srv, fletch_bin, "-d", DB, "SELECT * FROM nope", check=False)
    assert p.returncode != 0
    assert p.stderr.startswith("fletch: ") and "nope" in p.stderr and "HTTP 404" in p.stderr
