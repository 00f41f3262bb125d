"""The Python examples in clients/python, run as a user runs them: as programs against a
real server (auth on, the admin token passed with --token), with --json output compared
with answers DuckDB computes directly on the data the examples write.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from fletch_server import REPO

EXAMPLES = REPO / "clients" / "python"
sys.path.insert(0, str(EXAMPLES))
from machine_data import machine_table  # noqa: E402

from fletch_client import series_colors  # noqa: E402

MINUTES = 5
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REL = 1e-9  # averages: the server may sum in another order
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def iso_ns(s: str) -> int:
    """Nanoseconds since the epoch of an ISO 8601 time with an offset (µs precision)."""
    return (datetime.fromisoformat(s) - EPOCH) // timedelta(microseconds=1) * 1000


@pytest.fixture(scope="module")
def srv(module_server):
    return module_server(auth=True)


@pytest.fixture(scope="module")
def oracle():
    """DuckDB over the very table the examples generate (no server involved); time is
    int64 nanoseconds there, so no time zone handling stands between oracle and data."""
    con = duckdb.connect()
    data = machine_table(MINUTES)
    data = data.set_column(0, "time", data.column("time").cast("int64"))
    data = data.set_column(1, "machine_id", data.column("machine_id").cast("string"))
    con.register("machine_data", data)
    return con


def run_example(srv, script: str, database: str, *extra: str) -> dict:
    cmd = [sys.executable, str(EXAMPLES / script), "--host", f"127.0.0.1:{srv.port}",
           "--token", srv.admin_token, "--database", database, "--minutes", str(MINUTES),
           "--json", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=EXAMPLES)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)


def assert_rows_close(got: list[dict], want: list[dict]):
    assert [sorted(r) for r in got] == [sorted(r) for r in want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        for k, v in w.items():
            if isinstance(v, float):
                assert g[k] == pytest.approx(v, rel=REL), (k, g, w)
            else:
                assert g[k] == v, (k, g, w)


def records(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def test_pyarrow_flight(srv, oracle):
    out = run_example(srv, "pyarrow_flight.py", "pyflight")
    n = MINUTES * 60 * 4 * 3
    assert out["written"] == n
    want = records(oracle, """
        SELECT machine_id, count(*) AS readings, avg(temperature) AS avg_temperature,
               max(load) AS max_load, min(time) AS first, max(time) AS last
        FROM machine_data GROUP BY machine_id ORDER BY machine_id""")
    for r in out["summary"]:
        r["first"], r["last"] = iso_ns(r["first"]), iso_ns(r["last"])
    assert_rows_close(out["summary"], want)

    # A second run writes the same series and times again: they replace, not add.
    again = run_example(srv, "pyarrow_flight.py", "pyflight")
    assert [r["readings"] for r in again["summary"]] == [w["readings"] for w in want]


def test_adbc_pandas_polars(srv, oracle):
    out = run_example(srv, "adbc_pandas_polars.py", "adbc")
    assert out["written"] == MINUTES * 60 * 4 * 3
    assert_rows_close(out["pandas"], records(oracle, """
        SELECT machine_id, avg(temperature) AS avg_temperature, avg(power) AS avg_power,
               count(*) AS readings
        FROM machine_data WHERE load >= 50.0 GROUP BY machine_id ORDER BY machine_id"""))
    assert_rows_close(out["polars"], records(oracle, """
        SELECT machine_id, max(vibration) AS max_vibration, count(*) AS readings
        FROM machine_data GROUP BY machine_id ORDER BY machine_id"""))


# The README's view (the plot script only reads it).
MACHINE_1M = """CREATE MATERIALIZED VIEW machine_1m AS
  SELECT date_bin(INTERVAL '1 minute', time) AS time, machine_id,
         avg(temperature) AS temperature, max(load) AS load_max
  FROM machine_data GROUP BY 1, 2"""


def test_plot_downsampled(srv, oracle, tmp_path):
    """The plot script draws the view the README creates, read-only: one line per
    machine over the view's time range, and the points are the view's rows."""
    import pyarrow.flight as flight
    import requests

    db = "plots"
    client = flight.FlightClient(srv.grpc_url)
    headers = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {srv.admin_token}".encode())])
    table = machine_table(MINUTES)
    writer, _ = client.do_put(flight.FlightDescriptor.for_path(db, "machine_data"), table.schema, options=headers)
    writer.write_table(table)
    writer.close()
    client.close()
    r = requests.post(srv.http_url + "/api/v3/query_sql", json={"db": db, "q": MACHINE_1M},
                      headers={"Authorization": f"Bearer {srv.admin_token}"}, timeout=60)
    assert r.status_code == 200, r.text

    png = tmp_path / "machine_1m.png"
    cmd = [sys.executable, str(EXAMPLES / "plot_downsampled.py"), "--host", f"127.0.0.1:{srv.port}",
           "--token", srv.admin_token, "--database", db, "--view", "machine_1m", "--json", str(png)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    out = json.loads(proc.stdout)

    want = records(oracle, """
        SELECT time // 60000000000 * 60000000000 AS time, machine_id AS series,
               avg(temperature) AS value
        FROM machine_data GROUP BY 1, 2 ORDER BY series, time""")
    assert len(want) == MINUTES * 3
    assert out["series"] == ["machine-1", "machine-2", "machine-3"]
    assert [iso_ns(t) for t in out["x_range"]] == [min(w["time"] for w in want), max(w["time"] for w in want)]
    for b in out["points"]:
        b["time"] = iso_ns(b["time"])
    assert_rows_close(out["points"], want)

    # What a reader sees: a PNG of the figure's size with exactly three series drawn.
    head = png.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC, f"{png} is not a PNG: {head!r}"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert (width, height) == (1000, 450), (width, height)  # figsize 10x4.5 at 100 dpi
    assert series_colors(png, 6) == 3
    # Read-only: the table holds exactly what was written, and no other view appeared.
    r = requests.post(srv.http_url + "/api/v3/query_sql",
                      json={"db": db, "q": "SELECT (SELECT count(*) FROM machine_data) AS n, "
                                           "(SELECT count(*) FROM system.views WHERE database = 'plots') AS views"},
                      headers={"Authorization": f"Bearer {srv.admin_token}"}, timeout=60)
    assert r.json() == [{"n": table.num_rows, "views": 0}], r.text
