"""The web console at / in a real headless Chromium (Debian's chromium and chromium-driver,
through Selenium): sign in with a token, browse the TSBS table, run a date_bin query with
Ctrl-Enter, chart it, download CSV, write dropped files, and see a bad query's error. Every
answer is checked against the HTTP API or against the rows written.

Set FLETCH_CONSOLE_SHOTS=DIR to also save a screenshot of each panel there (docs/console.md
uses them)."""

from __future__ import annotations

import colorsys
import gzip
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from fletch_client import HTTP_TIMEOUT
from tsbs_oracle import TSBS_CPU

REPO = Path(__file__).resolve().parents[2]
CONSOLE = REPO / "console"
DB = "tsbs"
LINES = 30_000  # the first 300 timestamps of the TSBS day's 100 hosts
HOSTS = ["host_0", "host_1", "host_2"]
BIN_SQL = ("SELECT date_bin(INTERVAL '5 minutes', time) AS time, hostname, max(usage_user) AS max_user "
           "FROM cpu WHERE hostname IN ('host_0', 'host_1', 'host_2') GROUP BY 1, 2 ORDER BY 1, 2")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def tsbs_lines() -> list[str]:
    out = []
    with gzip.open(TSBS_CPU, "rt") as f:
        for line in f:
            if line.strip():
                out.append(line.rstrip("\n"))
            if len(out) == LINES:
                break
    return out


def oracle_bins(lines: list[str]) -> list[tuple[str, str, int]]:
    """BIN_SQL computed here from the raw lines: (bin RFC 3339, host, max usage_user)."""
    best: dict[tuple[int, str], int] = {}
    for line in lines:
        head, fields, ts = line.rsplit(" ", 2)
        tags = dict(kv.split("=", 1) for kv in head.split(",")[1:])
        host = tags["hostname"]
        if host not in HOSTS:
            continue
        v = int(dict(kv.split("=", 1) for kv in fields.split(","))["usage_user"].rstrip("i"))
        b = int(ts) // 300_000_000_000 * 300
        best[(b, host)] = max(best.get((b, host), v), v)
    return [(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(b)), h, v) for (b, h), v in sorted(best.items())]


def api(srv, sql: str, fmt: str = "json", token: str | None = None):
    r = requests.post(srv.http_url + "/api/v3/query_sql", timeout=HTTP_TIMEOUT,
                      json={"db": DB, "q": sql, "format": fmt},
                      headers={"Authorization": f"Bearer {token or srv.admin_token}"})
    r.raise_for_status()
    return r.json() if fmt == "json" else r.content


