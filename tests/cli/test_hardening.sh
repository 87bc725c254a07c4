#!/usr/bin/env bash
# test_hardening.sh - mistakes and local attacks a security review found
# in the command line tool, each with the behaviour that answers it:
# empty path arguments, files created for the user's eyes only, planted
# symlinks and FIFOs, a passphrase file that was asked for, and forget
# reporting only what it did.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

umask 022
mkdir src
printf 'secret\n' >src/a.txt
chmod 600 src/a.txt
new_identity id.txt
new_vault vault id.txt
ok add vault "$WORK/src" -i id.txt

# count_snapshots: how many snapshots `vault ls` lists.
count_snapshots() {
    ok ls vault -i id.txt
    grep -c . out.txt || true
}

# --- add "": an empty path is an error, not the current directory ----------
before=$(count_snapshots)
cd src
expect_fail 2 'path argument 1 is empty' add "$WORK/vault" "" -i "$WORK/id.txt"
expect_fail 2 'path argument 2 is empty' add "$WORK/vault" "$WORK/src" "" -i "$WORK/id.txt"
cd "$WORK"
[ "$(count_snapshots)" = "$before" ] || fail "add with an empty path made a snapshot"
pass

# --- extract --tar: 0600, and a symlink planted at FILE is never followed --
ok extract vault latest --tar out.tar -i id.txt
[ "$(stat -c %a out.tar)" = 600 ] || fail "--tar made $(stat -c %a out.tar), expected 600"
tar -tf out.tar | grep -q 'a.txt$' || fail "out.tar lacks a.txt"
pass
printf 'victim\n' >victim.txt
chmod 644 victim.txt
ln -s victim.txt planted.tar
expect_fail 1 'planted.tar: cannot create' extract vault latest --tar planted.tar -i id.txt
[ "$(cat victim.txt)" = victim ] || fail "extract --tar wrote through a symlink"
ok extract vault latest --tar planted.tar --overwrite -i id.txt
[ "$(cat victim.txt)" = victim ] || fail "extract --tar --overwrite wrote through a symlink"
[ "$(stat -c %a victim.txt)" = 644 ] || fail "the symlink's target changed mode"
[ -f planted.tar ] && [ ! -L planted.tar ] || fail "planted.tar is not a new regular file"
[ "$(stat -c %a planted.tar)" = 600 ] || fail "--overwrite made $(stat -c %a planted.tar), expected 600"
tar -tf planted.tar | grep -q 'a.txt$' || fail "planted.tar lacks a.txt"
# A failed extract leaves the old file and no temporary beside it.
expect_fail 1 'snapshot|not found|no such' extract vault 00000000 --tar out.tar --overwrite -i id.txt
tar -tf out.tar | grep -q 'a.txt$' || fail "a failed extract --overwrite damaged out.tar"
ls | grep -q '\.tmp-' && fail "a temporary file was left: $(ls)"
pass

# --- known_vaults: 0600 in a 0700 folder the CLI makes --------------------
[ "$(stat -c %a config/vault)" = 700 ] || fail "config/vault is $(stat -c %a config/vault), expected 700"
[ "$(stat -c %a config/vault/known_vaults)" = 600 ] ||
    fail "known_vaults is $(stat -c %a config/vault/known_vaults), expected 600"
pass

# --- keygen --passphrase-file: protects the key, or fails ------------------
export VAULT_SCRYPT_LOG2N=10 # keep scrypt cheap; the format is the same
expect_fail 1 'missing-pass.txt: no such file' keygen -o k1.txt --passphrase-file missing-pass.txt
[ ! -e k1.txt ] || fail "keygen wrote k1.txt although its passphrase file is missing"
expect_fail 2 'passphrase-file needs -o' keygen --passphrase-file missing-pass.txt
printf 'pw\n' >pass.txt
ok keygen -o k2.txt --passphrase-file pass.txt
pub=$(cat out.txt)
head -n 1 k2.txt | grep -q '^age-encryption.org/v1$' || fail "keygen --passphrase-file wrote an unprotected key"
grep -q 'AGE-SECRET-KEY' k2.txt && fail "keygen --passphrase-file wrote the secret key in the clear"
ok keygen -y -i k2.txt --passphrase-file pass.txt
[ "$(cat out.txt)" = "$pub" ] || fail "k2.txt does not open with pass.txt's passphrase"
unset VAULT_SCRYPT_LOG2N

