#!/usr/bin/env bash
# test_exclude.sh - what `add` reads (issue #12): restic-style excludes,
# --files-from, and --dry-run.
#  (a) the issue's report: --exclude 'Documents/taxes', 'Music/' and
#      '**/Documents/taxes' left those folders in the snapshot (main
#      before this test); now they are out;
#  (b) each rule: anchored, `**`, globs, trailing `/` for directories
#      only, `!` negation, case-insensitive, exclude files, the paths
#      given never excluded, a malformed pattern refused, a pattern that
#      matches nothing warned about;
#  (c) --exclude-caches (signature checked), --exclude-if-present (with
#      and without a header), --exclude-larger-than;
#  (d) --files-from (globs, comments), --files-from-verbatim, -raw;
#  (e) --dry-run -v lists what would be added, and the vault is byte for
#      byte what it was.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_identity id.txt
new_vault va id.txt

# snap_has PATH...: the latest snapshot lists each PATH (relative to
# $H); snap_lacks: lists none.
listing() { ok ls va -i id.txt -R latest; sed "s|^$H/||" out.txt >list.txt; }
snap_has() {
    listing
    for p in "$@"; do
        grep -qxF -- "$p" list.txt || fail "snapshot lacks $p:
$(cat list.txt)"
    done
    pass
}
snap_lacks() {
    listing
    for p in "$@"; do
        ! grep -qxF -- "$p" list.txt || fail "snapshot has $p (excluded)"
    done
    pass
}

H=$WORK/home
mkdir -p "$H/Documents/taxes/2024" "$H/Music/rock" "$H/src/Music" \
    "$H/x/Documents/taxes" "$H/code/target" "$H/code/lib/target" \
    "$H/Cache" "$H/keep" "$H/notes"
echo pdf >"$H/Documents/taxes/2024/return.pdf"
echo letter >"$H/Documents/letter.txt"
echo song >"$H/Music/rock/song.mp3"
echo file-named-music >"$H/src/Music/Music"
echo nested >"$H/x/Documents/taxes/old.pdf"
echo bin >"$H/code/target/app"
echo bin >"$H/code/lib/target/lib.so"
echo src >"$H/code/main.c"
echo obj >"$H/code/main.o"
echo OBJ >"$H/code/BIG.O"
echo log >"$H/keep/a.log"
echo log >"$H/keep/important.log"
echo n >"$H/notes/Music"

# --- (a) the issue's three patterns ------------------------------------------
ok add va -i id.txt --exclude 'Documents/taxes' --exclude 'Music/' \
    --exclude '**/Documents/taxes' "$H"
snap_lacks Documents/taxes Documents/taxes/2024/return.pdf Music \
    Music/rock/song.mp3 x/Documents/taxes x/Documents/taxes/old.pdf \
    src/Music
# 'Music/' is for directories: a file named Music stays
snap_has Documents Documents/letter.txt notes/Music x/Documents

# --- (b) the rules ----------------------------------------------------------
# anchored at the root: only that one
ok add va -i id.txt --exclude "$H/code/target" "$H"
snap_lacks code/target code/target/app
snap_has code/lib/target/lib.so
# `**` and a glob component
ok add va -i id.txt --exclude "$H/**/target" --exclude '*.o' "$H"
snap_lacks code/target code/lib/target code/main.o
snap_has code/main.c code/BIG.O
# case-insensitive
ok add va -i id.txt --iexclude '*.o' --iexclude 'MUSIC' "$H"
snap_lacks code/main.o code/BIG.O Music notes/Music
# negation, in order: everything in keep/ but important.log
ok add va -i id.txt --exclude "$H/keep/*" --exclude '!important.log' "$H"
snap_lacks keep/a.log
snap_has keep keep/important.log
# an exclude file: comments, blank lines, spaces, $VARIABLES, $$
cat >excludes.txt <<EOF
# comment

   *.log
\$EXCL_TOP/Music
cost\$\$1
EOF
EXCL_TOP=$H ok add va -i id.txt --exclude-file excludes.txt "$H"
snap_lacks keep/a.log keep/important.log Music
snap_has notes/Music
printf 'documents/TAXES\n' >iexcludes.txt
ok add va -i id.txt --iexclude-file iexcludes.txt "$H"
snap_lacks Documents/taxes x/Documents/taxes
# the paths given are never excluded, what is below them is
ok add va -i id.txt --exclude 'Music' "$H/Music"
snap_has Music
snap_lacks Music/rock
# a malformed pattern stops the add before anything is stored
before=$(find va -type f | wc -l)
expect_fail 1 'invalid pattern.*\[unclosed' add va -i id.txt \
    --exclude '[unclosed' "$H"
printf 'ok\n[bad\n' >bad.txt
expect_fail 1 'bad.txt, line 2' add va -i id.txt --exclude-file bad.txt "$H"
expect_fail 1 'exclude file.*absent' add va -i id.txt \
    --exclude-file absent.txt "$H"
[ "$(find va -type f | wc -l)" -eq "$before" ] ||
    fail "a refused add left objects in the vault"
pass
# a pattern that matches nothing: a warning (restic says nothing), the
# add goes on; one from a file: no warning (generic lists are common)
ok add va -i id.txt --exclude 'Muisc/' --exclude-file excludes.txt "$H"
grep -q 'pattern "Muisc/" matched nothing' err.txt ||
    fail "no warning about a pattern that matched nothing: $(cat err.txt)"
