"""HTTPS and gRPC over TLS on one port, with a self-signed certificate made by the test.

The server runs with auth on, so the token travels only inside TLS. Writes go over HTTPS
(requests), queries over grpc+tls (pyarrow Flight, ADBC); each checks the exact rows.
"""

from __future__ import annotations

import shutil
import subprocess

import pyarrow.flight as flight
import pytest
import requests
from adbc_driver_flightsql import DatabaseOptions, dbapi

from certs import self_signed
from fletch_client import HTTP_TIMEOUT, rows

DB = "secure"
T0 = 1767225600_000000000  # 2026-01-01T00:00:00Z in ns
SEC = 1_000_000_000
LINES = [f"cpu,host=a usage=0.5 {T0}", f"cpu,host=b usage=1.5 {T0 + SEC}"]
EXPECTED = [("a", 0.5, T0), ("b", 1.5, T0 + SEC)]
SQL = "SELECT host, usage, time FROM cpu ORDER BY time"


@pytest.fixture(scope="module")
def tls_srv(module_server, tmp_path_factory):
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    s = module_server(auth=True, tls_cert=cert, tls_key=key)
    assert s.http_url.startswith("https://") and s.grpc_url.startswith("grpc+tls://")
    s.cert = cert
    return s


def test_https_write_then_flight_tls_query(tls_srv):
    s = tls_srv
    auth = {"Authorization": "Bearer " + s.admin_token}
    r = requests.post(s.http_url + "/api/v3/write_lp", params={"db": DB}, data="\n".join(LINES),
                      headers=auth, verify=str(s.cert), timeout=HTTP_TIMEOUT)
    assert r.status_code == 204, r.text
    # Auth still applies inside TLS.
    r = requests.post(s.http_url + "/api/v3/write_lp", params={"db": DB}, data=LINES[0],
                      verify=str(s.cert), timeout=HTTP_TIMEOUT)
    assert r.status_code == 401, r.text

    with flight.connect(s.grpc_url, tls_root_certs=s.cert.read_bytes()) as client:
        opts = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer " + s.admin_token.encode()),
                                                 (b"database", DB.encode())])
        ticket = flight.Ticket(f'{{"database": "{DB}", "sql_query": "{SQL}", "query_type": "sql"}}'.encode())
        assert rows(client.do_get(ticket, opts).read_all()) == EXPECTED
        header = client.authenticate_basic_token("u", s.admin_token)
        assert header == (b"authorization", b"Bearer " + s.admin_token.encode())

    with dbapi.connect(s.grpc_url, db_kwargs={
        DatabaseOptions.TLS_ROOT_CERTS.value: s.cert.read_text(),
        DatabaseOptions.RPC_CALL_HEADER_PREFIX.value + "database": DB,
        "username": "u", "password": s.admin_token,
    }) as conn, conn.cursor() as cur:
        cur.execute(SQL)
        assert rows(cur.fetch_arrow_table()) == EXPECTED


def test_plaintext_client_is_refused(tls_srv):
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(tls_srv.http_url.replace("https://", "http://") + "/health", timeout=10)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_srv.http_url + "/health", timeout=10)  # system CAs don't know the cert


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_over_https_gets_http11(tls_srv):
    # curl offers h2 first; the server must pick HTTP/1.1 for the HTTP API (see server/tls.go).
    out = subprocess.run(["curl", "-sS", "--cacert", str(tls_srv.cert), "-o", "/dev/null",
                          "-w", "%{http_version} %{http_code}", tls_srv.http_url + "/ping"],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout == "1.1 200", out


def test_tls_flags_must_come_together(fletch_bin, tmp_path):
    out = subprocess.run([str(fletch_bin), "serve", "--data-dir", str(tmp_path / "d"),
                          "--addr", "127.0.0.1:0", "--tls-cert", "x.pem"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "--tls-cert and --tls-key go together" in out.stderr
