"""The container image without a Docker engine: the Dockerfile and docker-compose.yml say
what a deployment needs, and scripts/docker_build_check.sh runs the image's build step
(scripts/build_release.sh, which the Dockerfile runs too) and its runtime checks."""

from __future__ import annotations

import json
import re
import subprocess

import yaml

from fletch_server import REPO

# The check builds with -trimpath, whose compiled packages the cache holds apart from
# `make build`'s: a first run recompiles every package (minutes on 2 CPUs), later runs
# only link.
CHECK_TIMEOUT = 900


def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, cur = [], ""
    for ln in text.splitlines():
        if not cur and (not ln.strip() or ln.lstrip().startswith("#")):
            continue
        cur += ln.rstrip("\\").strip() + " " if ln.endswith("\\") else ln.strip()
        if not ln.endswith("\\"):
            word, _, rest = cur.partition(" ")
            out.append((word.upper(), rest.strip()))
            cur = ""
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    st: list[list[tuple[str, str]]] = []
    for ins in instructions(text):
        if ins[0] == "FROM":
            st.append([])
        st[-1].append(ins)
    return st


def test_dockerfile_has_what_a_deployment_needs():
    build, runtime = stages(dockerfile())
    # Build stage: Go at least go.mod's, building through the shared script.
    go_mod = re.search(r"^go (\d+\.\d+)", (REPO / "go.mod").read_text(), re.M).group(1)
    m = re.fullmatch(r"golang:(\d+\.\d+)\S* AS build", build[0][1])
    assert m, build[0]
    assert tuple(map(int, m.group(1).split("."))) >= tuple(map(int, go_mod.split(".")))
    assert any(i == "RUN" and a.endswith("sh scripts/build_release.sh /out") for i, a in build)
    script = (REPO / "scripts" / "build_release.sh").read_text()
    assert "go build -tags duckdb_arrow -trimpath" in script and "CGO_ENABLED=1" in script

    # Runtime stage: glibc-based, non-root, data volume, port, health check, auth on.
    assert runtime[0][1].startswith("debian:bookworm-slim") or runtime[0][1].startswith("gcr.io/distroless/cc")
    d = {}
    for ins, args in runtime:
        d.setdefault(ins, []).append(args)
    assert d["USER"] == ["fletch"], "the server must not run as root"
    assert any("useradd" in r and "fletch" in r for r in d["RUN"])
    assert d["VOLUME"] == ["/var/lib/fletch"]
    assert d["EXPOSE"] == ["8181"]
    assert any(c.startswith("--from=build /out/fletch ") for c in d["COPY"])
    health = d["HEALTHCHECK"][0]
    assert json.loads(health.split("CMD", 1)[1]) == ["fletch", "health"]
    cmd = json.loads(d["ENTRYPOINT"][0]) + json.loads(d["CMD"][0])
    assert cmd == ["fletch", "serve", "--addr", "0.0.0.0:8181", "--data-dir", "/var/lib/fletch"]
    assert "--without-auth" not in cmd, "a server listening beyond loopback needs tokens"


def test_dockerignore_keeps_the_build_context_small_but_complete():
    ignored = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
               if ln.strip() and not ln.startswith("#")]
    for needed in ("scripts", "cmd", "go.mod", "go.sum", "server", "storage", "query", "ingest", "auth", "internal"):
        assert not any(p.rstrip("/") == needed for p in ignored), f"{needed} is needed by the build"
    for heavy in (".git", "bin/", "fletch-data/"):
        assert heavy in ignored


def test_compose_file_parses_and_wires_fletch_to_grafana():
    c = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    f, g = c["services"]["fletch"], c["services"]["grafana"]
    assert f["build"] == "."
    assert "8181:8181" in f["ports"]
    assert any(v.endswith(":/var/lib/fletch") for v in f["volumes"])
    assert g["image"].split(":")[0].endswith("grafana/grafana")
    assert g["environment"]["GF_INSTALL_PLUGINS"] == "influxdata-flightsql-datasource"
    assert "./clients/grafana/provisioning:/etc/grafana/provisioning:ro" in g["volumes"]
    assert g["depends_on"]["fletch"]["condition"] == "service_healthy"
    for name in ("fletch-data", "grafana-data"):
        assert name in c["volumes"]


def test_docker_build_check_script(fletch_bin, report):
    """Builds as the image does, checks the libraries against a slim Debian, runs the
    image's CMD and HEALTHCHECK with auth on, writes and reads back, stops gracefully."""
    p = subprocess.run(["bash", str(REPO / "scripts" / "docker_build_check.sh")], cwd=REPO,
                       capture_output=True, text=True, timeout=CHECK_TIMEOUT)
    assert p.returncode == 0, f"stdout:\n{p.stdout[-5000:]}\nstderr:\n{p.stderr[-5000:]}"
    assert "docker_build_check: OK" in p.stdout
    built = re.search(r"^built in .*$", p.stdout, re.M)
    if built:
        report(f"docker_build_check: {built.group(0)}")