! grep -q 'cost' err.txt || fail "warned about a pattern from a file"
pass

# --- (c) tags and sizes -----------------------------------------------------
printf 'Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n' \
    >"$H/Cache/CACHEDIR.TAG"
echo cached >"$H/Cache/blob"
mkdir -p "$H/fake"
printf 'Signature: not the right one\n' >"$H/fake/CACHEDIR.TAG"
echo kept >"$H/fake/data"
ok add va -i id.txt --exclude-caches "$H"
grep -q 'fake/CACHEDIR.TAG: not a valid exclusion tag' err.txt ||
    fail "no warning about a bad CACHEDIR.TAG signature: $(cat err.txt)"
snap_has Cache Cache/CACHEDIR.TAG fake/data
snap_lacks Cache/blob
touch "$H/keep/.nobackup"
printf 'HEADER and more\n' >"$H/notes/.tag"
ok add va -i id.txt --exclude-if-present .nobackup \
    --exclude-if-present '.tag:HEADER' "$H"
snap_has keep keep/.nobackup notes/.tag
snap_lacks keep/a.log notes/Music
ok add va -i id.txt --exclude-if-present '.tag:OTHER' "$H"
snap_has notes/Music
expect_fail 2 'exclude-if-present' add va -i id.txt \
    --exclude-if-present ''  "$H"
expect_fail 1 'no file name' add va -i id.txt \
    --exclude-if-present ':x'  "$H"
head -c 3000 /dev/zero >"$H/code/big.bin"
head -c 2048 /dev/zero >"$H/code/exact.bin"
ok add va -i id.txt --exclude-larger-than 2k "$H"
snap_lacks code/big.bin
snap_has code/exact.bin code/main.c code/target
for bad in 0 -1 2x 1kk '' 99999999999999999999; do
    expect_fail 2 'exclude-larger-than' add va -i id.txt \
        --exclude-larger-than "$bad" "$H"
done

# --- (d) --files-from ------------------------------------------------------
cat >list.glob <<EOF
# the code and the letters
$H/code/*.c

  $H/Documents/*.txt  
$H/nothing-here-*
EOF
ok add va -i id.txt --files-from list.glob
grep -q 'nothing-here-\*.*matches no file' err.txt ||
    fail "no warning for a glob that matches nothing: $(cat err.txt)"
ok ls va -i id.txt -R latest
grep -qxF "$H/code/main.c" out.txt && grep -qxF "$H/Documents/letter.txt" out.txt ||
    fail "--files-from: $(cat out.txt)"
! grep -q 'main.o\|Music' out.txt || fail "--files-from took more: $(cat out.txt)"
pass
# find's output lists a folder and all below it: each once, no overlap
mkdir -p "$H/odd name" && echo x >"$H/odd name/[star]*"
find "$H/odd name" "$H/code" -print >list.verbatim
printf '%s\n' "$H/code" >>list.verbatim
ok add va -i id.txt --files-from-verbatim list.verbatim
ok ls va -i id.txt -R latest
grep -qxF "$H/odd name/[star]*" out.txt || fail "verbatim: $(cat out.txt)"
pass
find "$H/odd name" -print0 >list.raw
(cd "$H" && ok add "$WORK/va" -i "$WORK/id.txt" --files-from-raw \
    "$WORK/list.raw" --files-from-verbatim - <<<"keep")
ok ls va -i id.txt -R latest
grep -qxF "$H/odd name/[star]*" out.txt && grep -qxF "$H/keep/a.log" out.txt ||
    fail "raw and - : $(cat out.txt)"
pass
expect_fail 1 'files-from.*absent' add va -i id.txt --files-from absent.lst
head -c 5000 /dev/zero | tr '\0' a >long.lst
expect_fail 1 'files-from long.lst: a line longer than' add va -i id.txt \
    --files-from-verbatim long.lst
expect_fail 1 'not NUL-separated' add va -i id.txt --files-from-raw long.lst
expect_fail 2 'name what to back up' add va -i id.txt

# --- (e) --dry-run ----------------------------------------------------------
echo new content >"$H/code/new.c"
ok ls va -i id.txt
snaps_before=$(wc -l <out.txt)
cp -a va va.before
ok add va -i id.txt --dry-run -v --exclude '*.o' "$H"
grep -q '^dry run: nothing was written' out.txt || fail "no dry-run line"
grep -qE "^file +$H/code/new.c " out.txt || fail "-v does not list new.c:
$(cat out.txt)"
grep -qE "^dir +$H/code$" out.txt || fail "-v does not list dirs"
! grep -q 'main.o' out.txt || fail "-v lists an excluded file"
grep -qE '^read: .*would add: [1-9]' out.txt ||
    fail "dry run counts nothing to add: $(cat out.txt)"
diff -r va va.before >/dev/null || fail "--dry-run changed the vault:
$(diff -r va va.before | head)"
ok ls va -i id.txt
[ "$(wc -l <out.txt)" -eq "$snaps_before" ] || fail "--dry-run made a snapshot"
pass
ok add va -i id.txt -n --json "$H"
[ "$(json_get out.txt 'j["dry_run"]')" = True ] || fail "--json: no dry_run"
diff -r va va.before >/dev/null || fail "--dry-run --json changed the vault"
pass
# the dry run did not teach the files cache: the real add reads new.c
ok add va -i id.txt --json "$H"
[ "$(json_get out.txt 'j["bytes_read"]')" -gt 0 ] ||
    fail "after a dry run the add read nothing"
pass
