#!/usr/bin/env bash
# test_dedup.sh - deduplication and the files cache, seen from outside:
#  (a) adding an unchanged tree again reads nothing (files cache) and
#      stores next to nothing; with --no-cache it reads everything and
#      still stores next to nothing;
#  (b) changing 1 MiB in the middle of a 64 MiB random file adds about
#      one to three chunks (on average over four edits at different
#      places: the gear table is keyed per vault, so cut points differ
#      from run to run, and about 2% of single edits take a fourth chunk
#      to fall back in step - format-spec/chunking.md); inserting bytes
#      (which shifts everything after) stores a few chunks, not the file;
#  (c) identical files in two places, and a copy added later, are stored
#      once; a file that repeats one block is stored about once.
#
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
new_identity id.txt

# levels PATH: how many tree blobs a snapshot of PATH has above and at
# PATH: the root, then one per component.
levels() {
    local p=${1#/} n=1
    IFS=/ read -r -a parts <<<"$p"
    echo $((n + ${#parts[@]}))
}

# add_json OUT VAULT ARGS...: vault add --json, the summary saved to OUT.
add_json() {
    local out=$1
    shift
    ok add "$@" -i id.txt --json
    cp out.txt "$out"
}
field() { json_get "$1" "j[\"$2\"]"; }

# --- (a) unchanged tree -------------------------------------------------------
mkdir data
make_tree "$WORK/data/src" 2>/dev/null
SRC=$WORK/data/src
new_vault va id.txt
add_json a1.json va "$SRC"
size1=$(du_bytes va)
total=$(field a1.json bytes_total)
[ "$(field a1.json bytes_read)" -eq "$total" ] ||
    die "first add read $(field a1.json bytes_read) of $total bytes"
pass

add_json a2.json va "$SRC"
size2=$(du_bytes va)
growth=$((size2 - size1))
[ "$(field a2.json bytes_read)" -eq 0 ] ||
    fail "unchanged tree, second add: bytes_read $(field a2.json bytes_read), expected 0 (files cache)"
[ "$(field a2.json files_unchanged)" -eq "$(field a2.json files)" ] ||
    fail "unchanged tree: files_unchanged $(field a2.json files_unchanged) of $(field a2.json files)"
[ $((growth * 100)) -lt "$size1" ] ||
    fail "unchanged tree: vault grew by $growth bytes, not < 1% of $size1"
# Only the trees of the ancestors (whose mtimes move) may be new.
max_trees=$(levels "$WORK/data")
[ "$(field a2.json blobs_added)" -le "$max_trees" ] ||
    fail "unchanged tree: $(field a2.json blobs_added) new blobs, at most $max_trees ancestor trees expected"
pass

add_json a3.json va "$SRC" --no-cache
size3=$(du_bytes va)
growth=$((size3 - size2))
[ "$(field a3.json bytes_read)" -eq "$total" ] ||
    fail "--no-cache: bytes_read $(field a3.json bytes_read), expected all $total"
[ "$(field a3.json files_unchanged)" -eq 0 ] ||
    fail "--no-cache: files_unchanged $(field a3.json files_unchanged), expected 0"
[ $((growth * 100)) -lt "$size1" ] ||
    fail "--no-cache, unchanged tree: vault grew by $growth bytes, not < 1% of $size1"
[ "$(field a3.json blobs_added)" -le "$max_trees" ] ||
    fail "--no-cache: $(field a3.json blobs_added) new blobs for an unchanged tree"
pass
# The files cache lives in $XDG_CACHE_HOME/vault; --no-cache keeps none.
[ -n "$(ls -A "$XDG_CACHE_HOME/vault" 2>/dev/null)" ] ||
    fail "no files cache in \$XDG_CACHE_HOME/vault after an add"
XDG_CACHE_HOME=$WORK/cache2 ok add va "$SRC/dir" --no-cache -i id.txt
[ -z "$(ls -A "$WORK/cache2" 2>/dev/null)" ] || fail "add --no-cache wrote a files cache: $(ls -R "$WORK/cache2" | head)"
pass
# A touched file is read again (the cache notices), the rest is not.
touch "$SRC/file.txt"
add_json a4.json va "$SRC"
read4=$(field a4.json bytes_read)
[ "$read4" -eq "$(stat -c %s "$SRC/file.txt")" ] ||
    fail "after touching file.txt, bytes_read is $read4, expected its $(stat -c %s "$SRC/file.txt") bytes"
pass
# The snapshots of (a) all extract to the same content.
ok extract va latest -C out-a -i id.txt
treecmp "$SRC" "out-a$SRC"
rm -rf out-a "$WORK/data"

# --- (b) a changed and a shifted big file ----------------------------------------
mkdir big
random_file big/file $((64 * MiB))
new_vault vb id.txt
add_json b1.json vb "$WORK/big"
trees=$(levels "$WORK/big")

# check_edit NAME JSON SIZE_BEFORE MIN_NEW: bounds for one edit; sets
# EDIT_CHUNKS (new data chunks) and EDIT_GROWTH (bytes the vault grew).
check_edit() {
    local name=$1 json=$2 before=$3 min_new=$4
    local blobs added growth
    blobs=$(field "$json" blobs_added)
    added=$(field "$json" bytes_added)
    growth=$(($(du_bytes vb) - before))
    echo "info: $name: $blobs new blobs ($trees of them trees at most)," \
        "$added bytes added, vault grew by $growth bytes" >&2
    [ "$(field "$json" bytes_read)" -eq "$(stat -c %s big/file)" ] ||
        fail "$name: the changed file was not read again (bytes_read $(field "$json" bytes_read))"
    # The new bytes are random: they must be stored.
    [ "$added" -ge "$min_new" ] ||
        fail "$name: only $added bytes added; the $min_new new random bytes must be stored"
    [ "$blobs" -ge 2 ] || fail "$name: $blobs new blobs; expected a data chunk and trees"
    # Never anything like the rest of the file.
    [ "$growth" -le $((16 * MiB)) ] ||
        fail "$name: vault grew by $growth bytes for a small edit of a 64 MiB file"
    EDIT_CHUNKS=$((blobs - trees))
    [ "$EDIT_CHUNKS" -ge 1 ] || EDIT_CHUNKS=1
    EDIT_GROWTH=$growth
    pass
}

# Four 1 MiB overwrites at different places: one to three new chunks each
# on average, never more than a handful.
total_chunks=0
total_growth=0
for at in 8 24 40 56; do
    before=$(du_bytes vb)
    random_file patch $MiB
    dd if=patch of=big/file bs=1M seek=$at conv=notrunc status=none
    add_json b2.json vb "$WORK/big"
    check_edit "1 MiB overwritten at $at MiB" b2.json "$before" "$MiB"
    [ "$EDIT_CHUNKS" -le 6 ] ||
        fail "1 MiB overwritten at $at MiB: $EDIT_CHUNKS new data chunks"
    total_chunks=$((total_chunks + EDIT_CHUNKS))
    total_growth=$((total_growth + EDIT_GROWTH))
done
echo "info: 4 overwrites: $total_chunks new data chunks, $total_growth bytes" >&2
[ "$total_chunks" -le 12 ] ||
    fail "1 MiB overwrites: $total_chunks new data chunks in 4 edits (more than 3 each on average)"
# The chunks an edit lands in are the larger ones (a point falls in a long
# chunk more often than in a short one): about twice the mean size each.
[ "$total_growth" -le $((4 * 8 * MiB)) ] ||
    fail "1 MiB overwrites: the vault grew by $total_growth bytes in 4 edits (more than 8 MiB each on average)"
pass

before=$(du_bytes vb)
random_file insert 4096
"$PYTHON" - big/file insert <<'EOF'
import sys
path, ins = sys.argv[1], open(sys.argv[2], "rb").read()
data = open(path, "rb").read()
at = 16 * 1024 * 1024 + 12345
open(path, "wb").write(data[:at] + ins + data[at:])
EOF
add_json b3.json vb "$WORK/big"
check_edit "4 KiB inserted at 16 MiB" b3.json "$before" 4096

ok extract vb latest -C out-b -i id.txt
cmp -s big/file "out-b$WORK/big/file" || fail "the edited big file does not extract identically"
ok extract vb "$(field b1.json id | cut -c1-12)" -C out-b1 -i id.txt
[ "$(stat -c %s "out-b1$WORK/big/file")" -eq $((64 * MiB)) ] ||
    fail "the first snapshot's big file has the wrong size"
pass
rm -rf big out-b out-b1 vb patch insert

# --- (c) identical content stored once -------------------------------------------
mkdir -p same/a same/b/sub
random_file same/a/f $((8 * MiB))
cp same/a/f same/b/sub/g
new_vault vc id.txt
before=$(du_bytes vc)
add_json c1.json vc "$WORK/same" --compression off
growth=$(($(du_bytes vc) - before))
added=$(field c1.json bytes_added)
[ "$added" -le $((8 * MiB + 256 * 1024)) ] ||
    fail "two identical 8 MiB files: $added bytes added, expected one copy"
[ "$growth" -le $((8 * MiB + 256 * 1024)) ] ||
    fail "two identical 8 MiB files: vault grew by $growth bytes, expected one copy"
[ "$added" -ge $((8 * MiB)) ] || fail "8 MiB of random data stored as only $added bytes"
pass
# A third copy in a new place, added later: read (it is new), not stored.
mkdir later
cp same/a/f later/h
add_json c2.json vc "$WORK/later"
[ "$(field c2.json bytes_read)" -eq $((8 * MiB)) ] ||
    fail "a new copy was not read (bytes_read $(field c2.json bytes_read))"
[ "$(field c2.json bytes_added)" -le 65536 ] ||
    fail "a copy of stored content added $(field c2.json bytes_added) bytes"
pass
# One 1 MiB random block repeated 16 times: stored about once, not 16 times.
mkdir rep
random_file block $MiB
for _ in $(seq 16); do cat block; done >rep/repeated
add_json c3.json vc "$WORK/rep" --compression off
[ "$(field c3.json bytes_added)" -le $((8 * MiB)) ] ||
    fail "a file repeating one 1 MiB block 16 times stored $(field c3.json bytes_added) bytes"
pass
ok extract vc latest -C out-c -i id.txt
cmp -s rep/repeated "out-c$WORK/rep/repeated" || fail "the repeated-block file does not extract identically"
pass
