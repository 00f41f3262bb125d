"""Line protocol to a Fletch server over HTTP, shared by the scripts in this directory.

Standard library only (http.client), so machine_data.py runs wherever Python 3 does.
Each writer thread keeps one keep-alive connection and POSTs bodies to
/api/v3/write_lp?db=<database>&precision=ns&accept_partial=false: a body with a bad line
writes nothing and the script stops with the server's message, rather than loading a
silent subset. A 204 means the body is fsynced in Fletch's WAL.

A 429 (buffer at its hard limit, see docs/operations.md) is retried after the server's
Retry-After, up to RETRIES_429 times; any other refusal raises WriteError.
"""

from __future__ import annotations

import http.client
import os
import queue
import threading
import time
import urllib.parse

DEFAULT_HOST = "http://127.0.0.1:8181"
# Fletch answers 429 with Retry-After: 1 while persistence catches up; 60 tries is a
# minute of back-pressure before the load is called failed.
RETRIES_429 = 60
HTTP_TIMEOUT = 300  # seconds per request: a large body behind a slow fsync


class WriteError(RuntimeError):
    pass


def add_connection_args(p, database_default: str) -> None:
    """The flags every script shares: --host, --token, --database (env FLETCH_HOST,
    FLETCH_TOKEN, FLETCH_DATABASE, as `fletch query` reads them)."""
    p.add_argument("--host", default=None,
                   help=f"server URL (env FLETCH_HOST, default {DEFAULT_HOST})")
    p.add_argument("--token", default=os.environ.get("FLETCH_TOKEN"),
                   help="API token with write permission (env FLETCH_TOKEN); none for --without-auth")
    p.add_argument("--database", default=os.environ.get("FLETCH_DATABASE", database_default),
                   help=f"database (env FLETCH_DATABASE, default {database_default})")


def resolve_host(host: str | None) -> str:
    return host or os.environ.get("FLETCH_HOST") or DEFAULT_HOST


class _Conn:
    """One keep-alive HTTP(S) connection to the server's write endpoint."""

    def __init__(self, host: str, token: str | None, database: str):
        u = urllib.parse.urlsplit(host)
        if u.scheme not in ("http", "https"):
            raise ValueError(f"--host {host!r}: want http://HOST:PORT or https://HOST:PORT")
        cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        self._new = lambda: cls(u.hostname, u.port, timeout=HTTP_TIMEOUT)
        self.conn = self._new()
        base = u.path.rstrip("/")
        self.path = base + "/api/v3/write_lp?" + urllib.parse.urlencode(
            {"db": database, "precision": "ns", "accept_partial": "false"})
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def post(self, body: bytes) -> None:
        for _ in range(RETRIES_429 + 1):
            status, text, retry_after = self._post_once(body)
            if status == 204:
                return
            if status != 429:
                raise WriteError(f"write answered HTTP {status}: {text[:2000]}")
            time.sleep(retry_after)
        raise WriteError(f"write still refused with 429 after {RETRIES_429} retries: {text[:500]}")

    def _post_once(self, body: bytes):
        for attempt in (0, 1):
            try:
                self.conn.request("POST", self.path, body=body, headers=self.headers)
                r = self.conn.getresponse()
                text = r.read().decode(errors="replace")
                return r.status, text, float(r.getheader("Retry-After") or 1)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server closed while idle: reconnect once.
                # Writes are idempotent (last write wins on series key and time).
                self.conn.close()
                self.conn = self._new()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


class LPWriter:
    """Sends line-protocol bodies from `writers` threads; send() blocks while
    2 x writers bodies are queued, so memory stays bounded however large the input.

    With writers=1 bodies are written in the order they were sent, which keeps
    last-write-wins deterministic for inputs that re-send points.
    """

    def __init__(self, host: str, token: str | None, database: str, writers: int = 1):
        self.lines = 0
        self.bodies = 0
        self.bytes = 0
        self._err: BaseException | None = None
        self._lock = threading.Lock()
        self._q: queue.Queue = queue.Queue(maxsize=2 * writers)
        self._threads = [threading.Thread(target=self._run, args=(_Conn(host, token, database),), daemon=True)
                         for _ in range(writers)]
        for t in self._threads:
            t.start()

    def _run(self, conn: _Conn) -> None:
        try:
            while True:
                item = self._q.get()
                if item is None:
                    return
                body, n = item
                if self._err is None:
                    try:
                        conn.post(body)
                    except BaseException as e:  # noqa: BLE001 — handed to the caller
                        with self._lock:
                            self._err = self._err or e
                        continue
                    with self._lock:
                        self.lines += n
                        self.bodies += 1
                        self.bytes += len(body)
        finally:
            conn.close()

    def send(self, body: bytes, lines: int) -> None:
        """Queue one body of `lines` lines (newline-terminated); raises the first error
        any writer met."""
        if self._err is not None:
            raise self._err
        self._q.put((body, lines))

    def close(self) -> None:
        """Wait for every queued body; raises the first error any writer met."""
        for _ in self._threads:
            self._q.put(None)
        for t in self._threads:
            t.join()
        if self._err is not None:
            raise self._err


def rate_summary(what: str, rows: int, seconds: float, extra: str = "") -> str:
    rate = rows / seconds if seconds > 0 else float("inf")
    return f"{what}: {rows:,} rows in {seconds:.2f} s = {rate:,.0f} rows/s{extra}"
