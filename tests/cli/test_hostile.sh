#!/usr/bin/env bash
# A writer member turned attacker (issue #10): tests/tools/hostile_writer
# holds only what a writer holds (its identity, so its envelope's secrets:
# pk_e, W_e, D and its own signing key) and write access to the storage,
# and crafts objects from format-spec/ to harm the owner.  Every attack
# that succeeded against format version 1 must now be refused or
# harmless, with a message that names what was ignored.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${HOSTILE_WRITER:?HOSTILE_WRITER must name the hostile_writer tool (ctest sets it)}"

# h ATTACK ARGS...: the attacker, as the writer; must write its objects.
h() {
    "$HOSTILE_WRITER" V writer.key "$@" >h-out.txt 2>h-err.txt ||
        die "hostile_writer $*: $(cat h-err.txt)"
    pass
}

new_identity owner.key
new_identity writer.key
new_identity writer2.key
owner=$("$VAULT" keygen -y -i owner.key)
writer=$("$VAULT" keygen -y -i writer.key)
writer2=$("$VAULT" keygen -y -i writer2.key)
mkdir -p src
random_file src/big.bin 3000000
printf 'hello\n' >src/small.txt
random_file predictable.bin 2000000

# A vault the owner backed src up into, shared with the writer.
fresh() {
    rm -rf V out
    new_vault V owner.key
    ok add V src -i owner.key --host box
    ok share V "$writer" --role writer -i owner.key
}

# The owner's latest snapshot still restores src exactly.
owner_restores_src() {
    rm -rf out
    ok extract V latest -C out -i owner.key
    treecmp src "out$WORK/src"
}

# --- 1. bogus copies of every blob, to make prune delete the real ones ----
fresh
h poison-prune
ok prune V -i owner.key
owner_restores_src
# The writer's pack of junk went (its copies were never needed) and what
# is left checks clean, data included.
ok check V --read-data -i owner.key

# --- 2. an envelope for the owner with an epoch the attacker keeps --------
fresh
h plant-envelope "$owner" stolen.keys
ok members V -i owner.key
grep -q "owner .*$owner" out.txt || fail "owner not an owner: $(cat out.txt)"
grep -q "keys/.*ignored" err.txt ||
    fail "the planted envelope was not reported: $(cat err.txt)"
printf 'the secret plan\n' >src/plan.txt
ok add V src -i owner.key --host box
rm src/plan.txt
if "$HOSTILE_WRITER" V writer.key read-with stolen.keys >h-out.txt 2>&1; then
    fail "the attacker read the owner's new snapshot: $(cat h-out.txt)"
fi
pass

# --- 3. planted envelopes steering unshare -----------------------------
fresh
h plant-envelope "$writer2" w2.keys # the writer's second key
h plant-envelope "$owner" w.keys     # the owner's key, a writer's secrets
ok unshare V "$writer" -i owner.key  # the owner is still an owner
ok members V -i owner.key
grep -q "$writer2" out.txt && fail "the writer's second key became a member"
grep -q "owner .*$owner" out.txt || fail "owner lockout: $(cat out.txt)"
expect_fail 1 "not a member" ls V -i writer2.key
expect_fail 1 "not a member" ls V -i writer.key
owner_restores_src

# --- 4. a membership record the writer signs, making itself an owner -----
fresh
h forge-record
ok members V -i owner.key
grep -q "writer .*$writer" out.txt ||
    fail "the writer's role changed: $(cat out.txt)"
grep -q "keys/.*" err.txt || fail "the forged record was not reported"
expect_fail 1 "only an owner" share V "$writer2" -i writer.key
expect_fail 1 "writer" ls V latest -i writer.key

# --- 5. bogus blobs under the chunk IDs of content the writer predicts ----
fresh
h poison-dedup predictable.bin
mkdir -p src2
cp predictable.bin src2/
ok add V src2 -i owner.key --host box
rm -rf out
ok extract V latest -C out -i owner.key
cmp predictable.bin "out$WORK/src2/predictable.bin" ||
    fail "the owner's file was deduplicated against the writer's junk"

# --- 6. a snapshot dated 2100 with a set-uid root shell, a capability and a
#        device node, for the owner's host and path ------------------------
fresh
h fake-snapshot box "$WORK/src" /bin/sh
fake=$(awk '{print $3}' h-out.txt)
ok ls V -i owner.key
grep -q "writer" out.txt || fail "ls does not show the writer as author:
$(cat out.txt)"
# latest is the owner's own snapshot, not the writer's from 2100
ok ls V latest -R -i owner.key
grep -q "big.bin" out.txt || fail "latest is not the owner's snapshot"
grep -q "rootshell" out.txt && fail "latest is the writer's snapshot"
# forget groups by author: the writer's snapshot does not displace the
# owner's
ok forget V --keep-last 1 -i owner.key
ok ls V -i owner.key --json
n=$(json_get out.txt 'len(j)')
[ "$n" = 2 ] || fail "forget --keep-last 1 left $n snapshots, expected 2"
rm -rf out
ok extract V "$fake" -C out -i owner.key
grep -q "withheld" out.txt || fail "no privileges withheld: $(cat out.txt)"
grep -qi "writer" err.txt || fail "the author was not shown: $(cat err.txt)"
d="out$WORK/src"
[ -e "$d/mem" ] && fail "a device node was made from a writer's snapshot"
[ -u "$d/rootshell" ] && fail "a set-uid file was made from a writer's snapshot"
if command -v getcap >/dev/null && [ -n "$(getcap "$d/capsh")" ]; then
    fail "a file capability was restored from a writer's snapshot"
fi
if [ "$IS_ROOT" = 1 ]; then
    # asked for, the author's privileges are restored as recorded
    rm -rf out
    ok extract V "$fake" -C out -i owner.key --same-privileges
    [ -u "$d/rootshell" ] || fail "--same-privileges did not restore set-uid"
    [ -c "$d/mem" ] || fail "--same-privileges did not make the device"
fi

# --- 7. an add marker dated 2100, to hold every prune sweep back ---------
fresh
h future-add-marker
ok ls V -i owner.key --json
ok forget V "$(json_get out.txt 'j[0]["id"]')" -i owner.key
ok prune V -i owner.key
grep -q "add running" out.txt || fail "the marker did not hold prune back"
grep -q "2100" out.txt && fail "the marker counts from 2100: $(cat out.txt)"
# A day after it was first seen, the marker is stale: rewind the sighting.
sightings=$(find cache -name markers -type f | head -n 1)
[ -n "$sightings" ] || die "no sightings file in the cache"
day_ago=$(($(date +%s) - 25 * 3600))
sed -i "s/ [0-9]*\$/ $day_ago/" "$sightings"
ok prune V -i owner.key
grep -q "add running" out.txt && fail "the marker still holds prune back"
pass

# --- 8. a prune mark by the writer, condemning every pack ----------------
fresh
h prune-mark
ok prune V -i owner.key
grep -q "not an owner; ignored" err.txt ||
    fail "the writer's prune mark was not reported: $(cat err.txt)"
owner_restores_src
