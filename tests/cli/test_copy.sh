#!/usr/bin/env bash
# test_copy.sh - `vault copy SRC DST [SNAP...]` end to end with two local
# vaults and two identities: the round-trip fixture copied comes back
# identical from the destination, with the original's time, host, paths
# and tags; a second copy skips it; a copy deduplicates against what the
# destination holds; a reader of the destination can copy into it, a
# writer of the source cannot copy out of it; the same vault twice is
# refused; the usage errors.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

make_tree "$WORK/src" 2>make_tree.log
SRC=$WORK/src
new_identity alice.txt
new_identity bob.txt
bob=$("$VAULT" keygen -y -i bob.txt)
new_vault A alice.txt
new_vault B alice.txt

ok add A "$SRC" -i alice.txt --tag copied --tag 'two words' --host fromhost
snap=$(grep -o '[0-9a-f]\{64\}' out.txt | head -1)
[ -n "$snap" ] || die "add printed no snapshot ID: $(cat out.txt)"

# --- the copy extracts identical, and keeps the original's record ------------
start=$(date +%s.%N)
ok copy A B -i alice.txt
end=$(date +%s.%N)
grep -q '^copied 1 snapshot, skipped 0' out.txt || fail "first copy: $(cat out.txt)"
note "first copy: $(cat out.txt) ($(python3 -c "print(f'{$end - $start:.2f}')") s wall)"
ok extract A latest -C outA -i alice.txt
ok extract B latest -C outB -i alice.txt
treecmp "outA$SRC" "outB$SRC"
treecmp "$SRC" "outB$SRC"
ok ls A -i alice.txt --json
cp out.txt lsA.json
ok ls B -i alice.txt --json
cp out.txt lsB.json
"$PYTHON" - lsA.json lsB.json <<'PY' || fail "the copy's record differs from the original's"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert len(a) == 1 and len(b) == 1, (a, b)
for k in ("time", "host", "user", "paths", "tags", "files", "dirs"):
    assert a[0][k] == b[0][k], (k, a[0][k], b[0][k])
assert b[0]["host"] == "fromhost", b[0]
assert b[0]["tags"] == ["copied", "two words"], b[0]
PY
pass

# --- a second copy skips it; naming it skips it too ----------------------------
ok copy A B -i alice.txt
grep -q '^copied 0 snapshots, skipped 1' out.txt || fail "second copy: $(cat out.txt)"
note "second copy: $(cat out.txt)"
ok copy A B "${snap:0:8}" latest -i alice.txt
grep -q '^copied 0 snapshots, skipped 1' out.txt || fail "copy by ID and latest: $(cat out.txt)"
ok ls B -i alice.txt --json
[ "$(json_get out.txt 'len(j)')" -eq 1 ] || fail "B holds more than one snapshot after the copies"
pass

# --- a second snapshot sharing the content deduplicates ---------------------
printf 'one new file\n' > "$SRC/new-file.txt"
ok add A "$SRC" -i alice.txt
before=$(du_bytes B/data)
ok copy A B latest -i alice.txt
grep -q '^copied 1 snapshot, skipped 0' out.txt || fail "copy of the second snapshot: $(cat out.txt)"
after=$(du_bytes B/data)
grown=$((after - before))
[ "$grown" -lt $((1024 * 1024)) ] ||
    fail "copying a snapshot that shares nearly all its content grew B by $grown bytes"
note "copy of a nearly identical snapshot: $(cat out.txt); B grew $grown bytes"
pass

# --- roles ---------------------------------------------------------------------
# Bob, a writer of A, cannot copy out of it.
ok share A "$bob" --role writer -i alice.txt
ok share B "$bob" --role reader -i alice.txt
expect_fail 1 "writer" copy A B -i bob.txt
# Bob's own vault C: a reader of B copies into it.
new_vault C bob.txt
printf 'bob was here\n' > bobfile
ok add C "$WORK/bobfile" -i bob.txt
ok copy C B -i bob.txt
grep -q '^copied 1 snapshot' out.txt || fail "a reader of B could not copy into it: $(cat out.txt)"
ok extract B latest -C outBob -i bob.txt
cmp -s bobfile "outBob$WORK/bobfile" || fail "bob's copied file differs"
# Alice is no member of C.
expect_fail 1 "not a member" copy C B -i alice.txt
pass

# --- refusals --------------------------------------------------------------------
expect_fail 1 "same vault" copy A A -i alice.txt
cp -a A A2
expect_fail 1 "same vault" copy A A2 -i alice.txt
expect_fail 2 "source and the destination" copy A -i alice.txt
expect_fail 1 "not found" copy A B ffffffff -i alice.txt
v copy --help
[ "$RC" -eq 0 ] && grep -q 'usage: vault copy' out.txt || fail "copy --help"
pass
