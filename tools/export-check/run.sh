#!/usr/bin/env bash
# Opens replaylog's exports in independent readers (issue 18): Python's `mcap` (Foxglove's
# reader), `pyarrow` and DuckDB read the MCAP and Parquet exports of a demo ring (no clock: time
# from `--time t_ns`, and from the seq) and of a two-lane demo recorder directory (monotonic
# timestamps, a channel and a dictionary value per lane); check.py compares every value with
# `--to jsonl` of the same capture. Installs the three Python packages with pip when missing.
#
#   tools/export-check/run.sh [target/debug/replaylog]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-}
if [ -z "$BIN" ]; then
    cargo build -q --bin replaylog
    BIN=target/debug/replaylog
fi
if ! python3 -c 'import mcap, pyarrow, duckdb' 2>/dev/null; then
    python3 -m pip install -q --disable-pip-version-check mcap pyarrow duckdb
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$BIN" demo --seconds 0.2 --capacity 30000 --failure-every 97 --path "$work/demo.ring" >/dev/null
"$BIN" demo --seconds 0.2 --capacity 5000 --failure-every 89 --threads 2 --path "$work/lanes" >/dev/null
check() { # capture name [--time FIELD]
    local capture=$1 name=$2
    shift 2
    "$BIN" export "$capture" --to jsonl --out "$work/$name.jsonl"
    "$BIN" export "$capture" --to "mcap:$work/$name.mcap" "$@" >/dev/null
    "$BIN" export "$capture" --to "parquet:$work/$name.parquet" >/dev/null
    echo "== $name"
    python3 tools/export-check/check.py "$work/$name.jsonl" "$work/$name.mcap" "$work/$name.parquet" "$@"
}
check "$work/demo.ring" ring-seq-time
check "$work/demo.ring" ring-field-time --time t_ns
check "$work/lanes" recorder
echo "export-check: every export read back by mcap, pyarrow and DuckDB"
