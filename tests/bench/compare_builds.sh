#!/usr/bin/env bash
# Compares two builds of vault on the same data in one run: first add,
# unchanged re-add and extract of a copy of /usr/share, cold page cache
# before every timed step, the two builds alternating (A B A B ...) so
# that a drift in the machine's load falls on both.  For a change that
# must not move the figures (a refactoring), next to run.sh's comparison
# with restic and borg.
#
#   tests/bench/compare_builds.sh OLD_VAULT NEW_VAULT [ROUNDS]
#
# Environment: BENCH_DIR (default /tmp/vault-compare), BENCH_SHARE_SRC
# (default /usr/share).  Prints a Markdown table of medians (wall s,
# user+sys s, peak RSS MiB) and the ratio new/old; every run on stderr.
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2") rounds=${3:-3}
W=${BENCH_DIR:-/tmp/vault-compare}
src=${BENCH_SHARE_SRC:-/usr/share}
GTIME=/usr/bin/time
[ -x "$GTIME" ] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }
rm -rf "$W" && mkdir -p "$W"
echo "copying $src (untimed)" >&2
cp -a "$src" "$W/data"
"$new" keygen -o "$W/key" >/dev/null 2>&1
export VAULT_IDENTITY=$W/key HOME=$W/home
mkdir -p "$W/home"

drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
timed() { # OUT CMD... ; appends "wall cpu rss_mib" to OUT
  local out=$1; shift
  drop
  "$GTIME" -f '%e %U %S %M' -o "$W/t" "$@" >/dev/null 2>"$W/err" ||
    { echo "FAILED: $*" >&2; cat "$W/err" >&2; exit 1; }
  awk '{ printf "%.2f %.2f %.1f\n", $1, $2 + $3, $4 / 1024 }' "$W/t" >>"$out"
}

for r in $(seq "$rounds"); do
  for b in old new; do
    bin=${!b}
    v=$W/vault-$b-$r
    "$bin" init "$v" >/dev/null 2>&1
    rm -rf "$W/home/.cache"
    timed "$W/$b.add" "$bin" add "$v" "$W/data"
    timed "$W/$b.readd" "$bin" add "$v" "$W/data"
    timed "$W/$b.extract" "$bin" extract "$v" latest -C "$W/out-$b-$r"
    echo "round $r $b: add $(tail -1 "$W/$b.add"), re-add $(tail -1 "$W/$b.readd"), extract $(tail -1 "$W/$b.extract")" >&2
    rm -rf "$W/out-$b-$r" "$v"
  done
done

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo "| phase | metric | old | new | new/old |"
echo "|---|---|--:|--:|--:|"
for phase in add readd extract; do
  for col in 1 2 3; do
    name=$(echo "wall time (s)|CPU user+sys (s)|peak RSS (MiB)" | cut -d'|' -f$col)
    o=$(cut -d' ' -f$col "$W/old.$phase" | median)
    n=$(cut -d' ' -f$col "$W/new.$phase" | median)
    ratio=$(awk -v o="$o" -v n="$n" 'BEGIN { printf "%.2f", (o > 0) ? n / o : 0 }')
    label=$phase; [ $col = 1 ] || label=
    echo "| $label | $name | $o | $n | $ratio |"
  done
done
rm -rf "$W"
