#!/usr/bin/env bash
# S3 on a real Ceph RADOS Gateway (tests/servers/ceph_rgw.sh, started here
# once and stopped at the end; with VAULT_TEST_S3_URL and the AWS_*
# variables set, that gateway is used instead).
#
# 1. The library's S3 backend against it: the backend conformance suite
#    and the S3-only tests (test_backend_s3, given by ctest as
#    TEST_BACKEND_S3).
# 2. The sharing story end to end on S3 through the vault CLI: Alice inits
#    a vault on RGW (init makes the bucket) and shares it with Bob; Bob,
#    on another client home (his own cache and pins), lists and extracts;
#    a writer adds; Alice unshares Bob; Bob cannot open what is added
#    next, not even after putting his old envelope back.  The secret key
#    never appears in any output or in the pin files; a wrong secret is a
#    clear authentication error.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RGW_SCRIPT=$VAULT_SOURCE_DIR/tests/servers/ceph_rgw.sh
RGW_DIR=
stop_rgw() {
    local status=$?
    # Not under errexit: `(exit 1)` below would end the trap before
    # cleanup removes the work directory.
    set +e
    if [ -n "$RGW_DIR" ]; then
        bash "$RGW_SCRIPT" stop "$RGW_DIR" >/dev/null 2>&1 || true
    fi
    (exit "$status") # cleanup reads the test's status from $?
    cleanup
}
trap stop_rgw EXIT

if [ -n "${VAULT_TEST_S3_URL:-}" ]; then
    : "${AWS_ACCESS_KEY_ID:?VAULT_TEST_S3_URL is set: AWS_ACCESS_KEY_ID must be too}"
    : "${AWS_SECRET_ACCESS_KEY:?VAULT_TEST_S3_URL is set: AWS_SECRET_ACCESS_KEY must be too}"
    note "using the S3 server of VAULT_TEST_S3_URL"
else
    # Short path: admin sockets live under it (108-byte limit).
    RGW_DIR=$WORK/rgw
    t0=$SECONDS
    bash "$RGW_SCRIPT" start "$RGW_DIR" >"$WORK/rgw.env" 2>"$WORK/rgw.log" ||
        die "the Ceph RADOS Gateway did not start:
$(tail -n 60 "$WORK/rgw.log")"
    eval "$(cat "$WORK/rgw.env")"
    note "Ceph RGW ready in $((SECONDS - t0)) s"
fi
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION VAULT_TEST_S3_URL
SECRET=$AWS_SECRET_ACCESS_KEY
BASE=$VAULT_TEST_S3_URL   # s3:http://127.0.0.1:PORT/bucket

# --- 1. the library against the gateway ---------------------------------
if [ -n "${TEST_BACKEND_S3:-}" ]; then
    "$TEST_BACKEND_S3" >"$WORK/backend.log" 2>&1 ||
        die "test_backend_s3 against RGW failed:
$(grep -v -E '^\[ +(OK|RUN) ' "$WORK/backend.log" | tail -n 60)"
    grep -q 'OK \] test_concurrent_same_name' "$WORK/backend.log" &&
        grep -q 'OK \] test_s3_wrong_secret' "$WORK/backend.log" ||
        die "test_backend_s3 did not run the conformance suite:
$(tail -n 20 "$WORK/backend.log")"
    pass
else
    die "TEST_BACKEND_S3 is not set (ctest sets it): the library's S3 tests cannot run"
fi

# --- 2. the CLI ------------------------------------------------------------
# All that any command printed, to look for the secret at the end.
ALL_OUTPUT=$WORK/all-output.txt
: >"$ALL_OUTPUT"
keep_output() { cat "$WORK/out.txt" "$WORK/err.txt" >>"$ALL_OUTPUT"; }

# A fresh bucket per run: init must make it.
V=$BASE-$(date +%s)-$$

new_identity alice.txt
age-keygen -o bob.txt 2>/dev/null
new_identity wendy.txt
bob=$(age-keygen -y bob.txt)
wendy=$("$VAULT" keygen -y -i wendy.txt)

mkdir -p src/docs
printf 'first\n' >src/docs/a.txt
random_file src/big.bin 3000000
random_file src/docs/small.bin 5000

ok init "$V" -i alice.txt
keep_output
ok add "$V" src -i alice.txt --tag one
keep_output
ok share "$V" "$bob" -i alice.txt
keep_output
grep -q "shared with $bob as reader" out.txt || die "share said: $(cat out.txt)"
ok share "$V" "$wendy" --role writer -i alice.txt
keep_output

