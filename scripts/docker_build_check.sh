#!/usr/bin/env bash
# The container image's build and run, checked without a Docker engine.
#
#   scripts/docker_build_check.sh            (tests/e2e/test_docker_build.py runs it)
#
# 1. The Dockerfile's build stage uses a Go at least go.mod's, and builds by running
#    scripts/build_release.sh; this script runs that same file (GOCACHE as given, so a
#    cache warmed by `make build` is reused for everything -trimpath does not change).
# 2. Every shared library the binary loads belongs to a package a debian:bookworm-slim
#    runtime has: Priority "required" packages and apt, with their dependency closure
#    (debootstrap's minbase, which the slim image is built from), read from this
#    machine's dpkg database when it is a Debian; skipped elsewhere.
# 3. `fletch version`, then the image's CMD with the data dir on a temp dir and the
#    address on a free loopback port, auth on as in the container; waits for the
#    HEALTHCHECK command (taken from the Dockerfile) to pass; a write without a token
#    is refused, a write with the printed admin token is read back; SIGTERM stops it
#    with exit 0.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
step() { echo "== $*"; }
fail() { echo "docker_build_check: FAIL: $*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fletch-docker-check.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# -- 1. build stage -----------------------------------------------------------------------
step "Dockerfile build stage"
from=$(sed -n 's/^FROM golang:\([0-9][0-9.]*\)[-A-Za-z0-9.]* AS build$/\1/p' Dockerfile)
[ -n "$from" ] || fail "Dockerfile has no 'FROM golang:<version>... AS build' line"
want=$(sed -n 's/^go \([0-9][0-9.]*\)$/\1/p' go.mod)
[ -n "$want" ] || fail "go.mod has no go line"
older() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$1" ] && [ "$1" != "$2" ]; }
want_mm=$(echo "$want" | cut -d. -f1,2)
older "$from" "$want_mm" && fail "Dockerfile builds with Go $from, go.mod wants $want"
echo "Dockerfile: golang:$from; go.mod: go $want"
grep -q '^RUN .*scripts/build_release.sh /out$' Dockerfile \
  || fail "the Dockerfile's build stage does not run scripts/build_release.sh /out"
local_go=$(go env GOVERSION | sed 's/^go//')
older "$local_go" "$want" && fail "local Go $local_go is older than go.mod's $want"

step "scripts/build_release.sh (the Dockerfile's build step)"
t0=$(date +%s)
sh scripts/build_release.sh "$work/out"
echo "built in $(( $(date +%s) - t0 )) s: $(du -h "$work/out/fletch" | cut -f1)"

# -- 2. runtime libraries -------------------------------------------------------------------
step "shared libraries against debian:bookworm-slim's packages"
ldd_out=$(ldd "$work/out/fletch") || fail "ldd failed: $ldd_out"
echo "$ldd_out"
echo "$ldd_out" | grep -q 'not found' && fail "unresolved libraries"
if command -v dpkg-query >/dev/null && grep -q '^ID=debian' /etc/os-release 2>/dev/null; then
  libs=$(echo "$ldd_out" | awk '$2 == "=>" {print $3} $1 ~ /^\// {print $1}')
  python3 - "$libs" <<'PY' || fail "a library the binary needs is not in a slim Debian"
import re, subprocess, sys

def q(fmt, *pkgs):
    return subprocess.run(["dpkg-query", "-W", "-f", fmt, *pkgs], capture_output=True, text=True).stdout

installed = {}
for ln in q("${Package}\t${Priority}\t${Pre-Depends}, ${Depends}\n").splitlines():
    name, prio, deps = ln.split("\t")
    installed[name] = (prio, deps)
# minbase: Priority required, plus apt; then everything they depend on.
base = {p for p, (prio, _) in installed.items() if prio == "required"} | {"apt"}
todo = list(base)
while todo:
    p = todo.pop()
    for alt in installed.get(p, ("", ""))[1].split(","):
        # "a | b": the first alternative installed here is the one that counts.
        names = [re.sub(r"[:( ].*", "", c.strip()) for c in alt.split("|")]
        name = next((n for n in names if n in installed), None)
        if name and name not in base:
            base.add(name)
            todo.append(name)
bad = []
for lib in sys.argv[1].split():
    out = ""
    for path in (lib, subprocess.run(["readlink", "-f", lib], capture_output=True, text=True).stdout.strip()):
        for variant in (path, path.replace("/usr/lib/", "/lib/", 1), path.replace("/lib/", "/usr/lib/", 1)):
            r = subprocess.run(["dpkg-query", "-S", variant], capture_output=True, text=True)
            if r.returncode == 0:
                out = r.stdout
                break
        if out:
            break
    pkg = out.split(":", 1)[0].strip() if out else None
    print(f"{lib}: {pkg or '(no package)'}{'' if pkg in base else '  <- NOT in slim'}")
    if pkg not in base:
        bad.append(lib)
sys.exit(1 if bad else 0)
PY
else
  echo "not a Debian with dpkg: package check skipped"
fi

# -- 3. runtime ---------------------------------------------------------------------------
step "runtime layout"
root="$work/root"
mkdir -p "$root/usr/local/bin" "$root/var/lib/fletch" "$root/home/fletch"
cp "$work/out/fletch" "$root/usr/local/bin/fletch"
export PATH="$root/usr/local/bin:$PATH" HOME="$root/home/fletch" FLETCH_DATA_DIR="$root/var/lib/fletch"
fletch version

# The image's CMD (a JSON array), with the container's paths and address swapped for ours.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mapfile -t cmd < <(python3 - "$root" "$port" <<'PY'
import json, re, sys
root, port = sys.argv[1], sys.argv[2]
text = open("Dockerfile").read()
entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
for a in entry + cmd:
    a = a.replace("0.0.0.0:8181", f"127.0.0.1:{port}").replace("/var/lib/fletch", root + "/var/lib/fletch")
    print(a)
PY
)
mapfile -t health < <(python3 -c '
import json, re
print("\n".join(json.loads(re.search(r"^HEALTHCHECK .*CMD (\[.*\])$", open("Dockerfile").read(), re.M).group(1))))')
echo "serve: ${cmd[*]}"
echo "healthcheck: ${health[*]}"
[[ " ${cmd[*]} " == *" --without-auth "* ]] && fail "the image must not serve --without-auth"

(cd / && exec "${cmd[@]}") >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
export FLETCH_HOST="http://127.0.0.1:$port"
ok=
for _ in $(seq 1 600); do  # 60 s, the HEALTHCHECK's start period
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/serve.err" >&2; fail "fletch serve exited"; fi
  if "${health[@]}" >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.1
done
[ -n "$ok" ] || { tail -50 "$work/serve.err" >&2; fail "the HEALTHCHECK command did not pass within 60 s"; }
echo "healthy on $FLETCH_HOST"

token=$(sed -n 's/^admin token: //p' "$work/serve.out")
[ -n "$token" ] || fail "the first start printed no admin token"
python3 - "$FLETCH_HOST" "$token" <<'PY' || fail "write with and without a token"
import sys, urllib.error, urllib.request
host, token = sys.argv[1], sys.argv[2]
url = host + "/api/v3/write_lp?db=check&precision=ns"
body = b"probe,host=container value=42.5 1767225600000000000\n"
try:
    urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=30)
    sys.exit("a write without a token was accepted")
except urllib.error.HTTPError as e:
    assert e.code == 401, f"a write without a token got {e.code}, want 401"
r = urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST",
                           headers={"Authorization": f"Bearer {token}"}), timeout=30)
assert r.status == 204, r.status
print("write: 401 without a token, 204 with the admin token")
PY
got=$(fletch query --token "$token" --database check --format csv "SELECT host, value FROM probe")
echo "$got"
echo "$got" | grep -qx 'container,42.5' || fail "read back $got"

step "SIGTERM"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=
[ "$rc" -eq 0 ] || { tail -20 "$work/serve.err" >&2; fail "fletch serve exited $rc after SIGTERM"; }
ls "$root/var/lib/fletch/check/probe/"*/*.parquet >/dev/null || fail "no Parquet file after the graceful stop"
echo "docker_build_check: OK"
