"""SIGKILL durability: every acknowledged write survives a crash, exactly once.

test_crash_loop_with_persist_and_compaction (below) kills the server at random moments
through persists and compactions, FLETCH_CRASH_CYCLES times (default 10).

Four writer threads send small line-protocol writes (one unique series/time each) and note
which ones got 204. The server is SIGKILLed mid-stream and restarted on the same directory.
Three crash cycles on one data dir; the middle one runs with --persist-interval 1s so that
at the crash some rows are in Parquet and some only in the WAL.
"""

import glob
import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import requests

from fletch_client import query_influx, rows, write_lp

DB = "crashdb"
TABLE = "crash"
WRITERS = 4
WRITES_PER_WRITER = 200
PACE_S = 0.015  # between writes: 200 writes take >= 3 s, so a kill at ~2 s is mid-stream
KILL_AFTER_S = 2.0
PERSIST_WAIT_S = 20.0
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z
MS = 1_000_000
CYCLE_ARGS = [[], ["--persist-interval", "1s"], []]


def ts_for(cycle, writer, n):
    return T0 + ((cycle * WRITERS + writer) * 1000 + n) * MS


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.attempted = {}  # (writer tag, ts ns) -> (seq, cycle)
        self.acked = set()
        self.http_errors = []


def parquet_files(srv):
    return glob.glob(str(Path(srv.data_dir) / DB / TABLE / "*" / "*.parquet"))


def writer(srv, ledger, cycle, w):
    tag = f"w{w}"
    with requests.Session() as s:
        for n in range(WRITES_PER_WRITER):
            ts = ts_for(cycle, w, n)
            with ledger.lock:
                ledger.attempted[(tag, ts)] = (n, cycle)
            try:
                r = write_lp(srv, DB, f"{TABLE},writer={tag} seq={n}i,cycle={cycle}i {ts}\n",
                             endpoint="v3", precision="ns", session=s)
            except requests.RequestException:
                return  # the server is gone
            if r.status_code != 204:
                with ledger.lock:
                    ledger.http_errors.append((tag, n, r.status_code, r.text[:500]))
                return
            with ledger.lock:
                ledger.acked.add((tag, ts))
            time.sleep(PACE_S)


def verify(srv, ledger, report, label):
    got = rows(query_influx(srv, f"SELECT writer, time, seq, cycle FROM {TABLE}", DB),
               ["writer", "time", "seq", "cycle"])
    per_key = Counter((w, ts) for w, ts, _, _ in got)
    dups = sorted(k for k, c in per_key.items() if c > 1)
    assert not dups, f"{label}: {len(dups)} (writer, time) present more than once: {dups[:5]}"
    wrong = [r for r in got if ledger.attempted.get((r[0], r[1])) != (r[2], r[3])]
    assert not wrong, f"{label}: rows never written or with wrong values: {wrong[:5]}"
    missing = sorted(ledger.acked - per_key.keys())
    assert not missing, (f"{label}: {len(missing)} of {len(ledger.acked)} acknowledged rows "
                         f"lost: {missing[:5]}")
    (n,) = rows(query_influx(srv, f"SELECT count(*) AS n FROM {TABLE}", DB))[0]
    assert n == len(got), f"{label}: count(*) = {n} but a scan returned {len(got)} rows"
    report(f"crash {label}: {len(ledger.acked)} acked rows all present once; "
           f"{len(got) - len(ledger.acked)} unacked rows present, "
           f"{len(ledger.attempted) - len(got)} unacked absent")


