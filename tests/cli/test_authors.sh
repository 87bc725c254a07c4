#!/usr/bin/env bash
# Snapshot authors (format spec §12.1, "Forget policies", §16.2): `ls`
# shows who wrote each snapshot, `latest` is the member's own newest (then
# an owner's), forget policies judge each author's snapshots apart, and
# extracting another member's snapshot names its author and withholds its
# set-id bits unless --same-privileges.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_identity alice.txt   # the owner
new_identity wendy.txt   # a writer
new_identity rita.txt    # a reader
alice=$("$VAULT" keygen -y -i alice.txt)
wendy=$("$VAULT" keygen -y -i wendy.txt)
rita=$("$VAULT" keygen -y -i rita.txt)
short() { printf '%s\xe2\x80\xa6%s' "${1:0:8}" "${1: -4}"; }

mkdir -p src
printf 'hello\n' >src/a.txt
printf '#!/bin/sh\n' >src/tool
chmod 04755 src/tool
new_vault V alice.txt
ok share V "$wendy" --role writer -i alice.txt
ok share V "$rita" -i alice.txt
ok add V src -i alice.txt --host box --json
osnap=$(json_get out.txt 'j["id"]')
printf 'from the writer\n' >src/w.txt
ok add V src -i wendy.txt --host box --json
wsnap=$(json_get out.txt 'j["id"]')

# --- ls shows the authors ------------------------------------------------
ok ls V -i alice.txt
grep -q "^${osnap:0:8} .* box  owner $(short "$alice")  $WORK/src\$" out.txt ||
    fail "owner's snapshot line: $(cat out.txt)"
grep -q "^${wsnap:0:8} .* box  writer $(short "$wendy")  $WORK/src\$" out.txt ||
    fail "writer's snapshot line: $(cat out.txt)"
ok ls V -i alice.txt --json
[ "$(json_get out.txt '[(s["author"], s["author_role"], s["author_is_me"], len(s["author_key"])) for s in j if s["id"] == "'"$wsnap"'"][0]')" = "('$wendy', 'writer', False, 64)" ] ||
    fail "writer's snapshot in JSON: $(cat out.txt)"
[ "$(json_get out.txt '[(s["author"], s["author_role"], s["author_is_me"]) for s in j if s["id"] == "'"$osnap"'"][0]')" = "('$alice', 'owner', True)" ] ||
    fail "owner's snapshot in JSON: $(cat out.txt)"
pass

# --- latest: the member's own, else an owner's, not the newer writer's ----
ok ls V latest -R -i alice.txt
grep -q 'w.txt' out.txt && fail "the owner's latest is the writer's snapshot"
ok ls V latest -R -i rita.txt
grep -q 'w.txt' out.txt && fail "a reader's latest is the writer's snapshot"
grep -q 'a.txt' out.txt || fail "reader's latest: $(cat out.txt)"
pass

# --- extract: another member's snapshot is named, its set-uid withheld ----
ok extract V latest -C own -i alice.txt
grep -q ' by ' err.txt && fail "own snapshot named an author: $(cat err.txt)"
ok extract V "${wsnap:0:8}" -C theirs -i alice.txt
grep -q "^vault: snapshot ${wsnap:0:8} by writer $(short "$wendy"): set-id bits, capabilities and devices are withheld; --same-privileges restores them" err.txt ||
    fail "extract did not name the writer: $(cat err.txt)"
ok extract V "${wsnap:0:8}" -C same -i alice.txt --same-privileges
grep -q "by writer $(short "$wendy")" err.txt ||
    fail "extract --same-privileges did not name the writer: $(cat err.txt)"
if [ "$IS_ROOT" = 1 ]; then
    [ "$(stat -c %a "own$WORK/src/tool")" = 4755 ] || fail "own snapshot lost its set-uid bit"
    [ "$(stat -c %a "theirs$WORK/src/tool")" = 755 ] || fail "the writer's set-uid bit was restored"
    [ "$(stat -c %a "same$WORK/src/tool")" = 4755 ] || fail "--same-privileges did not restore set-uid"
    ok extract V "${wsnap:0:8}" -C theirs2 -i alice.txt
    grep -q 'withheld [1-9]' out.txt || fail "no withheld count: $(cat out.txt)"
    pass
fi

# --- forget: each author's snapshots are grouped apart ----------------------
ok forget V --keep-last 1 -i alice.txt
grep -q "removed 0 snapshots, kept 2" out.txt || fail "forget removed one: $(cat out.txt)"
grep -q "^snapshots by owner $(short "$alice") of host box" out.txt || fail "forget groups: $(cat out.txt)"
grep -q "^snapshots by writer $(short "$wendy") of host box" out.txt || fail "forget groups: $(cat out.txt)"
ok add V src -i alice.txt --host box --json
osnap2=$(json_get out.txt 'j["id"]')
ok forget V --keep-last 1 -i alice.txt
ok ls V -i alice.txt --json
[ "$(json_get out.txt 'sorted(s["id"] for s in j)')" = "$(json_get <(printf '["%s","%s"]' "$osnap2" "$wsnap") 'sorted(j)')" ] ||
    fail "forget kept the wrong snapshots: $(cat out.txt)"
pass
