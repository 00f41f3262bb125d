"""Kafka subscriptions against a real broker: Apache Kafka 4.1.1 in KRaft mode, run from
its Maven Central jars (tests/kafka/pom.xml, fetched into tests/kafka/lib on first use),
the real fletch binary, and confluent-kafka as the producer. Every answer is checked
against the messages produced, with DuckDB computing the windows independently."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid

import duckdb
import pytest
import requests

from fletch_client import HTTP_TIMEOUT
import kafka_broker
from kafka_broker import KafkaBroker

MESSAGES = 500_000
PARTITIONS = 6
KILLS = 5


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A one-node Kafka (broker and controller) on loopback; yields its bootstrap address."""
    with KafkaBroker(tmp_path_factory.mktemp("kafka"), partitions=PARTITIONS) as b:
        yield b


def producer(addr: str):
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": addr, "enable.idempotence": True, "linger.ms": 20, "log_level": 0})


def produce(p, topic: str, values, key=lambda i: str(i % PARTITIONS)):
    kafka_broker.produce(p, topic, values, key)
    assert p.flush(60) == 0, "messages left unsent"


def sql(srv, db: str, q: str):
    r = requests.post(srv.http_url + "/api/v3/query_sql", json={"db": db, "q": q, "format": "json"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, f"{q}: {r.status_code} {r.text}"
    return r.json()


def try_sql(srv, db: str, q: str):
    try:
        r = requests.post(srv.http_url + "/api/v3/query_sql", json={"db": db, "q": q, "format": "json"}, timeout=10)
        return r.json() if r.status_code == 200 else None
    except requests.RequestException:
        return None


def test_exactly_once_through_sigkills(broker, server, report):
    """MESSAGES line-protocol messages over 6 partitions while Fletch is SIGKILLed KILLS
    times: every message is stored exactly once. The lines carry no timestamp and each its
    own series (tag id), so a message stored twice would be two rows."""
    topic = "lp-" + uuid.uuid4().hex[:8]
    broker.create_topic(topic)
    srv = server()
    sql(srv, "k", f"CREATE SUBSCRIPTION s FROM KAFKA '{broker.addr}' TOPIC '{topic}' FORMAT line_protocol")

    done = threading.Event()
    errors: list[BaseException] = []

    def produce_all():
        try:
            p = producer(broker.addr)
            step = 50_000
            for start in range(0, MESSAGES, step):
                produce(p, topic, (f"m,id={i} v={i}i" for i in range(start, min(MESSAGES, start + step))))
                time.sleep(0.3)
        except BaseException as e:  # noqa: BLE001 — reported by the test
            errors.append(e)
        finally:
            done.set()

    t = threading.Thread(target=produce_all, daemon=True)
    t.start()
    rnd = random.Random(7)
    for _ in range(KILLS):
        time.sleep(rnd.uniform(0.5, 2.0))
        srv.kill()
        srv.start()
    t.join(300)
    assert not errors, errors
    last_produce = time.monotonic()
    want = [{"n": MESSAGES, "ids": MESSAGES, "s": MESSAGES * (MESSAGES - 1) // 2}]
    q = "SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(v) AS s FROM m"
    deadline = last_produce + 180
    got = None
    while time.monotonic() < deadline:
        got = try_sql(srv, "k", q)
        if got == want or (got and got[0]["n"] > MESSAGES):
            break
        time.sleep(0.2)
    caught_up = time.monotonic() - last_produce
    assert got == want, f"after {KILLS} SIGKILLs: {got}, want {want}"
    report(f"kafka: {MESSAGES:,} messages over {PARTITIONS} partitions, {KILLS} SIGKILLs: all stored once; "
           f"caught up {caught_up:.1f} s after the last produce")
    want = [{"state": "running", "partitions": PARTITIONS, "lag": 0, "last_error": None}]
    q = "SELECT state, partitions, lag, last_error FROM system.subscriptions"
    deadline = time.monotonic() + 30
    while try_sql(srv, "k", q) != want and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sql(srv, "k", q) == want


def test_tumbling_windows_from_json(broker, server):
    """The seed's pipeline in Fletch: sensor readings as JSON on a topic, subscribed into a
    table, and 10-second and 1-minute materialized views equal to DuckDB's windows over the
    raw messages. Bad messages land in dead_letters and the rest go on."""
    topic = "sensors-" + uuid.uuid4().hex[:8]
    broker.create_topic(topic)
    srv = server()
    sql(srv, "plant", f"CREATE SUBSCRIPTION readings FROM KAFKA '{broker.addr}' TOPIC '{topic}' FORMAT json "
                      "INTO TABLE readings WITH (time_field = 'ts', time_unit = 'ms', tags = 'sensor')")
    rnd = random.Random(3)
    t0 = 1767225600_000
    msgs = [{"ts": t0 + i * 250 + rnd.randrange(250), "sensor": f"s{i % 4}",
             "temperature": round(20 + rnd.gauss(0, 3), 2)} for i in range(4 * 60 * 10)]
    values = [json.dumps(m) for m in msgs] + ["{not json", '{"ts": 1767225600000, "sensor": "s9"}']
    p = producer(broker.addr)
    half = len(values) // 2
    produce(p, topic, values[:half], key=lambda i: f"s{i % 4}")
    # The views are made once the table exists (the first messages made it); the second
    # half arrives after them.
    deadline = time.monotonic() + 60
    while not try_sql(srv, "plant", "SELECT count(*) FROM readings") and time.monotonic() < deadline:
        time.sleep(0.2)
    for name, width in (("readings_10s", "10 seconds"), ("readings_1m", "1 minute")):
        sql(srv, "plant", f"CREATE MATERIALIZED VIEW {name} AS SELECT date_bin(INTERVAL '{width}', time) AS time, "
                          "sensor, avg(temperature) AS avg_t, max(temperature) AS max_t, count(*) AS n "
                          "FROM readings GROUP BY 1, 2")
    produce(p, topic, values[half:], key=lambda i: f"s{(half + i) % 4}")

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (try_sql(srv, "plant", "SELECT count(*) AS n FROM readings") or [{}])[0].get("n") != len(msgs):
        time.sleep(0.2)
    raw = duckdb.connect()
    raw.execute("SET TimeZone = 'UTC'")
    raw.execute("CREATE TABLE r (ts BIGINT, sensor VARCHAR, temperature DOUBLE)")
    raw.executemany("INSERT INTO r VALUES (?, ?, ?)", [(m["ts"], m["sensor"], m["temperature"]) for m in msgs])
    for name, secs in (("readings_10s", 10), ("readings_1m", 60)):
        want = raw.execute(f"""
            SELECT strftime(to_timestamp(ts // {secs * 1000} * {secs}) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS time,
                   sensor, round(avg(temperature), 9) AS avg_t, max(temperature) AS max_t, count(*) AS n
            FROM r GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
        got = sql(srv, "plant", f"SELECT time, sensor, round(avg_t, 9) AS avg_t, max_t, n FROM {name} ORDER BY 1, 2")
        assert [(g["time"], g["sensor"], g["avg_t"], g["max_t"], g["n"]) for g in got] == want, name
    dead = sql(srv, "plant", "SELECT subscription, topic, reason FROM dead_letters ORDER BY reason")
    assert [(d["subscription"], d["topic"]) for d in dead] == [("readings", topic)] * 2
    assert dead[0]["reason"].startswith("no field") and dead[1]["reason"].startswith("not a JSON object")
    want = [{"name": "readings", "state": "running", "messages": len(values), "dead_letters": 2, "lag": 0}]
    q = "SELECT name, state, messages, dead_letters, lag FROM system.subscriptions"
    deadline = time.monotonic() + 30
    while try_sql(srv, "plant", q) != want and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sql(srv, "plant", q) == want
