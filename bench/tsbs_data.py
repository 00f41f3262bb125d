"""The TSBS cpu-only day in the shapes the benchmark feeds each system.

Parsing is tests/e2e/tsbs_oracle.py's (the project's independent parser of the raw file);
this module only rearranges its output:

- line-protocol bodies of CHUNK_LINES lines, built once and sent unchanged to Fletch and
  QuestDB, so no client-side string work is inside a timed ingest;
- an Arrow table for DoPut: the 10 tags dictionary-encoded (Fletch stores a string
  dictionary column as a tag), the 10 integer fields as int64, `time` as timestamp[ns, UTC];
- the DuckDB floor's Parquet file: the same rows sorted by (hostname, time), ZSTD.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
import tsbs_oracle  # noqa: E402
from tsbs_oracle import FIELD_KEYS, TAG_KEYS, TSBS_CPU, TSBS_CPU_LINES  # noqa: E402,F401

# The chunk size for HTTP writes: 10,000 lines (about 3.4 MB) per request.
CHUNK_LINES = 10_000


@dataclass
class TSBSDay:
    lines: int
    field_values: int
    bodies: list[bytes]   # line protocol, CHUNK_LINES lines per body, newline-terminated
    table: pa.Table       # file order (time order), tags dictionary-encoded
    prep_seconds: float


def load(path: Path = TSBS_CPU) -> TSBSDay:
    t0 = time.perf_counter()
    lines = tsbs_oracle.read_lines(path)
    parsed = tsbs_oracle.parse(lines)
    bodies = [b"\n".join(lines[i:i + CHUNK_LINES]) + b"\n" for i in range(0, len(lines), CHUNK_LINES)]
    table = arrow_table(parsed)
    n = len(lines)
    return TSBSDay(lines=n, field_values=n * len(FIELD_KEYS), bodies=bodies, table=table,
                   prep_seconds=time.perf_counter() - t0)


def arrow_table(parsed) -> pa.Table:
    """Columns: the 10 tags (dictionary<int32, string>), the 10 fields (int64), time."""
    # In TSBS cpu every host has one fixed tag set, so each row's tags follow from its host.
    by_host = {ts[0]: ts for ts in parsed.tagsets}
    if len(by_host) != len(parsed.tagsets):
        raise ValueError("a hostname appears with more than one tag set")
    hosts = pa.array(parsed.hostname, pa.string()).dictionary_encode()
    host_names = hosts.dictionary.to_pylist()
    cols = {}
    for i, key in enumerate(TAG_KEYS):
        per_host = pa.array([by_host[h][i] for h in host_names], pa.string())
        cols[key] = per_host.take(hosts.indices).dictionary_encode()
    for key in FIELD_KEYS:
        cols[key] = pa.array(parsed.fields[key], pa.int64())
    cols["time"] = pa.array(parsed.ts, pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
    return pa.table(cols)


def plain(table: pa.Table) -> pa.Table:
    """The table with dictionary columns decoded to plain strings."""
    cols = [pc.cast(c, pa.string()) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.table(cols, names=table.column_names)


def write_floor_parquet(con, table: pa.Table, path: Path) -> int:
    """The DuckDB floor's file: sorted by (hostname, time), ZSTD. Returns its size in bytes.

    `time` is stored as a plain TIMESTAMP (microseconds, UTC wall time): TSBS times are
    10-second multiples, so nothing is lost, and the floor's time_bucket then needs no
    time-zone arithmetic.
    """
    con.register("tsbs_arrow", plain(table))
    con.execute(
        f"COPY (SELECT * REPLACE (CAST(time AT TIME ZONE 'UTC' AS TIMESTAMP) AS time) "
        f"FROM tsbs_arrow ORDER BY hostname, time) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
    con.unregister("tsbs_arrow")
    return path.stat().st_size
