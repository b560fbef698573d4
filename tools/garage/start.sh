#!/usr/bin/env bash
# A one-node Garage (S3-compatible object store) on 127.0.0.1 for the ship tests and benchmarks.
#
#   tools/garage/start.sh DIR            # first start: config, server, layout, bucket, key, env
#   tools/garage/start.sh DIR            # again on the same DIR (say after a SIGKILL): reuses the
#                                        # config, node, layout, bucket and key; idempotent
#   tools/garage/start.sh --restart DIR  # only start the server again and wait until it answers
#   . DIR/env                            # AWS_* for replaylog ship/dump s3://replaylog/...
#   tools/garage/stop.sh DIR             # stop it and remove DIR
#
# Takes about 1 s (a restart about 0.5 s; bounded by GARAGE_WAIT_SECS, 60), plus `cargo install
# garage --locked` (10-20 min on 2 cores) when no garage binary is on PATH or in ~/.cargo/bin.
#
# DIR holds garage.toml (ports picked free at the first start and kept, random rpc_secret and
# admin_token; mode 600), meta/ (sqlite), data/, garage.log, garage.pid and env (mode 600:
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_REGION = s3_region,
# AWS_ALLOW_HTTP). The bucket is `replaylog`, the key `replaylog-ci` (read, write, owner).
# Nothing secret is printed: the secret key goes to DIR/env only.
set -euo pipefail

BUCKET=replaylog
KEY_NAME=replaylog-ci
REGION=garage
WAIT_SECS=${GARAGE_WAIT_SECS:-60}

usage() {
    echo "usage: $0 [--restart] DIR" >&2
    exit 2
}
restart_only=false
if [ "${1:-}" = --restart ]; then
    restart_only=true
    shift
fi
[ $# -eq 1 ] || usage
if $restart_only && [ ! -f "$1/garage.toml" ]; then
    echo "$0 --restart: no $1/garage.toml (start it once without --restart)" >&2
    exit 2
fi
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
CFG="$DIR/garage.toml"
umask 077

# The garage binary: PATH, then ~/.cargo/bin, else install it (slow: it builds from source).
if command -v garage >/dev/null; then
    GARAGE=$(command -v garage)
elif [ -x "$HOME/.cargo/bin/garage" ]; then
    GARAGE="$HOME/.cargo/bin/garage"
else
    echo "garage not found: cargo install garage --locked (10-20 min)" >&2
    cargo install garage --locked >&2
    GARAGE="$HOME/.cargo/bin/garage"
fi
g() { "$GARAGE" -c "$CFG" "$@"; }

running() {
    local pid
    [ -f "$DIR/garage.pid" ] || return 1
    pid=$(cat "$DIR/garage.pid")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qF -- "$CFG" "/proc/$pid/cmdline" 2>/dev/null
}

if [ ! -f "$CFG" ]; then
    # Three ports free now on 127.0.0.1 (S3, RPC, admin), all bound at once so they differ.
    read -r s3_port rpc_port admin_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
')
    rpc_secret=$(openssl rand -hex 32)
    admin_token=$(openssl rand -base64 32)
    mkdir -p "$DIR/meta" "$DIR/data"
    cat >"$CFG.tmp" <<EOF
# Written by tools/garage/start.sh: a one-node test cluster on 127.0.0.1.
metadata_dir = "$DIR/meta"
data_dir = "$DIR/data"
db_engine = "sqlite"
replication_factor = 1
# Blocks are stored as sent: no zstd work on a small shared machine (and none to time).
compression_level = "none"

rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$rpc_secret"

[s3_api]
api_bind_addr = "127.0.0.1:$s3_port"
s3_region = "$REGION"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
admin_token = "$admin_token"
EOF
    mv "$CFG.tmp" "$CFG"
fi
s3_port=$(sed -n '/^\[s3_api\]/,/^\[/s/^api_bind_addr = "127\.0\.0\.1:\([0-9]*\)"/\1/p' "$CFG")
[ -n "$s3_port" ] || { echo "$0: no S3 port in $CFG" >&2; exit 2; }
ENDPOINT="http://127.0.0.1:$s3_port"

if running; then
    echo "garage already running (pid $(cat "$DIR/garage.pid"))"
else
    # setsid: a Ctrl-C in the caller's terminal does not reach it; stop.sh stops it by its pid.
    setsid "$GARAGE" -c "$CFG" server </dev/null >>"$DIR/garage.log" 2>&1 &
    echo $! >"$DIR/garage.pid"
fi
pid=$(cat "$DIR/garage.pid")

# Wait until the node answers RPC (garage status) and the S3 port answers HTTP.
deadline=$((SECONDS + WAIT_SECS))
until g status >/dev/null 2>&1 &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$ENDPOINT/" || true)" != 000 ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "$0: garage (pid $pid) exited; the end of $DIR/garage.log:" >&2
        tail -n 20 "$DIR/garage.log" >&2
        exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
        echo "$0: garage (pid $pid) did not answer within ${WAIT_SECS}s; see $DIR/garage.log" >&2
        exit 1
    fi
    sleep 0.2
done

if ! $restart_only; then
    # Layout: only while the node has no role yet (first start, or one interrupted before apply).
    if g status 2>/dev/null | grep -q 'NO ROLE ASSIGNED'; then
        node_id=$(g node id -q 2>/dev/null | cut -d@ -f1)
        # -c: the node's weight in partition placement, not a quota; large so it never looks full.
        g layout assign -z dc1 -c 100G "$node_id" >/dev/null
        version=$(g layout show 2>/dev/null | sed -n 's/.*[Cc]urrent cluster layout version: *\([0-9]*\).*/\1/p')
        g layout apply --version "$((${version:-0} + 1))" >/dev/null
    fi
    g bucket info "$BUCKET" >/dev/null 2>&1 || g bucket create "$BUCKET" >/dev/null
    g key info "$KEY_NAME" >/dev/null 2>&1 || g key create "$KEY_NAME" >/dev/null
    g bucket allow --read --write --owner "$BUCKET" --key "$KEY_NAME" >/dev/null
    # Read the key back into DIR/env only (never to stdout).
    key_id=$(g key info --key-id "$KEY_NAME")
    secret=$(g key info --secret-key "$KEY_NAME")
    if [ -z "$key_id" ] || [ -z "$secret" ]; then
        echo "$0: could not read the key id and secret of $KEY_NAME from 'garage key info'" >&2
        exit 1
    fi
    cat >"$DIR/env.tmp" <<EOF
export AWS_ACCESS_KEY_ID=$key_id
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_ENDPOINT_URL=$ENDPOINT
export AWS_REGION=$REGION
export AWS_DEFAULT_REGION=$REGION
export AWS_ALLOW_HTTP=true
EOF
    chmod 600 "$DIR/env.tmp"
    mv "$DIR/env.tmp" "$DIR/env"
fi
echo "garage $(g --version 2>/dev/null | head -n 1 | awk '{print $2}') pid $pid: s3 $ENDPOINT bucket $BUCKET, env in $DIR/env, log $DIR/garage.log"
