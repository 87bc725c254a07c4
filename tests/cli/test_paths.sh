#!/usr/bin/env bash
# test_paths.sh - naming a snapshot and a path in it, the same way in ls,
# extract and dump (issue #12, "paths are inconsistent"):
#   - ls takes SNAP:PATH and SNAP PATH; a relative path is read from the
#     snapshot's root; a path not there gets a hint naming what the
#     snapshot holds;
#   - extract SNAP:FOLDER restores what the folder holds at the target's
#     root (restic's ID:path); SNAP:FILE restores the file by its name;
#     include paths below FROM; PATH operands keep their full path;
#   - extract --exclude/--iexclude/--include/--iinclude take add's
#     patterns on snapshot paths: a folder excluded leaves all it holds
#     out, an include restores only what it matches and the folders on
#     the way;
#   - dump writes a file's bytes (a sparse one too) to stdout and a folder
#     as a tar stream; a symlink has no content;
#   - --host, --path and --tag choose what "latest" is in ls, extract and
#     dump, and refuse an ID that does not match.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_identity id.txt
new_vault vlt id.txt
mkdir -p src/docs/deep other
echo hello >src/docs/deep/note.txt
random_file src/docs/big.bin 3000000
truncate -s 5M src/docs/sparse.img
ln -s deep/note.txt src/docs/link
echo elsewhere >other/x.txt
S=$WORK/src

ok add vlt src -i id.txt --tag work --host alpha
ok add vlt other -i id.txt --host beta

# ---- ls ----------------------------------------------------------------------
# latest is the add of other/ (the newest); the filters pick the first.
ok ls vlt latest "$WORK" -i id.txt
grep -qx "$WORK/other" out.txt || fail "ls latest PATH: $(cat out.txt)"
ok ls vlt latest "$S/docs" -i id.txt --host alpha
grep -qx "$S/docs/big.bin" out.txt || fail "ls SNAP PATH: $(cat out.txt)"
ok ls vlt "latest:$S/docs" -i id.txt --tag work
grep -qx "$S/docs/deep" out.txt || fail "ls SNAP:PATH: $(cat out.txt)"
# a relative path is read from the root
ok ls vlt latest "${S#/}/docs/deep" -i id.txt --path "$S"
grep -qx "$S/docs/deep/note.txt" out.txt || fail "ls relative: $(cat out.txt)"
expect_fail 2 'not both' ls vlt "latest:$S" "$S" -i id.txt
expect_fail 1 'no such file' ls vlt latest "home/nobody" -i id.txt --host alpha
grep -q "hint: .*\"/home/nobody\".* holds $S\$" err.txt ||
    fail "ls of a missing path: no hint naming the snapshot's paths: $(cat err.txt)"
expect_fail 1 'matches the filter' ls vlt latest -i id.txt --host gamma
expect_fail 1 'matches the filter' ls vlt latest -i id.txt --tag work,nope
ok ls vlt latest "$S" -i id.txt --tag nope --tag work
grep -qx "$S/docs" out.txt || fail "--tag groups are alternatives: $(cat out.txt)"
# an ID the filter does not let through is refused, not used
ok ls vlt -i id.txt
beta_id=$(grep ' beta ' out.txt | awk '{print $1}')
[ -n "$beta_id" ] || die "no snapshot of host beta: $(cat out.txt)"
expect_fail 1 'does not match the filter' ls vlt "$beta_id" -i id.txt --host alpha
expect_fail 2 'name a snapshot' ls vlt -i id.txt --host alpha

# ---- extract -------------------------------------------------------------------
ok extract vlt "latest:$S/docs" -C out1 -i id.txt --host alpha
treecmp src/docs out1 --no-root-meta
ok extract vlt "latest:$S/docs/deep/note.txt" -C out2 -i id.txt --tag work
[ "$(ls out2)" = note.txt ] && cmp -s out2/note.txt src/docs/deep/note.txt ||
    fail "extract SNAP:FILE: $(ls -R out2)"
pass
ok extract vlt "latest:$S/docs" deep -C out3 -i id.txt --host alpha
[ "$(cd out3 && find . | sort | tr '\n' ' ')" = ". ./deep ./deep/note.txt " ] ||
    fail "extract SNAP:FROM PATH: $(cd out3 && find .)"
# PATH operands keep their place (as before)
ok extract vlt latest "$S/docs/deep" -C out4 -i id.txt --host alpha
[ -f "out4$S/docs/deep/note.txt" ] || fail "extract SNAP PATH: $(cd out4 && find .)"
expect_fail 1 'include paths need a folder' extract vlt \
    "latest:$S/docs/big.bin" deep -C out5 -i id.txt --host alpha
v extract vlt "latest:$S/missing" -C out6 -i id.txt --host alpha
[ "$RC" -ne 0 ] && grep -q 'no such file' err.txt || fail "extract of a missing FROM: $RC $(cat err.txt)"
pass

# ---- extract with patterns -----------------------------------------------------
listing() { (cd "$1" && find . | LC_ALL=C sort | tr '\n' ' '); }
ok extract vlt "latest:$S/docs" -C p1 -i id.txt --host alpha --exclude '*.bin' \
    --exclude deep
[ "$(listing p1)" = ". ./link ./sparse.img " ] || fail "--exclude: $(listing p1)"
ok extract vlt "latest:$S/docs" -C p2 -i id.txt --host alpha --iexclude 'DEEP/'
[ "$(listing p2)" = ". ./big.bin ./link ./sparse.img " ] || fail "--iexclude: $(listing p2)"
ok extract vlt latest -C p3 -i id.txt --host alpha --include 'note.txt'
[ -f "p3$S/docs/deep/note.txt" ] && [ ! -e "p3$S/docs/big.bin" ] ||
    fail "--include: $(listing p3)"
ok extract vlt "latest:$S/docs" -C p4 -i id.txt --host alpha --iinclude 'DEEP' \
    --exclude '*.txt'
[ "$(listing p4)" = ". ./deep " ] || fail "--iinclude with --exclude: $(listing p4)"
expect_fail 1 'pattern|\[' extract vlt latest -C p5 -i id.txt --include '['
pass

# ---- dump ----------------------------------------------------------------------
"$VAULT" dump vlt "latest:$S/docs/big.bin" -i id.txt --host alpha >dumped.bin
cmp dumped.bin src/docs/big.bin || fail "dump of a file: bytes differ"
"$VAULT" dump vlt latest "$S/docs/sparse.img" -i id.txt --host alpha >dumped.img
cmp dumped.img src/docs/sparse.img || fail "dump of a sparse file differs"
"$VAULT" dump vlt "latest:$S/docs" -i id.txt --host alpha >docs.tar
mkdir untar && tar -xf docs.tar -C untar
treecmp src/docs untar --no-root-meta
pass
expect_fail 1 'no content' dump vlt "latest:$S/docs/link" -i id.txt --host alpha
expect_fail 2 'name the file' dump vlt latest -i id.txt
expect_fail 1 'no such file' dump vlt "latest:$S/nope" -i id.txt --host alpha
# a writer member reads nothing, dump included
new_identity writer.txt
wrec=$(grep -o 'age1[0-9a-z]*' writer.txt | head -n 1)
ok share vlt "$wrec" --role writer -i id.txt
expect_fail 1 'writer' dump vlt "latest:$S/docs/big.bin" -i writer.txt

