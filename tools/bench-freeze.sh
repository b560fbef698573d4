#!/usr/bin/env bash
# Freeze on failure (issue 19): the writer's append latency with and without a Freezer
# following its ring, interleaved rounds, and the completeness of the captures.
#
#   tools/bench-freeze.sh                          # 3 rounds x 10 M appends per mode at full
#                                                  # speed, then 2 M at 1 MHz (~1 min)
#   APPENDS=2000000 ROUNDS=5 tools/bench-freeze.sh
#   PROFILE=debug APPENDS=20000 ROUNDS=1 tools/bench-freeze.sh   # a smoke run of the script
set -euo pipefail
cd "$(dirname "$0")/.."
APPENDS=${APPENDS:-10000000}
ROUNDS=${ROUNDS:-3}
FAILURE_EVERY=${FAILURE_EVERY:-100000}
DIR=${DIR:-/var/tmp}
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then flag=--release; else flag=; fi
if [ "$APPENDS" -lt "$((FAILURE_EVERY * 5))" ]; then FAILURE_EVERY=$((APPENDS / 20 + 1)); fi
cargo build $flag -q --example freeze_bench -p replaylog
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r), load avg $(cut -d' ' -f1 /proc/loadavg)"
EX="target/$PROFILE/examples/freeze_bench"
echo "## full speed"
"$EX" --appends "$APPENDS" --rounds "$ROUNDS" --failure-every "$FAILURE_EVERY" --dir "$DIR"
# Paced: a loop at RATE Hz (default 1 MHz) for PACED_APPENDS appends (default APPENDS / 5).
RATE=${RATE:-1000000}
PACED_APPENDS=${PACED_APPENDS:-$((APPENDS / 5))}
echo
echo "## paced at $RATE appends/s"
"$EX" --appends "$PACED_APPENDS" --rounds "$ROUNDS" --failure-every "$FAILURE_EVERY" --dir "$DIR" --rate "$RATE"
