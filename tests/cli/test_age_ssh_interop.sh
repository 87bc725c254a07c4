#!/usr/bin/env bash
# test_age_ssh_interop.sh - libvault's ssh-ed25519 recipients and OpenSSH
# identities (through tests/tools/agetool) against the reference `age`
# 1.1.1 and keys from OpenSSH's ssh-keygen, both ways: payload sizes around
# the 64 KiB chunk boundary, armor, ssh and X25519 recipients mixed, wrong
# keys, ssh-rsa keys both ways, and the keys we refuse (RSA under 2048 or
# above 4096 bits), passphrase-protected keys of both kinds.
set -euo pipefail

: "${AGETOOL:?AGETOOL must point to the agetool binary}"
for tool in age age-keygen ssh-keygen cmp; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool not found"; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/vault-age-ssh-interop-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

checks=0
pass() { checks=$((checks + 1)); }
die() { echo "FAIL: $*" >&2; exit 1; }
same() { cmp -s "$1" "$2" || die "$3: $1 and $2 differ"; pass; }

# --- keys -----------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C 'alice@example' -f k
ssh-keygen -q -t ed25519 -N '' -C 'bob@example' -f k2
ssh-keygen -q -t ed25519 -N secret -f protected
ssh-keygen -q -t rsa -b 2048 -N '' -C 'carol@example' -f rsa
ssh-keygen -q -t rsa -b 4096 -N '' -f rsa4096
ssh-keygen -q -t rsa -b 1024 -N '' -f rsa1024
ssh-keygen -q -t rsa -b 2048 -N secret -f rsa_protected
age-keygen -o x.key 2>/dev/null
r_x=$(age-keygen -y x.key)
head -1 k | grep -q -- '-----BEGIN OPENSSH PRIVATE KEY-----' ||
    die "ssh-keygen did not write an OpenSSH private key"

# --- ours -> age, age -> ours, every size ---------------------------------------
# both_ways KEY N STANZA: in.N encrypted by us to KEY.pub opens with
# age -d -i KEY (ours.N.age, or ours.KEY.N.age for other keys than k), and
# age's file (age.N.age / age.KEY.N.age) opens with ours.
both_ways() {
    local key=$1 n=$2 stanza=$3 name=$2
    [ "$key" = k ] || name="$key.$n"
    "$AGETOOL" encrypt -R "$key.pub" < "in.$n" > "ours.$name.age"
    head -2 "ours.$name.age" | grep -q "^-> $stanza " ||
        die "our file has no $stanza stanza"
    age -d -i "$key" "ours.$name.age" > "out.a.$name"
    same "in.$n" "out.a.$name" "age -d -i $key decrypting ours ($n bytes)"
    age -R "$key.pub" -o "age.$name.age" "in.$n"
    "$AGETOOL" decrypt -i "$key" < "age.$name.age" > "out.o.$name"
    same "in.$n" "out.o.$name" "ours decrypting age -R $key.pub ($n bytes)"
}
for n in 0 1 1000 65535 65536 65537 200000; do
    head -c "$n" /dev/urandom > "in.$n"
    both_ways k "$n" ssh-ed25519
done

# The recipient as a string (-r), with and without the comment.
line=$(cat k.pub)
"$AGETOOL" encrypt -r "$line" < in.1000 > ours.r.age
age -d -i k ours.r.age > out.r
same in.1000 out.r "age decrypting ours (-r with comment)"
"$AGETOOL" encrypt -r "${line% *}" < in.1000 > ours.r2.age
age -d -i k ours.r2.age > out.r2
same in.1000 out.r2 "age decrypting ours (-r without comment)"
age -r "$line" -o age.r.age in.1000
"$AGETOOL" decrypt -i k < age.r.age > out.r3
same in.1000 out.r3 "ours decrypting age -r ssh-ed25519"

# --- armor --------------------------------------------------------------------
age -a -R k.pub -o age.asc in.65537
"$AGETOOL" decrypt -i k < age.asc > out.asc
same in.65537 out.asc "ours decrypting age -a -R"
"$AGETOOL" encrypt -a -R k.pub < in.65537 > ours.asc
age -d -i k ours.asc > out.asc2
same in.65537 out.asc2 "age decrypting our armor"

