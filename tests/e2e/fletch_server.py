"""Start, stop and restart a real `fletch serve` process for end-to-end tests.

The server is driven only through its command line and its wire interface; nothing here
knows how Fletch works inside. Logs (stdout and stderr) of every start of one server go to
one file, so a failing test can show what the server said across restarts.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Time a server gets to answer /health after start (seconds). Generous because a restart
# may replay a large WAL first.
READY_TIMEOUT = 60.0
# Time a graceful stop gets (seconds): SIGTERM persists every buffer to Parquet first,
# which for the TSBS day (864,000 rows) takes a while on a slow CI machine.
STOP_TIMEOUT = 180.0
LOG_TAIL_LINES = 300


def fletch_binary() -> Path:
    """The binary under test: $FLETCH_BIN, else <repo>/bin/fletch."""
    env = os.environ.get("FLETCH_BIN")
    return Path(env) if env else REPO / "bin" / "fletch"


def free_port() -> int:
    """A port that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerStartError(RuntimeError):
    pass


# The line `fletch serve` prints on stdout on its first start with auth on.
ADMIN_TOKEN_LINE = re.compile(r"^admin token: (fletch_\S+)$", re.MULTILINE)


class FletchServer:
    """One Fletch server on one data directory; may be stopped and restarted many times.

    auth=False (the default for tests that are not about auth) starts it with
    --without-auth. With auth=True, .admin_token is the token the first start printed.
    tls_cert/tls_key (PEM files) serve HTTPS and gRPC over TLS; the URLs follow.
    """

    def __init__(self, binary: Path, data_dir: Path, log_path: Path, args=(), auth: bool = False,
                 tls_cert=None, tls_key=None):
        self.binary = Path(binary)
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.args = list(args)
        self.auth = auth
        self.tls_cert = Path(tls_cert) if tls_cert else None
        self.tls_key = Path(tls_key) if tls_key else None
        self.admin_token: str | None = None
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    # -- addresses -------------------------------------------------------------------
    @property
    def http_url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def grpc_url(self) -> str:
        scheme = "grpc+tls" if self.tls_cert else "grpc"
        return f"{scheme}://127.0.0.1:{self.port}"

    # -- tokens ------------------------------------------------------------------------
    def create_token(self, database: str, permission: str, name: str | None = None) -> str:
        """`fletch token create` on this server's data dir; returns the new token."""
        cmd = [str(self.binary), "token", "create", "--data-dir", str(self.data_dir),
               "--database", database, "--permission", permission]
        if name:
            cmd += ["--name", name]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr}")
        return proc.stdout.strip()

    # -- lifecycle ---------------------------------------------------------------------
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, args=None, port: int | None = None) -> "FletchServer":
        """Start the server (reusing the last port when possible) and wait for /health."""
        if self.running():
            raise RuntimeError("fletch server already running")
        if args is not None:
            self.args = list(args)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        want = port or self.port
        last_err = None
        for attempt in range(3):
            self.port = want if (want and attempt == 0) else free_port()
            try:
                self._spawn_and_wait()
                return self
            except ServerStartError as e:
                last_err = e
                # Only a lost race for the port is worth another try.
                if "address already in use" not in self._this_start_log().lower():
                    break
        raise last_err

    def _spawn_and_wait(self):
        cmd = [
            str(self.binary), "serve",
            "--data-dir", str(self.data_dir),
            "--addr", f"127.0.0.1:{self.port}",
            *([] if self.auth else ["--without-auth"]),
            *(["--tls-cert", str(self.tls_cert), "--tls-key", str(self.tls_key)] if self.tls_cert else []),
            *self.args,
        ]
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(cmd)}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=str(self.data_dir.parent)
            )
        self.started_at = time.monotonic()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise ServerStartError(
                    f"fletch exited with code {rc} before becoming ready; its log:\n"
                    + self._this_start_log()
                )
            if self._healthy():
                self.ready_seconds = time.monotonic() - self.started_at
                m = ADMIN_TOKEN_LINE.search(self._this_start_log())
                if m:
                    self.admin_token = m.group(1)
                return
            if time.monotonic() > deadline:
                self.kill()
                raise ServerStartError(
                    f"fletch did not answer GET /health with 200 within {READY_TIMEOUT:.0f}s "
                    f"on port {self.port}; its log:\n" + self._this_start_log()
                )
            time.sleep(0.05)

    def _healthy(self) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.tls_cert)) if self.tls_cert else None
        try:
            with urllib.request.urlopen(self.http_url + "/health", timeout=2, context=ctx) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def stop(self, sig=signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int | None:
        """Send sig and wait for exit. Returns the exit code (negative: killed by a signal).

        A server that ignores SIGTERM for `timeout` seconds is killed and the call raises,
        because a graceful stop that never finishes is a bug the tests must see.
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"fletch did not exit within {timeout:.0f}s of signal {sig!r}"
                )
        return self.proc.returncode

    def kill(self):
        """SIGKILL: the crash case. Also used for cleanup; never raises."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass

    def restart(self, sig=signal.SIGTERM, args=None) -> "FletchServer":
        """Stop (if running) with sig, then start again on the same data dir and port."""
        if self.running():
            self.stop(sig)
        return self.start(args=args)

    # -- logs --------------------------------------------------------------------------
    def _this_start_log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(getattr(self, "_log_offset", 0))
                return f.read().decode(errors="replace")[-20000:]
        except OSError:
            return "(no log)"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
