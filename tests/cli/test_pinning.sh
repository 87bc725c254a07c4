#!/usr/bin/env bash
# Pinning: the client remembers each vault's fingerprint per location
# (known_vaults) and refuses a vault that storage swapped for one of its
# own - same place, same member, other keys - before it reads or writes
# anything.  Moving a vault, re-making it with init, forgetting the pin
# and a config directory that cannot be written.  Each pin also keeps the
# highest membership record seen (`<fingerprint> <seq> <location>`): a
# membership log rolled back below it is refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

KNOWN=$XDG_CONFIG_HOME/vault/known_vaults
new_identity alice.txt
new_identity wendy.txt
wendy=$("$VAULT" keygen -y -i wendy.txt)
mkdir -p src
printf 'first\n' >src/a.txt

# --- init pins; every member sees the same fingerprint -------------------
ok init V -i alice.txt
fp=$(sed -n 's/^fingerprint \([0-9a-f]\{64\}\)$/\1/p' out.txt)
[ -n "$fp" ] || die "init printed no fingerprint: $(cat out.txt)"
[ "$(cat "$KNOWN")" = "$fp 0 $WORK/V" ] || die "known_vaults after init: $(cat "$KNOWN")"
ok add V src -i alice.txt
ok share V "$wendy" --role writer -i alice.txt
for who in alice wendy; do
    XDG_CONFIG_HOME=$WORK/config-$who ok members V -i alice.txt
    # the first use on a client says what it pinned (issue #12)
    grep -q "first use on this client: pinned its fingerprint $fp" err.txt ||
        fail "$who's first use was silent: $(cat err.txt)"
    grep -q "^vault fingerprint $fp\$" out.txt ||
        fail "members shows no fingerprint: $(cat out.txt)"
    XDG_CONFIG_HOME=$WORK/config-$who ok add V src -i $who.txt
    [ "$(cat "$WORK/config-$who/vault/known_vaults")" = "$fp 1 $WORK/V" ] ||
        fail "$who pinned: $(cat "$WORK/config-$who/vault/known_vaults")"
done

# --- storage swaps in a vault of its own for the same member -------------
ok init Fake -i alice.txt
fake_fp=$(sed -n 's/^fingerprint //p' out.txt)
[ "$fake_fp" != "$fp" ] || die "two vaults with one fingerprint"
ok share Fake "$wendy" --role writer -i alice.txt
mv V V.real
cp -a Fake V
before=$(find V -type f | LC_ALL=C sort | xargs sha256sum)
for cmd in "ls V" "add V src" "extract V latest -C out" "members V" "check V" \
    "share V $wendy" "forget V --keep-last 1" "prune V"; do
    # shellcheck disable=SC2086
    expect_fail 1 "not the vault this client saw there before" $cmd -i alice.txt
    grep -q -F "its fingerprint is $fake_fp" err.txt ||
        fail "$cmd: the message lacks the new fingerprint: $(cat err.txt)"
    grep -q -F "pins $fp" err.txt ||
        fail "$cmd: the message lacks the pinned one: $(cat err.txt)"
    grep -q -F "$KNOWN" err.txt || fail "$cmd: the message lacks the file: $(cat err.txt)"
done
[ "$(find V -type f | LC_ALL=C sort | xargs sha256sum)" = "$before" ] ||
    fail "a refused command changed the swapped vault"
[ ! -e out ] || fail "a refused extract wrote $(ls -A out)"
# the writer too: it would seal its backup to the swapped keys
XDG_CONFIG_HOME=$WORK/config-wendy expect_fail 1 "not the vault" add V src -i wendy.txt
[ "$(cat "$KNOWN")" = "$fp 0 $WORK/V
$fake_fp 0 $WORK/Fake" ] || fail "known_vaults changed: $(cat "$KNOWN")"

# --- the real vault back, and moved: pinned anew where it now is ---------
rm -rf V
mv V.real V
ok ls V -i alice.txt
grep -q -x -F "$fp 1 $WORK/V" "$KNOWN" || fail "seq not moved up: $(cat "$KNOWN")"
mv V Moved
ok ls Moved -i alice.txt
grep -q -x -F "$fp 1 $WORK/Moved" "$KNOWN" || fail "not pinned where it moved: $(cat "$KNOWN")"
mv Moved V

# --- forgetting the pin accepts whatever is there next -------------------
grep -v -F " $WORK/Fake" "$KNOWN" >known.new
printf 'not a pin line, kept as it is\n' >>known.new
cp known.new "$KNOWN"
rm -rf Fake
cp -a V Fake
ok ls Fake -i alice.txt
grep -q -x -F "$fp 1 $WORK/Fake" "$KNOWN" || fail "not pinned after forgetting: $(cat "$KNOWN")"
grep -q -x -F 'not a pin line, kept as it is' "$KNOWN" || fail "a foreign line was dropped"

# --- init where a vault was pinned: the user made the new one ------------
rm -rf Fake
ok init Fake -i alice.txt
new_fp=$(sed -n 's/^fingerprint //p' out.txt)
ok ls Fake -i alice.txt
grep -q -x -F "$new_fp 0 $WORK/Fake" "$KNOWN" || fail "init did not re-pin: $(cat "$KNOWN")"
[ "$(grep -c -F " $WORK/Fake" "$KNOWN")" = 1 ] || fail "two pins for Fake: $(cat "$KNOWN")"

# --- no config directory to write: works, says it is not pinned ----------
touch not-a-dir
XDG_CONFIG_HOME=$WORK/not-a-dir v ls V -i alice.txt
[ "$RC" = 0 ] || fail "ls with an unwritable config exited $RC: $(cat err.txt)"
grep -q 'warning: cannot record the vault.s fingerprint.*not pinned' err.txt ||
    fail "no warning without a config directory: $(cat err.txt)"
# ... but a known_vaults that cannot be read may hold the pin: refused
mkdir -p unreadable/vault/known_vaults
XDG_CONFIG_HOME=$WORK/unreadable expect_fail 1 "cannot read" ls V -i alice.txt

# --- first uses at once: every pin kept -----------------------------------
for i in 1 2 3 4 5 6 7 8; do cp -a V "C$i"; done
pids=()
for i in 1 2 3 4 5 6 7 8; do
    "$VAULT" ls "C$i" -i alice.txt >"c$i.out" 2>"c$i.err" &
    pids+=($!)
done
for i in 1 2 3 4 5 6 7 8; do
    wait "${pids[$((i - 1))]}" || fail "ls C$i at once: $(cat "c$i.err")"
    grep -q -x -F "$fp 1 $WORK/C$i" "$KNOWN" || fail "the pin of C$i was lost"
done
pass

# --- a membership log rolled back is refused -------------------------------
new_identity carol.txt
carol=$("$VAULT" keygen -y -i carol.txt)
cp -a V/keys keys-before
ok share V "$carol" -i alice.txt
ok ls V -i alice.txt
grep -q -x -F "$fp 2 $WORK/V" "$KNOWN" || fail "seq 2 not pinned: $(cat "$KNOWN")"
# storage shows the keys/ of before the share (record 2 gone)
chmod -R u+w V/keys
rm -rf V/keys
cp -a keys-before V/keys
expect_fail 1 "membership log rolled back from record 2 to 1" ls V -i alice.txt
grep -q -x -F "$fp 2 $WORK/V" "$KNOWN" || fail "a rollback lowered the pin: $(cat "$KNOWN")"
pass
