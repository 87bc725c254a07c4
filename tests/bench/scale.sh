#!/usr/bin/env bash
# Benchmark at scale (issue #15): how vault's time and peak memory grow
# with the number of files in a snapshot and with the size of the index,
# side by side with restic, in one run.
#
# Part a, many files: a generated tree of BENCH_SCALE_FILES small files
# (100 to a folder, 0..8 KiB, one in eight a duplicate;
# make_scale_tree.py), then for vault and restic, each with a fresh
# repository and cache: first add, unchanged re-add, ls -R of the
# snapshot, extract, check (metadata, no data read), forget of the newest
# snapshot + prune (which keeps the first: prune walks every file of it).
#
# Part b, a large index without the bytes: for each N in
# BENCH_SCALE_INDEX, a fresh vault whose index tests/tools/fill_index
# grows to N entries of 1 MiB chunks (about N MiB claimed; the packs are
# absent), then: opening it (`vault ls VAULT`, cold then warm), add of a
# small tree (cold, then again warm after one file changed), ls -R of that
# snapshot, prune --dry-run (its planning).  restic cannot be given an
# index without the data, so the report compares with the index memory
# restic documents per blob (see README.md).
#
# Every timed step runs after `sync; echo 3 > /proc/sys/vm/drop_caches`
# (unless marked warm or the drop is not permitted) under GNU time: wall
# time, CPU time, peak RSS.  Output: a Markdown report (stdout, and
# BENCH_REPORT), a CSV (BENCH_CSV) and a PNG plot of time and peak RSS
# against N and against the number of files (BENCH_PLOT, with gnuplot).
# Progress goes to stderr.  See tests/bench/README.md.
#
# Environment:
#   BENCH_SCALE_DIR    where everything goes (default /var/tmp/vault-scale):
#                      trees/ (the generated trees, kept between runs with
#                      a stamp file), work/ (emptied at the start), and the
#                      default CSV and PNG
#   BENCH_SCALE_FILES  file counts for part a, space-separated (default
#                      1000000; "" skips part a)
#   BENCH_SCALE_INDEX  index sizes for part b (default "1000000 10000000";
#                      "" skips part b)
#   BENCH_SCALE_SMALL  files in part b's small tree (default 100)
#   BENCH_DROP_CACHES  1 (default): drop the page cache before each timed
#                      step if we can; 0: warm cache
#   BENCH_KEEP=1       keep work/ (repositories, logs) at the end
#   VAULT_BIN          vault binary (default: build/bin/vault of this tree)
#   FILL_INDEX         fill_index tool (default: beside VAULT_BIN)
#   BENCH_REPORT       also write the Markdown report to this file
#   BENCH_CSV          the CSV (default BENCH_SCALE_DIR/scale.csv)
#   BENCH_PLOT         the PNG (default BENCH_SCALE_DIR/scale.png; needs
#                      gnuplot, skipped with a note without it)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

BENCH_SCALE_DIR=${BENCH_SCALE_DIR:-/var/tmp/vault-scale}
BENCH_SCALE_FILES=${BENCH_SCALE_FILES-1000000}
BENCH_SCALE_INDEX=${BENCH_SCALE_INDEX-"1000000 10000000"}
BENCH_SCALE_SMALL=${BENCH_SCALE_SMALL:-100}
BENCH_DROP_CACHES=${BENCH_DROP_CACHES:-1}
BENCH_KEEP=${BENCH_KEEP:-0}
VAULT_BIN=${VAULT_BIN:-$top/build/bin/vault}
FILL_INDEX=${FILL_INDEX:-$(dirname "$VAULT_BIN")/fill_index}
BENCH_REPORT=${BENCH_REPORT:-}
BENCH_CSV=${BENCH_CSV:-$BENCH_SCALE_DIR/scale.csv}
BENCH_PLOT=${BENCH_PLOT:-$BENCH_SCALE_DIR/scale.png}
GTIME=/usr/bin/time
# restic's in-memory index per blob, as its developers document it (see
# README.md): a 64-byte entry (56 since 2026) plus 8..20 bytes of hash
# buckets; Go's collector lets the heap reach about twice what is live.
RESTIC_INDEX_BYTES_PER_BLOB=72

