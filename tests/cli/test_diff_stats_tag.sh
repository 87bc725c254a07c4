#!/usr/bin/env bash
# test_diff_stats_tag.sh - the commands restic users reach for (issue #12):
#   - diff lists every kind of change (+ - M U T) with the right paths,
#     entries below an added or removed folder too, the sizes in its
#     summary and --json lines; two equal snapshots differ in nothing;
#   - stats: restore size per snapshot and in total, chunks shared by two
#     snapshots counted once, a ratio that shows the deduplication;
#   - find lists the entries a pattern matches in every snapshot (or the
#     ones named or filtered), folders by name only, case folded on
#     request, exit 1 when nothing matched;
#   - tag adds, removes and sets tags through a new snapshot object (the
#     old one gone, nothing written when nothing changes); only an owner,
#     and only its own snapshots; a writer can neither diff nor stat.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_identity id.txt
new_vault vlt id.txt
mkdir -p src/keep src/gone/sub src/typed
random_file src/keep/data.bin 2000000
echo one >src/keep/edit.txt
echo meta >src/keep/meta.txt
echo x >src/gone/sub/a.txt
echo y >src/gone/b.txt
echo file >src/flip
ln -s edit.txt src/keep/link
touch -d '2026-01-01 00:00:00' src/keep/meta.txt
ok add vlt src -i id.txt --json
first=$(json_get out.txt 'j["id"]')
ok add vlt src -i id.txt --json
same=$(json_get out.txt 'j["id"]')

# ---- diff ------------------------------------------------------------------
# (the folders above $WORK, /tmp, change as other programs write there)
above_work() {
    local p=$WORK
    while [ "$p" != / ]; do
        p=$(dirname "$p")
        printf '%s\n' "$p"
    done
}
ok diff vlt "$first" "$same" -i id.txt
grep -E '^[-+MUT] ' out.txt | sed -E 's/^U +//; s|/$||' | grep -v -x -F "$(above_work)" |
    grep -q . && fail "equal snapshots differ: $(cat out.txt)"
grep -q '^added: *0 ' out.txt || fail "equal snapshots: $(cat out.txt)"
pass

echo two >>src/keep/edit.txt
chmod 600 src/keep/meta.txt
rm -r src/gone
rm src/flip && mkdir src/flip && echo in >src/flip/f
mkdir -p src/new/deep && echo n >src/new/deep/n.txt
ln -sfn data.bin src/keep/link
# folder times would show as U too: keep them as they were
touch -d '2026-02-02 00:00:00' src src/keep
ok add vlt src -i id.txt --json
second=$(json_get out.txt 'j["id"]')
touch -d '2026-02-02 00:00:00' src src/keep
ok diff vlt "$first" "$second" -i id.txt
S=$WORK/src
grep -E '^[-+MUT] ' out.txt | grep -v -E " ${WORK%/*}/?\$| ${WORK}/?\$|^U +$S/\$|^U +$S/keep/\$" |
    sed -E 's/ +/ /' | sort >got.txt
cat <<EOF | sort >want.txt
M $S/keep/edit.txt
U $S/keep/meta.txt
M $S/keep/link
- $S/gone/
- $S/gone/b.txt
- $S/gone/sub/
- $S/gone/sub/a.txt
T $S/flip/
+ $S/new/
+ $S/new/deep/
+ $S/new/deep/n.txt
EOF
diff want.txt got.txt >/dev/null || fail "diff lists the wrong changes:
$(diff want.txt got.txt)"
grep -q '^removed: *4 (4 B in files)' out.txt &&
    grep -q '^modified: *2 (4 B before, 8 B after)' out.txt ||
    fail "diff summary: $(tail -n 6 out.txt)"
pass
ok diff vlt "$first" "$second" -i id.txt --json
"$PYTHON" - out.txt "$S" <<'PY' || fail "diff --json is wrong: $(cat out.txt)"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
changes = {l["path"]: l for l in lines if l["message_type"] == "change"}
stats = lines[-1]
assert stats["message_type"] == "statistics", stats
s = sys.argv[2]
assert changes[s + "/keep/edit.txt"]["modifier"] == "M"
assert changes[s + "/keep/edit.txt"]["old_size"] == 4
assert changes[s + "/keep/edit.txt"]["new_size"] == 8
assert changes[s + "/new/deep/n.txt"]["modifier"] == "+"
assert changes[s + "/flip"]["type"] == "dir"
assert stats["removed"] == 4 and stats["added"] == 3, stats
PY
pass

# ---- find ------------------------------------------------------------------
S=$WORK/src
ok find vlt '*.txt' -i id.txt
[ "$(grep -c '^Found matching entries in snapshot ' out.txt)" = 3 ] ||
    fail "find in every snapshot: $(cat out.txt)"
grep -qx "$S/new/deep/n.txt" out.txt && grep -qx "$S/gone/b.txt" out.txt ||
    fail "find '*.txt': $(cat out.txt)"
