#!/usr/bin/env bash
# Stops the Garage that tools/garage/start.sh started in DIR and removes DIR (its data, metadata,
# config, log and the env file with the key).
#
#   tools/garage/stop.sh DIR          # SIGTERM, SIGKILL after 10 s (GARAGE_STOP_SECS), rm -rf DIR
#   tools/garage/stop.sh --keep DIR   # stop only; a later start.sh DIR starts it again
#
# Takes well under a second normally, at most GARAGE_STOP_SECS + 1 s. Only the pid in
# DIR/garage.pid is signalled, and only while it is a garage running DIR's config; DIR is removed
# only when it holds a garage.toml (or is empty), so a wrong argument removes nothing else.
set -euo pipefail
STOP_SECS=${GARAGE_STOP_SECS:-10}
keep=false
if [ "${1:-}" = --keep ]; then
    keep=true
    shift
fi
[ $# -eq 1 ] || { echo "usage: $0 [--keep] DIR" >&2; exit 2; }
[ -d "$1" ] || { echo "$0: no directory $1 (nothing to stop)" >&2; exit 0; }
DIR=$(cd "$1" && pwd)
CFG="$DIR/garage.toml"

ours() { kill -0 "$1" 2>/dev/null && grep -qF -- "$CFG" "/proc/$1/cmdline" 2>/dev/null; }

if [ -f "$DIR/garage.pid" ]; then
    pid=$(cat "$DIR/garage.pid")
    if [ -n "$pid" ] && ours "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        tries=$((STOP_SECS * 10))
        while ours "$pid" && [ "$tries" -gt 0 ]; do
            sleep 0.1
            tries=$((tries - 1))
        done
        if ours "$pid"; then
            echo "$0: garage (pid $pid) still running after ${STOP_SECS}s: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            while ours "$pid"; do sleep 0.1; done
        fi
    fi
    rm -f "$DIR/garage.pid"
fi

if ! $keep; then
    if [ -f "$CFG" ] || [ -z "$(ls -A "$DIR")" ]; then
        rm -rf -- "$DIR"
    else
        echo "$0: $DIR has no garage.toml: not removing it" >&2
        exit 1
    fi
fi
