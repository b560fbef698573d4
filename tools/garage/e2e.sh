#!/usr/bin/env bash
# End-to-end test of `replaylog ship` against a real S3 store (a one-node Garage on 127.0.0.1):
# ship a capture of several segments, SIGKILL Garage in the middle of an upload, restart it, ship
# again, then check that the remote capture validates and dumps byte for byte like the local one,
# and that nothing any command printed contains the secret key. Garage and every file are removed
# at the end, on failure too.
#
#   tools/garage/e2e.sh                              # BIN=target/debug/replaylog, 200 MiB capture
#   BIN=target/release/replaylog E2E_MB=400 tools/garage/e2e.sh
#   KEEP=1 tools/garage/e2e.sh                       # keep the work directory (logs) at the end
#   tools/garage/e2e.sh --make-capture DIR MB        # only make a capture (bench-ship.sh uses it)
#
# Takes about 2 minutes with the debug binary on 2 busy cores (capture ~20 s, two 2.4 M-record
# dumps ~30 s each, two ships), plus however long the interrupted ship takes to give up once
# Garage is dead (its client's retry timeout; at most KILL_WAIT_SECS = 240 s), plus `cargo install
# garage --locked` (10-20 min) the first time on a machine without garage.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/debug/replaylog}
E2E_MB=${E2E_MB:-200}
URL=${URL:-s3://replaylog/e2e}
SHIP_START_SECS=${SHIP_START_SECS:-300} # for the first segment line of the first ship
KILL_WAIT_SECS=${KILL_WAIT_SECS:-240}   # for that ship to fail or report a retry, Garage dead
SHIP_SECS=${SHIP_SECS:-600}             # for an interrupted ship to end once Garage is back

# make_capture DIR MB: an archive journal in DIR (created) of about MB MiB: the journal's 16 MiB
# segments, all sealed but the last. Made from the demo's ring: `demo --capacity N` keeps its last
# N records (48-byte Ticks, ~85 bytes each once archived), `archive` drains them into DIR.
# >>> The other engineer may replace this body with a direct way once replaylog has one; keep
# >>> the contract: DIR must not exist, about MB MiB of segments end up in it, one summary line
# >>> on stdout.
make_capture() {
    local dir=$1 mb=$2 records ring
    [ ! -e "$dir" ] || { echo "make_capture: $dir exists" >&2; return 2; }
    records=$((mb * 1048576 / 85 + 1))
    ring="$dir.ring"
    rm -f "$ring"
    # The demo appends ~5 M records/s in a debug build: this fills the window with room to spare.
    "$BIN" demo --capacity "$records" --seconds $((3 + records / 2000000)) --path "$ring" >/dev/null
    "$BIN" archive "$ring" --to "$dir" --idle-exit-ms 500 --quiet >/dev/null
    rm -f "$ring"
    echo "capture $dir: $(find "$dir" -name '*.seg' | wc -l) segments, $(du -sm "$dir" | cut -f1) MiB"
}

if [ "${1:-}" = --make-capture ]; then
    [ $# -eq 3 ] || { echo "usage: $0 --make-capture DIR MB" >&2; exit 2; }
    make_capture "$2" "$3"
    exit
fi
[ $# -eq 0 ] || { echo "usage: $0 (env BIN, E2E_MB, KEEP) | $0 --make-capture DIR MB" >&2; exit 2; }
[ -x "$BIN" ] || { echo "$0: no binary $BIN (build it, or set BIN)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/replaylog-e2e.XXXXXX")
gdir="$work/garage"
cap="$work/capture"
out="$work/out" # every command's stdout and stderr, scanned for the secret at the end
mkdir -p "$out"
ship_pid=
cleanup() {
    local rc=$?
    if [ -n "$ship_pid" ] && kill -0 "$ship_pid" 2>/dev/null; then kill -KILL "$ship_pid" 2>/dev/null || true; fi
    tools/garage/stop.sh "$gdir" >/dev/null 2>&1 || true
    if [ "$rc" -ne 0 ]; then
        echo "FAIL (exit $rc); the last lines of each command's output (secret key masked):" >&2
        for f in "$out"/*; do
            [ -s "$f" ] || continue
            echo "--- $(basename "$f")" >&2
            tail -n 5 "$f" | while IFS= read -r line; do
                printf '%s\n' "${line//"${AWS_SECRET_ACCESS_KEY:-(no key yet)}"/<AWS_SECRET_ACCESS_KEY>}" >&2
            done
        done
    fi
    if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
step() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# scan: stdin's sha256, its line count and how often the secret key occurs in it, without keeping
# it (a dump is larger than the capture); the key comes from the environment, not argv.
cat >"$work/scan.py" <<'PY'
import hashlib, os, sys
secret = os.environb.get(b"AWS_SECRET_ACCESS_KEY", b"")
h, lines, hits, tail = hashlib.sha256(), 0, 0, b""
while chunk := sys.stdin.buffer.read(1 << 20):
    h.update(chunk)
    lines += chunk.count(b"\n")
    if secret:
        buf = tail + chunk
        hits += buf.count(secret)
        tail = buf[-(len(secret) - 1):] if len(secret) > 1 else b""
print(h.hexdigest(), lines, hits)
PY
# dump_sum NAME PATH: out/NAME.sum gets "sha256 lines secret_hits" of `replaylog dump PATH`.
dump_sum() {
    "$BIN" dump "$2" 2>"$out/$1.err" | python3 "$work/scan.py" >"$out/$1.sum" ||
        fail "replaylog dump $2 failed (exit ${PIPESTATUS[0]})"
}
# shipped FILE: how many "shipped segment N (...) to URL" lines (one per segment uploaded) FILE has.
shipped() {
    local n
    n=$(grep -c '^shipped segment ' "$1" 2>/dev/null) || true
    echo "${n:-0}"
}
retried() { grep -qiE 'retr(y|ies|ying|ied)' "$out/ship1.out" "$out/ship1.err" 2>/dev/null; }

step "start Garage in $gdir"
tools/garage/start.sh "$gdir" >"$out/start1.out" 2>"$out/start1.err"
cat "$out/start1.out"
# shellcheck disable=SC1091
. "$gdir/env"
[ -n "$AWS_SECRET_ACCESS_KEY" ] || fail "no secret key in $gdir/env"

step "make a capture of ~$E2E_MB MiB"
make_capture "$cap" "$E2E_MB" | tee "$out/capture.out"
segments=$(find "$cap" -name '*.seg' | wc -l)
[ "$segments" -ge 3 ] || fail "the capture has $segments segments; raise E2E_MB"
dump_sum dump-local "$cap"
read -r local_sha local_lines local_hits <"$out/dump-local.sum"
echo "local dump: $local_lines lines"

step "ship to $URL, SIGKILL Garage after the first segment line"
"$BIN" ship "$cap" --to "$URL" >"$out/ship1.out" 2>"$out/ship1.err" &
ship_pid=$!
deadline=$((SECONDS + SHIP_START_SECS))
while [ "$(shipped "$out/ship1.out")" -eq 0 ]; do
    if ! kill -0 "$ship_pid" 2>/dev/null; then
        rc=0
        wait "$ship_pid" || rc=$?
        fail "the first ship ended (exit $rc) before printing a segment line"
    fi
    [ $SECONDS -lt $deadline ] || fail "no segment line from the first ship within ${SHIP_START_SECS}s"
    sleep 0.05
done
kill -KILL "$(cat "$gdir/garage.pid")"
killed_after=$(shipped "$out/ship1.out")
echo "killed Garage after $killed_after of $segments segment lines"

# The ship must now fail, or say it retries; a clean exit before it shipped every segment is a bug,
# and one after is a capture too small to interrupt.
deadline=$((SECONDS + KILL_WAIT_SECS))
ship1_rc=
while :; do
    if ! kill -0 "$ship_pid" 2>/dev/null; then
        ship1_rc=0
        wait "$ship_pid" || ship1_rc=$?
        ship_pid=
        break
    fi
    if retried; then break; fi
    [ $SECONDS -lt $deadline ] ||
        fail "with Garage dead the ship neither failed nor reported a retry within ${KILL_WAIT_SECS}s"
    sleep 0.2
done
if [ "$ship1_rc" = 0 ]; then
    if [ "$(shipped "$out/ship1.out")" -ge "$segments" ]; then
        fail "the first ship finished before Garage was killed; raise E2E_MB"
    fi
    fail "the first ship exited 0 with Garage dead, after $(shipped "$out/ship1.out") of $segments segment lines"
fi
if [ -n "$ship1_rc" ]; then
    echo "first ship failed as it should (exit $ship1_rc): $(tail -n 1 "$out/ship1.err")"
else
    echo "first ship reports retries and is still running"
fi

step "restart Garage on the same directory"
tools/garage/start.sh --restart "$gdir" >"$out/start2.out" 2>"$out/start2.err"
cat "$out/start2.out"
if [ -n "$ship_pid" ]; then
    deadline=$((SECONDS + SHIP_SECS))
    while kill -0 "$ship_pid" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "the retrying first ship did not end within ${SHIP_SECS}s of the restart"
        sleep 0.2
    done
    ship1_rc=0
    wait "$ship_pid" || ship1_rc=$?
    ship_pid=
    echo "the retrying first ship ended with exit $ship1_rc once Garage was back"
fi

step "ship again"
ship2_rc=0
"$BIN" ship "$cap" --to "$URL" >"$out/ship2.out" 2>"$out/ship2.err" || ship2_rc=$?
[ "$ship2_rc" -eq 0 ] || fail "the second ship exited $ship2_rc"
echo "second ship: exit 0, $(shipped "$out/ship2.out") segment lines (first: $(shipped "$out/ship1.out"), capture: $segments segments)"

# Garage keeps the digest in the objects' metadata: every upload was verified by HEAD alone.
if grep -qh "verified by reading back" "$out"/ship1.out "$out"/ship2.out; then
    fail "an upload was verified by reading it back: the digest metadata was not returned by HEAD"
fi

step "check the remote capture"
validate_rc=0
"$BIN" validate "$URL" >"$out/validate.out" 2>"$out/validate.err" || validate_rc=$?
[ "$validate_rc" -eq 0 ] || fail "replaylog validate $URL exited $validate_rc"
echo "validate $URL: exit 0"
dump_sum dump-remote "$URL"
read -r remote_sha remote_lines remote_hits <"$out/dump-remote.sum"
[ "$remote_lines" -eq "$local_lines" ] || fail "the remote dump has $remote_lines lines, the local one $local_lines"
[ "$remote_sha" = "$local_sha" ] || fail "the remote dump differs from the local one (same line count, other bytes)"
echo "remote dump equals the local one: $remote_lines lines, sha256 $remote_sha"

step "bad input against the real server: exit 2 naming the URL and what to fix, nothing shipped"
# expect_2 NAME WANT CMD...: CMD exits 2 and its stderr says WANT.
expect_2() {
    local name=$1 want=$2 rc=0
    shift 2
    "$@" >"$out/$name.out" 2>"$out/$name.err" || rc=$?
    [ "$rc" -eq 2 ] || fail "$name: exit $rc, expected 2"
    grep -qF -- "$want" "$out/$name.err" || fail "$name: stderr lacks \"$want\": $(cat "$out/$name.err")"
    echo "$name: exit 2, $(head -c 200 "$out/$name.err")"
}
# A wrong secret (the right one with a byte more: were it printed, the scan below would find it).
expect_2 wrong-secret "credentials were refused" \
    env AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY}x" "$BIN" ship "$cap" --to s3://replaylog/e2e-wrong-secret
expect_2 unknown-key "s3://replaylog/e2e-unknown-key" \
    env AWS_ACCESS_KEY_ID=GK000000000000000000000000 "$BIN" ship "$cap" --to s3://replaylog/e2e-unknown-key
expect_2 no-bucket "the bucket does not exist" "$BIN" ship "$cap" --to s3://no-such-bucket-e2e/x
expect_2 no-capture "no manifest" "$BIN" dump s3://replaylog/nothing-here
expect_2 bad-scheme "unknown scheme" "$BIN" ship "$cap" --to ftp://replaylog/x
[ "$(find "$cap" -name '*.seg' | wc -l)" -eq "$segments" ] || fail "a local segment went missing"

step "look for the secret key in everything the commands printed"
leaks=$(grep -rlF -- "$AWS_SECRET_ACCESS_KEY" "$out" || true)
if [ -n "$leaks" ] || [ "$local_hits" -ne 0 ] || [ "$remote_hits" -ne 0 ]; then
    fail "the secret key appears in: ${leaks:-no file} (dump hits: local $local_hits, remote $remote_hits)"
fi
echo "absent from $(find "$out" -type f | wc -l) output files and both dumps"

echo "PASS"
