#!/usr/bin/env bash
# test_conformance_s3.sh - the backend conformance suite
# (unit/backend/test_backend_conformance.c) against a one-node Ceph RADOS
# Gateway (tests/servers/ceph_rgw.sh) through vlt_backend_open with an
# s3: location.  Skipped (77) without the script or Ceph's daemons, or in
# a build without the S3 backend.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_remote.sh"

: "${BACKEND_CONFORMANCE:?BACKEND_CONFORMANCE must name test_backend_conformance (ctest sets it)}"
RGW=$VAULT_SOURCE_DIR/tests/servers/ceph_rgw.sh
[ -f "$RGW" ] || skip "no tests/servers/ceph_rgw.sh in this tree"
for d in ceph-mon ceph-osd radosgw; do
    command -v "$d" >/dev/null || skip "$d is not installed (scripts/deps.sh installs Ceph)"
done

# The cluster goes with the test, before lib.sh's cleanup.
trap 'st=$?; bash "$RGW" stop "$WORK/ceph" >/dev/null 2>&1 || true; (exit $st); cleanup' EXIT
bash "$RGW" start "$WORK/ceph" >rgw.env 2>rgw.err ||
    die "ceph_rgw.sh start failed: $(tail -n 40 rgw.err)"
# shellcheck disable=SC1091
. ./rgw.env
[ -n "${VAULT_TEST_S3_URL:-}" ] || die "ceph_rgw.sh printed no VAULT_TEST_S3_URL: $(cat rgw.env)"

rc=0
VAULT_TEST_S3_URL=$VAULT_TEST_S3_URL CMOCKA_MESSAGE_OUTPUT=stdout \
    "$BACKEND_CONFORMANCE" >suite.log 2>&1 || rc=$?
check_sane "$rc" suite.log "test_backend_conformance ($VAULT_TEST_S3_URL)"
[ "$rc" -ne 77 ] || skip "$(tail -n 1 suite.log)"
[ "$rc" -eq 0 ] || die "the conformance suite failed against $VAULT_TEST_S3_URL:
$(grep -E 'FAILED|ERROR|FAIL|Failure|error' suite.log | head -n 40)"
grep -q 'conformance: s3' suite.log || die "the suite did not run the s3 target"
pass
