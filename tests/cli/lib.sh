# lib.sh - helpers shared by the black-box tests tests/cli/test_*.sh.
# Sourced, not run:  . "$(dirname "$0")/lib.sh"
#
# Gives each test a fresh work directory ($WORK, also the current
# directory) that is removed on exit (kept when KEEP_WORK=1), a private
# files cache (XDG_CACHE_HOME) and known_vaults (XDG_CONFIG_HOME), and ways to run `vault` that fail the test
# on a crash or a sanitizer report whatever the exit status.
#
# Environment (set by ctest, see tests/CMakeLists.txt):
#   VAULT             the vault binary (required)
#   VAULT_SOURCE_DIR  the source tree (default: derived from this file)
#   PYTHON            python3 to use (default: python3)

: "${VAULT:?VAULT must name the vault binary (ctest sets it)}"
[ -x "$VAULT" ] || { echo "FAIL: VAULT=$VAULT is not executable" >&2; exit 1; }
case $VAULT in /*) ;; *) VAULT=$PWD/$VAULT ;; esac

CLI_TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VAULT_SOURCE_DIR=${VAULT_SOURCE_DIR:-$(cd "$CLI_TESTS_DIR/../.." && pwd)}
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || { echo "FAIL: no $PYTHON" >&2; exit 1; }

TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vault-$TEST_NAME-XXXXXX")
# mktemp may hand out a path through a symlink; snapshots store real paths.
WORK=$(cd "$WORK" && pwd -P)
TEST_START=$SECONDS

cleanup() {
    local status=$?
    if [ "$status" -eq 0 ] && [ "${FAILURES:-0}" -gt 0 ]; then
        echo "FAIL: $TEST_NAME: $FAILURES check(s) failed (see above)" >&2
        status=1
    fi
    # Background jobs still running (a failed concurrent test) go first.
    local pids
    pids=$(jobs -pr) || true
    [ -z "$pids" ] || kill $pids 2>/dev/null || true
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        echo "note: work directory kept: $WORK" >&2
    else
        # Fixtures have read-only directories; make them removable.
        chmod -R u+rwX "$WORK" 2>/dev/null || true
        rm -rf "$WORK"
    fi
    if [ "$status" -eq 0 ]; then
        echo "PASS: $TEST_NAME ($CHECKS checks, $((SECONDS - TEST_START)) s)"
    fi
    exit "$status"
}
trap cleanup EXIT

cd "$WORK"
export XDG_CACHE_HOME=$WORK/cache XDG_CONFIG_HOME=$WORK/config
unset VAULT_IDENTITY VAULT_REPOSITORY VAULT_PASSPHRASE VAULT_SCRYPT_LOG2N
export LC_ALL=C.UTF-8 TZ=UTC

CHECKS=0
FAILURES=0
pass() { CHECKS=$((CHECKS + 1)); }
# die MESSAGE: fails the test now.
die() {
    echo "FAIL: $TEST_NAME: $*" >&2
    exit 1
}
# fail MESSAGE: fails the test but goes on, so that one run shows every
# problem that does not stop the rest (the test still exits 1).
fail() {
    echo "FAIL: $TEST_NAME: $*" >&2
    FAILURES=$((FAILURES + 1))
}
note() { echo "note: $*" >&2; }

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# check_sane STATUS STDERR_FILE WHAT: fails on a crash (killed by a signal,
# status >= 128) or a sanitizer report (ASan exits 1 by default, so the
# status alone does not tell).
check_sane() {
    local status=$1 errfile=$2 what=$3
    if [ "$status" -ge 128 ]; then
        die "$what: crashed (exit status $status); stderr:
$(tail -n 40 "$errfile")"
    fi
    if grep -q -E 'Sanitizer|runtime error:' "$errfile"; then
        die "$what: sanitizer report (exit status $status):
$(head -n 60 "$errfile")"
    fi
}

# v ARGS...: runs vault; stdout in $WORK/out.txt, stderr in $WORK/err.txt,
# exit status in $RC.  Fails the test on a crash, never on a status.
v() {
    RC=0
    "$VAULT" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || RC=$?
    check_sane "$RC" "$WORK/err.txt" "vault $*"
}

# ok ARGS...: v, and the command must succeed.
ok() {
    v "$@"
    [ "$RC" -eq 0 ] || die "vault $* exited $RC, expected 0; stderr:
$(cat "$WORK/err.txt")"
    pass
}

# expect_rc STATUS ARGS...: v, and the command must exit STATUS (else the
# test fails, and goes on).  Returns 1 if it did not.
expect_rc() {
    local want=$1
    shift
    v "$@"
    if [ "$RC" -ne "$want" ]; then
        fail "vault $* exited $RC, expected $want; stdout:
$(head -c 2000 "$WORK/out.txt")
stderr:
$(head -c 2000 "$WORK/err.txt")"
        return 1
    fi
    pass
}

# expect_fail STATUS PATTERN ARGS...: the command exits STATUS, prints
# nothing on stdout, and its stderr starts with "vault: " and matches the
# extended regex PATTERN (case-insensitive).  Each miss fails the test,
# which goes on.
expect_fail() {
    local want=$1 pattern=$2
    shift 2
    expect_rc "$want" "$@" || return 0
    [ ! -s "$WORK/out.txt" ] || fail "vault $* failed but wrote to stdout:
$(head -c 2000 "$WORK/out.txt")"
    head -n 1 "$WORK/err.txt" | grep -q '^vault: ' ||
        fail "vault $*: stderr does not start with 'vault: ':
$(cat "$WORK/err.txt")"
    grep -q -i -E -- "$pattern" "$WORK/err.txt" ||
        fail "vault $*: stderr does not match /$pattern/:
$(cat "$WORK/err.txt")"
    pass
}

# json_get FILE EXPR: evaluates the Python expression EXPR with `j` bound
# to FILE's parsed JSON and prints the result.
json_get() {
    "$PYTHON" - "$1" "$2" <<'EOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    j = json.load(f)
print(eval(sys.argv[2], {"j": j}))
EOF
}

# new_identity FILE: a fresh identity made by `vault keygen`.
new_identity() {
    v keygen -o "$1"
    [ "$RC" -eq 0 ] || die "vault keygen -o $1 failed: $(cat "$WORK/err.txt")"
}

# new_vault DIR ID: a new vault in DIR owned by identity file ID.
new_vault() {
    ok init "$1" -i "$2"
}

# du_bytes DIR: apparent size in bytes of everything under DIR.
du_bytes() {
    du -sb "$1" | cut -f1
}

# make_tree DIR: the round-trip fixture (see make_tree.sh).
make_tree() {
    bash "$CLI_TESTS_DIR/make_tree.sh" "$1" || die "make_tree.sh $1 failed"
}

# treecmp A B [OPTIONS]: the trees must match (see treecmp.py); a
# difference fails the test, which goes on.
treecmp() {
    local out
    if ! out=$("$PYTHON" "$CLI_TESTS_DIR/treecmp.py" "$@" 2>&1); then
        fail "trees differ ($*):
$out"
        return 0
    fi
    pass
}

# random_file FILE BYTES: BYTES random bytes.
random_file() {
    head -c "$2" /dev/urandom >"$1"
}

# xattrs_supported DIR: whether user.* xattrs can be set on files in DIR.
xattrs_supported() {
    command -v setfattr >/dev/null || return 1
    : >"$1/.xattr-probe"
    local r=0
    setfattr -n user.probe -v 1 "$1/.xattr-probe" 2>/dev/null || r=1
    rm -f "$1/.xattr-probe"
    return $r
}

# pty_run ARGS...: runs ARGS on a new pseudo-terminal, typing
# $PTY_PASSPHRASE at each prompt that mentions a passphrase; exits with
# the command's status.  For age, which reads passphrases only from a
# terminal.
pty_run() {
    "$PYTHON" - "$@" <<'EOF'
import os, pty, select, sys, time
pw = os.environ["PTY_PASSPHRASE"].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
seen, answered, done, status = b"", 0, 0, 0
deadline = time.time() + 120
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.1)
    if fd in r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        seen += data
        if (seen.lower().count(b"passphrase") > answered
                and seen.rstrip().endswith(b":")):
            os.write(fd, pw + b"\r")
            answered += 1
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
if not done:
    os.kill(pid, 9)
    sys.exit("pty_run: timeout; terminal said: " + seen.decode(errors="replace"))
code = os.waitstatus_to_exitcode(status)
if code != 0:
    sys.stderr.write(seen.decode(errors="replace") + "\n")
sys.exit(code)
EOF
}
