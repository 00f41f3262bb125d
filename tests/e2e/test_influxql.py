"""InfluxQL and the InfluxDB 1.x query API against the real binary, through the clients that
speak it: the `influxdb` 5.3.2 Python client, aioinflux (JSON and DataFrame output), and the
requests Grafana's InfluxDB datasource sends in InfluxQL mode. Answers are compared with
DuckDB run directly on the rows written (the oracle), bucket by bucket.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import random
import time

import duckdb
import pyarrow as pa
import pytest
import requests

from fletch_client import HTTP_TIMEOUT, write_ok

DB = "iql"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z
SEC = 1_000_000_000
MIN = 60 * SEC
HOSTS = {"a": "us", "b": "us", "c": "eu"}
STEP = 10 * SEC
STEPS = 360  # one hour
GAP = range(120, 150)  # host b sends nothing for 5 minutes: buckets 20..24 are empty


def data():
    """Line protocol (shuffled) and the rows {(host, region, ns): (v, n)} it leaves."""
    rng = random.Random(5)
    rows, lines = {}, []
    for k in range(STEPS):
        for h, region in HOSTS.items():
            if h == "b" and k in GAP:
                continue
            ts = T0 + k * STEP
            v, n = round(rng.uniform(0, 100), 4), rng.randrange(-50, 1000)
            rows[(h, region, ts)] = (v, n)
            lines.append(f"cpu,host={h},region={region} v={v},n={n}i {ts}")
    rng.shuffle(lines)
    return "\n".join(lines) + "\n", rows


@pytest.fixture(scope="module")
def env(module_server):
    srv = module_server()
    body, rows = data()
    write_ok(srv, DB, body)
    write_ok(srv, DB, f"mem,host=a free=10i {T0}\nmem,host=b free=20i {T0 + MIN}\n")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    keys = sorted(rows)
    con.register("cpu", pa.table({
        "host": [k[0] for k in keys], "region": [k[1] for k in keys], "t": [k[2] for k in keys],
        "v": [rows[k][0] for k in keys], "n": [rows[k][1] for k in keys]}))
    return srv, con


def v1(srv, q, **params):
    r = requests.get(srv.http_url + "/query", params={"db": DB, "q": q, **params}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def close(a, b):
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# -- the influxdb 5.3.2 client ----------------------------------------------------------------
def test_influxdb_python_client(env):
    from influxdb import InfluxDBClient

    srv, con = env
    c = InfluxDBClient("127.0.0.1", srv.port, database=DB)
    assert c.ping() == "1.8.10"  # X-Influxdb-Version, on the 204 this client expects
    c.create_database("iql_made")
    assert {"name": "iql_made"} in c.get_list_database()
    assert c.get_list_measurements() == [{"name": "cpu"}, {"name": "mem"}]
    rs = c.query("SELECT mean(v) AS m, count(n) AS c FROM cpu "
                 f"WHERE time >= {T0}ns AND time < {T0 + 60 * MIN}ns GROUP BY time(10m), host",
                 epoch="ns")
    want = con.sql(f"SELECT host, (t - {T0}) // {10 * MIN} AS b, avg(v), count(n) FROM cpu "
                   "GROUP BY ALL ORDER BY ALL").fetchall()
    got = []
    for (_, tags), points in rs.items():
        for p in points:
            got.append((tags["host"], (p["time"] - T0) // (10 * MIN), p["m"], p["c"]))
    assert len(got) == len(want) == 18
    for g, w in zip(sorted(got), want):
        assert g[:2] == w[:2] and close(g[2], w[2]) and g[3] == w[3], (g, w)


# -- aioinflux --------------------------------------------------------------------------------
def test_aioinflux_json_and_dataframe(env):
    from aioinflux import InfluxDBClient

    srv, con = env

    async def go():
        async with InfluxDBClient(host="127.0.0.1", port=srv.port, db=DB) as c:
            j = await c.query("SELECT v, n FROM cpu WHERE host = 'c' AND time < '2026-01-01T00:01:00Z'")
        async with InfluxDBClient(host="127.0.0.1", port=srv.port, db=DB, output="dataframe") as c:
            df = await c.query("SELECT max(v) FROM cpu GROUP BY host")
        return j, df

    j, df = asyncio.run(go())
    series = j["results"][0]["series"][0]
    assert series["columns"] == ["time", "v", "n"]
    want = con.sql(f"SELECT t, v, n FROM cpu WHERE host = 'c' AND t < {T0 + MIN} ORDER BY t").fetchall()
    assert [tuple(r) for r in series["values"]] == want  # aioinflux asks for epoch ns
    # DataFrame output: one frame per series, keyed "cpu,host=a" (aioinflux's own naming).
    want = dict(con.sql("SELECT host, max(v) FROM cpu GROUP BY host").fetchall())
    assert {k.split("host=")[1]: float(v["max"].iloc[0]) for k, v in df.items()} == want


# -- Grafana's InfluxDB datasource (InfluxQL mode) ---------------------------------------------
def test_grafana_editor_and_panel_requests(env):
    srv, con = env
    # The query editor's lookups (Grafana sends these with epoch=ms).
    res = v1(srv, "SHOW MEASUREMENTS LIMIT 100", epoch="ms")
    assert res["results"][0]["series"][0]["values"] == [["cpu"], ["mem"]]
    res = v1(srv, 'SHOW TAG KEYS FROM "cpu"', epoch="ms")
    assert res["results"][0]["series"][0]["values"] == [["host"], ["region"]]
    res = v1(srv, 'SHOW TAG VALUES FROM "cpu" WITH KEY = "host" WHERE "region" =~ /^us$/', epoch="ms")
    assert res["results"][0]["series"][0]["values"] == [["host", "a"], ["host", "b"]]
    res = v1(srv, 'SHOW FIELD KEYS FROM "cpu"', epoch="ms")
    assert res["results"][0]["series"][0]["values"] == [["n", "integer"], ["v", "float"]]
    # A panel: $__interval = 1m, $timeFilter in epoch ms, fill(null): empty buckets are null.
    start, end = T0 // 1_000_000, (T0 + 60 * MIN) // 1_000_000 - 1
    q = (f'SELECT mean("v") FROM "cpu" WHERE ("host" =~ /^b$/) AND time >= {start}ms and '
         f'time <= {end}ms GROUP BY time(1m) fill(null)')
    res = v1(srv, q, epoch="ms")
    s = res["results"][0]["series"][0]
    assert s["name"] == "cpu" and s["columns"] == ["time", "mean"]
    assert len(s["values"]) == 60
    want = dict(con.sql(f"SELECT (t - {T0}) // {MIN}, avg(v) FROM cpu WHERE host = 'b' GROUP BY 1").fetchall())
    for i, (t, mean) in enumerate(s["values"]):
        assert t == start + i * 60_000
        assert close(mean, want.get(i)), (i, mean, want.get(i))
    assert [m for _, m in s["values"][20:25]] == [None] * 5  # the gap


# -- fill(), GROUP BY, selectors, LIMIT/SLIMIT ---------------------------------------------------
@pytest.mark.parametrize("fill,expect", [
    ("none", lambda vals, w: vals == [w[i] for i in sorted(w)]),
    ("previous", lambda vals, w: vals[20:25] == [w[19]] * 5),
    ("-1", lambda vals, w: vals[20:25] == [-1] * 5),
    # Integers stay integers, truncated: InfluxDB's int64(m·x + b).
    ("linear", lambda vals, w: vals[20:25] == [int((w[25] - w[19]) / 6 * (k + 1) + w[19]) for k in range(5)]),
])
def test_fill(env, fill, expect):
    srv, con = env
    res = v1(srv, f"SELECT max(n) FROM cpu WHERE host = 'b' AND time >= '2026-01-01T00:00:00Z' "
                  f"AND time < '2026-01-01T01:00:00Z' GROUP BY time(1m) fill({fill})")
    vals = [r[1] for r in res["results"][0]["series"][0]["values"]]
    w = dict(con.sql(f"SELECT (t - {T0}) // {MIN}, max(n) FROM cpu WHERE host = 'b' GROUP BY 1").fetchall())
    assert expect(vals, w), vals


def test_selectors_limits_and_order(env):
    srv, con = env
    res = v1(srv, "SELECT last(v) FROM cpu GROUP BY host", epoch="ns")
    got = {s["tags"]["host"]: tuple(s["values"][0]) for s in res["results"][0]["series"]}
    want = {h: (t, v) for h, t, v in con.sql("SELECT host, max(t), arg_max(v, t) FROM cpu GROUP BY host").fetchall()}
    assert got == want  # a lone selector reports its point's time
    res = v1(srv, "SELECT LAST(v) FROM cpu GROUP BY host", epoch="ns")  # function names in any case
    assert {s["tags"]["host"]: tuple(s["values"][0]) for s in res["results"][0]["series"]} == want
    res = v1(srv, "SELECT v FROM cpu GROUP BY host ORDER BY time DESC LIMIT 2 SLIMIT 2 SOFFSET 1", epoch="ns")
    series = res["results"][0]["series"]
    assert [s["tags"]["host"] for s in series] == ["b", "c"]
    for s in series:
        want = con.sql(f"SELECT t, v FROM cpu WHERE host = '{s['tags']['host']}' ORDER BY t DESC LIMIT 2").fetchall()
        assert [tuple(r) for r in s["values"]] == want
    res = v1(srv, "SELECT percentile(n, 90), spread(n), median(v) FROM cpu WHERE region = 'eu'")
    p90, spread, median = res["results"][0]["series"][0]["values"][0][1:]
    ns = sorted(r[0] for r in con.sql("SELECT n FROM cpu WHERE region = 'eu'").fetchall())
    assert p90 == ns[int(math.floor(len(ns) * 0.9 + 0.5)) - 1]  # InfluxDB's nearest rank
    assert spread == ns[-1] - ns[0]
    assert close(median, con.sql("SELECT median(v) FROM cpu WHERE region = 'eu'").fetchall()[0][0])


# -- transformations -------------------------------------------------------------------------------
def test_transformations(env):
    srv, con = env
    window = "time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T01:00:00Z'"
    # Grafana's counter panel: non_negative_derivative of per-minute maxima, per second.
    res = v1(srv, f"SELECT non_negative_derivative(max(n), 1s) AS rate FROM cpu WHERE host = 'b' AND {window} "
                  "GROUP BY time(1m)", epoch="ns")
    got = [tuple(r) for r in res["results"][0]["series"][0]["values"]]
    pts = con.sql(f"SELECT {T0} + (t - {T0}) // {MIN} * {MIN} AS b, max(n) FROM cpu WHERE host = 'b' "
                  "GROUP BY 1 ORDER BY 1").fetchall()
    want = []
    for (t0, v0), (t1, v1_) in zip(pts, pts[1:]):  # the gap's buckets are null: skipped
        d = (v1_ - v0) / ((t1 - t0) / SEC)
        if d >= 0:
            want.append((t1, d))
    assert len(got) == len(want) and all(g[0] == w[0] and close(g[1], w[1]) for g, w in zip(got, want))
    # Raw: difference keeps integers; cumulative_sum; moving_average over 3 points.
    q = (f"SELECT difference(n), cumulative_sum(n), moving_average(v, 3) FROM cpu WHERE host = 'c' "
         f"AND time < '2026-01-01T00:02:00Z'")
    res = v1(srv, q, epoch="ns")
    s = res["results"][0]["series"][0]
    assert s["columns"] == ["time", "difference", "cumulative_sum", "moving_average"]
    raw = con.sql(f"SELECT t, n, v FROM cpu WHERE host = 'c' AND t < {T0 + 2 * MIN} ORDER BY t").fetchall()
    want, acc = [], 0
    for i, (t, n, v) in enumerate(raw):
        acc += n
        diff = n - raw[i - 1][1] if i else None
        ma = sum(r[2] for r in raw[i - 2:i + 1]) / 3 if i >= 2 else None
        want.append((t, diff, acc, ma))
    got = [tuple(r) for r in s["values"]]
    assert [g[:3] for g in got] == [w[:3] for w in want]
    assert all(close(g[3], w[3]) for g, w in zip(got, want))
    # Invalid combinations are named.
    res = v1(srv, "SELECT derivative(mean(v)) FROM cpu")
    assert "GROUP BY time" in res["results"][0]["error"]
    res = v1(srv, "SELECT derivative(mean(v)) * 2 FROM cpu GROUP BY time(1m)")
    assert "whole field" in res["results"][0]["error"]


def test_subqueries(env):
    srv, con = env
    # The mean over hosts of each host's per-minute maximum, per 10 minutes.
    res = v1(srv, "SELECT mean(m) FROM (SELECT max(v) AS m FROM cpu WHERE time >= '2026-01-01T00:00:00Z' "
                  "AND time < '2026-01-01T01:00:00Z' GROUP BY time(1m), host) GROUP BY time(10m)", epoch="ns")
    got = [tuple(r) for r in res["results"][0]["series"][0]["values"]]
    want = con.sql(f"SELECT {T0} + b // 10 * {10 * MIN}, avg(m) FROM (SELECT (t - {T0}) // {MIN} AS b, host, "
                   f"max(v) AS m FROM cpu GROUP BY ALL) GROUP BY b // 10 ORDER BY 1").fetchall()
    assert len(got) == len(want) == 6
    assert all(g[0] == w[0] and close(g[1], w[1]) for g, w in zip(got, want)), (got, want)
    # The outer time range reaches an inner query that has none; GROUP BY a tag of the inner.
    res = v1(srv, "SELECT sum(m) FROM (SELECT max(n) AS m FROM cpu GROUP BY time(10m), host) "
                  "WHERE time >= '2026-01-01T00:20:00Z' AND time < '2026-01-01T00:40:00Z' GROUP BY host")
    got = {s["tags"]["host"]: s["values"][0][1] for s in res["results"][0]["series"]}
    want = dict(con.sql(f"SELECT host, sum(m)::BIGINT FROM (SELECT host, (t - {T0}) // {10 * MIN} AS b, max(n) AS m "
                        f"FROM cpu WHERE t >= {T0 + 20 * MIN} AND t < {T0 + 40 * MIN} GROUP BY ALL) GROUP BY host").fetchall())
    assert got == want
    res = v1(srv, "SELECT mean(m) FROM (SELECT max(v) AS m FROM cpu GROUP BY time(1m) fill(0))")
    assert "not supported" in res["results"][0]["error"] and "fill" in res["results"][0]["error"]


# -- the wire: several statements, errors, CSV, chunks, POST, v3 ------------------------------------
def test_statements_errors_and_formats(env):
    srv, _ = env
    res = v1(srv, "SELECT count(v) FROM cpu; SELECT nope(v) FROM cpu; SELECT count(free) FROM mem")
    r0, r1, r2 = res["results"]
    assert r0["statement_id"] == 0 and r0["series"][0]["values"][0][1] == STEPS * 3 - len(GAP)
    assert r1["statement_id"] == 1 and "nope" in r1["error"]
    assert r2["series"][0]["values"][0][1] == 2
    # Bad InfluxQL: 400 with the parser's message and position.
    r = requests.get(srv.http_url + "/query", params={"db": DB, "q": "SELECT FROM cpu"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 400 and "error parsing query" in r.json()["error"] and "char" in r.json()["error"]
    r = requests.get(srv.http_url + "/query", params={"db": DB}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 400 and "q" in r.json()["error"]
    # Unsupported: a clear error in the result, never a 404/500.
    res = v1(srv, "SELECT top(v, 3) FROM cpu")
    assert "top" in res["results"][0]["error"] and "not supported" in res["results"][0]["error"]
    # CSV (Accept: application/csv): name,tags,time,columns.
    r = requests.get(srv.http_url + "/query", params={"db": DB, "q": "SELECT free FROM mem GROUP BY host"},
                     headers={"Accept": "application/csv"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    got = list(csv.reader(io.StringIO(r.text)))
    assert got == [["name", "tags", "time", "free"], ["mem", "host=a", str(T0), "10"],
                   ["mem", "host=b", str(T0 + MIN), "20"]]
    # POST form body, chunked: one JSON object per line, partial until the last chunk.
    r = requests.post(srv.http_url + "/query", data={"db": DB, "q": "SELECT v FROM cpu WHERE host = 'a'",
                                                     "chunked": "true", "chunk_size": "100"}, timeout=HTTP_TIMEOUT)
    parts = [json.loads(line) for line in r.text.splitlines()]
    assert len(parts) == 4 and all(p["results"][0].get("partial") for p in parts[:3])
    assert "partial" not in parts[3]["results"][0]
    assert sum(len(p["results"][0]["series"][0]["values"]) for p in parts) == STEPS
    # /api/v3/query_influxql: the v3 formats, one row per point.
    r = requests.get(srv.http_url + "/api/v3/query_influxql",
                     params={"db": DB, "q": "SELECT free FROM mem", "format": "json"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert r.json() == [{"iox::measurement": "mem", "time": "2026-01-01T00:00:00Z", "free": 10},
                        {"iox::measurement": "mem", "time": "2026-01-01T00:01:00Z", "free": 20}]
    r = requests.get(srv.http_url + "/api/v3/query_influxql", params={"db": DB, "q": "SELEC"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 400 and "error parsing query" in r.json()["error"]


def test_materialized_view_is_a_measurement(env):
    srv, con = env
    r = requests.post(srv.http_url + "/api/v3/query_sql", json={"db": DB, "q": (
        "CREATE MATERIALIZED VIEW cpu_10m AS SELECT date_bin(INTERVAL '10 minutes', time) AS time, "
        "host, max(v) AS v FROM cpu GROUP BY 1, 2")}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    want = con.sql(f"SELECT {T0} + (t - {T0}) // {10 * MIN} * {10 * MIN}, max(v) FROM cpu WHERE host = 'c' "
                   "GROUP BY 1 ORDER BY 1").fetchall()
    got = None
    for _ in range(100):  # the materializer catches up within a few seconds
        res = v1(srv, "SELECT v FROM cpu_10m WHERE host = 'c'", epoch="ns")
        series = res["results"][0].get("series")
        got = [tuple(x) for x in series[0]["values"]] if series else []
        if len(got) == len(want):
            break
        time.sleep(0.2)
    assert got == want
    names = [v[0] for v in v1(srv, "SHOW MEASUREMENTS")["results"][0]["series"][0]["values"]]
    assert "cpu_10m" in names


def test_ping_headers(env):
    srv, _ = env
    r = requests.get(srv.http_url + "/ping", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and "version" in r.json()  # InfluxDB 3's answer
    assert r.headers["X-Influxdb-Version"] == "1.8.10" and r.headers["X-Influxdb-Build"]
    r = requests.head(srv.http_url + "/ping", timeout=HTTP_TIMEOUT)
    assert r.status_code == 204 and r.headers["X-Influxdb-Version"] == "1.8.10"


def test_influxql_reaches_only_tables(env):
    srv, _ = env
    for q in ['SELECT * FROM "read_parquet(\'/etc/passwd\')"', 'SELECT * FROM "_fletch"."g1"',
              'SELECT * FROM "system"."autogen"."queries"']:
        res = v1(srv, q)
        r = res["results"][0]
        assert "series" not in r, (q, r)