ok find vlt keep -s "$second" -i id.txt
[ "$(grep -c "^$S/keep" out.txt)" = 1 ] || fail "find of a folder's name lists what it holds: $(cat out.txt)"
ok find vlt 'flip/' -s "$first" -s "$second" -i id.txt
grep -qx "$S/flip" out.txt && [ "$(grep -c '^Found' out.txt)" = 1 ] ||
    fail "a trailing / finds folders only: $(cat out.txt)"
ok find vlt 'EDIT.TXT' --ignore-case -s "$first" -i id.txt --json
"$PYTHON" - out.txt "$S" <<'PY' || fail "find --json: $(cat out.txt)"
import json, sys
j = json.load(open(sys.argv[1]))
assert len(j) == 1 and j[0]["hits"] == 1, j
assert j[0]["matches"][0]["path"] == sys.argv[2] + "/keep/edit.txt", j
assert j[0]["matches"][0]["size"] == 4, j
PY
expect_rc 1 find vlt 'no-such-name' -i id.txt
[ ! -s out.txt ] || fail "nothing found printed: $(cat out.txt)"
expect_fail 1 'pattern|\[' find vlt '[' -i id.txt
pass

# ---- stats -----------------------------------------------------------------
ok stats vlt "$first" "$same" -i id.txt --json
"$PYTHON" - out.txt <<'PY' || fail "stats --json is wrong: $(cat out.txt)"
import json, sys
j = json.load(open(sys.argv[1]))
a, b = j["snapshots"]
t = j["total"]
assert a["restore_bytes"] == b["restore_bytes"] > 2000000, (a, b)
assert a["chunks"] == b["chunks"] == t["chunks"], (a, b, t)  # shared once
assert t["restore_bytes"] == 2 * a["restore_bytes"], t
# the same chunks; at most the trees of the folders above differ
assert t["stored_bytes"] - a["stored_bytes"] < 8192, t
assert t["ratio"] > 1.9, t   # the same random data twice, stored once
assert t["vault_bytes"] >= t["stored_bytes"], t
assert a["files"] == 6 and a["dirs"] > 4, a
PY
pass
ok stats vlt -i id.txt
grep -q '^total of 3 snapshots' out.txt || fail "stats: $(cat out.txt)"
pass

# ---- tag -------------------------------------------------------------------
count_snapshots() { find vlt/snapshots -type f | wc -l; }
ok tag vlt "$second" --add daily,work -i id.txt
grep -q "tags changed, now snapshot" out.txt || fail "tag: $(cat out.txt)"
tagged=$(awk '{print $NF}' out.txt)
ok ls vlt -i id.txt
grep -q "^$tagged .*\[daily,work\]" out.txt || fail "tags not shown: $(cat out.txt)"
grep -q "^${second:0:8} " out.txt && fail "the old snapshot is still there: $(cat out.txt)"
pass
before=$(count_snapshots)
ok tag vlt "$tagged" --add work -i id.txt
grep -q "tags unchanged" out.txt || fail "no change: $(cat out.txt)"
[ "$(count_snapshots)" = "$before" ] || fail "an unchanged tag wrote an object"
ok tag vlt "$tagged" --remove daily --add weekly -i id.txt
ok ls vlt latest -i id.txt --tag weekly,work
ok tag vlt latest --set '' -i id.txt
ok ls vlt -i id.txt
grep -q '\[' out.txt && fail "--set '' left tags: $(cat out.txt)"
pass
# the files are the same: nothing differs
ok diff vlt "$first" latest -i id.txt
grep -q '^added: *3 ' out.txt || fail "diff after tag: $(cat out.txt)"
expect_fail 2 'add|remove|set' tag vlt latest -i id.txt
expect_fail 2 'snapshot' tag vlt --add x -i id.txt

# who may tag: a reader may not; an owner may not retag a reader's snapshot
new_identity reader.txt
new_identity writer.txt
rrec=$(grep -o 'age1[0-9a-z]*' reader.txt | head -n 1)
wrec=$(grep -o 'age1[0-9a-z]*' writer.txt | head -n 1)
ok share vlt "$rrec" --role reader -i id.txt
ok share vlt "$wrec" --role writer -i id.txt
expect_fail 1 'only an owner' tag vlt latest --add x -i reader.txt
ok add vlt src -i reader.txt --json
by_reader=$(json_get out.txt 'j["id"]')
expect_fail 1 'another member' tag vlt "$by_reader" --add x -i id.txt
[ -f "vlt/snapshots/$by_reader" ] || fail "the reader's snapshot was removed"
pass
expect_fail 1 'writer' diff vlt "$first" "$second" -i writer.txt
expect_fail 1 'writer' stats vlt -i writer.txt
expect_fail 1 'writer' find vlt '*' -i writer.txt
