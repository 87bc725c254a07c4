#!/usr/bin/env bash
# test_progress.sh - the progress line (issue #12):
#   - on a terminal (a pseudo-terminal made by script(1)), add redraws a
#     status line on stderr in place (carriage return, erase line): done
#     and total files and bytes, a percentage, the current file; then the
#     summary;
#   - with stdout and stderr as pipes, no command writes a control
#     sequence; --quiet silences the line on a terminal too;
#   - --progress --json: restic-style status lines on stdout, each one
#     JSON, then the summary line (message_type "summary").
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v script >/dev/null || die "script(1) (util-linux) is missing"

new_identity id.txt
new_vault vlt id.txt
# Slow on purpose, a second or more: text that zstd -19 on one thread
# works at, so that the line is redrawn several times.
slow_tree() {
    rm -rf "$1"
    mkdir -p "$1"
    for i in 1 2 3 4; do
        head -c 3000000 /dev/urandom | base64 >"$1/f$i.txt"
    done
}
ESC=$(printf '\033')

# on a terminal: redrawn in place, then the summary
slow_tree slow1
script -qec "'$VAULT' add vlt slow1 -i id.txt --compression 19 --threads 1" \
    typescript >/dev/null
tr '\r' '\n' <typescript >lines.txt
redraws=$(grep -c "^${ESC}\[K\[[0-9]*:[0-9][0-9]\] .* files" lines.txt || true)
[ "$redraws" -ge 2 ] || fail "add on a terminal: $redraws redraws: $(head -c 1500 lines.txt)"
grep -q -E "^${ESC}\[K\[[0-9:]+\] +[0-9.]+%  [0-9]+ / 4 files  .* / [0-9.]+ MiB" lines.txt ||
    fail "no line with a percentage and the totals: $(head -c 1500 lines.txt)"
grep -q "slow1/f[1-4].txt" lines.txt || fail "the current file is not shown"
grep -q '^read: ' lines.txt || fail "no summary after the progress line"
pass

# --quiet: no line
slow_tree slow2
script -qec "'$VAULT' add vlt slow2 -i id.txt --compression 19 --threads 1 --quiet" \
    typescript >/dev/null
grep -q "${ESC}\[K" typescript && fail "--quiet still drew a progress line"
pass

# pipes: no control sequence from any long command
slow_tree slow3
ok add vlt slow3 -i id.txt --compression 19 --threads 1
ok extract vlt latest -C out -i id.txt
ok check vlt --read-data -i id.txt
ok ls vlt -i id.txt
for f in out.txt err.txt; do
    ! grep -q "$ESC" "$f" || fail "a control sequence in $f with pipes"
done
v add vlt slow3 -i id.txt >/dev/null
grep -q "$ESC" err.txt && fail "add wrote a control sequence to a pipe"
pass

# --progress --json: status lines, then the summary
slow_tree slow4
ok add vlt slow4 -i id.txt --compression 19 --threads 1 --json --progress
"$PYTHON" - out.txt <<'PY' || fail "--progress --json lines: $(head -c 2000 out.txt)"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
status = [l for l in lines if l["message_type"] == "status"]
assert status, "no status line"
assert lines[-1]["message_type"] == "summary", lines[-1]
for s in status:
    assert s["operation"] == "add" and s["unit"] == "files", s
    assert s["bytes_done"] <= s["total_bytes"] or not s["totals_final"], s
assert any(s["total_files"] == 4 for s in status), status
PY
pass
