"""Where a TSBS query's time goes in Fletch: a diagnostic, not part of `make bench`.

    FLETCH_BIN=bin/fletch python3 bench/explain_queries.py

Loads the TSBS day over HTTP line protocol, restarts Fletch (so the day is one Parquet
file), then for each query of bench/tsbs_queries.py prints the median of 5 runs of:

  adbc      the query through Flight SQL (ADBC: GetFlightInfo, then DoGet)
  doget     the query through one Flight DoGet (InfluxDB 3 JSON ticket)
  explain   DuckDB's "Total Time" from EXPLAIN ANALYZE run through Fletch
  file      the Fletch SQL run by DuckDB in this process directly on Fletch's Parquet file
  rg122k    the same, on that file rewritten unchanged but in 122,880-row row groups
  floor     the floor: DuckDB on the (hostname, time)-sorted ZSTD file, as bench/run.py

adbc - doget is the cost of the second RPC; doget - file is Fletch's own per-query work
(parsing, scope check, pruning, binding) plus Arrow over gRPC; file - rg122k is what the
Parquet layout costs. Writes EXPLAIN ANALYZE plans to --plans DIR when given.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))
sys.path.insert(0, str(HERE))

import duckdb  # noqa: E402

import tsbs_data  # noqa: E402
import tsbs_queries  # noqa: E402
from fletch_client import query_influx  # noqa: E402
from fletch_side import Fletch, adbc_query  # noqa: E402

warnings.filterwarnings("ignore", message="Cannot disable autocommit")
DB = "tsbs"
# Fletch's date_bin (query/functions.go), so its SQL runs unchanged in plain DuckDB.
DATE_BIN = """CREATE MACRO date_bin(stride, ts) AS make_timestamp_ns(epoch_ns(ts::TIMESTAMP_NS)
  - (((epoch_ns(ts::TIMESTAMP_NS) % epoch_ns(TIMESTAMP_NS '1970-01-01' + stride))
      + epoch_ns(TIMESTAMP_NS '1970-01-01' + stride)) % epoch_ns(TIMESTAMP_NS '1970-01-01' + stride)))"""


def median_ms(fn, runs: int = 5) -> float:
    fn()  # warm-up
    xs = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t0)
    return statistics.median(xs) * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plans", help="directory for each query's EXPLAIN ANALYZE text")
    args = ap.parse_args(argv)
    data = tsbs_data.load()
    work = Path(tempfile.mkdtemp(prefix="fletch-explain-"))
    try:
        f = Fletch(work, "explain")
        f.write_lp_parallel(DB, data.bodies, 4)
        f.restart()
        files = sorted(str(p) for p in (f.srv.data_dir / DB / "cpu").rglob("*.parquet"))
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(DATE_BIN)
        rg = work / "rg122k.parquet"
        con.execute(f"COPY (SELECT * FROM read_parquet({files!r})) TO '{rg}' "
                    "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)")
        floor = work / "floor.parquet"
        tsbs_data.write_floor_parquet(con, data.table, floor)
        conn = f.connect(DB)
        groups = [con.execute(f"SELECT count(DISTINCT row_group_id) FROM parquet_metadata('{p}')").fetchall()[0][0]
                  for p in files]
        print(f"Fletch's Parquet: {len(files)} file(s) with {groups} row group(s)")
        print(f"{'query':24s} {'adbc':>7s} {'doget':>7s} {'explain':>8s} {'file':>7s} {'rg122k':>7s} {'floor':>7s}  (ms)")
        for q in tsbs_queries.queries():
            row = [median_ms(lambda: adbc_query(conn, q.fletch)),
                   median_ms(lambda: query_influx(f.srv, q.fletch, DB))]
            plan = adbc_query(conn, "EXPLAIN ANALYZE " + q.fletch)
            text = plan.column(plan.num_columns - 1)[0].as_py()
            m = re.search(r"Total Time: ([0-9.]+)s", text)
            row.append(float(m.group(1)) * 1000 if m else float("nan"))
            if args.plans:
                Path(args.plans).mkdir(parents=True, exist_ok=True)
                (Path(args.plans) / f"{q.name}.txt").write_text(text)
            for path, sql in ((files, q.fletch), ([str(rg)], q.fletch), ([str(floor)], q.duckdb)):
                con.execute(f"CREATE OR REPLACE VIEW cpu AS SELECT * FROM read_parquet({path!r})")
                row.append(median_ms(lambda: con.sql(sql).to_arrow_table()))
            print(f"{q.name:24s} " + " ".join(f"{x:7.1f}" for x in row[:2]) + f" {row[2]:8.1f} "
                  + " ".join(f"{x:7.1f}" for x in row[3:]))
        print(f"{'SELECT 1':24s} {median_ms(lambda: adbc_query(conn, 'SELECT 1')):7.1f} "
              f"{median_ms(lambda: query_influx(f.srv, 'SELECT 1', DB)):7.1f}")
        conn.close()
    finally:
        Fletch.close_all()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
