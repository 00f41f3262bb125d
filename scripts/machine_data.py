#!/usr/bin/env python3
"""Synthetic machine data for Fletch: N machines on production lines at a few sites, each
reporting temperature, load and vibration every 250 ms, as line protocol.

    # one hour of history for 20 machines, ending now, into database "factory"
    scripts/machine_data.py --machines 20 --duration 1h --database factory --token $TOKEN
    # real time for 5 minutes, 10% of points late (out of order), 2% re-sent with new values
    scripts/machine_data.py --live --duration 5m --late-fraction 0.1 --duplicate-fraction 0.02
    # the same lines to a file (and nowhere else) with a fixed seed and start
    scripts/machine_data.py --seed 7 --start 2026-01-01T00:00:00Z --duration 10m --output m.lp

Each line: `machine_data,line=line_1,machine_id=machine_007,site=site_0
load=63.41,temperature=58.12,vibration=3.874 <ns>` (--measurement renames the table).
Load is a mean-reverting walk toward a target that changes when a machine starts a new
job; temperature follows load with a lag of minutes; vibration rises with load.

Late points (--late-fraction) are sent up to --late-max-seconds after their time, after
newer points of the same machine. Re-sent points (--duplicate-fraction) carry the same
machine and time with changed values, always after the original, so the server's
last-write-wins dedup keeps the re-sent values. A fixed --seed with a fixed --start gives
the same lines every run. Lines go to the server (/api/v3/write_lp, in --batch-lines
bodies) and/or --output; the summary goes to stderr.

Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fletch_write import LPWriter, add_connection_args, rate_summary, resolve_host  # noqa: E402

SEC = 1_000_000_000
LINES_PER_SITE = 3
AMBIENT_C = 22.0
# Steady-state temperature rise per percent of load: a machine at full load settles near
# 22 + 55 = 77 °C, a plausible casing temperature for a motor under load.
HEAT_PER_LOAD = 0.55
TEMP_LAG_S = 120.0        # time constant of the temperature's lag behind load
LOAD_REVERT_PER_S = 0.05  # mean reversion of load toward its job's target
LOAD_NOISE = 4.0          # load noise, percent per sqrt(second)
JOB_SECONDS = 300.0       # mean time between job changes (new load target)


def parse_duration(s: str) -> float:
    """'90s', '10m', '1h', '2d', '1h30m' or plain seconds -> seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", s)
    if not parts or "".join(n + u for n, u in parts) != s:
        raise argparse.ArgumentTypeError(f"duration {s!r}: want e.g. 90s, 10m, 1h, 1h30m")
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * unit[u] for n, u in parts)


def parse_start(s: str) -> int:
    """RFC 3339 time, integer nanoseconds since the epoch, or 'now' -> ns."""
    if s == "now":
        return time.time_ns()
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp()) * SEC + t.microsecond * 1000


def fraction(s: str) -> float:
    v = float(s)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"{s}: want a fraction between 0 and 1")
    return v


class Machine:
    """One machine's state; step() advances it by dt seconds."""

    def __init__(self, i: int, sites: int, rng: random.Random):
        self.id = f"machine_{i:03d}"
        self.site = f"site_{i % sites}"
        self.line = f"line_{(i // sites) % LINES_PER_SITE}"
        self.target = rng.uniform(20, 85)
        self.load = self.target
        self.temp = AMBIENT_C + HEAT_PER_LOAD * self.load + rng.gauss(0, 1)
        self.wear = rng.uniform(0.5, 2.0)  # baseline vibration, mm/s RMS
        self.vib = self.wear + 0.04 * self.load

    def step(self, rng: random.Random, dt_s: float) -> None:
        if rng.random() < dt_s / JOB_SECONDS:
            self.target = rng.choice((rng.uniform(5, 20), rng.uniform(40, 95)))
        self.load += LOAD_REVERT_PER_S * (self.target - self.load) * dt_s \
            + LOAD_NOISE * math.sqrt(dt_s) * rng.gauss(0, 1)
        self.load = min(100.0, max(0.0, self.load))
        eq = AMBIENT_C + HEAT_PER_LOAD * self.load
        self.temp += (eq - self.temp) * dt_s / TEMP_LAG_S + 0.05 * rng.gauss(0, 1)
        vib_eq = self.wear + 0.04 * self.load
        self.vib += 0.5 * (vib_eq - self.vib) + 0.15 * rng.gauss(0, 1)
        self.vib = max(0.05, self.vib)


def line(meas: str, m: Machine, load: float, temp: float, vib: float, ts: int) -> str:
    return (f"{meas},line={m.line},machine_id={m.id},site={m.site} "
            f"load={load:.2f},temperature={temp:.2f},vibration={vib:.3f} {ts}")


def resent(rng: random.Random, load: float, temp: float, vib: float) -> tuple[float, float, float]:
    """A re-sent reading's corrected values: each field moves by a visible amount."""
    d = rng.uniform(0.5, 2.0)
    return (load + d if load + d <= 100 else load - d), temp + d, vib * 1.1 + 0.01


