#!/usr/bin/env bash
# test_prune.sh - forget and prune seen from outside (issue "Integrity and
# space"): after forgetting all but the latest of eight snapshots of
# successive source releases, prune shrinks the vault to within 10% of a
# fresh vault of that one snapshot, and the kept snapshot extracts
# byte-identical.  Also: dry runs change nothing, `vault check` passes
# after the prune (skipped with a note while there is no `check`), a
# second prune has nothing to do, readers may neither forget nor prune,
# and forget's command line refusals.
#
# The releases are synthetic and reproducible (a seeded generator below):
# release 1 is ~400 text files (source-like, compressible) and two binary
# assets; each next release rewrites ~10% of the files, appends to a few,
# adds ~3% new ones and deletes ~2%; one asset changes at release 5.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_identity id.txt
new_identity reader.txt

# release DIR K: turns DIR into release K (DIR holds release K-1, or
# nothing for K = 1).
release() {
    "$PYTHON" - "$1" "$2" <<'EOF'
import os, random, sys
root, k = sys.argv[1], int(sys.argv[2])
rng = random.Random(1000 + k)
words = ("int char void return static const struct if else for while "
         "size_t uint8_t vault pack index blob tree snapshot error rc "
         "free malloc memcpy len buf out in the of to a and").split()

def text(n_lines):
    lines = []
    for _ in range(n_lines):
        indent = " " * (4 * rng.randrange(4))
        lines.append(indent + " ".join(rng.choice(words)
                                       for _ in range(rng.randrange(3, 12))))
    return "\n".join(lines) + "\n"

def files():
    out = []
    for d, _, names in os.walk(root):
        for n in names:
            out.append(os.path.relpath(os.path.join(d, n), root))
    return sorted(out)

def write(rel, data):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)

if k == 1:
    for i in range(400):
        write("src/mod%02d/file%03d.c" % (i % 20, i),
              text(rng.randrange(40, 600)).encode())
    write("assets/a.bin", rng.randbytes(1200 * 1024))
    write("assets/b.bin", rng.randbytes(900 * 1024))
