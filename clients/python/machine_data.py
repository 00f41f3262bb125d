"""Synthetic machine data for the examples: a few machines, each reporting its
temperature (°C), load (%), power (W) and vibration (mm/s) every 250 ms — the shape of
the machine-data generator in the downsampling guide this project started from.

The data is a deterministic function of its arguments (a seeded generator), so a test
can rebuild exactly what an example wrote and compute the expected answers itself.
"""

from __future__ import annotations

import argparse
import math
import random
from datetime import datetime, timezone

import pyarrow as pa

# 2026-01-01T00:00:00Z in nanoseconds: whole minutes, so 1-minute bins are full.
START_NS = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()) * 1_000_000_000
INTERVAL_NS = 250_000_000  # one reading every 250 ms
TABLE = "machine_data"
MACHINES = ("machine-1", "machine-2", "machine-3")


def machine_table(minutes: int = 10, machines=MACHINES, seed: int = 42) -> pa.Table:
    """`minutes` of readings for each machine, in time order.

    Columns: time (timestamp[ns, UTC]), machine_id (dictionary<int32, utf8>: Fletch makes
    a dictionary-encoded string column a tag), temperature, load, power, vibration
    (float64 fields).
    """
    rng = random.Random(seed)
    n = minutes * 60 * 1_000_000_000 // INTERVAL_NS
    cols = {k: [] for k in ("time", "machine_id", "temperature", "load", "power", "vibration")}
    for m, machine in enumerate(machines):
        base_temp = 55.0 + 5 * m
        for i in range(n):
            # A slow 10-minute wave plus noise, rounded as a sensor would report it.
            wave = math.sin(2 * math.pi * i / (n or 1))
            load = round(min(100.0, max(0.0, 50 + 30 * wave + rng.gauss(0, 5))), 2)
            cols["time"].append(START_NS + i * INTERVAL_NS)
            cols["machine_id"].append(machine)
            cols["temperature"].append(round(base_temp + 10 * wave + rng.gauss(0, 0.5), 2))
            cols["load"].append(load)
            cols["power"].append(round(200 + 3 * load + rng.gauss(0, 2), 1))
            cols["vibration"].append(round(abs(rng.gauss(1.5 + load / 50, 0.3)), 3))
    return pa.table({
        "time": pa.array(cols["time"], pa.timestamp("ns", tz="UTC")),
        "machine_id": pa.array(cols["machine_id"]).dictionary_encode(),
        "temperature": pa.array(cols["temperature"], pa.float64()),
        "load": pa.array(cols["load"], pa.float64()),
        "power": pa.array(cols["power"], pa.float64()),
        "vibration": pa.array(cols["vibration"], pa.float64()),
    })


def common_args(description: str) -> argparse.ArgumentParser:
    """The arguments every example takes: where the server is and who is asking."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1:8181", help="server host:port (default %(default)s)")
    p.add_argument("--token", default="", help="a Fletch token; none for a --without-auth server")
    p.add_argument("--database", default="machines", help="database (default %(default)s)")
    p.add_argument("--minutes", type=int, default=10, help="minutes of machine data to write")
    p.add_argument("--json", action="store_true", help="print the results as JSON only")
    return p
