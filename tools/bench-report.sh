#!/usr/bin/env bash
# Certification report benchmark (issue 20): `replaylog report` on a demo-like capture pair of
# RECORDS ticks (the `certification_pair` example), then headless Chromium on the page.
#
#   tools/bench-report.sh                          # 1 M records, 3 rounds, files under /tmp
#   RECORDS=10000000 ROUNDS=5 DIR=/mnt/x tools/bench-report.sh
#   PROFILE=debug RECORDS=20000 ROUNDS=1 tools/bench-report.sh   # a smoke run of the script (CI)
#
# Prints, per candidate (pass, fail): the report's wall time and peak RSS (GNU time), the page's
# size; then the median wall time over ROUNDS of Chromium (a fresh profile each run) taking a
# 1200x1600 screenshot, a full-page (1200x9000) screenshot, --dump-dom and --print-to-pdf of the
# page, next to the same for an empty page (the browser's start-up and exit, which the report
# does not cost).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-1000000}
ROUNDS=${ROUNDS:-3}
DIR=${DIR:-/tmp/replaylog-bench-report}
TIME=/usr/bin/time
[ -x "$TIME" ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
CHROMIUM=${CHROMIUM:-chromium}
# PROFILE=debug builds and runs the debug binaries (CI: a smoke run of the script, not a measurement).
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then flag=--release; else flag=; fi
# shellcheck disable=SC2086
cargo build $flag -q -p replaylog-cli --bin replaylog --example certification_pair
BIN=target/$PROFILE/replaylog
mkdir -p "$DIR"
if [ ! -f "$DIR/reference.ring" ]; then
    target/$PROFILE/examples/certification_pair "$DIR" "$RECORDS" >/dev/null
fi
echo '<!DOCTYPE html><html><body>empty</body></html>' >"$DIR/empty.html"
for c in pass fail; do
    rm -f "$DIR/$c.html"
    "$TIME" -f "%e %M" -o "$DIR/time" "$BIN" report "$DIR/reference.ring" "$DIR/candidate-$c.ring" \
        --align tick --ignore t_ns --rtol '*=1e-9' --out "$DIR/$c.html" >/dev/null || [ $? = 1 ] # 1: FAIL, the page written; 2: an error
    read -r secs rss < <(tail -n 1 "$DIR/time")
    printf 'report %-4s %8.2f s  %7d KiB RSS  page %d bytes\n' "$c" "$secs" "$rss" "$(stat -c %s "$DIR/$c.html")"
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { # page, chromium flags...: wall seconds
    local page=$1
    shift
    local p
    p=$(mktemp -d)
    local s e
    s=$(date +%s.%N)
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$p" "$@" \
        "file://$DIR/$page.html" >/dev/null 2>&1
    e=$(date +%s.%N)
    rm -rf "$p"
    awk -v s="$s" -v e="$e" 'BEGIN { print e - s }' 
}
for page in empty pass fail; do
    for what in screenshot full dump-dom pdf; do
        case $what in
        screenshot) flags=(--window-size=1200,1600 "--screenshot=$DIR/$page.png") ;;
        full) flags=(--window-size=1200,9000 "--screenshot=$DIR/$page-full.png") ;;
        dump-dom) flags=(--dump-dom) ;;
        pdf) flags=(--no-pdf-header-footer "--print-to-pdf=$DIR/$page.pdf") ;;
        esac
        t=$(for _ in $(seq "$ROUNDS"); do run "$page" "${flags[@]}"; done | median)
        printf 'chromium %-5s %-10s median %.2f s\n' "$page" "$what" "$t"
    done
done