# --- several recipients: two ssh keys and an X25519 key ------------------------
cat k.pub k2.pub > both.pub
"$AGETOOL" encrypt -R both.pub -r "$r_x" < in.200000 > ours.multi
age -R both.pub -r "$r_x" -o age.multi in.200000
for id in k k2 x.key; do
    age -d -i "$id" ours.multi > "out.m1.$id"
    same in.200000 "out.m1.$id" "age decrypting our multi ($id)"
    "$AGETOOL" decrypt -i "$id" < age.multi > "out.m2.$id"
    same in.200000 "out.m2.$id" "ours decrypting age multi ($id)"
done
# An identity list where the first key matches nothing.
ssh-keygen -q -t ed25519 -N '' -f k3
"$AGETOOL" decrypt -i k3 -i k2 < age.multi > out.m3
same in.200000 out.m3 "ours with a non-matching ssh key first"

# --- refusals ------------------------------------------------------------------
# A key the file is not for: no match, nothing released.
if "$AGETOOL" decrypt -i k2 < age.1000.age > out.bad 2>err.txt; then
    die "ours decrypted with the wrong ssh key"
fi
grep -q "no identity matched" err.txt || die "wrong key: $(cat err.txt)"
[ ! -s out.bad ] || die "ours released plaintext for a wrong key"
pass
if age -d -i k2 -o out.bad2 ours.1000.age 2>/dev/null; then
    die "age decrypted our file with the wrong ssh key"
fi
pass
# An X25519 identity does not open an ssh-ed25519 file.
if "$AGETOOL" decrypt -i x.key < age.1000.age > out.bad 2>err.txt; then
    die "ours decrypted an ssh file with an X25519 key"
fi
grep -q "no identity matched" err.txt || die "X25519 key: $(cat err.txt)"
pass

# A passphrase-protected key (ssh-keygen's default): without the
# passphrase a clear error, with a wrong one another, with the right one
# it decrypts what age encrypted to its public key (issue #12).
if "$AGETOOL" decrypt -i protected < age.1000.age > out.bad 2>err.txt; then
    die "ours opened a passphrase-protected OpenSSH key without its passphrase"
fi
grep -q "passphrase required" err.txt &&
    grep -q "OpenSSH private key: protected by a passphrase" err.txt ||
    die "protected key without a passphrase: $(cat err.txt)"
if AGETOOL_PASSPHRASE=wrong "$AGETOOL" decrypt -i protected < age.1000.age \
    > out.bad 2>err.txt; then
    die "ours opened a protected key with a wrong passphrase"
fi
grep -q "wrong passphrase" err.txt || die "wrong passphrase: $(cat err.txt)"
age -R protected.pub -o prot.age in.65537
AGETOOL_PASSPHRASE=secret "$AGETOOL" decrypt -i protected < prot.age > out.prot
same in.65537 out.prot "ours with a protected key, decrypting age's file"
pass

# --- ssh-rsa (issue #12, item 7) ------------------------------------------------
for key in rsa rsa4096; do
    for n in 0 65537; do
        both_ways "$key" "$n" ssh-rsa
        head -2 "ours.$key.$n.age" | grep -q '^-> ssh-rsa [A-Za-z0-9+/]\{6\}$' ||
            die "our ssh-rsa stanza has no 6-character tag alone"
    done
done
# Our tag is age's: the same 6 characters after "-> ssh-rsa".
[ "$(sed -n 2p ours.rsa.0.age)" = "$(sed -n 2p age.rsa.0.age)" ] ||
    die "our ssh-rsa tag differs from age's"
pass
# Mixed with ssh-ed25519 and X25519; -r with the comment.
"$AGETOOL" encrypt -R k.pub -r "$(cat rsa.pub)" -r "$r_x" < in.200000 > ours.mix
age -R rsa.pub -R k.pub -r "$r_x" -o age.mix in.200000
for id in k rsa x.key; do
    age -d -i "$id" ours.mix > "out.mix1.$id"
    same in.200000 "out.mix1.$id" "age decrypting our mixed file ($id)"
    "$AGETOOL" decrypt -i "$id" < age.mix > "out.mix2.$id"
    same in.200000 "out.mix2.$id" "ours decrypting age's mixed file ($id)"
