"""A one-node Apache Kafka (broker and controller in KRaft mode) on loopback, run from the
Maven Central jars tests/kafka/pom.xml names (fetched into tests/kafka/lib with Maven on
first use). For the subscription tests and bench/kafka_ingest.py."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from fletch_server import free_port

KAFKA_DIR = Path(__file__).resolve().parents[1] / "kafka"


def kafka_lib() -> Path:
    """tests/kafka/lib, fetched with `mvn dependency:copy-dependencies` if missing."""
    lib = KAFKA_DIR / "lib"
    if not lib.exists() or not any(lib.glob("kafka_2.13-*.jar")):
        mvn = shutil.which("mvn")
        if not mvn:
            raise RuntimeError("mvn is needed to fetch the Kafka broker's jars (tests/kafka/pom.xml)")
        p = subprocess.run([mvn, "-B", "-q", "-ntp", "dependency:copy-dependencies", "-DoutputDirectory=lib"],
                           cwd=KAFKA_DIR, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"fetching Kafka's jars failed:\n{p.stdout[-3000:]}{p.stderr[-3000:]}")
    return lib


def produce(p, topic: str, values, key=lambda i: str(i % 6)) -> None:
    """Queue values (str or bytes) on a confluent-kafka Producer, waiting while its queue is
    full; the caller flushes."""
    for i, v in enumerate(values):
        while True:
            try:
                p.produce(topic, key=key(i).encode(), value=v.encode() if isinstance(v, str) else v)
                break
            except BufferError:
                p.poll(0.01)
        if i % 5000 == 0:
            p.poll(0)


class KafkaBroker:
    """with KafkaBroker(work_dir) as b: ... b.addr is host:port. Stopped (SIGTERM) on exit."""

    def __init__(self, work: Path, partitions: int = 6):
        self.work = Path(work)
        self.partitions = partitions
        self.proc = None
        self.addr = ""

    def __enter__(self) -> "KafkaBroker":
        java = shutil.which("java")
        if not java:
            raise RuntimeError("java is needed to run the Kafka broker")
        cp = str(kafka_lib()) + "/*"
        port, cport = free_port(), free_port()
        props = self.work / "server.properties"
        props.write_text("\n".join([
            "process.roles=broker,controller", "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{cport}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.work / 'data'}", f"num.partitions={self.partitions}",
            "offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1", "group.initial.rebalance.delay.ms=0", "",
        ]))
        out = subprocess.run([java, "-cp", cp, "kafka.tools.StorageTool", "random-uuid"],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        cluster_id = out.strip().splitlines()[-1]
        subprocess.run([java, "-cp", cp, "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id,
                        "-c", str(props)], capture_output=True, text=True, timeout=120, check=True)
        self.log = open(self.work / "kafka.log", "w")
        self.proc = subprocess.Popen([java, "-Xmx512m", "-cp", cp, "kafka.Kafka", str(props)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.addr = f"127.0.0.1:{port}"
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    pass
                AdminClient({"bootstrap.servers": self.addr, "log_level": 0}).list_topics(timeout=5)
                return self
            except Exception:  # noqa: BLE001 — not up yet
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"Kafka did not start:\n{(self.work / 'kafka.log').read_text()[-3000:]}")
                time.sleep(0.3)

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        if getattr(self, "log", None):
            self.log.close()

    def create_topic(self, name: str, partitions: int | None = None) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.addr, "log_level": 0})
        for f in admin.create_topics([NewTopic(name, partitions or self.partitions, 1)]).values():
            f.result(30)