def test_sigkill_keeps_every_acknowledged_write(server, report):
    ledger = Ledger()
    srv = server(args=CYCLE_ARGS[0])
    for cycle, args in enumerate(CYCLE_ARGS):
        if cycle > 0:
            srv.start(args=args)
            verify(srv, ledger, report, f"restart before cycle {cycle}")
        persist = "--persist-interval" in args
        threads = [threading.Thread(target=writer, args=(srv, ledger, cycle, w), daemon=True)
                   for w in range(WRITERS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        # Kill at ~2 s; in the persist cycle not before a Parquet file exists (or 20 s).
        saw_parquet = False
        while True:
            elapsed = time.monotonic() - t0
            alive = any(t.is_alive() for t in threads)
            if persist and not saw_parquet:
                saw_parquet = bool(parquet_files(srv))
            waiting_for_persist = persist and not saw_parquet and elapsed < PERSIST_WAIT_S
            if not waiting_for_persist and (not alive or elapsed >= KILL_AFTER_S):
                break
            time.sleep(0.02)
        mid_stream = any(t.is_alive() for t in threads)
        srv.stop(signal.SIGKILL)
        for t in threads:
            t.join(timeout=150)
        assert not ledger.http_errors, f"writes refused while the server ran: " \
                                       f"{ledger.http_errors[:5]}"
        if persist:
            assert parquet_files(srv), (
                f"--persist-interval 1s but no Parquet under {srv.data_dir}/{DB}/{TABLE} "
                f"after {time.monotonic() - t0:.1f} s")
        report(f"crash cycle {cycle} ({' '.join(args) or 'default flags'}): SIGKILL after "
               f"{time.monotonic() - t0:.2f} s, {'mid-stream' if mid_stream else 'after all writes'}"
               f"; {len(ledger.acked)} acked of {len(ledger.attempted)} attempted so far")

    srv.start(args=[])
    verify(srv, ledger, report, "restart after the last crash")
    # A graceful stop and start keeps the same rows.
    assert srv.stop(signal.SIGTERM) == 0
    srv.start()
    verify(srv, ledger, report, "restart after SIGTERM")


# -- the crash loop ---------------------------------------------------------------------------
# SIGKILL at random moments while writers ingest, the buffer persists every 200 ms and
# compaction merges a day's files from two on: the kill lands in a WAL append, a persist, a
# compaction or a manifest swap. After every restart each acknowledged row is there exactly
# once, told apart by a unique field value (uid); no row is there that was never sent.
LOOP_TABLE = "loop"
LOOP_ARGS = ["--persist-interval", "200ms", "--compact-min-files", "2"]
LOOP_WRITERS = 4
LOOP_BATCH = 25  # lines per request
LOOP_PACE_S = 0.005


class UidLedger:
    def __init__(self):
        self.lock = threading.Lock()
        self.next_uid = 0
        self.sent = set()
        self.acked = set()
        self.refused = []

    def take(self, n):
        with self.lock:
            first = self.next_uid
            self.next_uid += n
            uids = range(first, first + n)
            self.sent.update(uids)
            return uids


def loop_writer(srv, ledger, w, stop):
    with requests.Session() as s:
        while not stop.is_set():
            uids = ledger.take(LOOP_BATCH)
            # Unique series and time per uid, so dedup never merges two of them.
            body = "".join(f"{LOOP_TABLE},writer=w{w} uid={u}i,v={2 * u}i {T0 + u * 1000}\n" for u in uids)
            try:
                r = write_lp(srv, DB, body, endpoint="v3", precision="ns", session=s)
            except requests.RequestException:
                return  # killed
            if r.status_code != 204:
                with ledger.lock:
                    ledger.refused.append((r.status_code, r.text[:300]))
                return
            with ledger.lock:
                ledger.acked.update(uids)
            time.sleep(LOOP_PACE_S)


def verify_uids(srv, ledger, label):
    t = query_influx(srv, f"SELECT uid, v FROM {LOOP_TABLE}", DB)
    uids = t.column("uid").to_pylist()
    per_uid = Counter(uids)
    dups = sorted(u for u, c in per_uid.items() if c > 1)
    assert not dups, f"{label}: {len(dups)} uids present more than once, e.g. {dups[:5]}"
    never_sent = sorted(set(per_uid) - ledger.sent)
    assert not never_sent, f"{label}: rows never written: {never_sent[:5]}"
    bad = [(u, v) for u, v in zip(uids, t.column("v").to_pylist()) if v != 2 * u]
    assert not bad, f"{label}: rows with wrong values: {bad[:5]}"
    missing = sorted(ledger.acked - per_uid.keys())
    assert not missing, f"{label}: {len(missing)} of {len(ledger.acked)} acknowledged rows lost, e.g. {missing[:5]}"
    (n,) = rows(query_influx(srv, f"SELECT count(*) AS n FROM {LOOP_TABLE}", DB))[0]
    assert n == len(uids), f"{label}: count(*) = {n} but a scan returned {len(uids)} rows"
    return len(uids)


def test_crash_loop_with_persist_and_compaction(server, report):
    cycles = int(os.environ.get("FLETCH_CRASH_CYCLES", "10"))
    seed = int(os.environ.get("FLETCH_CRASH_SEED", str(time.time_ns() % 1_000_000)))
    rng = random.Random(seed)
    report(f"crash loop: {cycles} cycles, seed {seed} (FLETCH_CRASH_SEED={seed} repeats the kill times)")
    ledger = UidLedger()
    srv = server(args=LOOP_ARGS)
    for cycle in range(cycles):
        if cycle > 0:
            srv.start()  # raises if it does not answer /health within 60 s
            verify_uids(srv, ledger, f"restart {cycle}")
        stop = threading.Event()
        threads = [threading.Thread(target=loop_writer, args=(srv, ledger, w, stop), daemon=True)
                   for w in range(LOOP_WRITERS)]
        for t in threads:
            t.start()
        # Mostly within the first seconds (the start's compaction, persists); one cycle in
        # four past the 10 s compaction check.
        delay = rng.uniform(10.2, 11.5) if rng.random() < 0.25 else rng.uniform(0.05, 3.0)
        time.sleep(delay)
        srv.stop(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(timeout=150)
        assert not ledger.refused, f"writes refused while the server ran: {ledger.refused[:3]}"
    srv.start()
    present = verify_uids(srv, ledger, "restart after the last crash")
    assert srv.stop(signal.SIGTERM) == 0
    srv.start()
    assert verify_uids(srv, ledger, "restart after SIGTERM") == present
    log = srv.log_path.read_text(errors="replace")
    assert "panic" not in log.lower()
    persists, compactions = log.count("msg=persisted"), log.count("msg=compacted")
    assert persists > 0 and compactions > 0, f"{persists} persists, {compactions} compactions: the kills hit neither"
    report(f"crash loop: {cycles} SIGKILLs, {len(ledger.acked)} acked rows of {len(ledger.sent)} sent "
           f"all present once ({present} rows stored); {persists} persists and {compactions} compactions logged")