. "$here/bench_lib.sh"

# ---------------------------------------------------------------- checks
[ -x "$GTIME" ] || die "GNU time is missing at $GTIME (apt-get install time)"
[ -x "$VAULT_BIN" ] || die "vault binary not found at $VAULT_BIN; build it first:
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2"
VAULT_BIN=$(realpath "$VAULT_BIN")
read -r -a file_sizes <<<"$BENCH_SCALE_FILES"
read -r -a index_sizes <<<"$BENCH_SCALE_INDEX"
for n in "${file_sizes[@]}" "${index_sizes[@]}" "$BENCH_SCALE_SMALL"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive number (BENCH_SCALE_*)"
done
if [ ${#file_sizes[@]} -gt 0 ]; then
  command -v restic >/dev/null || die "restic is not installed (VAULT_DEPS_BENCH=1 VAULT_DEPS_S3=0 scripts/deps.sh)"
fi
if [ ${#index_sizes[@]} -gt 0 ]; then
  [ -x "$FILL_INDEX" ] || die "fill_index not found at $FILL_INDEX; build it:
  cmake --build build -j2 --target fill_index"
fi
case "$BENCH_SCALE_DIR" in
  /|/tmp|/var/tmp|/home|/root|/usr|"") die "BENCH_SCALE_DIR=$BENCH_SCALE_DIR is not a safe work directory" ;;
esac
vv=$("$VAULT_BIN" --version 2>/dev/null | head -n 1 || true)
vcommit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo "?")
if ! git -C "$top" diff --quiet HEAD -- vault cli 2>/dev/null; then
  vcommit="$vcommit plus uncommitted changes"
fi

# ---------------------------------------------------------------- work dir
W=$BENCH_SCALE_DIR/work
TREES=$BENCH_SCALE_DIR/trees
cleanup() {
  local rc=$?
  if [ "$BENCH_KEEP" = 1 ]; then say "work directory kept: $W"; else rm -rf "$W"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$BENCH_SCALE_DIR" "$TREES"
rm -rf "$W"
mkdir -p "$W/logs" "$W/trash"
cd "$W"

# Trees done with are moved aside and deleted at the end (as run.sh
# does): deleting a million files took 7 minutes here and slows the sync
# before the next timed step.
retire() { # PATH...
  local p
  for p in "$@"; do
    [ -e "$p" ] && mv "$p" "$W/trash/$(date +%s%N)-$RANDOM"
  done
  return 0
}

unset VAULT_IDENTITY VAULT_REPOSITORY VAULT_PASSPHRASE RESTIC_REPOSITORY \
      RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND GOMAXPROCS
export RESTIC_PASSWORD=vault-bench-password
export XDG_CONFIG_HOME=$W/config
VAULT_ID=$W/id.txt
run_plain vault-keygen "$VAULT_BIN" keygen -o "$VAULT_ID"

# Results, one CSV row a step: part,size,tool,phase,wall_s,cpu_s,peak_kib
CSV_ROWS=$W/rows.csv
: >"$CSV_ROWS"
record() { # PART SIZE TOOL PHASE
  echo "$1,$2,$3,$4,$LAST_T,$LAST_C,$LAST_M" >>"$CSV_ROWS"
  say "  $3 $4: ${LAST_T}s wall, ${LAST_C}s CPU, $((LAST_M / 1024)) MiB peak"
}
NOTES=()

# The tree of N files, made once and reused while its stamp matches.
scale_tree() { # N
  local tree=$TREES/files-$1 want
  want="make_scale_tree.py $(sha256sum "$here/make_scale_tree.py" | cut -c1-16) $1"
  if [ "$(cat "$tree.stamp" 2>/dev/null)" != "$want" ]; then
    say "generating $1 files in $tree (untimed)"
    rm -rf "$tree" "$tree.stamp"
    python3 "$here/make_scale_tree.py" "$tree" "$1" || die "make_scale_tree.py failed"
    echo "$want" >"$tree.stamp"
  fi
  echo "$tree"
}

# vault and restic commands of one part, each tool its own cache (arrays,
# not functions: GNU time runs them).
VLT=() RST=()

# ---------------------------------------------------------------- part a
part_files() { # N
  local n=$1 tree dir ids newest
  tree=$(scale_tree "$n")
  dir=$W/files-$n
  mkdir -p "$dir"
  local VREPO=$dir/vault-repo RREPO=$dir/restic-repo RCACHE=$dir/restic-cache
  VLT=(env XDG_CACHE_HOME="$dir/vault-cache" "$VAULT_BIN")
  RST=(restic -r "$RREPO" --cache-dir "$RCACHE")
  say "part a: $n files ($(du -sm "$tree" | cut -f1) MiB on disk)"
  run_plain "a$n-vault-init" "${VLT[@]}" init "$VREPO" -i "$VAULT_ID"
  run_plain "a$n-restic-init" "${RST[@]}" init --repository-version 2

  run_timed "a$n-vault-add" "${VLT[@]}" add "$VREPO" "$tree" -i "$VAULT_ID"; record a "$n" vault add
  run_timed "a$n-restic-add" "${RST[@]}" backup "$tree"; record a "$n" restic add
  run_timed "a$n-vault-readd" "${VLT[@]}" add "$VREPO" "$tree" -i "$VAULT_ID"; record a "$n" vault re-add
  run_timed "a$n-restic-readd" "${RST[@]}" backup "$tree"; record a "$n" restic re-add
  run_timed "a$n-vault-ls" "${VLT[@]}" ls "$VREPO" latest -R -i "$VAULT_ID"; record a "$n" vault "ls -R"
  run_timed "a$n-restic-ls" "${RST[@]}" ls latest; record a "$n" restic "ls -R"
  local got
  got=$(grep -c '/f[0-9][0-9]$' "$W/logs/a$n-vault-ls.log" || true)
  [ "$got" = "$n" ] || die "vault ls -R listed $got files of $n"

  mkdir "$dir/out-vault" "$dir/out-restic"
  run_timed "a$n-vault-extract" "${VLT[@]}" extract "$VREPO" latest -C "$dir/out-vault" -i "$VAULT_ID"
  record a "$n" vault extract
  run_timed "a$n-restic-extract" "${RST[@]}" restore latest --target "$dir/out-restic"
  record a "$n" restic extract
  # Untimed: both extractions hold every file with its size (a full
  # diff of a million files costs more than the whole part).
  local src_sum
  src_sum=$(cd "$tree" && find . -type f -printf '%P %s\n' | LC_ALL=C sort | sha256sum)
  for t in vault restic; do
    [ "$(cd "$dir/out-$t$tree" && find . -type f -printf '%P %s\n' | LC_ALL=C sort | sha256sum)" = "$src_sum" ] ||
      die "$t extract of $n files: names or sizes differ from the source"
  done
  NOTES+=("part a, $n files: both extractions hold every file of the source with its size (untimed check)")
  retire "$dir/out-vault" "$dir/out-restic"

  run_timed "a$n-vault-check" "${VLT[@]}" check "$VREPO" -i "$VAULT_ID"; record a "$n" vault check
  run_timed "a$n-restic-check" "${RST[@]}" check; record a "$n" restic check

  # Forget the newest snapshot (the re-add) and prune: the first still
  # holds every file, so prune walks all of them and frees nothing.
  run_timed "a$n-vault-prune" sh -c 'r=$1 i=$2; shift 2; "$@" forget "$r" latest -i "$i" && "$@" prune "$r" -i "$i"' \
    sh "$VREPO" "$VAULT_ID" "${VLT[@]}"; record a "$n" vault "forget+prune"
  newest=$("${RST[@]}" snapshots --json | python3 -c 'import json,sys; print(max(json.load(sys.stdin), key=lambda s: s["time"])["id"])')
  run_timed "a$n-restic-prune" sh -c 'restic -r "$1" --cache-dir "$2" forget "$3" && restic -r "$1" --cache-dir "$2" prune' \
    sh "$RREPO" "$RCACHE" "$newest"; record a "$n" restic "forget+prune"
  NOTES+=("part a, $n files: repository size after forget+prune: vault $(fmt_bmib "$(dusb "$VREPO")") MiB, restic $(fmt_bmib "$(dusb "$RREPO")") MiB")
  retire "$dir"
}

# ---------------------------------------------------------------- part b
part_index() { # N
  local n=$1 dir small
  dir=$W/index-$n
  mkdir -p "$dir"
  local VREPO=$dir/vault-repo
  VLT=(env XDG_CACHE_HOME="$dir/vault-cache" "$VAULT_BIN")
  small=$dir/small
  python3 "$here/make_scale_tree.py" "$small" "$BENCH_SCALE_SMALL" || die "make_scale_tree.py failed"
  say "part b: an index of $n entries"
  run_plain "b$n-vault-init" "${VLT[@]}" init "$VREPO" -i "$VAULT_ID"
  run_timed "b$n-fill" "$FILL_INDEX" "$VREPO" "$VAULT_ID" "$n"; record b "$n" vault fill_index
  NOTES+=("part b, N=$n: $(cat "$W/logs/b$n-fill.log"); index/ holds $(fmt_bmib "$(dusb "$VREPO/index")") MiB")

  run_timed "b$n-open" "${VLT[@]}" ls "$VREPO" -i "$VAULT_ID"; record b "$n" vault open
  BENCH_WARM=1 run_timed "b$n-open-warm" "${VLT[@]}" ls "$VREPO" -i "$VAULT_ID"; record b "$n" vault "open (warm)"
  run_timed "b$n-add" "${VLT[@]}" add "$VREPO" "$small" -i "$VAULT_ID"; record b "$n" vault add
  echo "changed" >>"$small/d000000/f00"
  BENCH_WARM=1 run_timed "b$n-add-warm" "${VLT[@]}" add "$VREPO" "$small" -i "$VAULT_ID"
  record b "$n" vault "add (warm)"
  run_timed "b$n-ls" "${VLT[@]}" ls "$VREPO" latest -R -i "$VAULT_ID"; record b "$n" vault "ls -R"
  run_timed "b$n-prune" "${VLT[@]}" prune "$VREPO" --dry-run -i "$VAULT_ID"; record b "$n" vault "prune --dry-run"
  retire "$dir"
}

psi0=$(psi_some) t0=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for n in "${file_sizes[@]}"; do part_files "$n"; done
for n in "${index_sizes[@]}"; do part_index "$n"; done
psi1=$(psi_some) t1=$(date +%s)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
psi_pct=unknown
if [ -n "$psi0" ] && [ -n "$psi1" ] && [ "$t1" -gt "$t0" ]; then
  psi_pct=$(awk -v a="$psi0" -v b="$psi1" -v s=$((t1 - t0)) 'BEGIN { printf "%.0f%%", (b - a) / 1e4 / s }')
fi

# ---------------------------------------------------------------- CSV
{ echo "part,size,tool,phase,wall_s,cpu_s,peak_kib"; cat "$CSV_ROWS"; } >"$BENCH_CSV"

# field FILE-ROWS PART SIZE TOOL PHASE COLUMN: one value of the results.
val() { awk -F, -v p="$1" -v s="$2" -v t="$3" -v ph="$4" -v c="$5" \
  '$1 == p && $2 == s && $3 == t && $4 == ph { print $c }' "$CSV_ROWS"; }

# ---------------------------------------------------------------- plot
PLOT_NOTE=""
plot() {
  command -v gnuplot >/dev/null || { PLOT_NOTE="no plot: gnuplot is not installed"; return 0; }
  local data=$W/plot-b.dat datf=$W/plot-a.dat ph col script
  local phases_b=("open" "add" "add (warm)" "ls -R" "prune --dry-run")
  local phases_a=("add" "re-add" "ls -R" "extract" "check" "forget+prune")
  # one gnuplot data block a phase (x, wall s, peak MiB), blank-line separated
  : >"$data"
  for ph in "${phases_b[@]}"; do
    echo "\"$ph\"" >>"$data"
    awk -F, -v ph="$ph" '$1 == "b" && $4 == ph { print $2, $5, $7 / 1024 }' "$CSV_ROWS" | sort -g >>"$data"
    printf '\n\n' >>"$data"
  done
  : >"$datf"
  for t in vault restic; do
    for ph in "${phases_a[@]}"; do
      echo "\"$t $ph\"" >>"$datf"
      awk -F, -v t="$t" -v ph="$ph" '$1 == "a" && $3 == t && $4 == ph { print $2, $5, $7 / 1024 }' "$CSV_ROWS" | sort -g >>"$datf"
      printf '\n\n' >>"$datf"
    done
  done
  # a part that was skipped gets no panels (gnuplot fails on no data)
  local has_a=0 has_b=0 rows=0
  grep -q '^a,' "$CSV_ROWS" && has_a=1
  grep -q '^b,' "$CSV_ROWS" && has_b=1
  rows=$((has_a + has_b))
  [ "$rows" -gt 0 ] || { PLOT_NOTE="no plot: no rows"; return 0; }
  script=$W/plot.gp
  {
    echo "set terminal pngcairo size 1400,$((500 * rows)) noenhanced font ',10'"
    echo "set output '$BENCH_PLOT'"
    echo "set multiplot layout $rows,2 title 'vault at scale (tests/bench/scale.sh, $(date -u +%Y-%m-%d))'"
    echo "set logscale x; set grid; set key left top"
    if [ "$has_b" = 1 ]; then
    echo "set xlabel 'index entries N (1 MiB chunks, packs absent)'"
    echo "set ylabel 'wall time (s)'; set title 'part b: time against index size'"
    echo "plot for [i=0:$(( ${#phases_b[@]} - 1 ))] '$data' index i using 1:2 with linespoints title columnheader(1)"
    echo "set ylabel 'peak RSS (MiB)'; set title 'part b: peak RSS against index size'"
    echo "plot for [i=0:$(( ${#phases_b[@]} - 1 ))] '$data' index i using 1:3 with linespoints title columnheader(1), $RESTIC_INDEX_BYTES_PER_BLOB * x / 1048576 with lines dashtype 2 title 'restic index, documented ($RESTIC_INDEX_BYTES_PER_BLOB B/blob, live)', 256 with lines dashtype 3 title 'target: add <= 256 MiB at 10^7'"
    fi
    if [ "$has_a" = 1 ]; then
    echo "set xlabel 'files in the snapshot'"
    echo "set ylabel 'wall time (s)'; set title 'part a: time against files (vault solid, restic dashed)'"
    echo "plot for [i=0:$(( ${#phases_a[@]} - 1 ))] '$datf' index i using 1:2 with linespoints title columnheader(1), for [i=${#phases_a[@]}:$(( 2 * ${#phases_a[@]} - 1 ))] '$datf' index i using 1:2 with linespoints dashtype 2 title columnheader(1)"
    echo "set ylabel 'peak RSS (MiB)'; set title 'part a: peak RSS against files (vault solid, restic dashed)'"
    echo "plot for [i=0:$(( ${#phases_a[@]} - 1 ))] '$datf' index i using 1:3 with linespoints title columnheader(1), for [i=${#phases_a[@]}:$(( 2 * ${#phases_a[@]} - 1 ))] '$datf' index i using 1:3 with linespoints dashtype 2 title columnheader(1)"
    fi
    echo "unset multiplot"
  } >"$script"
  if gnuplot "$script" >"$W/logs/gnuplot.log" 2>&1; then
    PLOT_NOTE="plot: $BENCH_PLOT"
  else
    PLOT_NOTE="no plot: gnuplot failed ($(tail -n 1 "$W/logs/gnuplot.log"))"
  fi
}
plot

# ---------------------------------------------------------------- report
report() {
  local n ph t r m
  echo "# vault at scale: vault vs restic"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), host: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
  echo "- contention: CPU pressure (PSI some) ${psi_pct} of the run; load average at start $load_start, at end $load_end"
  echo "- vault: ${vv:-vault}, commit $vcommit; restic: $(restic version 2>/dev/null | head -n 1 || echo none), repository version 2"
  echo "- page cache: $cache_mode$([ "$cache_mode" = cold ] && echo ' (dropped before every step not marked warm)'); one run"
  echo "- wall time s (GNU time %e), CPU user+sys s, peak RSS MiB (%M); CSV: $BENCH_CSV; $PLOT_NOTE"
  if [ ${#file_sizes[@]} -gt 0 ]; then
    echo
    echo "## Part a: many small files (100 a folder, 0..8 KiB, 1 in 8 duplicated)"
    echo
    echo "| files | phase | vault s | restic s | time ratio | vault MiB | restic MiB | RSS ratio | targets (≤ 0.5 each) |"
    echo "|--:|---|--:|--:|--:|--:|--:|--:|---|"
    for n in "${file_sizes[@]}"; do
      for ph in add re-add "ls -R" extract check forget+prune; do
        r=$(ratio "$(val a "$n" vault "$ph" 5)" "$(val a "$n" restic "$ph" 5)")
        m=$(ratio "$(val a "$n" vault "$ph" 7)" "$(val a "$n" restic "$ph" 7)")
        echo "| $n | $ph | $(fmt_s "$(val a "$n" vault "$ph" 5)") | $(fmt_s "$(val a "$n" restic "$ph" 5)") | $r | $(fmt_mib "$(val a "$n" vault "$ph" 7)") | $(fmt_mib "$(val a "$n" restic "$ph" 7)") | $m | time $(verdict "$r" 0.5), RSS $(verdict "$m" 0.5) |"
      done
    done
  fi
  if [ ${#index_sizes[@]} -gt 0 ]; then
    echo
    echo "## Part b: an index of N entries (1 MiB chunks, 16 a pack, packs absent)"
    echo
    echo "| N | phase | wall s | CPU s | peak MiB | restic index alone (documented, MiB) | target |"
    echo "|--:|---|--:|--:|--:|--:|---|"
    for n in "${index_sizes[@]}"; do
      for ph in fill_index open "open (warm)" add "add (warm)" "ls -R" "prune --dry-run"; do
        local tgt=""
        if [ "$n" -ge 10000000 ]; then
          case $ph in
            add) tgt="RSS ≤ 256 MiB: $(awk -v k="$(val b "$n" vault "$ph" 7)" 'BEGIN { print (k <= 262144 ? "met" : "**missed**") }')" ;;
            "add (warm)") tgt="< 5 s: $(awk -v s="$(val b "$n" vault "$ph" 5)" 'BEGIN { print (s < 5 ? "met" : "**missed**") }')" ;;
          esac
        fi
        echo "| $n | $ph | $(fmt_s "$(val b "$n" vault "$ph" 5)") | $(fmt_s "$(val b "$n" vault "$ph" 6)") | $(fmt_mib "$(val b "$n" vault "$ph" 7)") | $([ "$ph" = add ] && awk -v n="$n" -v b="$RESTIC_INDEX_BYTES_PER_BLOB" 'BEGIN { printf "≥ %.0f", n * b / 1048576 }') | $tgt |"
      done
    done
    echo
    echo "restic column: what restic's in-memory index alone holds for N blobs, at the $RESTIC_INDEX_BYTES_PER_BLOB bytes a blob its developers document (tests/bench/README.md); its heap reaches up to twice that under Go's collector."
  fi
  if [ ${#NOTES[@]} -gt 0 ]; then
    echo
    echo "Notes:"
    for n in "${NOTES[@]}"; do echo "- $n"; done
  fi
}

say "done"
if [ -n "$BENCH_REPORT" ]; then report | tee "$BENCH_REPORT"; else report; fi
