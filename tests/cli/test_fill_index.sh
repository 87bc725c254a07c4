#!/usr/bin/env bash
# tests/tools/fill_index (issue #15): a vault's index grown by N entries
# in packs that are never written, for the scale benchmark
# (tests/bench/scale.sh).  The vault must stay usable for what the
# benchmark measures (add, ls, prune's planning) and `check` must name
# every absent pack rather than fail on the first or crash.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${FILL_INDEX:?FILL_INDEX must name the fill_index tool (ctest sets it)}"

# fill ARGS...: runs fill_index; stdout in fill-out.txt, stderr in
# fill-err.txt, status in $RC.
fill() {
    RC=0
    "$FILL_INDEX" "$@" >fill-out.txt 2>fill-err.txt || RC=$?
    check_sane "$RC" fill-err.txt "fill_index $*"
}

new_identity owner.key
new_identity writer.key
writer=$("$VAULT" keygen -y -i writer.key)
new_vault V owner.key
ok share V "$writer" --role writer -i owner.key

# --- wrong command lines and vaults: named, nothing written -------------
for bad in 0 -5 12x 2000000000000; do
    fill V owner.key "$bad"
    [ "$RC" -eq 2 ] || fail "fill_index N=$bad exited $RC, expected 2"
    grep -q "N: '$bad'" fill-err.txt || fail "N=$bad not named: $(cat fill-err.txt)"
    pass
done
fill V owner.key 10 128
[ "$RC" -eq 2 ] || fail "CHUNKS_PER_PACK=128 exited $RC, expected 2"
fill nowhere owner.key 10
[ "$RC" -eq 1 ] || fail "fill_index on a missing vault exited $RC, expected 1"
grep -q nowhere fill-err.txt || fail "missing vault not named: $(cat fill-err.txt)"
[ -z "$(ls V/index)" ] || fail "a refused fill_index wrote index segments"
pass

# --- 20000 entries: 1250 packs of 16, in one segment (add's size) -------
fill V owner.key 20000
[ "$RC" -eq 0 ] || die "fill_index failed: $(cat fill-err.txt)"
grep -q '^20000 entries in 1250 packs that are absent: for index measurements only' \
    fill-out.txt || fail "fill_index said: $(cat fill-out.txt)"
[ "$(ls V/index | wc -l)" -eq 1 ] || fail "expected one index segment: $(ls V/index)"
[ -z "$(find V/data -type f)" ] || fail "fill_index wrote packs"
pass
# A writer's segments count too (a writer signs what it adds); a last
# pack that is not full.
fill V writer.key 40 3
[ "$RC" -eq 0 ] || die "fill_index as a writer failed: $(cat fill-err.txt)"
grep -q '^40 entries in 14 packs that are absent' fill-out.txt ||
    fail "fill_index as a writer said: $(cat fill-out.txt)"
pass

# --- the vault still works for what the benchmark measures --------------
mkdir src
for i in $(seq 1 20); do printf 'file %s\n' "$i" >"src/f$i"; done
ok add V src -i owner.key
ok ls V latest -R -i owner.key
[ "$(grep -c "src/f" out.txt)" -eq 20 ] || fail "ls -R: $(cat out.txt)"
ok extract V latest -C out -i owner.key
treecmp src "out$WORK/src"
ok prune V --dry-run -i owner.key
grep -q 'dry run' out.txt || fail "prune --dry-run said: $(cat out.txt)"

# --- check names every absent pack, with the segment that lists it ------
expect_rc 1 check V -i owner.key
missing=$(grep -c '^vault: check: data/[0-9a-f]\{2\}/[0-9a-f]\{64\}: missing (index segment [0-9a-f]\{16\} lists [0-9]* blobs\? in it)$' \
    err.txt || true)
[ "$missing" -eq 1264 ] ||
    fail "check named $missing absent packs, expected 1264:
$(head -n 5 err.txt)"
grep -q '1264 problems' out.txt err.txt ||
    fail "check's summary: $(tail -n 2 out.txt err.txt)"
pass
