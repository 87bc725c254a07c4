#!/usr/bin/env bash
# OpenSSH RSA keys as members and owners (issue #12, item 7): share with an
# "ssh-rsa AAAA... comment" line, the member lists and extracts with its
# private key (also one protected by a passphrase, ssh-keygen's default),
# an RSA owner, unshare, and the keys refused (under 2048 bits).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_identity alice.txt
ssh-keygen -q -t rsa -b 2048 -N '' -C 'carol@example' -f carol
ssh-keygen -q -t rsa -b 4096 -N '' -f dan
ssh-keygen -q -t rsa -b 1024 -N '' -f small
ssh-keygen -q -t rsa -b 2048 -N 'secret' -f prot
printf 'secret\n' >pass.txt
printf 'wrong\n' >wrong.txt

mkdir -p src/docs
printf 'first\n' >src/docs/a.txt
random_file src/big.bin 300000
new_vault V alice.txt
ok add V src -i alice.txt --tag one

# --- share with ssh-rsa lines; the members read ---------------------------
ok share V "$(cat carol.pub)" -i alice.txt
grep -q "shared with ssh-rsa " out.txt || die "share said: $(cat out.txt)"
# dan through a recipients file (-R), as age -R reads it
{ echo '# dan'; cat dan.pub; } >dan.txt
ok share V -R dan.txt -i alice.txt
grep -q "shared with ssh-rsa " out.txt || die "share -R said: $(cat out.txt)"
for who in carol dan; do
    ok ls V latest -R -i "$who"
    grep -q 'docs/a.txt' out.txt || die "$who cannot list: $(cat out.txt)"
    ok extract V latest -C "$who-out" -i "$who"
    cmp src/big.bin "$who-out$WORK/src/big.bin" || die "$who's extraction differs"
    pass
done
ok members V -i carol
grep -q "ssh-rsa " out.txt || die "members: $(cat out.txt)"

# --- refused keys -----------------------------------------------------------
expect_fail 1 "1024-bit RSA key" share V "$(cat small.pub)" -i alice.txt
expect_fail 1 "1024-bit RSA key" ls V -i small
# A protected RSA key: its passphrase is needed; a wrong one is said so;
# with the right one it is a member once shared.
expect_fail 1 "passphrase" ls V -i prot </dev/null
expect_fail 1 "passphrase" ls V -i prot --passphrase-file wrong.txt
expect_fail 1 "not a member" ls V -i prot --passphrase-file pass.txt
ok share V "$(cat prot.pub)" -i alice.txt
ok ls V latest -R -i prot --passphrase-file pass.txt
grep -q 'docs/a.txt' out.txt || die "the protected RSA member cannot list: $(cat out.txt)"
pass

# --- an RSA owner -------------------------------------------------------------
ok init W -i dan
ok add W src -i dan --tag rsa-owned
ok share W "$(cat carol.pub)" -i dan
ok ls W latest -R -i carol
grep -q 'docs/a.txt' out.txt || die "carol cannot list W: $(cat out.txt)"

# --- unshare carol: new data is not hers ----------------------------------------
ok unshare V "$(cat carol.pub)" -i alice.txt
printf 'after\n' >src/docs/after.txt
ok add V src -i alice.txt --tag two
expect_fail 1 "member|no identity|cannot" ls V latest -i carol
ok ls V latest -R -i dan
grep -q 'docs/after.txt' out.txt || die "dan cannot list two: $(cat out.txt)"

