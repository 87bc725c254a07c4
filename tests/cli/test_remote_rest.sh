#!/usr/bin/env bash
# test_remote_rest.sh - vaults on a real `rclone serve restic` (restic's
# REST protocol v2) on loopback: plain (a full round trip of the fixture
# tree), with basic auth (a wrong password is a clear error, and the
# password never shows in output, --json or the pin file), --append-only
# (add, ls, extract, check work; forget, prune, unshare and rekey refuse
# before changing anything), TLS with a CA made here (refused without
# --cacert or with a wrong CA), and rclone: locations, where vault runs
# rclone itself (nobody else can use its port; it ends with vault, also on
# Ctrl-C and SIGKILL).  Also: an unknown scheme is refused and makes
# nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v rclone >/dev/null || die "rclone is needed (scripts/deps.sh)"
command -v curl >/dev/null || die "curl is needed"
command -v openssl >/dev/null || die "openssl is needed (scripts/deps.sh)"
# rclone's own config: none (it says so on stderr, which is fine).
export RCLONE_CONFIG=$WORK/rclone.conf

SERVER_PIDS=()
stop_servers() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    SERVER_PIDS=()
}
# lib.sh's cleanup kills leftover jobs too; this reaps ours first, and
# hands cleanup the test's exit status.
stop_then_cleanup() {
    local status=$?
    stop_servers
    (exit "$status") || cleanup
    cleanup
}
trap stop_then_cleanup EXIT

