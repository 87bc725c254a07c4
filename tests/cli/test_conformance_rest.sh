#!/usr/bin/env bash
# test_conformance_rest.sh - the backend conformance suite
# (unit/backend/test_backend_conformance.c) against `rclone serve restic`
# on loopback, through vlt_backend_open with a rest: location: directly,
# and through the fault proxy answering one request in a hundred with a
# 500, which the retries must hide.  Skipped (77) without rclone or
# in a build without the REST backend.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_remote.sh"

: "${BACKEND_CONFORMANCE:?BACKEND_CONFORMANCE must name test_backend_conformance (ctest sets it)}"
need_rclone
start_rclone "$WORK/rest"

# run_suite LOCATION LOG: the suite against LOCATION; 77 passes through.
run_suite() {
    local rc=0
    VAULT_TEST_REST_URL=$1 CMOCKA_MESSAGE_OUTPUT=stdout \
        "$BACKEND_CONFORMANCE" >"$2" 2>&1 || rc=$?
    check_sane "$rc" "$2" "test_backend_conformance ($1)"
    [ "$rc" -ne 77 ] || skip "$(tail -n 1 "$2")"
    [ "$rc" -eq 0 ] || die "the conformance suite failed against $1:
$(grep -E 'FAILED|ERROR|FAIL|Failure|error' "$2" | head -n 40)"
    grep -q 'conformance: rest' "$2" || die "the suite did not run the rest target"
    pass
}

run_suite "rest:http://127.0.0.1:$RCLONE_PORT/" direct.log

# One request in a hundred answered "500 Internal Server Error" by the
# proxy (seeded): the retries hide them from the suite.
start_proxy flaky --fault-rate 0.01 --seed 11 --kinds 500
run_suite "rest:http://127.0.0.1:$PROXY_PORT/" flaky.log
stop_proxy
[ "$(proxy_stat flaky faults)" -gt 0 ] || fail "the proxy injected no faults"
note "through the proxy: $(proxy_stat flaky requests) requests, $(proxy_stat flaky faults) answered 500"