done
# A wrong RSA key matches nothing, either way.
if "$AGETOOL" decrypt -i rsa4096 < age.rsa.65537.age > out.bad 2>err.txt; then
    die "ours decrypted with the wrong RSA key"
fi
grep -q "no identity matched" err.txt || die "wrong RSA key: $(cat err.txt)"
if age -d -i rsa4096 -o out.bad ours.rsa.65537.age 2>/dev/null; then
    die "age decrypted our RSA file with the wrong key"
fi
pass
# Under 2048 bits: refused as recipient and as identity, as age does.
if "$AGETOOL" encrypt -R rsa1024.pub < in.1 > out.bad 2>err.txt; then
    die "ours accepted a 1024-bit RSA recipient"
fi
grep -q "malformed key (4)" err.txt && grep -q "1024-bit RSA key" err.txt ||
    die "1024-bit RSA recipient: $(cat err.txt)"
if age -R rsa1024.pub -o /dev/null in.1 2>/dev/null; then
    die "age accepted a 1024-bit RSA recipient (test assumption)"
fi
if "$AGETOOL" decrypt -i rsa1024 < age.rsa.0.age > out.bad 2>err.txt; then
    die "ours accepted a 1024-bit RSA identity"
fi
grep -q "1024-bit RSA key" err.txt || die "1024-bit RSA identity: $(cat err.txt)"
pass
# A passphrase-protected RSA key: without the passphrase the usual error,
# with a wrong one "wrong passphrase", with the right one it decrypts
# age's file (our bcrypt_pbkdf against ssh-keygen's).
age -R rsa_protected.pub -o age.rsap in.1000
if "$AGETOOL" decrypt -i rsa_protected < age.rsap > out.bad 2>err.txt; then
    die "ours opened a protected RSA key without its passphrase"
fi
grep -q "passphrase required" err.txt || die "protected RSA: $(cat err.txt)"
if AGETOOL_PASSPHRASE=wrong "$AGETOOL" decrypt -i rsa_protected < age.rsap \
    > out.bad 2>err.txt; then
    die "ours opened a protected RSA key with a wrong passphrase"
fi
grep -q "wrong passphrase" err.txt || die "protected RSA: $(cat err.txt)"
AGETOOL_PASSPHRASE=secret "$AGETOOL" decrypt -i rsa_protected < age.rsap > out.rsap
same in.1000 out.rsap "ours with a protected RSA key"
# other rounds and ciphers ssh-keygen offers
ssh-keygen -q -t ed25519 -a 40 -Z aes128-ctr -N 'other' -f ed_a40
age -R ed_a40.pub -o age.a40 in.1000
AGETOOL_PASSPHRASE=other "$AGETOOL" decrypt -i ed_a40 < age.a40 > out.a40
same in.1000 out.a40 "ours with a key of 40 rounds, aes128-ctr"
ssh-keygen -q -t ed25519 -Z chacha20-poly1305@openssh.com -N 'c' -f ed_chacha
if AGETOOL_PASSPHRASE=c "$AGETOOL" decrypt -i ed_chacha < age.1000.age \
    > out.bad 2>err.txt; then
    die "ours claimed to read a chacha20-poly1305 protected key"
fi
grep -q "ssh-keygen -p -Z aes256-ctr" err.txt || die "chacha key: $(cat err.txt)"
pass

# A damaged payload is caught after the ssh stanza unwraps.
cp ours.65537.age damaged.age
size=$(stat -c %s damaged.age)
# Flip every bit of one payload byte (writing a fixed value would leave
# the file intact whenever the byte already had it: 1 run in 256).
byte=$(od -An -tu1 -j $((size - 5)) -N1 damaged.age | tr -d ' ')
printf "\\x$(printf %02x $((byte ^ 0xff)))" |
    dd of=damaged.age bs=1 seek=$((size - 5)) conv=notrunc 2>/dev/null
cmp -s damaged.age ours.65537.age && die "damaging the payload changed nothing"
if "$AGETOOL" decrypt -i k < damaged.age > out.bad 2>err.txt; then
    die "ours accepted a damaged payload"
fi
grep -q "payload" err.txt || die "damaged: $(cat err.txt)"
pass

echo "age ssh-ed25519 and ssh-rsa interop: $checks checks passed"
