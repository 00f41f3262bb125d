#!/usr/bin/env python3
"""Load a TSBS line-protocol file into Fletch: by default the cpu-only day that
scripts/tsbs_generate.py makes (or $FLETCH_TSBS_DIR's, if you have the real TSBS files).

    scripts/tsbs_load.py --token $TOKEN                          # cpu-only day, line protocol
    scripts/tsbs_load.py --protocol arrow --file "$(python3 scripts/tsbs_generate.py iot)" \\
        --database iot --limit 100000

--protocol lp sends the file's lines unchanged in --batch-lines bodies to
/api/v3/write_lp (scripts/fletch_write.py). --protocol arrow parses them here into one
Arrow table per measurement per batch (tags dictionary-encoded, which Fletch stores as
tags; `i`-suffixed fields int64, `u` uint64, others float64, booleans bool; `time` as
timestamp[ns, UTC]; a tag or field a line lacks is null) and sends each with Flight DoPut
to the path [database, measurement]. The arrow parser handles TSBS's output, which has
no escapes or string fields; anything else stops it with the line number.

The file is streamed (gzip or plain), never held whole; progress every 5 s and a rows/s
summary go to stderr. --writers requests are in flight at once (default 4); each line goes
to the writer of its series, so a series is written in file order and a repeated point
keeps the file's last value.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fletch_write import LPWriter, add_connection_args, rate_summary, resolve_host  # noqa: E402

from tsbs_generate import tsbs_file  # noqa: E402
# bench/run.py's chunk: 10,000 TSBS cpu lines is about 3.4 MB per body, well under
# the server's 64 MiB --max-request-bytes.
DEFAULT_BATCH_LINES = 10_000
PROGRESS_SECONDS = 5.0


def open_lines(path: Path):
    """The file's lines as bytes without their newline; .gz is decompressed on the fly."""
    f = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    with f:
        for ln in f:
            ln = ln.rstrip(b"\r\n")
            if ln:
                yield ln


def lane(line: bytes, lanes: int) -> int:
    """The writer a line goes to: by its series key (measurement and tags), so every
    point of a series is written in file order by one writer, and a point the file
    repeats keeps its last value (last write wins) whatever --writers is."""
    if lanes == 1:
        return 0
    return zlib.crc32(line[:line.find(b" ")]) % lanes


# -- line protocol -> Arrow ---------------------------------------------------------------------
def _value(raw: bytes, n: int):
    """A field value and its Arrow type name."""
    last = raw[-1:]
    if last == b"i":
        return int(raw[:-1]), "int64"
    if last == b"u":
        return int(raw[:-1]), "uint64"
    if raw in (b"t", b"T", b"true", b"True", b"TRUE"):
        return True, "bool"
    if raw in (b"f", b"F", b"false", b"False", b"FALSE"):
        return False, "bool"
    if raw[:1] == b'"':
        raise ValueError(f"line {n}: string field values are not handled by --protocol arrow; use --protocol lp")
    return float(raw), "float64"


