#!/usr/bin/env bash
# test_frictions.sh - the smaller frictions of issue #12, each as a new
# user met it:
#   - a mistyped command or option gets a suggestion;
#   - every command that opens a vault lists -i and --passphrase-file in
#     its --help;
#   - ls -l shows the uid and gid numbers of an owner without a name;
#   - counts of one are singular ("1 file", "1 snapshot");
#   - unshare keeps the other members' "added" dates, and share of a
#     member again changes its role.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# ---- suggestions -------------------------------------------------------------
expect_fail 2 'did you mean `vault ls`' lss
expect_fail 2 'did you mean `vault extract`' extarct
v xyzzy
grep -q 'did you mean' err.txt && fail "a suggestion for a word like no command: $(cat err.txt)"
pass
new_identity id.txt
new_vault vlt id.txt
expect_fail 2 'did you mean --recursive' ls vlt latest --recursve -i id.txt
expect_fail 2 'did you mean --tag' add vlt . --tga x -i id.txt

# ---- help pages ----------------------------------------------------------------
for c in init add ls extract dump diff stats tag share members unshare rekey \
    forget prune copy check; do
    ok "$c" --help
    grep -q -- '-i, --identity FILE' out.txt ||
        fail "vault $c --help does not list -i"
    grep -q -- '--passphrase-file FILE' out.txt ||
        fail "vault $c --help does not list --passphrase-file"
done
pass

# ---- ls -l of an owner without a name, and singular counts ----------------------
mkdir src
echo one >src/f
if [ "$(id -u)" = 0 ]; then
    chown 54321:54322 src/f # no user or group has these numbers here
fi
ok add vlt src -i id.txt
ok ls -l vlt latest "$WORK/src" -i id.txt
if [ "$(id -u)" = 0 ]; then
    grep -q -E '^-rw-r--r-- 54321 +54322 +4 ' out.txt ||
        fail "ls -l of an owner without a name: $(cat out.txt)"
fi
ok extract vlt "latest:$WORK/src" -C out -i id.txt
grep -q '^restored 1 file, 0 dirs, 0 symlinks, 0 others' out.txt ||
    fail "extract summary of one file: $(cat out.txt)"
ok check vlt -i id.txt
grep -q '^checked 1 snapshot, ' out.txt || fail "check summary: $(cat out.txt)"
pass

# ---- members: dates kept by unshare, roles changed by share --------------------
new_identity bob.txt
new_identity carol.txt
bob=$(grep -o 'age1[0-9a-z]*' bob.txt | head -n 1)
carol=$(grep -o 'age1[0-9a-z]*' carol.txt | head -n 1)
ok share vlt "$bob" -i id.txt
sleep 1.1 # a later second for carol
ok share vlt "$carol" -i id.txt
ok members vlt -i id.txt --json
before=$(json_get out.txt '[m["added"] for m in j if m["member"] == "'"$bob"'"][0]')
sleep 1.1
ok unshare vlt "$carol" -i id.txt
ok members vlt -i id.txt --json
after=$(json_get out.txt '[m["added"] for m in j if m["member"] == "'"$bob"'"][0]')
[ "$before" = "$after" ] || fail "unshare changed bob's added date: $before -> $after"
ok share vlt "$bob" --role writer -i id.txt
ok members vlt -i id.txt --json
role=$(json_get out.txt '[m["role"] for m in j if m["member"] == "'"$bob"'"][0]')
[ "$role" = writer ] || fail "share again did not change the role: $role"
pass
