#!/usr/bin/env bash
# test_hostile_text.sh - what a snapshot's writer chose reaches the
# reader's terminal only escaped: names, symlink targets, hosts and tags
# with ESC, BEL, CR, DEL, a C1 control, bytes that are not UTF-8 and a
# backslash, in ls, ls -l, ls -R, the snapshot list, forget and extract's
# messages; JSON keeps them exact.  And a junk object in snapshots/ is
# named once and the others still listed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ESC=$'\e' BEL=$'\a' CR=$'\r' DEL=$'\x7f' C1=$'\xc2\x9b' BAD=$'\xff'
mkdir src
name="a${ESC}[31mred${BEL}${CR}x${DEL}${C1}${BAD}\\n"
printf 'x\n' >"src/$name"
ln -s "t${ESC}]0;title${BEL}" "src/link"
printf 'ok\n' >"src/plain é.txt"
new_identity id.txt
new_vault vault id.txt
ok add vault "$WORK/src" -i id.txt --host "h${ESC}[2J" --tag "t${CR}ag"

# no_raw_controls FILE: FILE holds no control byte other than newline, no
# C1 control and only UTF-8.
no_raw_controls() {
    "$PYTHON" - "$1" <<'PY' || fail "$1 has raw control bytes: $(od -c "$1" | head -20)"
import re, sys
data = open(sys.argv[1], "rb").read()
text = data.decode("utf-8")  # raises on bytes that are not UTF-8
sys.exit(1 if re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", text) else 0)
PY
}

for args in "ls vault" "ls vault latest" "ls vault latest -l" "ls vault latest -R" "ls vault latest -l -R"; do
    # shellcheck disable=SC2086
    ok $args -i id.txt
    no_raw_controls out.txt
    no_raw_controls err.txt
done
ok ls vault -i id.txt
grep -qF 'h\x1b[2J' out.txt || fail "host not escaped as \\x1b: $(cat out.txt)"
grep -qF 't\x0dag' out.txt || fail "tag not escaped: $(cat out.txt)"
ok ls vault "latest:$WORK/src" -i id.txt
grep -qF 'a\x1b[31mred\x07\x0dx\x7f\xc2\x9b\xff\\n' out.txt ||
    fail "name not escaped as expected: $(cat out.txt)"
grep -qF 'plain é.txt' out.txt || fail "UTF-8 name mangled: $(cat out.txt)"
ok ls vault "latest:$WORK/src" -l -i id.txt
grep -qF -- '-> t\x1b]0;title\x07' out.txt || fail "target not escaped: $(cat out.txt)"
pass

# JSON stays exact: the names decode to the original bytes.
ok ls vault latest -R --json -i id.txt
"$PYTHON" - out.txt "$name" <<'PY' || fail "JSON lost the exact name"
import json, os, sys
want = os.fsencode(sys.argv[2])
paths = [os.fsencode(e["path"]) if isinstance(e["path"], str) else b""
         for e in json.load(open(sys.argv[1], encoding="utf-8",
                                 errors="surrogateescape"))]
sys.exit(0 if any(p.endswith(b"/" + want) for p in paths) else 1)
PY
pass

# forget (dry run) shows host and tags escaped too
ok forget vault --keep-last 1 --dry-run -i id.txt
no_raw_controls out.txt
grep -qF 'h\x1b[2J' out.txt || fail "forget: host not escaped: $(cat out.txt)"

# extract's messages name the path escaped: the files are there already,
# and differ (the same ones are left alone without a word)
mkdir out
ok extract vault latest --target out -i id.txt
find out -type f -exec sh -c 'echo changed >"$1"' sh {} \;
v extract vault latest --target out -i id.txt
[ "$RC" -ne 0 ] || fail "a second extract into the same place did not complain"
no_raw_controls err.txt
grep -qF 'a\x1b[31mred' err.txt || fail "extract: path not escaped: $(cat err.txt)"
pass

# --- junk in snapshots/: named once, the rest listed, latest goes past it --
junk=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
printf 'junk' >"vault/snapshots/$junk"
expect_rc 3 ls vault -i id.txt
[ "$(grep -c "snapshots/$junk" err.txt)" = 1 ] ||
    fail "the junk object is not named exactly once: $(cat err.txt)"
grep -q "damaged or forged" err.txt || fail "no word of damage: $(cat err.txt)"
grep -q '^01234567  (damaged' out.txt || fail "junk not listed: $(cat out.txt)"
[ "$(grep -c . out.txt)" = 2 ] || fail "the real snapshot is not listed: $(cat out.txt)"
expect_rc 3 ls vault --json -i id.txt
[ "$(json_get out.txt 'sum(1 for s in j if s.get("damage"))')" = 1 ] ||
    fail "JSON does not mark the junk damaged: $(cat out.txt)"
ok ls vault "latest:$WORK/src" -i id.txt
grep -qF 'plain é.txt' out.txt || fail "latest did not go past the junk"
ok forget vault --keep-last 1 --dry-run -i id.txt
grep -q '01234567  (damaged' out.txt || fail "forget does not list the junk: $(cat out.txt)"
[ "$(grep -c "snapshots/$junk" err.txt)" = 1 ] ||
    fail "forget does not name the junk once: $(cat err.txt)"
rm "vault/snapshots/$junk"
ok ls vault -i id.txt


