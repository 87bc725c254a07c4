#!/usr/bin/env bash
# Sharing: share with age-keygen and ssh-keygen keys, roles (a writer adds
# but reads nothing), re-sharing to change a role, members (writers too),
# unshare with key rotation, rekey, and envelopes that stay real age files
# beside the membership records.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_identity alice.txt
age-keygen -o bob.txt 2>/dev/null
age-keygen -o carol.txt 2>/dev/null
new_identity wendy.txt        # the writer
bob=$(age-keygen -y bob.txt)
wendy=$("$VAULT" keygen -y -i wendy.txt)
alice=$("$VAULT" keygen -y -i alice.txt)

mkdir -p src/docs
printf 'first\n' >src/docs/a.txt
random_file src/big.bin 3000000
new_vault V alice.txt
ok add V src -i alice.txt --tag one

# --- share with an age-keygen key; Bob reads, Carol is no member --------
ok share V "$bob" -i alice.txt
grep -q "shared with $bob as reader" out.txt || die "share said: $(cat out.txt)"
ok ls V -i bob.txt
grep -q '\[one\]' out.txt || die "bob's ls: $(cat out.txt)"
ok extract V latest -C bob-out -i bob.txt
cmp src/big.bin "bob-out$WORK/src/big.bin" || die "bob's extraction differs"
pass
expect_fail 1 "not a member" ls V -i carol.txt
# Sharing with a member again changes its role (and its signing key).
ok share V "$bob" --role writer -i alice.txt
ok members V -i alice.txt --json
[ "$(json_get out.txt '[m["role"] for m in j if m["member"] == "'"$bob"'"][0]')" = writer ] ||
    die "bob's role did not change: $(cat out.txt)"
bob_key1=$(json_get out.txt '[m["signing_key"] for m in j if m["member"] == "'"$bob"'"][0]')
expect_fail 1 "writer" ls V latest -i bob.txt
ok share V "$bob" -i alice.txt
ok members V -i alice.txt --json
bob_key2=$(json_get out.txt '[m["signing_key"] for m in j if m["member"] == "'"$bob"'"][0]')
[ "$bob_key1" != "$bob_key2" ] || die "re-sharing kept bob's signing key"
ok ls V latest -i bob.txt
pass
expect_fail 1 "only an owner" share V "$(age-keygen -y carol.txt)" -i bob.txt

# --- ssh-ed25519 --------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C 'dave@example' -f dave
ok share V "$(cat dave.pub)" -i alice.txt
ok ls V latest -R -i dave
grep -q 'docs/a.txt' out.txt || die "ssh member cannot list: $(cat out.txt)"
ssh-keygen -q -t ed25519 -N 'secret' -f erin
# protected: its passphrase is needed (none here: no terminal), and with
# it erin is only someone the vault was not shared with
expect_fail 1 "passphrase" ls V -i erin </dev/null
VAULT_PASSPHRASE=secret expect_fail 1 "not a member" ls V -i erin

# --- a writer -----------------------------------------------------------
ok share V "$wendy" --role writer -i alice.txt
printf 'from the writer\n' >src/docs/w.txt
ok add V src -i wendy.txt --tag by-writer --json
wsnap=$(json_get out.txt 'j["id"]')
added=$(json_get out.txt 'j["bytes_added"]')
# Only the new file and the trees above it are new: big.bin dedups.
[ "$added" -lt 100000 ] || die "writer's add stored $added bytes: no dedup"
pass
ok ls V -i wendy.txt
grep -q "cannot read" out.txt || die "writer ls: $(cat out.txt)"
expect_fail 1 "writer" ls V latest -i wendy.txt
expect_fail 1 "writer" extract V "${wsnap:0:8}" -C w-out -i wendy.txt
if [ -e w-out ] && ls -R w-out | grep -q w.txt; then die "writer extracted files"; fi
ok ls V "${wsnap:0:8}:$WORK/src/docs" -i alice.txt
grep -q 'w.txt' out.txt || die "owner cannot read the writer's snapshot"
# A writer can list the members (the log is sealed with the write key).
ok members V -i wendy.txt
[ "$(grep -c -E '^(owner|reader|writer) ' out.txt)" -eq 4 ] ||
    die "writer's members: $(cat out.txt)"
grep -q -E '^vault fingerprint [0-9a-f]{64}$' out.txt ||
    die "members shows no fingerprint: $(cat out.txt)"
grep -q "^writer .* $wendy\$" out.txt || die "writer's members: $(cat out.txt)"

# --- members --------------------------------------------------------------
ok members V -i alice.txt --json
[ "$(json_get out.txt 'len(j)')" = 4 ] || die "members: $(cat out.txt)"
[ "$(json_get out.txt '[m["role"] for m in j if m["member"] == "'"$wendy"'"][0]')" = writer ] ||
    die "wendy is not listed as writer: $(cat out.txt)"
