"""Generated tables for the benchmarks that need more (or more recent) rows than the TSBS day.

Both are built with numpy and pyarrow from a fixed seed, rows in time order, one tag
(`hostname`, dictionary-encoded so DoPut stores it as a tag) and float fields.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

SEC = 1_000_000_000


def hosts_dictionary(n_hosts: int) -> pa.Array:
    return pa.array([f"host_{i}" for i in range(n_hosts)], pa.string())


def cpu_like(n_hosts: int, start_ns: int, step_ns: int, steps: int, seed: int) -> pa.Table:
    """n_hosts x steps rows: every host at start_ns + k*step_ns, k < steps.

    Columns: hostname (dictionary), usage_user, usage_system, usage_idle, usage_iowait
    (float64, 0..100), time (timestamp[ns, UTC]).
    """
    rng = np.random.default_rng(seed)
    n = n_hosts * steps
    idx = np.tile(np.arange(n_hosts, dtype=np.int32), steps)
    ts = start_ns + np.repeat(np.arange(steps, dtype=np.int64) * step_ns, n_hosts)
    cols = {"hostname": pa.DictionaryArray.from_arrays(pa.array(idx), hosts_dictionary(n_hosts))}
    for name in ("usage_user", "usage_system", "usage_idle", "usage_iowait"):
        cols[name] = pa.array(rng.random(n) * 100.0)
    cols["time"] = pa.array(ts).cast(pa.timestamp("ns", tz="UTC"))
    return pa.table(cols)


def batches(table: pa.Table, rows: int):
    """The table in record batches of at most `rows` rows (zero-copy slices)."""
    return table.to_batches(max_chunksize=rows)
