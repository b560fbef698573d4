#!/usr/bin/env bash
# Shipping benchmark: `replaylog ship` of a capture to S3 (a one-node Garage on 127.0.0.1) against
# a plain object_store PUT/multipart of the same files, and `replaylog dump` of the shipped capture
# against the local one, in interleaved rounds; per operation the median wall time and MiB/s, then
# the ship/plain speed ratio and the remote/local dump time ratio.
#
#   tools/bench-ship.sh                    # 1024 MiB capture, 3 rounds, files under /tmp (~5 min)
#   SIZE_MB=256 ROUNDS=5 DIR=/mnt/x tools/bench-ship.sh
#   BIN=target/debug/replaylog PLAIN=target/debug/replaylog-plain-put SIZE_MB=64 ROUNDS=1 \
#       tools/bench-ship.sh                # a smoke run of the script
#
# Takes about 1 minute per round at 1024 MiB (a ship, a plain put, two dumps, two Garage starts)
# after the capture is made once (~1 min, kept in DIR for later runs), plus `cargo install garage
# --locked` (10-20 min) the first time on a machine without garage.
#
# PLAIN is `replaylog-plain-put DIR URL`: PUTs every file of DIR under URL with a plain
# object_store put/multipart (the baseline: what shipping costs without replaylog's bookkeeping).
# Every upload goes to a Garage started empty for it: Garage stores blocks by content hash, so a
# second upload of the same bytes would skip the disk writes and look faster than the first.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}
ROUNDS=${ROUNDS:-3}
DIR=${DIR:-/tmp/replaylog-bench-ship}
BIN=${BIN:-target/release/replaylog}
PLAIN=${PLAIN:-target/release/replaylog-plain-put}
[ "$BIN" != target/release/replaylog ] || cargo build --release -q --bin replaylog
[ -x "$BIN" ] || { echo "$0: no binary $BIN (set BIN)" >&2; exit 2; }
[ "$PLAIN" != target/release/replaylog-plain-put ] || cargo build --release -q -p replaylog-ship --bin replaylog-plain-put
[ -x "$PLAIN" ] || { echo "$0: no binary $PLAIN (set PLAIN to replaylog-plain-put)" >&2; exit 2; }
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
cap="$DIR/capture-$SIZE_MB"
if [ ! -d "$cap" ]; then
    BIN="$BIN" tools/garage/e2e.sh --make-capture "$cap" "$SIZE_MB"
fi
bytes=$(find "$cap" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r), load avg $(cut -d' ' -f1 /proc/loadavg)"
echo "capture: $cap, $(find "$cap" -type f | wc -l) files, $((bytes / 1048576)) MiB"

gdir="$DIR/garage"
logs="$DIR/logs"
results="$DIR/results.txt"
mkdir -p "$logs"
: >"$results"
trap 'tools/garage/stop.sh "$gdir" >/dev/null 2>&1 || true' EXIT

# fresh_garage: stop and remove the previous Garage, start an empty one, load its AWS_* env.
fresh_garage() {
    [ ! -d "$gdir" ] || tools/garage/stop.sh "$gdir" >/dev/null
    tools/garage/start.sh "$gdir" >"$logs/start.out"
    # shellcheck disable=SC1091
    . "$gdir/env"
}
# timed NAME ROUND CMD...: run CMD (stdout to /dev/null, stderr to logs/NAME-ROUND.err) and append
# "NAME ROUND SECONDS" to the results.
timed() {
    local name=$1 round=$2 t0 t1 secs rc=0
    shift 2
    sync
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>"$logs/$name-$round.err" || rc=$?
    t1=$(date +%s.%N)
    if [ "$rc" -ne 0 ]; then
        echo "$name (round $round) exited $rc:" >&2
        tail -n 5 "$logs/$name-$round.err" >&2
        exit 1
    fi
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    echo "$name $round $secs" >>"$results"
    echo "  $name: $secs s"
}
ship_round() {
    fresh_garage
    timed ship "$1" "$BIN" ship "$cap" --to "s3://replaylog/bench-ship-$1"
    timed dump-remote "$1" "$BIN" dump "s3://replaylog/bench-ship-$1"
    timed dump-local "$1" "$BIN" dump "$cap"
}
plain_round() {
    fresh_garage
    timed plain "$1" "$PLAIN" "$cap" "s3://replaylog/bench-plain-$1"
}

for round in $(seq 1 "$ROUNDS"); do
    echo "round $round/$ROUNDS"
    # Alternate which goes first, so neither always runs on the warmer machine.
    if [ $((round % 2)) -eq 1 ]; then
        ship_round "$round"
        plain_round "$round"
    else
        plain_round "$round"
        ship_round "$round"
    fi
done

python3 - "$results" "$bytes" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
mib = int(sys.argv[2]) / 2**20
ops = ["ship", "plain", "dump-remote", "dump-local"]
med = {op: statistics.median(float(r[2]) for r in rows if r[0] == op) for op in ops}
print("| operation | rounds | wall s (median) | MiB/s (median) |")
print("|---|---:|---:|---:|")
for op, s in med.items():
    n = sum(1 for r in rows if r[0] == op)
    print(f"| {op} | {n} | {s:.2f} | {mib / s:.0f} |")
print(f"ship / plain speed: {med['plain'] / med['ship']:.2f}x (1.00x: shipping costs what a plain put costs)")
print(f"remote / local dump time: {med['dump-remote'] / med['dump-local']:.2f}x")
PY
