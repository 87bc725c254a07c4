#!/usr/bin/env bash
# test_check.sh - `vault check`.
#
# 1. A clean vault passes, in every mode (structural, --read-data, a
#    subset, as a writer, --json); bad options are usage errors.
# 2. "check --read-data finds every single-byte flip in a small vault and
#    names the affected files": a small vault (a few small files, stored
#    uncompressed, with a writer's envelope besides the owner's) has one
#    byte flipped at a time in every object - every byte of objects under
#    512 bytes, else ~40 evenly spread offsets including the first and the
#    last - and `vault check --read-data` must exit 1 with a message naming
#    the damaged object ("config", "keys/<name>", "index/<name>",
#    "snapshots/<name>", "data/<2>/<name>"); for a pack it must also name
#    a path in a snapshot ("affects snapshot <id8> /..."), and over all
#    flips in packs every file of the fixture must be named.  The byte is
#    restored after each flip.  To stay well under a minute with
#    sanitizers, the flips run in parallel, each worker on its own copy of
#    the vault (and under ASan only every fourth run looks for leaks).
# 3. A removed pack is reported with the files it held.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkdir src src/sub
printf 'alpha\n' >src/a.txt
printf 'bravo bravo\n' >src/b.txt
printf 'charlie\n' >src/sub/c.txt
printf 'delta delta delta\n' >src/sub/d.txt
: >src/empty
ln -s a.txt src/link
new_identity id.txt
new_identity writer.txt
new_vault vault id.txt
ok add vault "$WORK/src" --compression off --threads 1 -i id.txt
WRITER=$("$VAULT" keygen -y -i writer.txt)
ok share vault "$WRITER" --role writer -i id.txt

# --- 1. a clean vault ------------------------------------------------------
ok check vault -i id.txt
grep -q -E '^checked 1 snapshot, [0-9]+ trees, [0-9]+ blobs in [0-9]+ packs \(read 0 packs\): no problems found$' out.txt ||
    fail "check: unexpected summary: $(cat out.txt)"
[ ! -s err.txt ] || fail "check of a clean vault wrote to stderr: $(cat err.txt)"
ok check vault -i id.txt --read-data
grep -q 'no problems found' out.txt || fail "check --read-data: $(cat out.txt)"
grep -q -E '\(read [1-9][0-9]* packs?\)' out.txt ||
    fail "check --read-data read no pack: $(cat out.txt)"
ok check vault -i id.txt --read-data-subset 1%
grep -q -E '\(read [1-9][0-9]* packs?\)' out.txt ||
    fail "check --read-data-subset 1% read no pack: $(cat out.txt)"
ok check vault -i writer.txt --read-data
grep -q 'no problems found' out.txt || fail "writer check: $(cat out.txt)"
grep -q '^skipped: .*writer' out.txt ||
    fail "writer check does not say what it skipped: $(cat out.txt)"
ok check vault -i id.txt --json
[ "$(json_get out.txt 'j["problems"]')" = 0 ] || fail "--json: $(cat out.txt)"
[ "$(json_get out.txt 'len(j["issues"])')" = 0 ] || fail "--json: $(cat out.txt)"
expect_fail 2 'read-data-subset' check vault -i id.txt --read-data-subset 0
expect_fail 2 'read-data-subset' check vault -i id.txt --read-data-subset 101%
expect_fail 2 'read-data-subset' check vault -i id.txt --read-data-subset x
expect_fail 2 'exclude' check vault -i id.txt --read-data --read-data-subset 5%
expect_fail 2 'option' check vault -i id.txt --no-such-option

# --- 2. every flip ---------------------------------------------------------
"$PYTHON" - "$VAULT" "$WORK" <<'EOF'
import concurrent.futures, hashlib, os, re, shutil, stat, subprocess, sys, time

vault_bin, work = sys.argv[1], sys.argv[2]
os.chdir(work)
WORKERS = max(2, min(8, (os.cpu_count() or 2) * 2))
FILES = ["src/a.txt", "src/b.txt", "src/sub/c.txt", "src/sub/d.txt"]

