"""A QuestDB server for the side-by-side benchmark: started from the Maven artifact's jar on a
temporary root, bound to loopback on free ports, written to over ILP/HTTP and asked SQL over
the PostgreSQL wire protocol (psycopg).

Durability: QuestDB answers an ILP/HTTP request (204) after committing its rows to the
table's write-ahead log; one request is one transaction. server.conf sets
`cairo.commit.mode=sync`, under which each WAL commit is flushed to disk before it returns
(the default, nosync, leaves it to the OS). The rows become queryable later, when QuestDB's
WAL apply job copies them into the table, so `wait_visible` measures that lag separately.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import requests

READY_TIMEOUT = 120.0  # seconds from start until the HTTP port answers a query
STOP_TIMEOUT = 120.0
HTTP_TIMEOUT = 300

# server.conf: only loopback listeners, no telemetry, WAL commits flushed before the ack.
# The web console's minimal HTTP server (health and metrics) is off rather than bound to
# another port, and so is the UDP line-protocol receiver.
CONF = """\
http.net.bind.to=127.0.0.1:{http}
pg.net.bind.to=127.0.0.1:{pg}
line.tcp.net.bind.to=127.0.0.1:{ilp}
http.min.enabled=false
line.udp.enabled=false
telemetry.enabled=false
cairo.commit.mode=sync
"""


class QuestDBError(RuntimeError):
    pass


class QuestDB:
    """One QuestDB server on a fresh temporary root; use as a context manager."""

    def __init__(self, jar: Path, java: str = "java"):
        from fletch_server import free_port  # the e2e helper; tests/e2e is on sys.path

        self.jar = Path(jar).resolve()
        self.java = java
        self.root = Path(tempfile.mkdtemp(prefix="questdb-bench-"))
        self.http_port, self.pg_port, self.ilp_port = free_port(), free_port(), free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.root / "questdb.log"
        self.session = requests.Session()
        self.version = "?"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def __enter__(self) -> "QuestDB":
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self) -> "QuestDB":
        (self.root / "conf").mkdir(parents=True, exist_ok=True)
        (self.root / "conf" / "server.conf").write_text(
            CONF.format(http=self.http_port, pg=self.pg_port, ilp=self.ilp_port))
        # The jar is a Java module (io.questdb) whose main class is io.questdb.ServerMain;
        # -d names the root holding conf/ and db/.
        cmd = [self.java, "-p", str(self.jar), "-m", "io.questdb/io.questdb.ServerMain",
               "-d", str(self.root)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         cwd=str(self.root))
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise QuestDBError(f"QuestDB exited with {self.proc.returncode}:\n{tail}")
            try:
                build = self.exec("SELECT build()")[0][0]  # "Build Information: QuestDB 9.3.4, JDK ..."
                self.version = build.split("QuestDB ", 1)[-1].split(",")[0]
                return self
            except (requests.RequestException, QuestDBError):
                pass
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise QuestDBError(f"QuestDB did not answer within {READY_TIMEOUT:.0f} s:\n" + tail)
            time.sleep(0.2)

    def stop(self):
        self._terminate()
        shutil.rmtree(self.root, ignore_errors=True)

    def _terminate(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    # -- REST: small statements -----------------------------------------------------------
    def exec(self, sql: str) -> list:
        """Run one statement through /exec; returns the dataset rows (JSON values)."""
        r = self.session.get(self.http_url + "/exec", params={"query": sql}, timeout=HTTP_TIMEOUT)
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        if r.status_code != 200 or "error" in body:
            raise QuestDBError(f"{sql!r}: HTTP {r.status_code}: {body.get('error', r.text[:500])}")
        return body.get("dataset", [])

    # -- ILP over HTTP ----------------------------------------------------------------------
    def write_lp(self, body: bytes, session: requests.Session) -> None:
        r = session.post(self.http_url + "/write", params={"precision": "n"}, data=body,
                         timeout=HTTP_TIMEOUT)
        if r.status_code != 204:
            raise QuestDBError(f"ILP write answered {r.status_code}: {r.text[:500]}")

    def wait_visible(self, table: str, rows: int, timeout: float = 300.0) -> float:
        """Seconds until count(*) of table reaches rows (the WAL apply lag)."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            try:
                if self.exec(f"SELECT count() FROM {table}")[0][0] >= rows:
                    return time.perf_counter() - t0
            except QuestDBError:
                pass  # the table may not be registered yet
            time.sleep(0.05)
        raise QuestDBError(f"{table} did not reach {rows} rows within {timeout:.0f} s")

    def stop_and_measure(self, table: str) -> int:
        """Stop QuestDB gracefully, then return the size of the table's files without its
        WAL (wal*/ and txn_seq/, which QuestDB purges once applied). Measured after the
        stop because a running QuestDB extends the active partition's column files far
        ahead of the data (hundreds of MB here) and trims them only on close."""
        name = self.exec(f"SELECT directoryName FROM tables() WHERE table_name = '{table}'")[0][0]
        self._terminate()
        tdir = self.root / "db" / name
        return sum(p.stat().st_size for p in tdir.rglob("*")
                   if p.is_file() and not p.relative_to(tdir).parts[0].startswith(("wal", "txn_seq")))

    def drop(self, table: str) -> None:
        self.exec(f"DROP TABLE IF EXISTS {table}")

    # -- SQL over the PostgreSQL wire protocol ---------------------------------------------
    def connect(self):
        """A psycopg connection as QuestDB's default user (admin/quest, database qdb)."""
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.pg_port, user="admin",
                               password="quest", dbname="qdb", autocommit=True)


def pg_query(conn, sql: str) -> tuple[list[str], list[tuple]]:
    """Run sql, fetch every row; returns (column names, rows)."""
    with conn.cursor(binary=True) as cur:
        cur.execute(sql)
        rows = cur.fetchall()
        return [d.name for d in cur.description], rows
