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
