#!/usr/bin/env bash
# test_add_stdin.sh - `add --stdin --stdin-filename NAME` (issue #12): a
# pipe (a database dump, say) is one file, chunked and deduplicated like
# any other:
#  (a) extract gives the same bytes, under NAME (a relative path makes
#      the folders above it), mode 0600;
#  (b) the same stream again adds next to nothing; one changed in the
#      middle adds a few chunks, not the whole;
#  (c) an empty stream is an empty file; --dry-run writes nothing;
#  (d) wrong uses are refused: paths with --stdin, "..", --stdin-filename
#      alone, --stdin with --tar.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
new_identity id.txt
new_vault va id.txt

# add_pipe OUT FILE ARGS...: FILE piped into vault add --stdin ARGS --json.
add_pipe() {
    local out=$1 file=$2
    shift 2
    RC=0
    "$VAULT" add va -i id.txt --stdin --json "$@" <"$file" >"$out" \
        2>err.txt || RC=$?
    check_sane "$RC" err.txt "vault add --stdin $*"
    [ "$RC" -eq 0 ] || die "add --stdin $* exited $RC: $(cat err.txt)"
    pass
}
field() { json_get "$1" "j[\"$2\"]"; }

# --- (a) the bytes come back ---------------------------------------------------
random_file dump.sql $((24 * MiB))
add_pipe a1.json dump.sql --stdin-filename dumps/db.sql
[ "$(field a1.json bytes_read)" -eq $((24 * MiB)) ] ||
    fail "read $(field a1.json bytes_read) bytes of $((24 * MiB))"
[ "$(field a1.json bytes_total)" -eq $((24 * MiB)) ] ||
    fail "bytes_total $(field a1.json bytes_total)"
ok ls va -i id.txt -l -R latest
grep -qE '^-rw------- .* 25165824 .* /dumps/db\.sql$' out.txt ||
    fail "ls: $(cat out.txt)"
grep -qE '^d.* /dumps$' out.txt || fail "no folder above: $(cat out.txt)"
ok ls va -i id.txt
grep -q '/dumps/db.sql' out.txt || fail "the snapshot's path: $(cat out.txt)"
ok extract va -i id.txt latest -C x1
cmp dump.sql x1/dumps/db.sql || fail "extract gave other bytes"
pass

# --- (b) deduplicated -----------------------------------------------------------
size1=$(du_bytes va)
add_pipe a2.json dump.sql --stdin-filename dumps/db.sql
added=$(field a2.json bytes_added)
[ "$added" -lt 16384 ] || fail "the same stream again added $added bytes"
[ $(( $(du_bytes va) - size1 )) -lt 65536 ] ||
    fail "the vault grew by $(( $(du_bytes va) - size1 )) bytes"
pass
# 1 MiB changed in the middle: a few chunks (at most 8 MiB), not 24
cp dump.sql dump2.sql
head -c $MiB /dev/urandom | dd of=dump2.sql bs=1 seek=$((12 * MiB)) \
    conv=notrunc status=none
add_pipe a3.json dump2.sql --stdin-filename dumps/db.sql
added=$(field a3.json bytes_added)
[ "$added" -lt $((8 * MiB)) ] || fail "a 1 MiB change added $added bytes"
[ "$added" -gt $((512 * 1024)) ] || fail "a 1 MiB change added only $added"
ok extract va -i id.txt latest -C x2
cmp dump2.sql x2/dumps/db.sql || fail "extract of the changed dump differs"
pass
# through a real pipe, default name "stdin"
cat dump.sql | "$VAULT" add va -i id.txt --stdin >out.txt 2>err.txt ||
    die "cat | add --stdin failed: $(cat err.txt)"
ok ls va -i id.txt -l latest
grep -qE ' 25165824 .* /stdin$' out.txt || fail "default name: $(cat out.txt)"

# --- (c) empty; dry run ---------------------------------------------------------
: >empty
add_pipe a4.json empty --stdin-filename empty.txt
ok ls va -i id.txt -l latest
grep -qE ' 0 .* /empty.txt$' out.txt || fail "empty stream: $(cat out.txt)"
cp -a va va.before
add_pipe a5.json dump2.sql --stdin-filename other.sql --dry-run
diff -r va va.before >/dev/null || fail "--stdin --dry-run changed the vault"
pass

# --- (d) refused ---------------------------------------------------------------
expect_fail 2 'takes no paths' add va -i id.txt --stdin "$WORK" <dump.sql
expect_fail 2 'stdin-filename goes with --stdin' add va -i id.txt \
    --stdin-filename x "$WORK"
expect_fail 2 'one source at a time' add va -i id.txt --stdin --tar x.tar
for bad in ../up a/../../b .. /; do
    expect_fail 1 'stdin file name' add va -i id.txt --stdin \
        --stdin-filename "$bad" <empty
done
expect_fail 2 'needs a value|empty' add va -i id.txt --stdin \
    --stdin-filename '' <empty
# a stream that cannot be read (a directory) is an error, not an empty file
expect_fail 1 'read failed|cannot be read' add va -i id.txt --stdin </
