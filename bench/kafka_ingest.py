"""Kafka subscriptions: how fast a subscription drains a topic, and how long a message
takes from produce to stored row under a steady stream.

    FLETCH_BIN=bin/fletch python3 bench/kafka_ingest.py

A one-node Kafka 4.1.1 (tests/e2e/kafka_broker.py) and a fresh server on loopback.
- drain: the TSBS cpu day's first MESSAGES lines, one message each over 6 partitions, are
  produced first; then the subscription is created and timed until every row is stored
  (messages/s).
- lag: RATE messages/s for SECONDS seconds, each a line with no timestamp and a field
  `sent` (the producer's clock, ns); the server stamps each row when it reads the message,
  so time - sent is the produce-to-stored latency (p50/p99/max). Each message is its own
  series (tag id): rows stamped at the same instant must not merge.
Prints one line per figure; asserts nothing. Every loop is bounded.
"""

from __future__ import annotations

import gzip
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from fletch_server import FletchServer, fletch_binary  # noqa: E402
from kafka_broker import KafkaBroker, produce  # noqa: E402
from tsbs_oracle import TSBS_CPU  # noqa: E402

MESSAGES = 500_000
RATE, SECONDS = 20_000, 15


def sql(srv, q: str):
    r = requests.post(srv.http_url + "/api/v3/query_sql", json={"db": "k", "q": q, "format": "json"}, timeout=120)
    return r.json() if r.status_code == 200 else None


def wait_count(srv, table: str, n: int, timeout: float) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        got = sql(srv, f"SELECT count(*) AS n FROM {table}")
        if got and got[0]["n"] >= n:
            return time.perf_counter() - t0
        time.sleep(0.05)
    raise RuntimeError(f"{table}: {n} rows not stored within {timeout:.0f} s")


def main() -> int:
    from confluent_kafka import Producer

    work = Path(tempfile.mkdtemp(prefix="fletch-kafka-bench-"))
    (work / "kafka").mkdir()
    with KafkaBroker(work / "kafka") as kafka:
        srv = FletchServer(fletch_binary(), work / "data", work / "fletch.log").start()
        try:
            p = Producer({"bootstrap.servers": kafka.addr, "enable.idempotence": True, "linger.ms": 5,
                          "log_level": 0})
            kafka.create_topic("tsbs")
            lines = []
            with gzip.open(TSBS_CPU, "rb") as f:
                for line in f:
                    lines.append(line.rstrip(b"\n"))
                    if len(lines) == MESSAGES:
                        break
            produce(p, "tsbs", lines)
            p.flush(120)
            sql(srv, f"CREATE SUBSCRIPTION drain FROM KAFKA '{kafka.addr}' TOPIC 'tsbs' FORMAT line_protocol")
            secs = wait_count(srv, "cpu", len(lines), 600)
            print(f"drain: {len(lines):,} TSBS lines (one message each, 6 partitions) stored in {secs:.1f} s "
                  f"= {len(lines) / secs:,.0f} messages/s")

            kafka.create_topic("live")
            sql(srv, f"CREATE SUBSCRIPTION live FROM KAFKA '{kafka.addr}' TOPIC 'live' FORMAT line_protocol")
            time.sleep(3)  # joined and assigned
            t0 = time.perf_counter()
            n = 0
            while time.perf_counter() - t0 < SECONDS:
                due = int((time.perf_counter() - t0) * RATE)
                # A series per message: rows stamped at the same instant must not merge.
                produce(p, "live", [f"live,id={n + i} sent={time.time_ns()}i".encode() for i in range(due - n)])
                n = due
                time.sleep(0.005)
            p.flush(60)
            wait_count(srv, "live", n, 120)
            got = sql(srv, "SELECT quantile_cont(l, 0.5) AS p50, quantile_cont(l, 0.99) AS p99, max(l) AS mx, count(*) AS n "
                           "FROM (SELECT (epoch_ns(time) - sent) / 1e6 AS l FROM live)")[0]
            print(f"lag: {got['n']:,} messages at {RATE:,}/s for {SECONDS} s: produce to stored row "
                  f"p50 {got['p50']:.1f} ms, p99 {got['p99']:.1f} ms, max {got['mx']:.1f} ms")
        finally:
            srv.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
