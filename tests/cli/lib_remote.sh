# lib_remote.sh - servers for the remote tests, sourced after lib.sh:
# `rclone serve restic` on loopback and the fault proxy
# (tests/tools/fault_proxy.c) in front of it.  Both run as background
# jobs of the test, which lib.sh's cleanup ends.
#
# Environment (set by ctest): FAULT_PROXY, the proxy binary.

# skip REASON: the test cannot run here (ctest counts it as skipped).
# Under ./test.sh (and so in CI), which installs every server first,
# VAULT_TEST_REQUIRE_SERVERS=1 makes a missing server a failure instead.
skip() {
    if [ "${VAULT_TEST_REQUIRE_SERVERS:-0}" = 1 ]; then
        echo "FAIL: $TEST_NAME: $* (./test.sh installs what the tests need)"
        exit 1
    fi
    echo "SKIP: $TEST_NAME: $*"
    exit 77
}

need_rclone() {
    command -v rclone >/dev/null || skip "rclone is not installed"
}

# start_rclone DIR [PORT [OPTIONS...]]: serves DIR over restic's REST
# protocol on 127.0.0.1:PORT (a free one if 0 or absent); RCLONE_PID,
# RCLONE_PORT.  Waits until it listens.
start_rclone() {
    local dir=$1 port=${2:-0}
    shift $(($# < 2 ? $# : 2))
    local log=$WORK/rclone.$RANDOM.log
    # The background job opens its output only once it runs: create the
    # file first, or the first read below fails (and set -e ends the test).
    : >"$log"
    RCLONE_CONFIG=$WORK/rclone.conf rclone serve restic \
        --addr "127.0.0.1:$port" "$@" "$dir" >"$log" 2>&1 &
    RCLONE_PID=$!
    local i
    for i in $(seq 200); do
        RCLONE_PORT=$(sed -n 's|.*Serving restic REST API on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$log" | head -n 1)
        [ -n "$RCLONE_PORT" ] && return 0
        kill -0 "$RCLONE_PID" 2>/dev/null || break
        sleep 0.05
    done
    die "rclone serve restic did not start: $(cat "$log")"
}

stop_rclone() {
    kill -9 "$RCLONE_PID" 2>/dev/null || true
    wait "$RCLONE_PID" 2>/dev/null || true
}

# start_proxy NAME [OPTIONS...]: the fault proxy in front of rclone, with
# its statistics in $WORK/NAME.stats and its request log in
# $WORK/NAME.log; PROXY_PID, PROXY_PORT.  It listens on PROXY_LISTEN
# (default 127.0.0.1:0, a free port), so that a test can keep one port,
# and one location, for all its proxies.
start_proxy() {
    local name=$1
    shift
    : "${FAULT_PROXY:?FAULT_PROXY must name the proxy binary (ctest sets it)}"
    rm -f "$WORK/$name.stats" "$WORK/$name.log"
    # Created before the job starts, as in start_rclone.
    : >"$WORK/$name.port"
    "$FAULT_PROXY" --listen "${PROXY_LISTEN:-127.0.0.1:0}" --to "127.0.0.1:$RCLONE_PORT" \
        --stats "$WORK/$name.stats" --log "$WORK/$name.log" "$@" \
        >"$WORK/$name.port" 2>"$WORK/$name.err" &
    PROXY_PID=$!
    PROXY_NAME=$name
    local i
    for i in $(seq 200); do
        PROXY_PORT=$(awk '/^port /{print $2; exit}' "$WORK/$name.port")
        [ -n "$PROXY_PORT" ] && return 0
        kill -0 "$PROXY_PID" 2>/dev/null || break
        sleep 0.05
    done
    die "fault_proxy did not start: $(cat "$WORK/$name.err")"
}

# stop_proxy: ends the proxy; its statistics are then in
# $WORK/$PROXY_NAME.stats (see proxy_stat).
stop_proxy() {
    kill -TERM "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
    if grep -q -E 'Sanitizer|runtime error:' "$WORK/$PROXY_NAME.err"; then
        die "fault_proxy: sanitizer report: $(head -n 40 "$WORK/$PROXY_NAME.err")"
    fi
}

# proxy_stat NAME KEY: a number from a stopped proxy's statistics
# (requests, bytes_up, bytes_down, faults).
proxy_stat() {
    awk -v k="$2" '$1 == k {print $2}' "$WORK/$1.stats"
}

# proxied_vault: rclone on a fresh store, a vault made through the proxy
# by identity id.txt (made too); the proxy's port is kept for the test's
# later proxies (PROXY_LISTEN), LOC is the vault's location.  The proxy
# is stopped again.  Sets RC (init's status) for the caller to check.
proxied_vault() {
    need_rclone
    start_rclone "$WORK/store"
    new_identity id.txt
    start_proxy plain
    PROXY_LISTEN=127.0.0.1:$PROXY_PORT
    LOC=rest:http://127.0.0.1:$PROXY_PORT/v/
    v init "$LOC" -i id.txt
}

# proxied_vault_ok: proxied_vault, which must succeed.
proxied_vault_ok() {
    proxied_vault
    [ "$RC" -eq 0 ] || die "init $LOC failed: $(cat "$WORK/err.txt")"
    pass
    stop_proxy
}
