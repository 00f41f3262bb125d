#!/bin/sh
# Builds the release binary into OUTDIR/fletch: the one build step of the container
# image. The Dockerfile's build stage runs this file, and scripts/docker_build_check.sh
# runs it outside Docker, so the two cannot drift apart.
#
#   scripts/build_release.sh OUTDIR
#
# cgo is required: DuckDB is linked in (duckdb-go's prebuilt static library, C++), so
# the build needs gcc and g++; the binary then needs glibc, libstdc++ and libgcc_s at
# run time. -trimpath keeps the build machine's paths out of the binary. GOCACHE and
# GOFLAGS from the environment are honoured, so a warm cache is reused.
set -eu
out="${1:?usage: build_release.sh OUTDIR}"
cd "$(dirname "$0")/.."
for tool in go gcc g++; do
  command -v "$tool" >/dev/null || { echo "build_release: $tool not found (cgo builds DuckDB's bindings)" >&2; exit 1; }
done
mkdir -p "$out"
CGO_ENABLED=1 go build -tags duckdb_arrow -trimpath -o "$out/fletch" ./cmd/fletch
"$out/fletch" version