@pytest.fixture(scope="module")
def loaded(module_server):
    srv = module_server(auth=True)
    lines = tsbs_lines()
    for i in range(0, len(lines), 10_000):
        r = requests.post(srv.http_url + f"/api/v3/write_lp?db={DB}", data="\n".join(lines[i:i + 10_000]) + "\n",
                          headers={"Authorization": f"Bearer {srv.admin_token}"}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 204, r.text
    return srv, lines


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} missing: .ci/run installs chromium and chromium-driver")
        pytest.skip("no chromium/chromedriver here (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download anything
    downloads = tmp_path_factory.mktemp("downloads")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,900", "--force-device-scale-factor=1"):
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_script_timeout(60)
    d.downloads = downloads
    yield d
    d.quit()


def wait_for(fn, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 — retried until the deadline
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}" + (f": {last}" if last else ""))


def shot(d, name: str):
    out = os.environ.get("FLETCH_CONSOLE_SHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(Path(out) / f"console-{name}.png"))


def set_sql(d, sql: str):
    d.execute_script("window.fletch.editor.setText(arguments[0])", sql)


def run_sql(d, sql: str):
    """Put sql in the editor, press Ctrl-Enter in it, and wait until the query ends."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    set_sql(d, sql)
    before = d.execute_script("return window.fletch.state.result")
    d.find_element(By.CSS_SELECTOR, "#editor .cm-content").click()
    d.find_element(By.CSS_SELECTOR, "#editor .cm-content").send_keys(Keys.CONTROL, Keys.ENTER)
    wait_for(lambda: d.find_element(By.ID, "status").text not in ("running…", "") and
             (d.execute_script("return window.fletch.state.result") != before or
              d.find_element(By.ID, "error").is_displayed()), what="the query to end")


def test_page_and_assets_are_served_without_a_token(loaded):
    srv, _ = loaded
    page = requests.get(srv.http_url + "/", timeout=HTTP_TIMEOUT)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert '<script src="/console/console.js">' in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    total = 0
    for name in ("console.js", "console.css"):
        r = requests.get(srv.http_url + "/console/" + name, headers={"Accept-Encoding": "gzip"},
                         stream=True, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
        total += len(r.raw.read(decode_content=False))
        assert requests.get(srv.http_url + "/console/" + name, headers={"If-None-Match": r.headers["ETag"]},
                            timeout=HTTP_TIMEOUT).status_code == 304
    assert total < 1 << 20, f"console assets are {total} bytes gzipped"
    assert requests.get(srv.http_url + "/console/nope.js", timeout=HTTP_TIMEOUT).status_code == 404
    assert requests.get(srv.http_url + "/console/../api/v3/query_sql?q=SELECT%201", timeout=HTTP_TIMEOUT).status_code == 401
    # The API behind the page still wants the token.
    assert requests.get(srv.http_url + "/api/v3/query_sql", params={"q": "SELECT 1", "db": DB},
                        timeout=HTTP_TIMEOUT).status_code == 401


def test_without_console_flag(server):
    srv = server(args=["--without-console"])
    assert requests.get(srv.http_url + "/", timeout=HTTP_TIMEOUT).status_code == 404
    assert requests.get(srv.http_url + "/console/console.js", timeout=HTTP_TIMEOUT).status_code == 404


def test_sign_in_browse_query_chart_download(loaded, browser):
    from selenium.webdriver.common.by import By

    srv, lines = loaded
    d = browser
    d.get(srv.http_url + "/")
    login = wait_for(lambda: d.find_element(By.ID, "login").is_displayed() and d.find_element(By.ID, "login"),
                     what="the token prompt")
    d.find_element(By.ID, "token").send_keys("not-a-token")
    d.find_element(By.ID, "login-ok").click()
    wait_for(lambda: "refused" in d.find_element(By.ID, "login-error").text, what="the refusal")
    d.find_element(By.ID, "token").send_keys(srv.admin_token)
    d.find_element(By.ID, "login-ok").click()
    wait_for(lambda: not login.is_displayed(), what="sign-in")

    # Schema: pick the database, find cpu, open it: tags and fields are marked.
    from selenium.webdriver.support.ui import Select

    wait_for(lambda: DB in [o.text for o in d.find_elements(By.CSS_SELECTOR, "#database option")], what="databases")
    Select(d.find_element(By.ID, "database")).select_by_visible_text(DB)
    table = wait_for(lambda: d.find_element(By.CSS_SELECTOR, '#schema details[data-table="cpu"]'), what="the cpu table")
    table.find_element(By.TAG_NAME, "summary").click()
    wait_for(lambda: len(table.find_elements(By.CSS_SELECTOR, "li")) == 21, what="cpu's 21 columns")
    badges = {li.find_element(By.CLASS_NAME, "cname").text: li.find_element(By.CLASS_NAME, "badge").text
              for li in table.find_elements(By.CSS_SELECTOR, "li")}
    assert badges["hostname"] == "tag" and badges["usage_user"] == "field" and badges["time"] == "time"
    assert sum(v == "tag" for v in badges.values()) == 10 and sum(v == "field" for v in badges.values()) == 10
    shot(d, "schema")

    # A date_bin query with Ctrl-Enter: the grid holds what DuckDB-free arithmetic says.
    want = oracle_bins(lines)
    run_sql(d, BIN_SQL)
    status = d.find_element(By.ID, "status").text
    assert status.startswith(f"{len(want):,} rows"), status
    assert "in the server" in status
    got = d.execute_script("return window.fletch.state.result.rows")
    assert [(r["time"], r["hostname"], r["max_user"]) for r in got] == want
    cells = [c.text for c in d.find_elements(By.CSS_SELECTOR, ".grid-row")[0].find_elements(By.TAG_NAME, "div")]
    assert cells == [want[0][0], want[0][1], str(want[0][2])]
    shot(d, "query")

    # Chart: one line per host, drawn.
    d.find_element(By.CSS_SELECTOR, '.result-bar button[data-view="chart"]').click()
    canvas = wait_for(lambda: d.find_element(By.CSS_SELECTOR, "#chart canvas"), what="the chart")
    labels = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#chart .u-legend .u-series .u-label")]
    assert [x for x in labels if x != "time"] == HOSTS
    from PIL import Image

    img = Image.open(io.BytesIO(canvas.screenshot_as_png)).convert("RGB")
    pixels = img.getcolors(maxcolors=1 << 24)
    for i in range(len(HOSTS)):
        h = (round(i * 360 / len(HOSTS) + 210) % 360) / 360
        target = tuple(round(255 * x) for x in colorsys.hls_to_rgb(h, 0.48, 0.65))
        near = sum(n for n, px in pixels if all(abs(a - b) <= 30 for a, b in zip(px, target)))
        assert near >= 100, f"series {i} ({HOSTS[i]}, rgb{target}) has {near} pixels in the chart"
    shot(d, "chart")

    # CSV download equals the API's CSV for the same SQL.
    d.find_element(By.ID, "csv").click()
    path = d.downloads / "result.csv"
    wait_for(lambda: path.exists() and path.stat().st_size > 0 and not list(d.downloads.glob("*.crdownload")),
             what="the CSV download")
    assert path.read_bytes() == api(srv, BIN_SQL, "csv")
    d.find_element(By.ID, "parquet").click()
    path = d.downloads / "result.parquet"
    wait_for(lambda: path.exists() and path.stat().st_size > 0 and not list(d.downloads.glob("*.crdownload")),
             what="the Parquet download")
    got = pq.read_table(path)
    assert got.column_names == ["time", "hostname", "max_user"]
    assert list(zip(*(got.column(c).to_pylist() for c in ("hostname", "max_user")))) == [(h, v) for _, h, v in want]

    # A wrong query's error shows next to the editor and names the problem.
    run_sql(d, "SELEC 1")
    err = d.find_element(By.ID, "error")
    assert err.is_displayed() and "syntax error" in err.text and "SELEC" in err.text
    shot(d, "error")

    # History remembers the good query.
    assert BIN_SQL in [e.get_attribute("textContent") for e in d.find_elements(By.CSS_SELECTOR, "#history li code")]


def test_zoom_requeries_with_a_finer_bin(loaded, browser):
    """$__interval over the range gives ~300 bins; a drag on the chart narrows the range and
    the query runs again with a finer bin."""
    from selenium.webdriver.common.by import By

    srv, lines = loaded
    d = browser
    points = sorted(int(line.rsplit(" ", 1)[1]) for line in lines if ",hostname=host_0," in line)
    sql = ("SELECT date_bin($__interval, time) AS time, max(usage_user) AS u FROM cpu "
           "WHERE hostname = 'host_0' AND time >= $__timeFrom AND time < $__timeTo GROUP BY 1 ORDER BY 1")
    d.find_element(By.CSS_SELECTOR, 'nav button[data-tab="query"]').click()
    for box, value in (("from", "2026-01-01T00:00:00Z"), ("to", "2026-01-01T00:50:00Z")):
        d.find_element(By.ID, box).clear()
        d.find_element(By.ID, box).send_keys(value)
    run_sql(d, sql)
    # 3,000 s / 300 bins = 10 s: one bin per point.
    assert len(d.execute_script("return window.fletch.state.result.rows")) == len(points) == 300
    d.find_element(By.CSS_SELECTOR, '.result-bar button[data-view="chart"]').click()
    wait_for(lambda: d.execute_script("return !!window.fletch.state.plot"), what="the chart")
    before = d.execute_script("return window.fletch.state.result")
    d.execute_script("""
        const u = window.fletch.state.plot;
        u.setSelect({left: u.bbox.width / devicePixelRatio * 0.4, width: u.bbox.width / devicePixelRatio * 0.2,
                     top: 0, height: u.bbox.height / devicePixelRatio});
    """)
    wait_for(lambda: d.execute_script("return window.fletch.state.result") != before, what="the zoomed query")
    lo = d.find_element(By.ID, "from").get_attribute("value")
    hi = d.find_element(By.ID, "to").get_attribute("value")
    ms = d.execute_script("return [Date.parse(arguments[0]), Date.parse(arguments[1])]", lo, hi)
    assert 500_000 < ms[1] - ms[0] < 700_000, (lo, hi)  # a fifth of the 50 minutes
    # ~600 s / 300 = 2 s, so 5 s bins: each still holds exactly one 10 s point.
    got = d.execute_script("return window.fletch.state.result.rows")
    start_ns, end_ns = ms[0] * 1_000_000, ms[1] * 1_000_000
    want = [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(p // 10**9)) for p in points
            if start_ns <= p < end_ns]
    assert [r["time"] for r in got] == want
    assert d.find_element(By.ID, "status").text.startswith(f"{len(want)} rows")


def test_large_result_and_operations(loaded, browser, report):
    from selenium.webdriver.common.by import By

    srv, _ = loaded
    d = browser
    if not d.current_url.startswith(srv.http_url):
        d.get(srv.http_url + "/")
    d.execute_script("sessionStorage.setItem('fletch.token', arguments[0])", srv.admin_token)
    d.execute_script("localStorage.setItem('fletch.db', arguments[0])", DB)
    d.get(srv.http_url + "/")
    wait_for(lambda: d.find_elements(By.CSS_SELECTOR, '#schema details[data-table="cpu"]'), what="the schema")

    # 100,000 rows: timed from the click to the painted grid (reported, not asserted).
    set_sql(d, "SELECT i, i * 2 AS twice, 'row ' || i AS label FROM generate_series(1, 100000) t(i)")
    ms = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const t0 = performance.now();
        window.fletch.run().then(() => requestAnimationFrame(() => done(performance.now() - t0)));
    """)
    report(f"console: 100,000-row result fetched, parsed and painted in {ms:.0f} ms (headless Chromium)")
    assert d.find_element(By.ID, "status").text.startswith("100,000 rows")
    assert len(d.find_elements(By.CSS_SELECTOR, ".grid-row")) < 200  # virtualized
    d.execute_script("document.querySelector('.grid-body').scrollTop = 1e9")
    wait_for(lambda: any(r.text.startswith("100000") for r in d.find_elements(By.CSS_SELECTOR, ".grid-row")),
             what="the last row after scrolling")

    # Operations: metrics cards and the system tables.
    d.find_element(By.CSS_SELECTOR, 'nav button[data-tab="ops"]').click()
    wait_for(lambda: d.find_element(By.ID, "ops-status").text.startswith("as of"), what="operations")
    cards = {c.find_element(By.CLASS_NAME, "k").text: c.find_element(By.CLASS_NAME, "v").text
             for c in d.find_elements(By.CSS_SELECTOR, "#ops .card")}
    assert cards["rows written"] == f"{LINES:,}"
    heads = [h.text for h in d.find_elements(By.CSS_SELECTOR, "#ops h3")]
    assert heads == ["Materialized views", "Subscriptions", "Retention", "Problems", "Tables"]
    assert "cpu_5m" not in d.find_element(By.ID, "ops").text
    api(srv, "CREATE MATERIALIZED VIEW cpu_5m AS SELECT date_bin(INTERVAL '5 minutes', time) AS time, hostname, "
             "avg(usage_user) AS usage_user FROM cpu GROUP BY 1, 2")
    api(srv, "CREATE VIEW busy AS SELECT * FROM cpu WHERE usage_user > 90")
    d.find_element(By.ID, "ops-refresh").click()
    wait_for(lambda: "cpu_5m" in d.find_element(By.ID, "ops").text, what="the new materialized view")
    # The refresh reloads the schema tree too: each kind under its heading.
    # (A materialized view is a table once its first pass has run: refresh until it is.)
    def kinds():
        d.find_element(By.ID, "ops-refresh").click()
        return wait_for(lambda: d.find_elements(By.CSS_SELECTOR, '#schema details[data-table="busy"]') and
                        [h.text for h in d.find_elements(By.CSS_SELECTOR, "#schema h3")], what="the schema")
    wait_for(lambda: kinds() == ["TABLES", "MATERIALIZED VIEWS", "VIEWS"], what="each kind under its heading")
    assert d.find_elements(By.CSS_SELECTOR, '#schema details[data-table="cpu_5m"]')
    shot(d, "operations")


def test_write_dropped_files(loaded, browser, tmp_path):
    from selenium.webdriver.common.by import By

    srv, _ = loaded
    d = browser
    d.find_element(By.CSS_SELECTOR, 'nav button[data-tab="write"]').click()
    status = d.find_element(By.ID, "write-status")

    def written(fragment: str):
        return wait_for(lambda: fragment in status.text and status.text.startswith(("Wrote", fragment)) and status.text,
                        what=f"the write of {fragment}")

    # Line protocol through the file chooser, gzipped.
    lp = "".join(f"dropped,site=s{i % 3} level={i * 0.5},ok={str(i % 2 == 0).lower()} {1767225600 + i}000000000\n"
                 for i in range(2500))
    (tmp_path / "levels.lp.gz").write_bytes(gzip.compress(lp.encode()))
    d.find_element(By.ID, "file").send_keys(str(tmp_path / "levels.lp.gz"))
    text = written("levels.lp.gz")
    assert "Wrote 2,500 lines" in text and "dropped: 2,500 rows" in text, text
    assert api(srv, "SELECT count(*) AS n, sum(level) AS s FROM dropped") == [{"n": 2500, "s": sum(i * 0.5 for i in range(2500))}]
    shot(d, "write")

    # CSV dropped onto the page (a real drop event carrying a File).
    csv = "time,room,temp,humidity\n" + "".join(
        f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z,{'kitchen' if i % 2 else 'hall'},{20 + i / 10},{40 + i}\n"
        for i in range(1200))
    d.execute_script("""
        const dt = new DataTransfer();
        dt.items.add(new File([arguments[0]], 'rooms.csv', {type: 'text/csv'}));
        const drop = document.getElementById('drop');
        for (const type of ['dragover', 'drop']) {
          drop.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
        }
    """, csv)
    text = written("rooms.csv")
    assert "Wrote 1,200 lines" in text and "rooms: 1,200 rows" in text, text
    got = api(srv, "SELECT room, count(*) AS n, max(temp) AS t, min(time) AS first FROM rooms GROUP BY 1 ORDER BY 1")
    assert got == [{"room": "hall", "n": 600, "t": 20 + 1198 / 10, "first": "2026-01-01T00:00:00Z"},
                   {"room": "kitchen", "n": 600, "t": 20 + 1199 / 10, "first": "2026-01-01T00:00:01Z"}]

    # Parquet (ZSTD, nanosecond timestamps, as pyarrow writes it) through the chooser.
    n = 3000
    t = pa.table({
        "time": pa.array([1767225600_000000000 + i * 1_000_000_123 for i in range(n)], pa.timestamp("ns", tz="UTC")),
        "line": pa.array([f"l{i % 4}" for i in range(n)]),
        "speed": pa.array([float(i) for i in range(n)]),
        "count": pa.array(list(range(n)), pa.int64()),
    })
    pq.write_table(t, tmp_path / "belts.parquet", compression="zstd")
    d.find_element(By.ID, "file").send_keys(str(tmp_path / "belts.parquet"))
    text = written("belts.parquet")
    assert f"Wrote {n:,} lines" in text and f"belts: {n:,} rows" in text, text
    got = api(srv, "SELECT count(*) AS n, sum(count) AS c, max(epoch_ns(time)) AS last FROM belts")
    assert got == [{"n": n, "c": sum(range(n)), "last": 1767225600_000000000 + (n - 1) * 1_000_000_123}]

    # A file that is not line protocol: the server's error, shown.
    (tmp_path / "bad.lp").write_text("this is not line protocol\n")
    d.find_element(By.ID, "file").send_keys(str(tmp_path / "bad.lp"))
    wait_for(lambda: status.text.startswith("bad.lp:") and "error" in status.get_attribute("class"),
             what="the bad file's error")


def test_committed_bundle_is_fresh(tmp_path):
    """console/dist is what `make ui` builds from console/src with the locked packages."""
    npm = shutil.which("npm")
    if not npm:
        if os.environ.get("CI"):
            pytest.fail("npm missing: .ci/run installs nodejs and npm")
        pytest.skip("no npm here")
    work = tmp_path / "console"
    shutil.copytree(CONSOLE, work, ignore=shutil.ignore_patterns("node_modules", "dist"))
    (work / "dist").mkdir()
    for cmd in ([npm, "ci", "--no-audit", "--no-fund"], [npm, "run", "build"]):
        p = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"{' '.join(cmd)}: {p.stdout[-2000:]}{p.stderr[-2000:]}"
    built = sorted(p.relative_to(work / "dist") for p in (work / "dist").rglob("*") if p.is_file())
    committed = sorted(p.relative_to(CONSOLE / "dist") for p in (CONSOLE / "dist").rglob("*") if p.is_file())
    assert built == committed
    stale = [str(p) for p in built if (work / "dist" / p).read_bytes() != (CONSOLE / "dist" / p).read_bytes()]
    assert not stale, f"console/dist is stale ({stale}): run `make ui` and commit console/dist"
