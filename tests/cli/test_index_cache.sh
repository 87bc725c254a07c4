#!/usr/bin/env bash
# test_index_cache.sh - the index cache (format.md §15 "Index cache"),
# seen from outside:
#  (a) an add leaves one index file per member in the vault's cache
#      folder, mode 0600; later adds are read on top of it (not rebuilt
#      each time), and every snapshot extracts identical;
#  (b) a local user who damages it, or puts another vault's (or another
#      member's) file in its place, changes nothing: it is built again,
#      an add still deduplicates, extraction is identical;
#  (c) after forget + prune (segments replaced) it is built again and
#      nothing of the pruned packs is used;
#  (d) a writer's file is the writer's own; --no-cache keeps none.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_identity owner.txt
new_identity writer.txt
mkdir data
make_tree "$WORK/data/a" 2>/dev/null
mkdir -p data/b && random_file data/b/big.bin $((3 * 1024 * 1024)) &&
    echo "second tree" >data/b/note.txt
new_vault va owner.txt

ok add va data/a -i owner.txt --json
index_files() { find "$XDG_CACHE_HOME/vault" -name 'index-*' -type f | sort; }
[ "$(index_files | wc -l)" -eq 1 ] || die "expected one index cache file, found: $(index_files)"
cache_file=$(index_files)
[ "$(stat -c %a "$cache_file")" = 600 ] || fail "index cache mode $(stat -c %a "$cache_file"), expected 600"
pass

# (a) a second add: read on top (the file is not replaced)
inode=$(stat -c %i "$cache_file")
ok add va data/b -i owner.txt --json
snap_b=$(json_get out.txt 'j["id"]')
ok ls va -i owner.txt
[ "$(stat -c %i "$cache_file")" = "$inode" ] ||
    fail "the index cache was rebuilt after one more segment"
ok extract va latest -C out1 -i owner.txt
treecmp "$WORK/data/b" "out1$WORK/data/b"
pass

# (b) damaged: a byte in the middle flipped
size=$(stat -c %s "$cache_file")
# every bit of the byte flipped (a fixed value changes nothing where the
# byte has it already)
byte=$(od -An -tu1 -j $((size / 2)) -N1 "$cache_file" | tr -d ' ')
printf "\\x$(printf %02x $((byte ^ 0xff)))" |
    dd of="$cache_file" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
before=$(du_bytes va)
ok add va data/a -i owner.txt --json
after=$(du_bytes va)
[ $(((after - before) * 100)) -lt "$before" ] ||
    fail "after a damaged index cache, an unchanged add grew the vault from $before to $after bytes"
[ "$(stat -c %i "$cache_file")" != "$inode" ] || fail "a damaged index cache was not rebuilt"
ok extract va latest -C out2 -i owner.txt
treecmp "$WORK/data/a" "out2$WORK/data/a"
pass

# (b) another vault's file, and the same vault's file of another member
new_vault vb owner.txt
ok add vb data/b -i owner.txt
other=$(index_files | grep -v "^$cache_file\$" | head -n 1)
[ -n "$other" ] || die "no index cache for the second vault"
cp "$other" "$cache_file"
ok extract va latest -C out3 -i owner.txt
treecmp "$WORK/data/a" "out3$WORK/data/a"
cmp -s "$other" "$cache_file" && fail "another vault's index cache was kept"
pass

# (c) forget the snapshot of data/b, prune: the file is built again
inode=$(stat -c %i "$cache_file")
ok forget va "$snap_b" -i owner.txt
ok prune va -i owner.txt
ok extract va latest -C out4 -i owner.txt
[ "$(stat -c %i "$cache_file")" != "$inode" ] ||
    fail "the index cache was not rebuilt after prune replaced segments"
treecmp "$WORK/data/a" "out4$WORK/data/a"
ok check va --read-data -i owner.txt
pass

# (d) a writer's own file; --no-cache makes none
ok share va "$("$VAULT" keygen -y -i writer.txt)" --role writer -i owner.txt
ok add va data/b -i writer.txt
[ "$(index_files | wc -l)" -eq 3 ] || fail "expected a third index cache file (the writer's), found: $(index_files)"
rm -rf "$XDG_CACHE_HOME"
ok --no-cache add va data/b -i owner.txt
ok --no-cache extract va latest -C out5 -i owner.txt
treecmp "$WORK/data/b" "out5$WORK/data/b"
[ -z "$(index_files 2>/dev/null)" ] || fail "--no-cache left an index cache: $(index_files)"
pass
