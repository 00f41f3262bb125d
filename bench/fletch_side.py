"""The Fletch side of the benchmark: fresh servers, line-protocol and DoPut ingest, Flight
SQL queries, DoGet. Everything goes through the real binary and stock clients (requests,
pyarrow.flight, the ADBC Flight SQL driver), via the e2e helpers in tests/e2e.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import requests

from fletch_client import QUERY_TIMEOUT, adbc_connect, write_lp
from fletch_server import FletchServer, fletch_binary


class Fletch:
    """A Fletch server on its own temporary data directory, removed on close().
    Fletch.close_all() closes every one still open (for a run that is cut short)."""

    _open: list["Fletch"] = []

    def __init__(self, work: Path, name: str):
        self.dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work))
        self.srv = FletchServer(fletch_binary(), self.dir / "data", self.dir / "fletch.log")
        Fletch._open.append(self)
        self.srv.start()

    @classmethod
    def close_all(cls) -> None:
        for f in list(cls._open):
            f.close()

    def stop(self) -> float:
        """Graceful stop (SIGTERM persists every buffer to Parquet); returns its seconds."""
        t0 = time.perf_counter()
        rc = self.srv.stop()
        if rc != 0:
            raise RuntimeError(f"fletch exited with {rc} after SIGTERM:\n{self.srv.log_tail(40)}")
        return time.perf_counter() - t0

    def restart(self, args=None) -> None:
        """Graceful stop, then start on the same data dir (with new server args if given)."""
        if self.srv.running():
            self.stop()
        self.srv.start(args=args)

    def wait_hot_tier(self, timeout: float = 120.0) -> float:
        """Wait until every live Parquet file has its hot tier copy (the loader fills the tier
        in the background after a start); returns the seconds waited. Raises if the tier is
        still short at the timeout (a cap too small for the data, say)."""
        t0 = time.perf_counter()
        files = hot = -1.0
        while time.perf_counter() - t0 < timeout:
            text = requests.get(self.srv.http_url + "/metrics", timeout=10).text
            files = _metric_sum(text, "fletch_parquet_files")
            hot = _metric_sum(text, "fletch_hot_tier_files")
            if files > 0 and hot >= files:
                return time.perf_counter() - t0
            time.sleep(0.2)
        raise RuntimeError(f"hot tier holds {hot:.0f} of {files:.0f} files after {timeout:.0f} s")

    def close(self) -> None:
        self.srv.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in Fletch._open:
            Fletch._open.remove(self)

    def parquet_bytes(self) -> tuple[int, int]:
        """(bytes, files) of the Parquet files under the data directory."""
        files = list(self.srv.data_dir.rglob("*.parquet"))
        return sum(f.stat().st_size for f in files), len(files)

    def dir_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.srv.data_dir.rglob("*") if f.is_file())

    # -- ingest ---------------------------------------------------------------------------
    def write_lp_parallel(self, db: str, bodies: list[bytes], writers: int) -> float:
        """POST every body to /api/v2/write?precision=ns from `writers` threads, each with
        its own keep-alive session; returns the seconds until the last 204 (each 204 means
        the body is fsynced in the WAL)."""
        return send_parallel(bodies, writers, lambda body, s: _ok(write_lp(self.srv, db, body, session=s)))

    def do_put(self, db: str, table: str, tbl: pa.Table, batch_rows: int) -> float:
        """One DoPut stream to path [db, table] with the table in batch_rows batches;
        returns the seconds until the server's PutResult (every batch durable)."""
        client = flight.FlightClient(self.srv.grpc_url)
        try:
            t0 = time.perf_counter()
            desc = flight.FlightDescriptor.for_path(db, table)
            writer, reader = client.do_put(desc, tbl.schema, options=_opts())
            for b in tbl.to_batches(max_chunksize=batch_rows):
                writer.write_batch(b)
            writer.done_writing()
            meta = reader.read()
            writer.close()
            dt = time.perf_counter() - t0
        finally:
            client.close()
        got = json.loads(meta.to_pybytes())["rows"] if meta is not None else None
        if got != tbl.num_rows:
            raise RuntimeError(f"DoPut acknowledged {got} rows of {tbl.num_rows}")
        return dt

    # -- queries --------------------------------------------------------------------------
    def connect(self, db: str):
        return adbc_connect(self.srv, db)

    def do_get(self, db: str, sql: str) -> tuple[float, pa.Table]:
        """DoGet with the InfluxDB 3 JSON ticket; returns (seconds, table) where the time
        runs from the call to the last batch read."""
        client = flight.FlightClient(self.srv.grpc_url)
        try:
            ticket = flight.Ticket(json.dumps({"database": db, "sql_query": sql, "query_type": "sql"}).encode())
            t0 = time.perf_counter()
            tbl = client.do_get(ticket, options=_opts()).read_all()
            return time.perf_counter() - t0, tbl
        finally:
            client.close()


def adbc_query(conn, sql: str) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table()


def _metric_sum(text: str, name: str) -> float:
    """The sum of every sample of a Prometheus metric (all label sets)."""
    total = 0.0
    for ln in text.splitlines():
        if ln.startswith(name + " ") or ln.startswith(name + "{"):
            total += float(ln.rsplit(" ", 1)[1])
    return total


def send_parallel(bodies: list[bytes], writers: int, send) -> float:
    """Call send(body, session) for every body from `writers` threads, each thread with its
    own requests.Session; returns the wall seconds for all of them."""
    local = threading.local()

    def one(body):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        send(body, local.s)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(writers) as ex:
        list(ex.map(one, bodies))
    return time.perf_counter() - t0


def _ok(r: requests.Response) -> None:
    if r.status_code != 204:
        raise RuntimeError(f"write answered {r.status_code}: {r.text[:500]}")


def _opts() -> flight.FlightCallOptions:
    return flight.FlightCallOptions(timeout=QUERY_TIMEOUT)
