"""fletch backup / fletch restore round trip against the real binary, while writes go on."""

from __future__ import annotations

import subprocess
import threading

import requests

from fletch_client import HTTP_TIMEOUT, query_influx

DB = "bk"
T0 = 1767225600_000000000


def write(srv, token, body):
    r = requests.post(srv.http_url + "/api/v3/write_lp", params={"db": DB}, data=body.encode(),
                      headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 204, r.text


def rows(srv, token):
    import pyarrow.flight as flight, json  # noqa: E401
    with flight.connect(srv.grpc_url) as c:
        t = c.do_get(flight.Ticket(json.dumps({"database": DB, "sql_query": "SELECT k, v FROM m ORDER BY k", "query_type": "sql"})),
                     flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])).read_all()
    return [(r["k"], r["v"]) for r in t.to_pylist()]


def test_backup_while_writing_then_restore(server, fletch_bin, tmp_path):
    srv = server(auth=True)
    tok = srv.admin_token
    write(srv, tok, "\n".join(f"m,k=k{i:03d} v={i} {T0 + i}" for i in range(100)) + "\n")
    srv.restart()  # some rows in Parquet
    write(srv, tok, "\n".join(f"m,k=k{i:03d} v={i} {T0 + i}" for i in range(100, 150)) + "\n")  # some in the buffer
    before = rows(srv, tok)
    assert len(before) == 150

    stop = threading.Event()
    def writer():  # writes go on during the backup, at later keys
        i = 1000
        while not stop.is_set() and i < 1300:
            write(srv, tok, f"m,k=w{i} v={i} {T0 + i}\n")
            i += 1
    t = threading.Thread(target=writer)
    t.start()
    dest = tmp_path / "backup"
    p = subprocess.run([str(fletch_bin), "backup", "--host", srv.http_url, "--token", tok, str(dest)],
                       capture_output=True, text=True, timeout=120)
    stop.set()
    t.join()
    assert p.returncode == 0, p.stderr

    # A read token may not take backups.
    reader = srv.create_token(DB, "read")
    p2 = subprocess.run([str(fletch_bin), "backup", "--host", srv.http_url, "--token", reader, str(tmp_path / "no")],
                        capture_output=True, text=True, timeout=120)
    assert p2.returncode != 0 and "admin token for all databases" in p2.stderr

    srv.stop()
    restored_dir = tmp_path / "restored"
    p = subprocess.run([str(fletch_bin), "restore", "--data-dir", str(restored_dir), str(dest)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    again = server(data_dir=restored_dir, auth=True)
    got = rows(again, tok)  # the tokens came with the backup
    # Everything acknowledged before the backup, plus a prefix of the concurrent writes.
    assert got[:150] == before
    extra = got[150:]
    assert all(k.startswith("w") for k, _ in extra)
    # New writes rank after the restored rows: overwriting a restored key wins.
    write(again, tok, f"m,k=k000 v=-1 {T0}\n")
    again.restart()
    assert rows(again, tok)[0] == ("k000", -1.0)
    # Restoring into a non-empty directory is refused.
    p = subprocess.run([str(fletch_bin), "restore", "--data-dir", str(restored_dir), str(dest)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "not empty" in p.stderr