else:
    names = [n for n in files() if n.startswith("src/")]
    for n in rng.sample(names, len(names) // 10):
        write(n, text(rng.randrange(40, 600)).encode())
    for n in rng.sample(names, len(names) // 20):
        with open(os.path.join(root, n), "ab") as f:
            f.write(text(rng.randrange(5, 50)).encode())
    for n in rng.sample(names, len(names) // 50):
        os.remove(os.path.join(root, n))
    for i in range(len(names) * 3 // 100):
        write("src/new%d/file%03d.c" % (k, i),
              text(rng.randrange(40, 600)).encode())
    if k == 5:
        write("assets/a.bin", rng.randbytes(1300 * 1024))
EOF
}

# data_index_bytes VAULT: bytes in its data/ and index/.
data_index_bytes() {
    echo $(($(du_bytes "$1/data") + $(du_bytes "$1/index")))
}

# listing VAULT: every object with its size, for "nothing changed".
listing() {
    (cd "$1" && find . -printf '%p %s\n' | sort)
}

# --- eight releases, one snapshot each, at the same path ---------------------
PROJ=$WORK/proj
mkdir "$PROJ"
new_vault va id.txt
for k in 1 2 3 4 5 6 7 8; do
    release "$PROJ" "$k"
    ok add va "$PROJ" -i id.txt --no-cache
done
ok ls va -i id.txt --json
[ "$(json_get out.txt 'len(j)')" -eq 8 ] || die "expected 8 snapshots"
last=$(json_get out.txt 'j[-1]["id"]')
size_before=$(data_index_bytes va)

# --- forget: dry run, then for real ---------------------------------------------
listing va >before.txt
ok forget va --keep-last 1 -i id.txt --dry-run
grep -q "would remove 7 snapshots" out.txt ||
    fail "forget --dry-run does not say it would remove 7: $(cat out.txt)"
listing va >after.txt
cmp -s before.txt after.txt || fail "forget --dry-run changed the vault"
pass

ok forget va --keep-last 1 -i id.txt
grep -q "keep 1 snapshot" out.txt || fail "forget output: $(cat out.txt)"
grep -q "${last:0:8}  .*  last " out.txt ||
    fail "forget does not give 'last' as the reason to keep ${last:0:8}:
$(cat out.txt)"
ok ls va -i id.txt --json
[ "$(json_get out.txt 'len(j)')" -eq 1 ] || fail "forget left $(json_get out.txt 'len(j)') snapshots"
[ "$(json_get out.txt 'j[0]["id"]')" = "$last" ] || fail "forget kept the wrong snapshot"
pass

# --- prune: dry run, then for real -----------------------------------------------
listing va >before.txt
ok prune va -i id.txt --dry-run
grep -q "dry run: nothing changed" out.txt || fail "prune --dry-run: $(cat out.txt)"
grep -q "would free" out.txt || fail "prune --dry-run: $(cat out.txt)"
listing va >after.txt
cmp -s before.txt after.txt || fail "prune --dry-run changed the vault:
$(diff before.txt after.txt | head -20)"
pass

ok prune va -i id.txt
cat out.txt >&2
grep -q "^freed " out.txt || fail "prune output: $(cat out.txt)"
grep -q "pending" out.txt && fail "prune left a mark pending on a quiet vault: $(cat out.txt)"
[ -z "$(ls -A va/locks)" ] || fail "locks/ not empty after prune: $(ls va/locks)"
size_after=$(data_index_bytes va)

# --- a fresh vault of the last release alone ---------------------------------------
new_vault vfresh id.txt
ok add vfresh "$PROJ" -i id.txt --no-cache
size_fresh=$(data_index_bytes vfresh)
note "data+index: 8 snapshots $size_before bytes; after forget+prune" \
    "$size_after; fresh vault of the last release $size_fresh"
diff=$((size_after - size_fresh))
[ "$diff" -lt 0 ] && diff=$((-diff))
[ $((diff * 10)) -le "$size_fresh" ] ||
    fail "after prune the vault holds $size_after bytes of data and index, not within 10% of a fresh vault's $size_fresh"
[ $((size_after * 10)) -lt $((size_before * 8)) ] ||
    fail "prune freed too little: $size_before -> $size_after"
pass

# --- the kept snapshot extracts byte-identical --------------------------------------
ok extract va "$last" -C out -i id.txt
diff -r "$PROJ" "out$PROJ" >diff.txt || fail "the kept snapshot does not extract identical:
$(head -20 diff.txt)"
pass
rm -rf out

# --- check passes, a second prune has nothing to do -----------------------------
if "$VAULT" help check >/dev/null 2>&1; then
    ok check va -i id.txt
else
    note "no 'vault check' in this build: skipped checking after prune"
fi
ok prune va -i id.txt
grep -q "mark: no pack to condemn" out.txt || fail "second prune: $(cat out.txt)"
grep -q "^freed 0 B" out.txt || fail "second prune freed something: $(cat out.txt)"
pass

# --- owners only; command line refusals ------------------------------------------------
ok share va "$("$VAULT" keygen -y -i reader.txt)" -i id.txt --role reader
expect_fail 1 "only an owner" forget va --keep-last 1 -i reader.txt
expect_fail 1 "only an owner" prune va -i reader.txt
expect_fail 2 "policy" forget va -i id.txt
expect_fail 2 "not both" forget va "${last:0:8}" --keep-last 1 -i id.txt
expect_fail 2 "keep-last" forget va --keep-last -3 -i id.txt
expect_fail 2 "grace" prune va --grace soon -i id.txt
expect_fail 2 "max-unused" prune va --max-unused 150 -i id.txt

# --- forget by ID -------------------------------------------------------------------
ok forget va "${last:0:8}" -i id.txt
grep -q "removed snapshot $last" out.txt || fail "forget by ID: $(cat out.txt)"
ok ls va -i id.txt --json
[ "$(json_get out.txt 'len(j)')" -eq 0 ] || fail "forget by ID left a snapshot"
ok prune va -i id.txt
[ -z "$(find va/data -type f)" ] || fail "prune of a vault without snapshots left packs"
pass
