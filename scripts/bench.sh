#!/bin/sh
# The side-by-side benchmark (Fletch, DuckDB on Parquet, QuestDB; docs/benchmarks.md).
# This only starts the project's runner, bench/run.py; it measures nothing itself.
#
#   scripts/bench.sh                       # `make bench`: fetch QuestDB's jar once, build,
#                                          # bench/run.py, then the Go micro-benchmarks
#   scripts/bench.sh --no-questdb --runs 1 # bench/run.py with these flags (--help lists them)
#
# bench/run.py rewrites the generated section of docs/benchmarks.md unless given --out.
# Python packages: pip install -r bench/requirements.txt.
set -eu
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  exec make bench
fi
if [ -z "${FLETCH_BIN:-}" ]; then
  make build >&2
  FLETCH_BIN=$PWD/bin/fletch
fi
export FLETCH_BIN
exec "${PYTHON:-python3}" bench/run.py "$@"