class _Table:
    """Columns of one measurement, filled line by line; absent values are None."""

    def __init__(self):
        self.rows = 0
        self.tags: dict[str, list] = {}
        self.fields: dict[str, list] = {}
        self.types: dict[str, str] = {}
        self.time: list[int] = []

    def add(self, tags: dict, fields: dict, ts: int, n: int):
        for cols, kv in ((self.tags, tags), (self.fields, fields)):
            for k, v in kv.items():
                col = cols.get(k)
                if col is None:
                    col = cols[k] = [None] * self.rows
                col.append(v)
            for k, col in cols.items():
                if len(col) == self.rows:
                    col.append(None)
        self.time.append(ts)
        self.rows += 1

    def arrow(self):
        import pyarrow as pa

        cols = {k: pa.array(v, pa.string()).dictionary_encode() for k, v in self.tags.items()}
        for k, v in self.fields.items():
            cols[k] = pa.array(v, getattr(pa, self.types[k])())
        cols["time"] = pa.array(self.time, pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
        return pa.table(cols)


def parse_arrow(lines: list[bytes], numbers: list[int]) -> dict:
    """{measurement: pyarrow.Table} for a batch of TSBS lines (numbers: their line
    numbers in the file, for errors)."""
    tables: dict[str, _Table] = {}
    for n, ln in zip(numbers, lines):
        if b"\\" in ln:
            raise ValueError(f"line {n}: escapes are not handled by --protocol arrow; use --protocol lp")
        parts = ln.split(b" ")
        if len(parts) != 3:
            raise ValueError(f"line {n}: want `measurement,tags fields time`, got {ln[:200]!r}")
        series, fieldset, ts = parts
        meas, *tagkv = series.decode().split(",")
        tags = dict(t.split("=", 1) for t in tagkv)
        t = tables.get(meas)
        if t is None:
            t = tables[meas] = _Table()
        fields = {}
        for kv in fieldset.split(b","):
            k, _, raw = kv.partition(b"=")
            v, typ = _value(raw, n)
            name = k.decode()
            if t.types.setdefault(name, typ) != typ:
                raise ValueError(f"line {n}: field {name} is {typ}, earlier lines made it {t.types[name]}")
            fields[name] = v
        t.add(tags, fields, int(ts), n)
    return {m: t.arrow() for m, t in tables.items()}


class ArrowWriter:
    """DoPuts from one thread, in the order sent, on one Flight client: one stream per
    measurement per batch, acknowledged once its rows are fsynced."""

    def __init__(self, host: str, token: str | None, database: str):
        import pyarrow.flight as flight

        self.flight = flight
        self.client = flight.connect(host.replace("https://", "grpc+tls://").replace("http://", "grpc://"))
        self.db = database
        self.opts = flight.FlightCallOptions(
            headers=[(b"authorization", f"Bearer {token}".encode())] if token else [], timeout=300)
        self.pool = ThreadPoolExecutor(1)
        self.pending = []
        self.lines = 0

    def _put(self, lines: list[bytes], numbers: list[int]) -> None:
        for meas, tbl in parse_arrow(lines, numbers).items():
            w, r = self.client.do_put(self.flight.FlightDescriptor.for_path(self.db, meas), tbl.schema, self.opts)
            w.write_table(tbl)
            w.done_writing()
            meta = r.read()
            w.close()
            got = json.loads(meta.to_pybytes()).get("rows") if meta is not None else None
            if got != tbl.num_rows:
                raise RuntimeError(f"DoPut to {self.db}.{meas} acknowledged {got} rows of {tbl.num_rows}")
        self.lines += len(lines)

    def send(self, lines: list[bytes], numbers: list[int]) -> None:
        still = []
        for f in self.pending:
            if f.done():
                f.result()  # a failed DoPut raises here, before more are queued
            else:
                still.append(f)
        self.pending = still
        while len(self.pending) >= 2:
            self.pending.pop(0).result()
        self.pending.append(self.pool.submit(self._put, lines, numbers))

    def close(self) -> None:
        try:
            for f in self.pending:
                f.result()
        finally:
            self.pool.shutdown()
            self.client.close()


class LPLane:
    """One ordered line-protocol writer (fletch_write.LPWriter with one thread)."""

    def __init__(self, host: str, token: str | None, database: str):
        self.w = LPWriter(host, token, database, writers=1)

    @property
    def lines(self) -> int:
        return self.w.lines

    def send(self, lines: list[bytes], _numbers: list[int]) -> None:
        self.w.send(b"\n".join(lines) + b"\n", len(lines))

    def close(self) -> None:
        self.w.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", type=Path, help="TSBS line protocol, .gz or plain (default: the cpu-only day "
                   "scripts/tsbs_generate.py makes, or $FLETCH_TSBS_DIR's)")
    p.add_argument("--protocol", choices=("lp", "arrow"), default="lp",
                   help="lp: HTTP /api/v3/write_lp; arrow: Flight DoPut (default lp)")
    p.add_argument("--limit", type=int, default=None, help="load only the first N lines")
    p.add_argument("--batch-lines", type=int, default=DEFAULT_BATCH_LINES, help=f"lines per request (default {DEFAULT_BATCH_LINES})")
    p.add_argument("--writers", type=int, default=4, help="requests in flight at once (default 4, as bench/run.py)")
    add_connection_args(p, "tsbs")
    args = p.parse_args(argv)
    if args.batch_lines < 1 or args.writers < 1:
        p.error("--batch-lines and --writers must be positive")
    if args.file is None:
        args.file = tsbs_file("cpu")
    if not args.file.is_file():
        p.error(f"--file {args.file}: no such file")
    host = resolve_host(args.host)

    make = LPLane if args.protocol == "lp" else ArrowWriter
    lanes = [make(host, args.token, args.database) for _ in range(args.writers)]
    batch: list[list[bytes]] = [[] for _ in lanes]
    numbers: list[list[int]] = [[] for _ in lanes]

    def done() -> int:
        return sum(w.lines for w in lanes)

    t0 = time.perf_counter()
    last = t0
    read = 0
    loaded = False
    try:
        for ln in open_lines(args.file):
            if args.limit is not None and read >= args.limit:
                break
            read += 1
            i = lane(ln, len(lanes))
            batch[i].append(ln)
            numbers[i].append(read)
            if len(batch[i]) >= args.batch_lines:
                lanes[i].send(batch[i], numbers[i])
                batch[i], numbers[i] = [], []
                now = time.perf_counter()
                if now - last >= PROGRESS_SECONDS:
                    print(f"tsbs_load: {done():,} lines acknowledged, {read:,} read, "
                          f"{done() / (now - t0):,.0f} rows/s", file=sys.stderr, flush=True)
                    last = now
        for i, w in enumerate(lanes):
            if batch[i]:
                w.send(batch[i], numbers[i])
        loaded = True
    finally:
        errors = []
        for w in lanes:
            try:
                w.close()
            except Exception as e:  # noqa: BLE001 — every lane is closed, the first error raised
                errors.append(e)
        if errors and loaded:
            raise errors[0]
    secs = time.perf_counter() - t0
    print(rate_summary(f"tsbs_load: {args.file.name} via {args.protocol} to {host} database {args.database}",
                       done(), secs), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