objects = []
for dirpath, dirs, files in os.walk("vault"):
    for f in files:
        rel = os.path.relpath(os.path.join(dirpath, f), "vault")
        if rel == "config" or re.match(r"^(keys|index|snapshots)/[0-9a-f]{64}$", rel) \
                or re.match(r"^data/[0-9a-f]{2}/[0-9a-f]{64}$", rel):
            objects.append(rel)
objects.sort()
kinds = {k: sum(1 for o in objects if o.split("/")[0] == k)
         for k in ("config", "keys", "data", "index", "snapshots")}
for k, n in kinds.items():
    if n == 0:
        sys.exit("FAIL: the vault has no %s object to flip" % k)

def positions(size):
    if size < 512:
        return list(range(size))
    return sorted({i * (size - 1) // 39 for i in range(40)})

tasks = []
for rel in objects:
    size = os.path.getsize(os.path.join("vault", rel))
    tasks.extend((rel, pos) for pos in positions(size))

# LeakSanitizer's scan at exit costs as much as the check itself: under
# ASan, every fourth run looks for leaks (all kinds of object and offset
# still get some), the others skip it.  Other builds ignore the variable.
ASAN = os.environ.get("ASAN_OPTIONS", "")
QUICK = dict(os.environ, ASAN_OPTIONS=(ASAN + ":" if ASAN else "") + "detect_leaks=0")

def run_worker(n, mine):
    """Flips each (object, offset) of mine in a private copy of the vault."""
    copy = "flip-%d" % n
    shutil.copytree("vault", copy, symlinks=True)
    for dirpath, dirs, files in os.walk(copy):
        for f in files:
            p = os.path.join(dirpath, f)
            os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)
    results = []
    for i, (rel, pos) in enumerate(mine):
        path = os.path.join(copy, rel)
        with open(path, "r+b") as f:
            f.seek(pos)
            old = f.read(1)
            f.seek(pos)
            f.write(bytes([old[0] ^ (0x01 if i % 2 else 0x80)]))
        try:
            p = subprocess.run([vault_bin, "check", copy, "-i", "id.txt",
                                "--read-data"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60,
                               env=None if i % 4 == 0 else QUICK)
            code, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired:
            code, out, err = 999, b"", b"hung for 60 s"
        finally:
            with open(path, "r+b") as f:
                f.seek(pos)
                f.write(old)
        results.append((rel, pos, code, out.decode(errors="replace"),
                        err.decode(errors="replace")))
    shutil.rmtree(copy)
    return results

start = time.time()
chunks = [tasks[i::WORKERS] for i in range(WORKERS)]
results = []
with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
    for r in pool.map(run_worker, range(WORKERS), chunks):
        results.extend(r)
elapsed = time.time() - start

failures = []
named = set()
affect_re = re.compile(r"affects (.*)\)$", re.M)
for rel, pos, code, out, err in sorted(results):
    where = "%s byte %d" % (rel, pos)
    if code == 999 or code < 0 or code >= 128:
        failures.append("%s: crashed or hung (status %d): %s" % (where, code, err[-1500:]))
        continue
    if "Sanitizer" in err or "runtime error:" in err:
        failures.append("%s: sanitizer report: %s" % (where, err[:3000]))
        continue
    if code != 1:
        failures.append("%s: exit %d, expected 1; stdout: %s stderr: %s"
                        % (where, code, out[:500], err[:500]))
        continue
    if not re.search(r"(?m)^vault: ", err):
        failures.append("%s: no 'vault: ' message: %r" % (where, err[:300]))
    if rel not in err:
        failures.append("%s: the message does not name %s: %s" % (where, rel, err[:1000]))
        continue
    if rel.startswith("data/"):
        lines = [l for l in err.splitlines() if rel in l]
        m = [affect_re.search(l) for l in lines]
        paths = [p for x in m if x for p in re.findall(r"snapshot [0-9a-f]{8} (/[^,]*)", x.group(1))]
        if not paths:
            failures.append("%s: the problem names no affected path: %s" % (where, err[:1000]))
        for p in paths:
            for f in FILES:
                if p == os.path.join(work, f):
                    named.add(f)

missed = sorted(set(FILES) - named)
if missed:
    failures.append("no flip in a pack named these files: %s" % ", ".join(missed))
print("info: %d flips in %d objects (%s) with %d workers, %.1f s"
      % (len(results), len(objects),
         ", ".join("%d %s" % (n, k) for k, n in kinds.items()), WORKERS, elapsed),
      file=sys.stderr)
for f in failures[:40]:
    print("FAIL: test_check: " + f, file=sys.stderr)
if len(failures) > 40:
    print("FAIL: test_check: ... and %d more" % (len(failures) - 40), file=sys.stderr)
sys.exit(1 if failures else 0)
EOF
pass

# The original vault is untouched by all that.
ok check vault -i id.txt --read-data

# --- 3. a removed pack -------------------------------------------------------
# A second snapshot: with one worker each add writes one data pack and
# one tree pack (add keeps trees in packs of their own), so the first data
# pack holds the four files' chunks, the first tree pack the first
# snapshot's trees, the second data pack e.txt's chunk and the second tree
# pack the second snapshot's trees (every directory on the way changed).
first_packs=(vault/data/*/*)
[ "${#first_packs[@]}" = 2 ] ||
    die "expected a data pack and a tree pack, found: ${first_packs[*]}"
printf 'echo\n' >src/sub/e.txt
ok add vault "$WORK/src" --compression off --threads 1 -i id.txt
snap2=$(grep -o -E '[0-9a-f]{64}' out.txt | head -n 1)
second_packs=()
for pack in vault/data/*/*; do
    case " ${first_packs[*]} " in
    *" $pack "*) ;;
    *) second_packs+=("$pack") ;;
    esac
done
[ "${#second_packs[@]}" = 2 ] ||
    die "the second add wrote ${#second_packs[@]} packs, not a data and a tree pack"
ok ls vault -i id.txt
snap1=$(grep -o -E '^[0-9a-f]{8}' out.txt | grep -v "^${snap2:0:8}" | head -n 1)

# removed PACK EXPECTED...: check reports PACK missing, affecting each
# "id8 path" expected.
removed() {
    local pack=$1 rel=${1#vault/}
    shift
    mv "$pack" "$WORK/away"
    expect_rc 1 check vault -i id.txt
    grep -q -F "vault: check: $rel: missing" err.txt ||
        fail "removed $rel: not reported as missing: $(cat err.txt)"
    grep -q -E '1 problem$' out.txt || fail "removed $rel: summary: $(cat out.txt)"
    local want
    for want in "$@"; do
        grep -q -F -e "snapshot $want," -e "snapshot $want)" err.txt ||
            fail "removed $rel: does not name 'snapshot $want': $(cat err.txt)"
    done
    mv "$WORK/away" "$pack"
}
# tree_pack_of A B SNAP: whichever of A and B, removed, loses SNAP's root.
tree_pack_of() {
    local pack
    for pack in "$1" "$2"; do
        mv "$pack" "$WORK/away"
        v check vault -i id.txt
        mv "$WORK/away" "$pack"
        if grep -q -F "snapshot $3 /," err.txt ||
            grep -q -F "snapshot $3 /)" err.txt; then
            echo "$pack"
            return
        fi
    done
    die "neither $1 nor $2, removed, loses snapshot $3's root: $(cat err.txt)"
}
s1=${snap1:0:8}
s2=${snap2:0:8}
tree1=$(tree_pack_of "${first_packs[@]}" "$s1")
data1=${first_packs[0]}
[ "$data1" != "$tree1" ] || data1=${first_packs[1]}
tree2=$(tree_pack_of "${second_packs[@]}" "$s2")
data2=${second_packs[0]}
[ "$data2" != "$tree2" ] || data2=${second_packs[1]}
removed "$data1" "$s2 $WORK/src/a.txt" "$s2 $WORK/src/b.txt" \
    "$s2 $WORK/src/sub/c.txt" "$s2 $WORK/src/sub/d.txt"
removed "$tree1" "$s1 /"
removed "$data2" "$s2 $WORK/src/sub/e.txt"
removed "$tree2" "$s2 /"
ok check vault -i id.txt --read-data

# --- 5. --read-data-subset with --seed -------------------------------------
# Six adds on one thread write six data packs, each its file's data blob
# (random, stored raw), and six tree packs.  Every data pack gets a byte
# flipped in its blob, which only reading the pack whole finds: trees
# load by range and the trailer authenticates the pack's index, not the
# blobs.  A 1% subset reads one of the twelve packs, chosen by the seed:
# the same seed must read the same pack (the same verdict, run after run),
# and different seeds different ones (24 seeds, each a coin toss: all
# alike 1 in 8 million).
for i in 1 2 3 4 5 6; do
    mkdir -p "$WORK/seeded-src/s$i"
    head -c 200000 /dev/urandom >"$WORK/seeded-src/s$i/f"
done
new_vault seeded id.txt
for i in 1 2 3 4 5 6; do
    ok add seeded "$WORK/seeded-src/s$i" --threads 1 -i id.txt
done
packs=(seeded/data/*/*)
[ "${#packs[@]}" = 12 ] || die "six adds wrote ${#packs[@]} packs"
# The data packs are the large ones (200000 random bytes each).
data_packs=()
for pack in "${packs[@]}"; do
    [ "$(wc -c <"$pack")" -gt 100000 ] && data_packs+=("$pack")
done
[ "${#data_packs[@]}" = 6 ] || die "six adds wrote ${#data_packs[@]} data packs"
"$PYTHON" - "${data_packs[@]}" <<'PY'
import os, sys
for path in sys.argv[1:]:
    os.chmod(path, 0o600)
    with open(path, "r+b") as f:
        f.seek(44 + 24 + 1000)  # the header, the data blob's nonce, then in
        b = f.read(1)
        f.seek(44 + 24 + 1000)
        f.write(bytes([b[0] ^ 1]))
PY
# (exit 1 when the damaged pack is the one read)
v check seeded -i id.txt --read-data-subset 1% --seed 12345
[ "$RC" -le 1 ] || fail "check --seed 12345 exited $RC: $(cat err.txt)"
grep -q -F 'subset: seed 12345 (--read-data-subset 1% --seed 12345 reads the same packs' out.txt ||
    fail "check --seed: the summary does not give the seed: $(cat out.txt)"
v check seeded -i id.txt --read-data-subset 1%
[ "$RC" -le 1 ] || fail "check --read-data-subset 1% exited $RC: $(cat err.txt)"
grep -q -E '^subset: seed [1-9][0-9]* ' out.txt ||
    fail "check --read-data-subset: the summary does not give the seed: $(cat out.txt)"
# verdicts: VERDICTS gets one character per seed 1..24: p (a problem) or -.
verdicts() {
    local seed s=""
    for seed in $(seq 1 24); do
        v check seeded -i id.txt --read-data-subset 1% --seed "$seed" --json
        case $RC in
        0) s="$s-" ;;
        1) s="${s}p" ;;
        *) die "check --seed $seed exited $RC: $(cat "$WORK/err.txt")" ;;
        esac
        grep -q -F "\"packs_read\":1," out.txt && grep -q -F "\"seed\":$seed}" out.txt ||
            fail "check --seed $seed --json: not one pack, or not this seed: $(cat out.txt)"
    done
    VERDICTS=$s
}
verdicts
first=$VERDICTS
verdicts
second=$VERDICTS
[ "$first" = "$second" ] ||
    fail "the same seeds chose other packs the second time: $first / $second"
case $first in
*p*-* | *-*p*) ;;
*) fail "24 seeds all gave the same verdict ($first): the seed does not choose" ;;
esac
expect_fail 2 'seed' check seeded -i id.txt --read-data-subset 1% --seed 0
expect_fail 2 'seed' check seeded -i id.txt --read-data-subset 1% --seed x
expect_fail 2 'seed' check seeded -i id.txt --read-data-subset 1% --seed -3
expect_fail 2 'seed' check seeded -i id.txt --seed 7
