#!/usr/bin/env bash
# test_extract_resume.sh - running `extract` again into the same target
# (issue #12, item 4): an interrupted extraction leaves some files placed
# and "*.vault-tmp-*" temporaries; the second run removes the
# temporaries, leaves the files already there as in the snapshot alone
# (counted as "already there"), restores the rest, and exits 0.  An entry
# that differs is left alone and reported - the first ten by name, then
# a count with a hint at --overwrite - and the exit status is 3;
# --overwrite then replaces it.  (Before: one "put into place: File
# exists" per file, exit 3, temporaries left.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_identity id.txt
new_vault v id.txt
make_tree src
mkdir -p src/many
for i in $(seq 1 30); do echo "file $i" >"src/many/m$i"; done
ok add v src -i id.txt
snap_src="out$WORK/src"

# The state an interrupted extraction leaves: some files placed, some
# not, temporaries beside them.
ok extract v latest -C out -i id.txt
treecmp "$WORK/src" "$snap_src"
rm "$snap_src"/many/m1* "$snap_src"/many/m2*
: >"$snap_src/many/m1.vault-tmp-0123456789abcdef"
: >"$snap_src/many/m2.vault-tmp-fedcba9876543210"
: >"out/keep.vault-tmp-notours"   # not a temporary of ours: kept
mkdir "out/dir.vault-tmp-0123456789abcdef" # a directory is never removed

ok extract v latest -C out -i id.txt
treecmp "$WORK/src" "$snap_src"
grep -q 'already there' out.txt || fail "no 'already there' count: $(cat out.txt)"
grep -q 'removed 2 temporary files' out.txt ||
    fail "the temporaries were not counted: $(cat out.txt)"
[ -z "$(find "$snap_src" -name '*.vault-tmp-*')" ] ||
    fail "temporaries left: $(find "$snap_src" -name '*.vault-tmp-*')"
[ -e out/keep.vault-tmp-notours ] && [ -d out/dir.vault-tmp-0123456789abcdef ] ||
    fail "a name that is not a temporary of ours, or a directory, was removed"
grep -q 'File exists' err.txt && fail "'File exists' reported: $(cat err.txt)"
pass

# A third run has nothing to do.
ok extract v latest -C out -i id.txt
grep -q '^restored 0 files' out.txt || fail "a complete target was written again: $(cat out.txt)"
pass

# Entries that differ: left alone, reported, a hint at --overwrite.
for i in $(seq 1 12); do echo changed >"$snap_src/many/m$i"; done
expect_rc 3 extract v latest -C out -i id.txt
[ "$(grep -c 'exists and differs' err.txt)" -eq 10 ] ||
    fail "expected the first ten differing files named: $(cat err.txt)"
grep -q '12 entries in the way differ.*--overwrite' err.txt ||
    fail "no count and hint at --overwrite: $(cat err.txt)"
grep -qx changed "$snap_src/many/m1" || fail "a differing file was replaced without --overwrite"
pass
# Same size, another mtime: differs too.
printf 'file 13\n' >"$snap_src/many/m13.new" && touch -d @1 "$snap_src/many/m13.new"
mv "$snap_src/many/m13.new" "$snap_src/many/m13"
expect_rc 3 extract v latest -C out -i id.txt
grep -q 'many/m13: exists and differs' err.txt || fail "an mtime change was not seen: $(cat err.txt)"

ok extract v latest -C out -i id.txt --overwrite
treecmp "$WORK/src" "$snap_src"

# Files in directories the extraction makes are created under their own
# names with the snapshot's mode when the umask leaves it whole (no
# fchmod), else given it afterwards: every mode comes back under any
# umask, the read-only and set-uid ones included.
for mask in 000 077 022; do
    (umask "$mask" && "$VAULT" extract v latest -C "out-umask-$mask" -i id.txt \
        >out.txt 2>err.txt) || fail "extract under umask $mask: $(cat err.txt)"
    treecmp "$WORK/src" "out-umask-$mask$WORK/src"
done