[ "$(json_get out.txt '[m["role"] for m in j if m["member"] == "'"$alice"'"][0]')" = owner ] ||
    die "alice is not listed as owner: $(cat out.txt)"
pass

# --- envelopes are age files; the rest are membership records ----------------
records=0
for f in V/keys/*; do
    if [ "$(head -c 8 "$f")" = VAULTMB2 ]; then records=$((records + 1)); continue; fi
    age -d -i alice.txt "$f" 2>/dev/null | head -n 1 | grep -qx 'vault-envelope/v2' && continue
    age -d -i bob.txt "$f" 2>/dev/null | head -n 1 | grep -qx 'vault-envelope/v2' && continue
    age -d -i wendy.txt "$f" 2>/dev/null | head -n 1 | grep -qx 'vault-envelope/v2' && continue
    age -d -i dave "$f" 2>/dev/null | head -n 1 | grep -qx 'vault-envelope/v2' && continue
    die "$f does not open with any member's identity through age"
done
# init, bob, bob as writer, bob as reader, dave, wendy
[ "$records" -eq 6 ] || die "$records membership records, expected 6"
pass

# --- unshare Bob: old data stays his, new data does not ------------------
bob_env=$(for f in V/keys/*; do
    if age -d -i bob.txt "$f" >/dev/null 2>&1; then echo "$f"; fi
done)
[ -n "$bob_env" ] || die "no envelope for bob"
cp "$bob_env" bob-envelope.age
old_snap=$(ls V/snapshots | head -n 1)
ok unshare V "$bob" -i alice.txt
grep -q "rotated keys" out.txt || die "unshare said: $(cat out.txt)"
expect_fail 1 "not a member" ls V -i bob.txt
printf 'after bob left\n' >src/docs/secret.txt
ok add V src -i alice.txt --tag after --json
new_snap=$(json_get out.txt 'j["id"]')
# Bob kept his old envelope and has the raw files.  With the vault's
# membership log as it is, the client refuses him: the log goes on in key
# epoch 1, which he does not hold.
cp -a V bobs-copy
cp bob-envelope.age "bobs-copy/keys/$(sha256sum bob-envelope.age | cut -c1-64)"
expect_fail 1 "sealed in key epoch 1, which no envelope" ls bobs-copy -i bob.txt
# What revocation cannot do: without the records he cannot read (his copy
# of keys/ from before), he reads what was sealed before he left.
bobs_view() {
    local f
    chmod -R u+w bobs-copy/keys
    for f in bobs-copy/keys/*; do
        if [ "$(head -c 8 "$f")" = VAULTMB2 ] &&
            [ "$(od -An -tx1 -j8 -N4 "$f" | tr -d ' ')" != 00000000 ]; then
            rm -f "$f"
        fi
    done
}
bobs_view
ok ls bobs-copy "${old_snap:0:12}" -R -i bob.txt
grep -q 'a.txt' out.txt || die "bob lost the old snapshot"
expect_fail 1 "epoch" ls bobs-copy "${new_snap:0:12}" -i bob.txt
ok ls bobs-copy -i bob.txt
grep -q "${new_snap:0:8}  (sealed in a key epoch" out.txt ||
    die "bob's listing does not mark the new snapshot: $(cat out.txt)"
# Remaining members read everything, old and new.
ok ls V "${new_snap:0:12}:$WORK/src/docs" -i dave
grep -q secret.txt out.txt || die "dave cannot read the new snapshot"
ok ls V "${old_snap:0:12}" -R -i dave
ok add V src -i wendy.txt
ok ls V -i wendy.txt

# --- rekey: nothing is readable with Bob's old secrets -------------------
ok rekey V -i alice.txt
rm -rf bobs-copy
cp -a V bobs-copy
cp bob-envelope.age "bobs-copy/keys/$(sha256sum bob-envelope.age | cut -c1-64)"
bobs_view
ok ls bobs-copy -i bob.txt
if grep -v 'sealed in a key epoch' out.txt | grep -q .; then
    die "after rekey bob still reads snapshots: $(cat out.txt)"
fi
pass
for s in $(ls V/snapshots); do
    expect_fail 1 "epoch" ls bobs-copy "${s:0:12}" -i bob.txt
done
ok extract V latest -C after-rekey -i alice.txt
cmp src/big.bin "after-rekey$WORK/src/big.bin" || die "rekey lost data"
cmp src/docs/secret.txt "after-rekey$WORK/src/docs/secret.txt" || die "rekey lost data"
pass
ok ls V -i alice.txt
[ "$(wc -l <out.txt)" -eq 4 ] || die "snapshots after rekey: $(cat out.txt)"
