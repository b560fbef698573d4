#!/usr/bin/env bash
# Export benchmark (issue 18): the same ring of the demo's 48-byte `Tick` records exported to
# jsonl, csv, mcap and parquet, in interleaved rounds; per format the median wall time, the
# file size and the peak RSS (GNU time's %M), and both as ratios to jsonl.
#
#   tools/bench-export.sh                 # 10 M records, 3 rounds, files under /tmp
#   RECORDS=1000000 ROUNDS=5 DIR=/mnt/x tools/bench-export.sh
#   BIN=target/debug/replaylog RECORDS=20000 ROUNDS=1 tools/bench-export.sh   # a smoke run
#
# The ring is made once by `replaylog demo --capacity RECORDS` (the demo appends for 3 s, far
# more than 10 M records on any recent machine, so the window is full) and kept for later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-10000000}
ROUNDS=${ROUNDS:-3}
DIR=${DIR:-/tmp/replaylog-bench-export}
FORMATS=${FORMATS:-"jsonl csv mcap parquet"}
TIME=/usr/bin/time
[ -x "$TIME" ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
# BIN=path runs another build (CI: the debug binary the tests built, to check the script only).
BIN=${BIN:-target/release/replaylog}
[ "$BIN" != target/release/replaylog ] || cargo build --release -q --bin replaylog
mkdir -p "$DIR"
ring="$DIR/demo-$RECORDS.ring"
if [ ! -f "$ring" ]; then
    "$BIN" demo --capacity "$RECORDS" --seconds 3 --path "$ring" >/dev/null
fi
echo "ring: $ring ($(du -m "$ring" | cut -f1) MiB), $("$BIN" inspect --json "$ring" | python3 -c 'import json,sys; w=json.load(sys.stdin)["window"]; print(w["last"]-w["first"]+1 if w else 0)') records"
results="$DIR/results.txt"
: >"$results"
for round in $(seq 1 "$ROUNDS"); do
    for fmt in $FORMATS; do
        case $fmt in
            jsonl | csv) out="$DIR/out.$fmt"; args=(--to "$fmt" --out "$out" --force) ;;
            *) out="$DIR/out.$fmt"; args=(--to "$fmt:$out" --force) ;;
        esac
        sync
        "$TIME" -f "%e %M" -o "$DIR/time.txt" "$BIN" export "$ring" "${args[@]}" >/dev/null
        read -r secs rss_kb <"$DIR/time.txt"
        echo "$fmt $round $secs $rss_kb $(stat -c %s "$out")" >>"$results"
    done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
fmts = list(dict.fromkeys(r[0] for r in rows))
med = {f: statistics.median(float(r[2]) for r in rows if r[0] == f) for f in fmts}
rss = {f: max(int(r[3]) for r in rows if r[0] == f) / 1024 for f in fmts}
size = {f: int([r for r in rows if r[0] == f][-1][4]) for f in fmts}
base = "jsonl" if "jsonl" in fmts else fmts[0]
print(f"| format | wall s (median) | speed vs {base} | file MiB | size vs {base} | peak RSS MiB |")
print("|---|---:|---:|---:|---:|---:|")
for f in fmts:
    print(f"| {f} | {med[f]:.2f} | {med[base] / med[f]:.2f}x | {size[f] / 2**20:.0f} | {size[f] / size[base]:.3f}x | {rss[f]:.0f} |")
PY
