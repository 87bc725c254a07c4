#!/usr/bin/env bash
# test_envelopes_age.sh - the envelopes in keys/ are plain age files with
# one recipient, the member (format v2, format.md §5.4-5.5): the reference
# `age -d` opens each with the member's identity and finds a
# vault-envelope/v2 payload whose vault ID and member are right.  Beside
# them keys/ holds the membership records (VAULTMB2), which are not age
# files.  Identities made by the reference `age-keygen` work with vault,
# and `vault init -r age1...` makes a vault without the secret key that the
# matching identity then opens.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

for tool in age age-keygen; do
    command -v "$tool" >/dev/null || die "$tool not found (the reference age is needed)"
done

mkdir src
printf 'some content\n' >src/a.txt
random_file src/b.bin 300000

# check_envelopes VAULT IDENTITY RECIPIENT: every envelope in VAULT/keys is
# an age file with one X25519 stanza that IDENTITY opens, holding a
# well-formed grant envelope for RECIPIENT (a vault with one member); the
# rest are membership records.
check_envelopes() {
    local vault=$1 identity=$2 recipient=$3 n=0 records=0 f
    for f in "$vault"/keys/*; do
        [ -f "$f" ] || die "$vault/keys is empty"
        local name
        name=$(basename "$f")
        [[ $name =~ ^[0-9a-f]{64}$ ]] || die "keys/$name is not named by 64 hex digits"
        [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$name" ] ||
            die "keys/$name is not named by the SHA-256 of its bytes"
        if [ "$(head -c 8 "$f")" = VAULTMB2 ]; then
            records=$((records + 1))
            continue
        fi
        n=$((n + 1))
        head -c 22 "$f" | grep -q -a '^age-encryption.org/v1' ||
            die "keys/$name does not start with the age v1 header"
        [ "$(grep -a -c '^-> X25519 ' "$f")" -eq 1 ] ||
            die "keys/$name has $(grep -a -c '^-> X25519 ' "$f") X25519 stanzas, expected 1 (the member alone)"
        age -d -i "$identity" "$f" >payload.txt 2>age.err ||
            die "age -d -i $identity could not open keys/$name: $(cat age.err)"
        [ "$(head -n 1 payload.txt)" = "vault-envelope/v2" ] ||
            die "keys/$name payload does not start with vault-envelope/v2: $(head -c 100 payload.txt | od -c | head -3)"
        ! grep -q '^role ' payload.txt || die "keys/$name: a role line (the log holds roles)"
        grep -q -E '^signing-key [0-9a-f]{64}$' payload.txt || die "keys/$name: no signing-key line"
        grep -q -x "member $recipient" payload.txt ||
            die "keys/$name: no 'member $recipient' line: $(grep '^member' payload.txt)"
        grep -q -E '^vault-id [0-9a-f]{64}$' payload.txt || die "keys/$name: no vault-id line"
        grep -q -E '^dedup-secret [0-9a-f]{64}$' payload.txt || die "keys/$name: no dedup-secret line"
        grep -q -E '^epoch 0 [0-9a-f]{64} [0-9a-f]{64} [0-9a-f]{64}$' payload.txt ||
            die "keys/$name: no epoch 0 line with a read secret for an owner"
        [ "$(tail -c 1 payload.txt | od -An -c | tr -d ' ')" = '\n' ] ||
            die "keys/$name: payload does not end with LF"
        rm -f payload.txt
        pass
    done
    [ "$n" -eq 1 ] || die "$vault/keys has $n envelopes, expected 1"
    [ "$records" -eq 1 ] || die "$vault/keys has $records membership records, expected 1"
}

# round_trip VAULT IDENTITY: add, ls and extract work with IDENTITY.
round_trip() {
    local vault=$1 identity=$2
    ok add "$vault" "$WORK/src" -i "$identity"
    ok ls "$vault" -i "$identity"
    [ "$(wc -l <out.txt)" -eq 1 ] || die "$vault: ls lists $(wc -l <out.txt) snapshots, expected 1"
    ok ls "$vault" latest -R -i "$identity"
    grep -q -x "$WORK/src/b.bin" out.txt || die "$vault: ls -R does not list b.bin"
    rm -rf "out-$vault"
    ok extract "$vault" latest -C "out-$vault" -i "$identity"
    treecmp "$WORK/src" "out-$vault$WORK/src"
}

# --- a vault made with vault's own identity -------------------------------------
new_identity vid.txt
vid_pub=$(grep '^# public key: ' vid.txt | cut -d' ' -f4)
[[ $vid_pub =~ ^age1[02-9ac-hj-np-z]{58}$ ]] || die "vault keygen wrote no '# public key: age1...' line"
[ "$(age-keygen -y vid.txt)" = "$vid_pub" ] ||
    die "age-keygen -y reads vault's identity as $(age-keygen -y vid.txt), file says $vid_pub"
pass
new_vault v1 vid.txt
check_envelopes v1 vid.txt "$vid_pub"
round_trip v1 vid.txt
# Adding snapshots does not touch the envelopes.
check_envelopes v1 vid.txt "$vid_pub"

# --- an identity from age-keygen -------------------------------------------------
age-keygen -o agekey.txt 2>/dev/null
age_pub=$(age-keygen -y agekey.txt)
ok keygen -y -i agekey.txt
[ "$(cat out.txt)" = "$age_pub" ] || die "vault keygen -y says $(cat out.txt), age-keygen -y says $age_pub"
ok init v2 -i agekey.txt
grep -q -F "$age_pub" out.txt || die "init -i agekey.txt does not name owner $age_pub: $(cat out.txt)"
check_envelopes v2 agekey.txt "$age_pub"
round_trip v2 agekey.txt
# The other identity is not a member of this vault, nor this one of v1.
expect_fail 1 'not a member' ls v2 -i vid.txt
expect_fail 1 'not a member' ls v1 -i agekey.txt
# age agrees: vault's identity does not open v2's envelope.
for f in v2/keys/*; do
    [ "$(head -c 8 "$f")" = VAULTMB2 ] && continue
    if age -d -i vid.txt "$f" >/dev/null 2>&1; then
        die "age opened v2's envelope with an unrelated identity"
    fi
done
pass

# --- init -r: the public key only --------------------------------------------------
age-keygen -o offline.txt 2>/dev/null
off_pub=$(age-keygen -y offline.txt)
ok init v3 -r "$off_pub"
grep -q -F "$off_pub" out.txt || die "init -r does not name owner $off_pub: $(cat out.txt)"
check_envelopes v3 offline.txt "$off_pub"
round_trip v3 offline.txt
expect_fail 1 'not a member' ls v3 -i agekey.txt
# A malformed recipient is refused and creates nothing.
v init v4 -r age1notakey
[ "$RC" -ne 0 ] || die "init -r age1notakey succeeded"
[ "$RC" -eq 1 ] || [ "$RC" -eq 2 ] || die "init -r age1notakey exited $RC"
grep -q '^vault: ' err.txt || die "init -r age1notakey: no 'vault: ' message: $(cat err.txt)"
[ ! -e v4/config ] || die "init -r with a bad recipient left a vault behind"
pass
v init v5 -r "$(printf '%s' "$off_pub" | tr a-z A-Z)x"
[ "$RC" -ne 0 ] || die "init -r with a garbled recipient succeeded"
pass