# start_rclone NAME DIR [FLAGS...]: `rclone serve restic DIR` on a free
# loopback port (rclone picks it); waits until it serves and sets PORT and
# SCHEME (http or https).  Its log is NAME.log.
start_rclone() {
    local name=$1 dir=$2
    shift 2
    mkdir -p "$dir"
    rclone serve restic "$dir" --addr 127.0.0.1:0 "$@" 2>"$name.log" &
    SERVER_PIDS+=($!)
    local i line=""
    for i in $(seq 1 200); do
        line=$(grep -o -E 'https?://127\.0\.0\.1:[0-9]+/' "$name.log" | head -n 1) || true
        [ -n "$line" ] && break
        kill -0 "${SERVER_PIDS[-1]}" 2>/dev/null ||
            die "rclone serve restic $dir $* exited: $(cat "$name.log")"
        sleep 0.05
    done
    [ -n "$line" ] || die "rclone serve restic did not start: $(cat "$name.log")"
    SCHEME=${line%%://*}
    PORT=${line##*:}
    PORT=${PORT%/}
}

# listing DIR: every file under DIR with its size, sorted (what a server
# folder holds).
listing() {
    (cd "$1" && find . -type f -printf '%p %s\n' | sort)
}

new_identity id.txt
new_identity bob.txt
bob=$("$VAULT" keygen -y -i bob.txt)
make_tree "$WORK/src" 2>make_tree.log
SRC=$WORK/src

# --- an unknown scheme: refused, nothing made ----------------------------------
expect_fail 1 "unknown storage scheme 'foo:'.*rest:.*rclone:.*s3:" init foo:bar -i id.txt
[ ! -e foo:bar ] || fail "init foo:bar made a local folder"
expect_fail 1 "unknown storage scheme 'sftp:'" init sftp:host:path -i id.txt
[ ! -e sftp:host:path ] || fail "init sftp:host:path made a local folder"
# A local folder with a colon is written ./name.
ok init ./with:colon -i id.txt
[ -f with:colon/config ] || fail "init ./with:colon did not make the vault there"
ok ls ./with:colon -i id.txt

# --- plain: the round trip -----------------------------------------------------
start_rclone plain "$WORK/srv-plain"
L=rest:http://127.0.0.1:$PORT/
t0=$(date +%s.%N)
ok init "$L" -i id.txt
grep -q "created vault $L" out.txt || fail "init does not name the location: $(cat out.txt)"
[ -f srv-plain/config ] || fail "init left no config on the server"
ok add "$L" "$SRC" -i id.txt --json
cp out.txt add.json
snap=$(json_get add.json 'j["id"]')
[ -f "srv-plain/snapshots/$snap" ] || fail "the snapshot $snap is not on the server"
ok ls "$L" latest -R -l -i id.txt
ls_remote=$(sed 's/^[^ ]* //' out.txt | sort | md5sum)
ok extract "$L" latest -C out-plain -i id.txt
treecmp "$SRC" "out-plain$SRC"
ok check "$L" --read-data -i id.txt
t1=$(date +%s.%N)
note "round trip on loopback REST (init, add, ls -R, extract, check --read-data): $(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s"
# The same vault read as a local folder lists the same tree.
ok ls srv-plain latest -R -l -i id.txt
[ "$(sed 's/^[^ ]* //' out.txt | sort | md5sum)" = "$ls_remote" ] ||
    fail "ls -R over REST differs from ls -R of the server's folder"
# init again: refused, the vault untouched.
before=$(listing srv-plain)
expect_fail 1 "already" init "$L" -i id.txt
[ "$(listing srv-plain)" = "$before" ] || fail "a refused init changed the server"
# Storage options go anywhere before --, and by environment.
ok --connections 2 ls "$L" -i id.txt
ok ls "$L" --connections=3 -i id.txt --no-cache
VAULT_CONNECTIONS=1 ok ls "$L" -i id.txt
expect_fail 2 "connections" ls "$L" --connections 0 -i id.txt
VAULT_CONNECTIONS=x expect_fail 2 "VAULT_CONNECTIONS" ls "$L" -i id.txt
# The pin is keyed by the location.
grep -q " $L\$" config/vault/known_vaults || fail "no pin for $L"
# VAULT_REPOSITORY may be a location.
VAULT_REPOSITORY=$L ok ls -i id.txt
grep -q "${snap:0:8}" out.txt || fail "ls via VAULT_REPOSITORY=$L misses the snapshot"
# Not a vault: an empty server folder.
start_rclone empty "$WORK/srv-empty"
expect_fail 1 "not a vault" ls "rest:http://127.0.0.1:$PORT/" -i id.txt
stop_servers

# --- basic auth: the password never shows ---------------------------------------
SECRET="pw-$RANDOM-Zq9x$RANDOM"
start_rclone auth "$WORK/srv-auth" --user alice --pass "$SECRET"
LA="rest:http://alice:$SECRET@127.0.0.1:$PORT/"
SHOWN="rest:http://alice:***@127.0.0.1:$PORT/"
leaks=""
check_no_secret() {
    local f
    for f in out.txt err.txt config/vault/known_vaults; do
        if [ -f "$f" ] && grep -q -F -- "$SECRET" "$f"; then
            leaks="$leaks $1:$f"
        fi
    done
}
ok init "$LA" -i id.txt
check_no_secret init
grep -q -F "created vault $SHOWN" out.txt || fail "init does not show the redacted location: $(cat out.txt)"
ok add "$LA" "$SRC" -i id.txt --json
check_no_secret add
ok ls "$LA" -i id.txt --json
check_no_secret ls
ok ls "$LA" latest -R -i id.txt
check_no_secret ls-R
ok check "$LA" -i id.txt --json
check_no_secret check
grep -q -F " $SHOWN" config/vault/known_vaults || fail "the pin is not keyed by the redacted location"
expect_fail 1 "401|unauthori" ls "rest:http://alice:wrong-$SECRET@127.0.0.1:$PORT/" -i id.txt
check_no_secret wrong-password
expect_fail 1 "401|unauthori" ls "rest:http://127.0.0.1:$PORT/" -i id.txt
check_no_secret no-password
# A failure that names the location must not show the password either.
expect_fail 1 "alice:\*\*\*@.*not a vault" ls "rest:http://alice:$SECRET@127.0.0.1:$PORT/sub/" -i id.txt
check_no_secret not-a-vault
[ -z "$leaks" ] && pass || fail "the password appears in:$leaks"
stop_servers

# --- append-only: reading and adding work, deleting refuses up front ------------
start_rclone ao "$WORK/srv-ao" --append-only
LO=rest:http://127.0.0.1:$PORT/
ok init "$LO" -i id.txt
ok add "$LO" "$SRC" -i id.txt
ok add "$LO" "$SRC/dir" -i id.txt --tag second
ok share "$LO" "$bob" -i id.txt
ok ls "$LO" -i id.txt
ok ls "$LO" latest -R -i id.txt
ok extract "$LO" latest -C out-ao -i id.txt
ok check "$LO" --read-data -i id.txt
ok forget "$LO" latest -n -i id.txt
before=$(listing srv-ao)
expect_fail 1 "refuses deletes \(append-only\)" forget "$LO" latest -i id.txt
expect_fail 1 "refuses deletes \(append-only\)" forget "$LO" --keep-last 1 -i id.txt
expect_fail 1 "refuses deletes \(append-only\)" prune "$LO" -i id.txt
expect_fail 1 "refuses deletes \(append-only\)" unshare "$LO" "$bob" -i id.txt
expect_fail 1 "refuses deletes \(append-only\)" rekey "$LO" -i id.txt
[ "$(listing srv-ao)" = "$before" ] && pass ||
    fail "a refused forget/prune/unshare/rekey changed the server:
$(diff <(echo "$before") <(listing srv-ao))"
ok ls "$LO" -i id.txt
[ "$(grep -c . out.txt)" = 2 ] || fail "append-only: expected 2 snapshots: $(cat out.txt)"
stop_servers

# --- TLS: a CA made here ------------------------------------------------------
openssl_quiet() { openssl "$@" >/dev/null 2>openssl.err || die "openssl $*: $(cat openssl.err)"; }
openssl_quiet req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vault test CA" \
    -keyout ca.key -out ca.pem
openssl_quiet req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" \
    -keyout other.key -out other.pem
openssl_quiet req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout server.key -out server.csr
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >server.ext
openssl_quiet x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 2 -extfile server.ext -out server.pem
start_rclone tls "$WORK/srv-tls" --cert server.pem --key server.key
[ "$SCHEME" = https ] || die "rclone with --cert does not serve https: $(cat tls.log)"
LT=rest:https://127.0.0.1:$PORT/
expect_fail 1 "certificate" init "$LT" -i id.txt
[ ! -e srv-tls/config ] || fail "an init refused for its certificate made a config"
expect_fail 1 "certificate" init "$LT" -i id.txt --cacert other.pem
ok init "$LT" -i id.txt --cacert ca.pem
ok add "$LT" "$SRC/dir" -i id.txt --cacert ca.pem
VAULT_CACERT=$WORK/ca.pem ok ls "$LT" latest -R -i id.txt
VAULT_CACERT=$WORK/ca.pem expect_fail 1 "certificate" ls "$LT" -i id.txt --cacert other.pem
expect_fail 1 "certificate" ls "$LT" -i id.txt
# http to the https port: a clear failure, no fallback.
expect_rc 1 ls "rest:http://127.0.0.1:$PORT/" -i id.txt || true
stop_servers

# --- rclone: vault runs rclone itself ---------------------------------------------
RV=$WORK/rc-vault
LR=rclone:$RV
# rclone_children: pids of `rclone serve restic $RV` processes.
rclone_children() { pgrep -f -x "rclone serve restic $RV --addr 127.0.0.1:0" || true; }
t0=$(date +%s.%N)
ok init "$LR" -i id.txt
[ -f "$RV/config" ] || fail "init $LR left no config in $RV"
ok add "$LR" "$SRC" -i id.txt
ok ls "$LR" latest -R -i id.txt
ok extract "$LR" latest -C out-rc -i id.txt
treecmp "$SRC" "out-rc$SRC"
ok check "$LR" --read-data -i id.txt
t1=$(date +%s.%N)
note "round trip through rclone: (init, add, ls -R, extract, check --read-data): $(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s"
[ -z "$(rclone_children)" ] && pass || fail "rclone still runs after vault exited: $(rclone_children)"
expect_fail 1 "rclone serve restic failed: .*nosuchremote" ls rclone:nosuchremote:x -i id.txt
VAULT_RCLONE_PROGRAM=/nonexistent/rclone expect_fail 1 "cannot run /nonexistent/rclone" ls "$LR" -i id.txt

# A long add (a slow link: rclone's own --bwlimit through its environment)
# to interrupt.
head -c $((8 << 20)) /dev/urandom >big.bin
interrupt_add() {
    local signal=$1 target=$2
    set -m # the add in its own process group, SIGINT not ignored
    RCLONE_BWLIMIT=512k "$VAULT" add "$LR" big.bin -i id.txt >add-bg.out 2>add-bg.err &
    local vpid=$!
    set +m
    local child="" i
    for i in $(seq 1 200); do
        child=$(pgrep -P "$vpid" -x rclone || true)
        [ -n "$child" ] && break
        sleep 0.05
    done
    [ -n "$child" ] || die "no rclone child of vault add: $(cat add-bg.err)"
    # Its port: the listening socket in its /proc/PID/fd.
    local port=""
    for i in $(seq 1 100); do
        port=$(ss -ltnpH 2>/dev/null | grep "pid=$child," | grep -o -E '127\.0\.0\.1:[0-9]+' | head -n 1 | cut -d: -f2) || true
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || die "cannot find the port of rclone $child"
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/config")
    [ "$code" = 401 ] && pass || fail "a request without credentials to vault's rclone got $code, not 401"
    code=$(curl -s -o /dev/null -w '%{http_code}' -u guess:guess "http://127.0.0.1:$port/config")
    [ "$code" = 401 ] && pass || fail "a request with guessed credentials got $code, not 401"
    tr '\0' ' ' <"/proc/$child/cmdline" | grep -q -i 'pass\|user' &&
        fail "rclone's command line names the credentials: $(tr '\0' ' ' <"/proc/$child/cmdline")" || pass
    tr '\0' '\n' <"/proc/$child/environ" | grep -q '^RCLONE_PASS=[0-9a-f]\{64\}$' && pass ||
        fail "rclone's environment lacks the random password"
    sleep 0.3
    kill -0 "$vpid" 2>/dev/null || die "vault add ended before the $signal: $(cat add-bg.err)"
    if [ "$target" = group ]; then
        kill -"$signal" -- -"$vpid" # Ctrl-C: the whole foreground group
    else
        kill -"$signal" "$vpid"
    fi
    wait "$vpid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$child" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$child" 2>/dev/null && fail "rclone $child outlived vault after SIG$signal to the $target" || pass
}
interrupt_add INT group
# Ctrl-C reached vault alone (rclone has a process group of its own): the
# stopped add saved what it had to through a server still there, and
# took its marker down, with no retry against a closed port.
grep -q -i "retrying\|couldn't connect" add-bg.err &&
    fail "the add stopped by Ctrl-C retried against a server gone: $(head -c 600 add-bg.err)" || pass
[ -z "$(ls "$RV/locks")" ] && pass || fail "the add stopped by Ctrl-C left its marker: $(ls "$RV/locks")"
interrupt_add INT vault
interrupt_add KILL vault
[ -z "$(rclone_children)" ] && pass || fail "rclone still runs: $(rclone_children)"
# The vault is sound after the interruptions.  rclone 1.60 stores an
# upload cut short under its final name (its local backend writes in
# place), so the packs being sent are left torn, listed by no index:
# check names them, prune deletes them, and then everything verifies.
ok check "$LR" -i id.txt
v check "$LR" --read-data -i id.txt
if [ "$RC" -ne 0 ] && grep -v 'no index segment lists it' err.txt | grep -q .; then
    fail "after the interrupted adds, check --read-data found more than unindexed packs:
$(cat err.txt)"
fi
ok extract "$LR" latest -C out-rc2 -i id.txt
treecmp "$SRC" "out-rc2$SRC"
# The killed adds' markers keep prune from deleting unindexed packs for
# 24 hours (an add may still be running); removing them stands in for
# that time passing.
rm -f "$RV"/locks/*
ok prune "$LR" -i id.txt
ok check "$LR" --read-data -i id.txt
ok ls "$LR" -i id.txt