def generate(args, start_ns: int, ticks: int, live: bool):
    """Yield (tick, [lines]) per tick in emission order; the last item flushes points
    still held back (tick None)."""
    rng = random.Random(args.seed)
    machines = [Machine(i, args.sites, rng) for i in range(args.machines)]
    step_ns = args.interval_ms * 1_000_000
    dt_s = args.interval_ms / 1000
    max_delay = max(1, int(args.late_max_seconds * 1000 / args.interval_ms))
    pending: dict[int, list[str]] = {}
    stats = {"points": 0, "late": 0, "duplicates": 0}
    for k in range(ticks):
        ts = start_ns + k * step_ns
        if live:
            wait = (ts - time.time_ns()) / SEC
            if wait > 0:
                time.sleep(wait)
        out = []
        for m in machines:
            m.step(rng, dt_s)
            vals = (round(m.load, 2), round(m.temp, 2), round(m.vib, 3))
            stats["points"] += 1
            emit = k
            if rng.random() < args.late_fraction:
                emit = k + rng.randint(1, max_delay)
                stats["late"] += 1
                pending.setdefault(emit, []).append(line(args.measurement, m, *vals, ts))
            else:
                out.append(line(args.measurement, m, *vals, ts))
            if rng.random() < args.duplicate_fraction:
                stats["duplicates"] += 1
                again = emit + rng.randint(0, max_delay)
                pending.setdefault(again, []).append(line(args.measurement, m, *resent(rng, *vals), ts))
        out.extend(pending.pop(k, ()))
        yield k, out, stats
    rest = [ln for t in sorted(pending) for ln in pending[t]]
    yield None, rest, stats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--machines", type=int, default=10, help="number of machines (default 10)")
    p.add_argument("--sites", type=int, default=2, help=f"sites; each has {LINES_PER_SITE} lines (default 2)")
    p.add_argument("--measurement", default="machine_data", help="table name (default machine_data)")
    p.add_argument("--interval-ms", type=int, default=250, help="one reading per machine every this many ms (default 250)")
    p.add_argument("--start", type=parse_start, default=None,
                   help="time of the first reading: RFC 3339, ns since the epoch or 'now' "
                        "(default: --duration before now; with --live: now)")
    p.add_argument("--duration", type=parse_duration, default=60.0, help="span of data, e.g. 90s, 10m, 1h (default 60s)")
    p.add_argument("--live", action="store_true", help="produce readings in real time, for --duration")
    p.add_argument("--late-fraction", type=fraction, default=0.0, help="fraction of points sent late, out of order")
    p.add_argument("--late-max-seconds", type=float, default=30.0, help="how late a late point can be (default 30)")
    p.add_argument("--duplicate-fraction", type=fraction, default=0.0,
                   help="fraction of points re-sent later with changed values (last write wins)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    p.add_argument("--batch-lines", type=int, default=5000, help="lines per HTTP write (default 5000)")
    p.add_argument("--flush-seconds", type=float, default=1.0, help="with --live, send at least this often (default 1)")
    p.add_argument("--output", help="also (or, without --host, only) write the lines to this file; '-' for stdout")
    add_connection_args(p, "machines")
    args = p.parse_args(argv)
    if args.machines < 1 or args.sites < 1 or args.interval_ms < 1 or args.batch_lines < 1:
        p.error("--machines, --sites, --interval-ms and --batch-lines must be positive")

    step_ns = args.interval_ms * 1_000_000
    ticks = max(1, int(args.duration * 1000 // args.interval_ms))
    if args.start is not None:
        start_ns = args.start
    elif args.live:
        start_ns = time.time_ns() // step_ns * step_ns + step_ns
    else:
        start_ns = (time.time_ns() - int(args.duration * SEC)) // step_ns * step_ns

    to_server = args.output is None or args.host is not None
    writer = LPWriter(resolve_host(args.host), args.token, args.database) if to_server else None
    out = None
    if args.output == "-":
        out = sys.stdout
    elif args.output:
        out = open(args.output, "w", encoding="utf-8")

    batch: list[str] = []
    last_flush = time.monotonic()
    written = 0

    def flush():
        nonlocal batch, last_flush, written
        if batch:
            body = "\n".join(batch) + "\n"
            if out is not None:
                out.write(body)
            if writer is not None:
                writer.send(body.encode(), len(batch))
            written += len(batch)
        batch = []
        last_flush = time.monotonic()

    t0 = time.perf_counter()
    stats = {}
    try:
        for _, lines, stats in generate(args, start_ns, ticks, args.live):
            batch.extend(lines)
            if len(batch) >= args.batch_lines or (args.live and time.monotonic() - last_flush >= args.flush_seconds):
                flush()
        flush()
        if writer is not None:
            writer.close()
    finally:
        if out is not None and out is not sys.stdout:
            out.close()
    secs = time.perf_counter() - t0
    where = " and ".join(([f"{resolve_host(args.host)} database {args.database}"] if writer else [])
                         + ([args.output] if out is not None else []))
    print(rate_summary(
        f"machine_data: {args.machines} machines x {ticks} readings "
        f"({stats.get('late', 0):,} late, {stats.get('duplicates', 0):,} re-sent) to {where}",
        written, secs), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
