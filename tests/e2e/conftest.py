"""Shared fixtures: the binary under test, server factories, and a measurements report.

`server(...)` starts a real Fletch server and returns a FletchServer with .port, .http_url,
.grpc_url, .data_dir, .stop(sig), .restart(), .kill(). Servers run with --without-auth unless
the test passes auth=True (then .admin_token and .create_token(...) give tokens). Every server
a test started is killed at teardown, and when a test fails the tail of each of its servers'
logs is attached to the failure report.
"""

from __future__ import annotations

import atexit
import os
import subprocess
from pathlib import Path

import pytest

from fletch_server import REPO, FletchServer, fletch_binary

_ALL_SERVERS: list[FletchServer] = []


@atexit.register
def _kill_leftovers():
    for srv in _ALL_SERVERS:
        srv.kill()


@pytest.fixture(scope="session")
def fletch_bin() -> Path:
    """Path of the fletch binary; runs `make build` once if it does not exist yet."""
    path = fletch_binary()
    if not path.exists():
        if os.environ.get("FLETCH_BIN"):
            pytest.fail(f"FLETCH_BIN={path} does not exist")
        proc = subprocess.run(
            ["make", "build"], cwd=REPO, capture_output=True, text=True, timeout=1800
        )
        if proc.returncode != 0 or not path.exists():
            pytest.fail(
                f"`make build` in {REPO} failed (exit {proc.returncode}) or did not produce "
                f"{path}\n--- stdout\n{proc.stdout[-5000:]}\n--- stderr\n{proc.stderr[-5000:]}"
            )
    return path


def _factory(node, binary: Path, base_dir: Path):
    servers: list[FletchServer] = []
    node._fletch_servers = servers

    def start(data_dir=None, args=(), auth=False, tls_cert=None, tls_key=None, **kw) -> FletchServer:
        n = len(servers)
        data_dir = Path(data_dir) if data_dir is not None else base_dir / f"data{n}"
        srv = FletchServer(binary, data_dir, base_dir / f"fletch-{n}.log", args=args, auth=auth,
                           tls_cert=tls_cert, tls_key=tls_key)
        servers.append(srv)
        _ALL_SERVERS.append(srv)
        return srv.start(**kw)

    return start, servers


@pytest.fixture
def server(request, fletch_bin, tmp_path):
    """Factory: server(data_dir=None, args=[...], auth=False, tls_cert=None, tls_key=None)
    -> started FletchServer."""
    start, servers = _factory(request.node, fletch_bin, tmp_path)
    yield start
    for srv in servers:
        srv.kill()


@pytest.fixture(scope="module")
def module_server(request, fletch_bin, tmp_path_factory):
    """Like `server`, but the servers live for the whole test module."""
    base = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    start, servers = _factory(request.node, fletch_bin, base)
    yield start
    for srv in servers:
        srv.kill()


# -- measurements --------------------------------------------------------------------
_MEASUREMENTS_KEY = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def report(pytestconfig):
    """report(msg): print a measurement now (captured) and again in the run's summary."""
    lines = pytestconfig.stash.setdefault(_MEASUREMENTS_KEY, [])

    def emit(msg: str):
        print(msg)
        lines.append(msg)

    return emit


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    lines = config.stash.get(_MEASUREMENTS_KEY, [])
    if lines:
        terminalreporter.section("fletch e2e measurements")
        for line in lines:
            terminalreporter.write_line(line)


# -- server logs on failure ------------------------------------------------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for node in item.listchain():
        for srv in getattr(node, "_fletch_servers", ()):
            rep.sections.append(
                (f"fletch log (port {srv.port}, {srv.log_path})", srv.log_tail())
            )
