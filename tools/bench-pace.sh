#!/usr/bin/env bash
# Paced replay drift (issue 20, item 4): how late `replaylog::replay::Paced` releases records
# against their recorded schedule at 1x, on this machine, idle and under load.
#
#   tools/bench-pace.sh                  # about 45 s
#   SECONDS_EACH=10 tools/bench-pace.sh  # longer runs, steadier tails
#   PROFILE=debug SECONDS_EACH=0.2 tools/bench-pace.sh  # a smoke run of the script
#
# Rows 1-3: the library alone (examples/pace_drift.rs: synthetic 1 kHz, 10 kHz and bursty
# captures, nothing done with the records). Row 4: end to end, `replaylog dump RING --pace 1
# --json` of a 1 kHz ring into a pipe (lateness measured at release, before the write). Then the
# 1 kHz capture with other spins, to show why the default is what it is. "load" = one busy
# `yes > /dev/null` per CPU (stress-ng is not installed), started here and stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECONDS_EACH:-3}
DIR=${DIR:-/tmp/replaylog-bench-pace}
mkdir -p "$DIR"
# PROFILE=debug builds and runs the debug binaries (CI: a smoke run of the script, not a measurement).
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then flag=--release; else flag=; fi
cargo build $flag -q --example pace_drift -p replaylog
cargo build $flag -q --bin replaylog
EX=target/$PROFILE/examples/pace_drift
BIN=target/$PROFILE/replaylog
ring="$DIR/1khz.ring"
"$EX" --workload 1khz --seconds "$SECS" --write-ring "$ring"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "| workload | machine | spin | records | p50 | p90 | p99 | max | mean | CPU |"
echo "|---|---|---|---|---|---|---|---|---|---|"
hogs=()
cli=()
stop_hogs() { for p in "${hogs[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; hogs=(); }
trap stop_hogs EXIT
for label in idle load; do
    if [ "$label" = load ]; then
        for _ in $(seq 1 "$(nproc)"); do
            yes >/dev/null &
            hogs+=("$!")
        done
        sleep 0.5
    fi
    tag="$label (load avg $(cut -d' ' -f1 /proc/loadavg))"
    for w in 1khz 10khz bursts; do
        "$EX" --workload "$w" --seconds "$SECS" --label "$tag"
    done
    line=$({ "$BIN" dump "$ring" --pace 1 --json | cat >/dev/null; } 2>&1 | tail -1)
    cli+=("dump $ring --pace 1 --json | cat, $tag: ${line#replaylog: }")
    if [ "$label" = idle ]; then
        for spin in 0 50 500; do
            "$EX" --workload 1khz --seconds "$SECS" --spin-us "$spin" --label "$tag"
        done
    fi
    stop_hogs
done
echo
printf '%s\n' "${cli[@]}"