# --- FIFOs where files are read: refused at once, not waited on ------------
# expect_not_regular ARGS...: vault fails (exit 1) within 20 s naming the
# FIFO as not a regular file.
expect_not_regular() {
    RC=0
    timeout 20 "$VAULT" "$@" >out.txt 2>err.txt || RC=$?
    if [ "$RC" -eq 124 ]; then
        fail "vault $* hung on a FIFO"
        return 0
    fi
    check_sane "$RC" err.txt "vault $*"
    [ "$RC" -eq 1 ] || fail "vault $* exited $RC, expected 1: $(cat err.txt)"
    grep -q '^vault: .*fifo: not a regular file' err.txt ||
        fail "vault $*: no 'not a regular file' error: $(cat err.txt)"
    pass
}
mkfifo fifo
expect_not_regular ls vault -i fifo
expect_not_regular keygen -y -i fifo
expect_not_regular keygen -y -i k2.txt --passphrase-file fifo
expect_not_regular keygen -o k3.txt --passphrase-file fifo
[ ! -e k3.txt ] || fail "keygen wrote k3.txt without its passphrase"
expect_not_regular share vault -R fifo -i id.txt

# --- forget on a read-only vault: no "removed" line for what stayed --------
ok add vault "$WORK/src" -i id.txt
ok ls vault -i id.txt
ids=$(grep -o '^[0-9a-f]\{8\}' out.txt | head -2 | tr '\n' ' ')
[ "$(echo $ids | wc -w)" -eq 2 ] || die "ls listed no two snapshot IDs: $(cat out.txt)"
# Root ignores directory modes; drop the capabilities that let it.
unprivileged=()
if [ "$IS_ROOT" = 1 ]; then
    if command -v setpriv >/dev/null; then
        unprivileged=(setpriv --bounding-set=-dac_override,-dac_read_search,-fowner)
    else
        unprivileged=(skip)
    fi
fi
if [ "${unprivileged[0]:-}" = skip ]; then
    note "root without setpriv: skipped forget on a read-only vault"
else
    chmod a-w vault/snapshots
    RC=0
    "${unprivileged[@]}" "$VAULT" forget vault $ids -i id.txt >out.txt 2>err.txt || RC=$?
    chmod u+w vault/snapshots
    check_sane "$RC" err.txt "vault forget (read-only)"
    [ "$RC" -eq 1 ] || fail "forget on read-only snapshots exited $RC, expected 1: $(cat err.txt)"
    grep -q 'removed' out.txt && fail "forget printed a removal that failed: $(cat out.txt)"
    grep -q '^vault: .*snapshots/' err.txt || fail "forget's error names no snapshot: $(cat err.txt)"
    [ "$(count_snapshots)" -eq 2 ] || fail "snapshots went missing"
    pass
    ok forget vault $ids -i id.txt
    [ "$(grep -c '^removed snapshot' out.txt)" -eq 2 ] || fail "forget did not report both removals: $(cat out.txt)"
    pass
fi

# --- keygen -o into folders that do not exist yet --------------------------
ok keygen -o "$WORK/home/.config/vault/identity.txt"
[ -f home/.config/vault/identity.txt ] || fail "keygen -o made no identity"
for d in home home/.config home/.config/vault; do
    [ "$(stat -c %a "$d")" = 700 ] || fail "keygen -o made $d $(stat -c %a "$d"), expected 700"
done
[ "$(stat -c %a home/.config/vault/identity.txt)" = 600 ] || fail "identity mode $(stat -c %a home/.config/vault/identity.txt)"
pass
# A folder that cannot be made: the error names the user's path.
: >plainfile
expect_fail 1 'plainfile/sub/id.txt: cannot create folder' keygen -o plainfile/sub/id.txt
grep -q 'tmp-' err.txt && fail "keygen's error names a temporary file: $(cat err.txt)"
mkdir locked
chmod 500 locked
if [ "$IS_ROOT" = 0 ] || [ "${unprivileged[0]:-}" != skip ]; then
    RC=0
    "${unprivileged[@]}" "$VAULT" keygen -o locked/id.txt >out.txt 2>err.txt || RC=$?
    check_sane "$RC" err.txt "vault keygen -o locked/id.txt"
    [ "$RC" -eq 1 ] || fail "keygen into a read-only folder exited $RC"
    grep -q '^vault: locked/id.txt: cannot create' err.txt ||
        fail "keygen's error does not name locked/id.txt: $(cat err.txt)"
    grep -q 'tmp-' err.txt && fail "keygen's error names a temporary file: $(cat err.txt)"
    pass
fi
chmod 700 locked
