#!/usr/bin/env bash
# Certification diff benchmark (issue 20): comparing a candidate run with its reference, the ways
# a user would do it, in interleaved rounds; per method the median wall time and peak RSS (GNU
# time's %M), and the speed as a ratio to the text route.
#
#   tools/bench-diff.sh                       # 1 M records, 3 rounds, files under /tmp
#   RECORDS=10000000 ROUNDS=1 DIR=/mnt/x tools/bench-diff.sh
#
# The reference is a ring of the demo's 48-byte `Tick` records (`replaylog demo --capacity
# RECORDS`, window full); the candidate is its copy (a pass: the common certification case, and
# the one where every record must be compared). Methods:
#   diff-exact     replaylog diff A B                         (bit-exact, aligned by seq)
#   diff-tolerant  replaylog diff A B --rtol '*=1e-9' --align tick
#   jsonl+cmp      replaylog dump --json A and B to files, then cmp (bit-exact text, no tolerance)
#   parquet+numpy  replaylog export --to parquet both, then pyarrow + numpy.isclose per float
#                  column, rows aligned by position (what a Python user writes) — when pyarrow
#                  and numpy import
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-1000000}
ROUNDS=${ROUNDS:-3}
DIR=${DIR:-/tmp/replaylog-bench-diff}
TIME=/usr/bin/time
[ -x "$TIME" ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
BIN=${BIN:-target/release/replaylog}
[ "$BIN" != target/release/replaylog ] || cargo build --release -q --bin replaylog
mkdir -p "$DIR"
a="$DIR/ref-$RECORDS.ring"
b="$DIR/cand-$RECORDS.ring"
if [ ! -f "$a" ]; then
    "$BIN" demo --capacity "$RECORDS" --seconds 3 --path "$a" >/dev/null
fi
[ -f "$b" ] || cp "$a" "$b"
METHODS="diff-exact diff-tolerant jsonl+cmp"
if python3 -c 'import pyarrow, numpy' 2>/dev/null; then METHODS="$METHODS parquet+numpy"; fi
cat >"$DIR/isclose.py" <<'PY'
import sys
import numpy as np
import pyarrow.parquet as pq
a, b = pq.read_table(sys.argv[1]), pq.read_table(sys.argv[2])
bad = 0
for name in a.column_names:
    x, y = a[name].to_numpy(zero_copy_only=False), b[name].to_numpy(zero_copy_only=False)
    if x.dtype.kind == "f":
        bad += int((~np.isclose(y, x, rtol=1e-9, atol=0.0, equal_nan=True)).sum())
    elif x.dtype.kind in "iu":
        bad += int((x != y).sum())
print(bad)
sys.exit(1 if bad else 0)
PY
results="$DIR/results.txt"
: >"$results"
for round in $(seq 1 "$ROUNDS"); do
    for m in $METHODS; do
        sync
        case $m in
            diff-exact) cmd=("$BIN" diff "$a" "$b") ;;
            diff-tolerant) cmd=("$BIN" diff "$a" "$b" --rtol '*=1e-9' --align tick) ;;
            jsonl+cmp) cmd=(sh -c "'$BIN' dump --json '$a' > '$DIR/a.jsonl' && '$BIN' dump --json '$b' > '$DIR/b.jsonl' && cmp -s '$DIR/a.jsonl' '$DIR/b.jsonl'") ;;
            parquet+numpy) cmd=(sh -c "'$BIN' export '$a' --to parquet:'$DIR/a.parquet' --force && '$BIN' export '$b' --to parquet:'$DIR/b.parquet' --force && python3 '$DIR/isclose.py' '$DIR/a.parquet' '$DIR/b.parquet'") ;;
        esac
        "$TIME" -f "%e %M" -o "$DIR/time.txt" "${cmd[@]}" >/dev/null
        read -r secs rss_kb <"$DIR/time.txt"
        echo "$m $round $secs $rss_kb" >>"$results"
    done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
ms = list(dict.fromkeys(r[0] for r in rows))
med = {m: statistics.median(float(r[2]) for r in rows if r[0] == m) for m in ms}
rss = {m: max(int(r[3]) for r in rows if r[0] == m) / 1024 for m in ms}
base = "jsonl+cmp"
print(f"| method | wall s (median) | speed vs {base} | peak RSS MiB (largest process) |")
print("|---|---:|---:|---:|")
for m in ms:
    print(f"| {m} | {med[m]:.2f} | {med[base] / med[m]:.2f}x | {rss[m]:.0f} |")
PY