# Bob: another client home, so his own cache and pins.
BOB_HOME=$WORK/bob-home
mkdir -p "$BOB_HOME"
as_bob() {
    HOME=$BOB_HOME XDG_CACHE_HOME=$BOB_HOME/cache XDG_CONFIG_HOME=$BOB_HOME/config \
        "$@"
}
as_bob ok ls "$V" -i bob.txt
keep_output
grep -q '\[one\]' out.txt || die "bob's ls: $(cat out.txt)"
as_bob ok ls "$V" latest -R -i bob.txt
keep_output
grep -q 'docs/a.txt' out.txt || die "bob's ls -R: $(cat out.txt)"
as_bob ok extract "$V" latest -C bob-out -i bob.txt
keep_output
treecmp src "bob-out$WORK/src"
[ -n "$(ls -A "$BOB_HOME/config" 2>/dev/null)" ] ||
    fail "bob's client home has no pins (XDG_CONFIG_HOME=$BOB_HOME/config)"

# The writer adds; Bob reads it.
printf 'from the writer\n' >src/docs/w.txt
ok add "$V" src -i wendy.txt --tag by-writer
keep_output
as_bob ok ls "$V" -i bob.txt
keep_output
grep -q '\[by-writer\]' out.txt || die "bob does not see the writer's snapshot: $(cat out.txt)"

# Bob keeps his envelope (the storage credentials are shared, so he can
# read and write the bucket's objects himself).
S3_HTTP=${V#s3:}   # http://host:port/bucket
s3curl() {
    curl -s -S --fail --aws-sigv4 "aws:amz:${AWS_DEFAULT_REGION:-us-east-1}:s3" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
s3curl "$S3_HTTP?list-type=2&prefix=keys%2F" >keys.xml || die "cannot list keys/ with curl"
bob_env=
for key in $(grep -o '<Key>keys/[0-9a-f]*</Key>' keys.xml | sed 's/<[^>]*>//g'); do
    s3curl -o env.age "$S3_HTTP/$key" || die "cannot get $key with curl"
    if age -d -i bob.txt env.age >/dev/null 2>&1; then
        bob_env=$key
        cp env.age bob-envelope.age
    fi
done
[ -n "$bob_env" ] || die "no envelope for bob among: $(cat keys.xml)"

# Alice unshares Bob; what is added next is closed to him.
ok unshare "$V" "$bob" -i alice.txt
keep_output
grep -q "rotated keys" out.txt || die "unshare said: $(cat out.txt)"
printf 'after bob left\n' >src/docs/secret.txt
ok add "$V" src -i wendy.txt --tag after
keep_output
as_bob expect_fail 1 "not a member" ls "$V" -i bob.txt
keep_output
as_bob expect_fail 1 "not a member" extract "$V" latest -C bob-after -i bob.txt
keep_output
[ ! -e bob-after/"$WORK"/src/docs/secret.txt ] || fail "bob extracted what was added after he left"
ok ls "$V" -i alice.txt
keep_output
grep -q '\[after\]' out.txt || die "alice's ls: $(cat out.txt)"
ok check "$V" --read-data -i alice.txt
keep_output

# Bob puts his old envelope back: the membership log goes on in a key
# epoch he does not hold, so the new snapshot stays closed to him.
s3curl -o /dev/null "$S3_HTTP/$bob_env" 2>/dev/null && fail "unshare left bob's envelope $bob_env"
s3curl -o /dev/null -T bob-envelope.age "$S3_HTTP/$bob_env" || die "cannot put bob's envelope back"
as_bob expect_fail 1 "key epoch 1" ls "$V" -i bob.txt
keep_output
as_bob expect_fail 1 "key epoch 1|not a member" extract "$V" latest -C bob-after -i bob.txt
keep_output
[ ! -e bob-after/"$WORK"/src/docs/secret.txt ] || fail "bob extracted what was added after he left"

# --- secrets -------------------------------------------------------------
# A wrong secret: an authentication error naming what to check, without
# the secret (neither the wrong one nor the right one).
WRONG=${SECRET}WRONG
AWS_SECRET_ACCESS_KEY=$WRONG expect_fail 1 "SignatureDoesNotMatch|AWS_SECRET_ACCESS_KEY" ls "$V" -i alice.txt
keep_output
grep -q -- "$WRONG" "$WORK/err.txt" && fail "the wrong secret appears in the error"
# No credentials at all.
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME=$WORK/nohome \
    "$VAULT" ls "$V" -i alice.txt >out.txt 2>err.txt && fail "ls without credentials succeeded"
grep -q 'AWS_ACCESS_KEY_ID' err.txt || fail "no-credentials error does not name AWS_ACCESS_KEY_ID: $(cat err.txt)"
pass
keep_output
if grep -q -F -- "$SECRET" "$ALL_OUTPUT"; then
    fail "the secret key appears in vault's output"
fi
if grep -r -q -F -- "$SECRET" "$XDG_CONFIG_HOME" "$BOB_HOME/config" 2>/dev/null; then
    fail "the secret key appears in a pin file"
fi
pass
