#!/usr/bin/env bash
# test_timings.sh - VAULT_TIMINGS=1: a table of CPU time by phase on
# stderr at the end of a command (the benchmarks print it), with the
# phases an add and an extract go through; without it, no table.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_identity id.txt
mkdir src && random_file src/a.bin $((2 * 1024 * 1024)) && echo hello >src/b.txt
new_vault v id.txt

ok add v src -i id.txt
grep -q '^timings:' err.txt && fail "a table without VAULT_TIMINGS"

# a fresh vault, so that every chunk is compressed, sealed and stored
new_vault v2 id.txt
export VAULT_TIMINGS=1
ok add v2 src -i id.txt
for phase in 'walk' 'read files' 'chunking' 'chunk IDs' 'compress' 'seal' \
             'name packs' 'store objects' 'other' 'total'; do
    grep -q "^timings: $phase" err.txt || fail "add: no '$phase' row in:
$(cat err.txt)"
done
# every row: name | seconds | share | calls
awk -F' \\| ' '/^timings: / && NF != 4 { bad = 1 } END { exit bad }' err.txt ||
    fail "a timings row without four columns: $(cat err.txt)"
ok extract v2 latest -C out -i id.txt
for phase in 'load objects' 'open blobs' 'write files' 'create entries'; do
    grep -q "^timings: $phase" err.txt || fail "extract: no '$phase' row in:
$(cat err.txt)"
done
treecmp "$WORK/src" "out$WORK/src"
VAULT_TIMINGS=0 ok ls v -i id.txt
grep -q '^timings:' err.txt && fail "a table with VAULT_TIMINGS=0"
pass
