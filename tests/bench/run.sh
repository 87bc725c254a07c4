#!/usr/bin/env bash
# Benchmark: vault against restic and borg on the same data, in one run.
#
# Phases (each tool has its own fresh repository and cache):
#   1. first backup of dataset A (a copy of /usr/share, or part of it)
#   2. unchanged re-backup of A
#   3. extract/restore of A into a fresh directory (vault's restore is
#      compared with the source; restic's and borg's too, unless
#      BENCH_VERIFY_ALL=0)
#   4. successive backups of N (default 8) releases of a source tree
#      (dataset B), each release put in the SAME path, replacing the
#      previous one, into a second repository per tool
# At the end it measures the crypto primitives on this machine
# (tests/bench/hash_speed.c).
# For every tool and phase it prints wall time and peak RSS (GNU time,
# '%e %M') and the repository size (du -sb), the ratios vault/restic and
# borg/restic, and the vault targets, as a Markdown table on stdout.
# Progress goes to stderr.  See tests/bench/README.md.
#
# Environment:
#   BENCH_DIR          work directory (default /tmp/vault-bench); it is
#                      emptied at the start and removed at the end
#   BENCH_KEEP=1       keep the work directory at the end
#   VAULT_BIN          vault binary (default: build/bin/vault of this tree)
#   BENCH_SHARE_SRC    what dataset A is copied from (default /usr/share)
#   BENCH_SHARE_LIMIT  empty: copy all of it; a number: copy top-level
#                      entries in name order until that many MiB are
#                      reached; otherwise a space-separated list of
#                      top-level names to copy (e.g. "doc man locale")
#   BENCH_SOURCE_GIT   a git directory (bare is fine) with release tags;
#                      without it phase 4 is skipped
#   BENCH_TAGS         space-separated release tags, oldest first
#   BENCH_TAG_PATTERN  without BENCH_TAGS: the last BENCH_RELEASES tags
#                      (by creation date) matching this extended regexp
#                      (default: plain release versions, no rc/beta)
#   BENCH_RELEASES     number of releases (default 8)
#   BENCH_DROP_CACHES  1 (default): sync and drop the page cache before
#                      every timed step if we can; 0: warm cache
#   BENCH_VERIFY_ALL   1 (default): also diff restic's and borg's restore
#   BENCH_RUNS         repeat all phases this many times, each time with
#                      fresh repositories and caches, and report medians
#                      (default 1; use 3 on a machine shared with other work)
#   BENCH_REPORT       also write the Markdown report to this file
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

BENCH_DIR=${BENCH_DIR:-/tmp/vault-bench}
BENCH_KEEP=${BENCH_KEEP:-0}
VAULT_BIN=${VAULT_BIN:-$top/build/bin/vault}
BENCH_SHARE_SRC=${BENCH_SHARE_SRC:-/usr/share}
BENCH_SHARE_LIMIT=${BENCH_SHARE_LIMIT:-}
BENCH_SOURCE_GIT=${BENCH_SOURCE_GIT:-}
BENCH_TAGS=${BENCH_TAGS:-}
BENCH_TAG_PATTERN=${BENCH_TAG_PATTERN:-'^[A-Za-z_-]*[0-9]+([._][0-9]+)+$'}
BENCH_RELEASES=${BENCH_RELEASES:-8}
BENCH_DROP_CACHES=${BENCH_DROP_CACHES:-1}
BENCH_VERIFY_ALL=${BENCH_VERIFY_ALL:-1}
BENCH_RUNS=${BENCH_RUNS:-1}
BENCH_REPORT=${BENCH_REPORT:-}

TOOLS=(vault restic borg)
GTIME=/usr/bin/time

. "$here/bench_lib.sh"

# ---------------------------------------------------------------- checks
[ -x "$GTIME" ] || die "GNU time is missing at $GTIME (apt-get install time)"
[ -x "$VAULT_BIN" ] || die "vault binary not found at $VAULT_BIN; build it first:
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2"
VAULT_BIN=$(realpath "$VAULT_BIN")
vv=$("$VAULT_BIN" --version 2>/dev/null | head -n 1 || true)
vcommit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo "?")
if ! git -C "$top" diff --quiet HEAD -- vault cli 2>/dev/null \
   || [ -n "$(git -C "$top" ls-files --others --exclude-standard -- vault cli 2>/dev/null)" ]; then
  vcommit="$vcommit plus uncommitted changes"
fi
command -v restic >/dev/null || die "restic is not installed"
command -v borg >/dev/null || die "borg is not installed"
command -v git >/dev/null || die "git is not installed"
[ -d "$BENCH_SHARE_SRC" ] || die "dataset A source $BENCH_SHARE_SRC is not a directory"
[[ $BENCH_RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS=$BENCH_RUNS is not a positive number"
case "$BENCH_DIR" in
  /|/tmp|/home|/root|/usr|"") die "BENCH_DIR=$BENCH_DIR is not a safe work directory" ;;
esac

tags=()
if [ -n "$BENCH_SOURCE_GIT" ]; then
  git --git-dir="$BENCH_SOURCE_GIT" rev-parse --git-dir >/dev/null 2>&1 \
    || die "BENCH_SOURCE_GIT=$BENCH_SOURCE_GIT is not a git directory"
  if [ -n "$BENCH_TAGS" ]; then
    read -r -a tags <<<"$BENCH_TAGS"
  else
    mapfile -t tags < <(git --git-dir="$BENCH_SOURCE_GIT" for-each-ref \
        --sort=creatordate --format='%(refname:short)' refs/tags \
      | grep -E -- "$BENCH_TAG_PATTERN" | tail -n "$BENCH_RELEASES")
  fi
  [ "${#tags[@]}" -ge 2 ] || die "need at least 2 release tags in $BENCH_SOURCE_GIT (found ${#tags[@]}; set BENCH_TAGS or BENCH_TAG_PATTERN)"
  for t in "${tags[@]}"; do
    git --git-dir="$BENCH_SOURCE_GIT" rev-parse -q --verify "refs/tags/$t^{tree}" >/dev/null \
      || die "tag $t not found in $BENCH_SOURCE_GIT"
  done
fi

# ---------------------------------------------------------------- work dir
W=$BENCH_DIR
cleanup() {
  local rc=$?
  if [ "$BENCH_KEEP" = 1 ]; then
    say "work directory kept: $W"
  else
    rm -rf "$W"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$W"
mkdir -p "$W"/{data,logs,out,tars,trash}
for t in "${TOOLS[@]}"; do mkdir -p "$W/$t"; done
cd "$W"

# Tool environments: nothing from the caller's environment leaks in.
unset VAULT_IDENTITY VAULT_REPOSITORY VAULT_PASSPHRASE RESTIC_REPOSITORY \
      RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND BORG_REPO BORG_PASSCOMMAND \
      BORG_KEY_FILE BORG_FILES_CACHE_SUFFIX BORG_FILES_CACHE_TTL GOMAXPROCS
export RESTIC_PASSWORD=vault-bench-password
export BORG_PASSPHRASE=vault-bench-password
export BORG_BASE_DIR=$W/borg/base
export BORG_CACHE_DIR=$W/borg/cache
export BORG_CONFIG_DIR=$W/borg/config
export BORG_SECURITY_DIR=$W/borg/config/security
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=no
export BORG_RELOCATED_REPO_ACCESS_IS_OK=no
RESTIC_CACHE=$W/restic/cache
VAULT_CACHE=$W/vault/cache   # the files cache ends up in $VAULT_CACHE/vault
export XDG_CONFIG_HOME=$W/vault/config # known_vaults: each run inits anew
VAULT_ID=$W/vault/id.txt

# ---------------------------------------------------------------- helpers
# say, die, drop_caches, run_plain, run_timed, dusb, ratio, verdict, fmt_*:
# bench_lib.sh.

# Trees we are done with are moved aside and only deleted at the end:
# deleting tens of thousands of files just before a timed step makes the
# sync that precedes it slow (the file system may be mounted with
# "discard"), and the deletion would compete with the timed command.
retire() { # PATH
  [ -e "$1" ] || return 0
  mv "$1" "$W/trash/$(date +%s%N)-$RANDOM"
}

# Results: T[tool.phase] wall s, C[...] CPU s, M[...] KiB, S[...] bytes
# (medians over the runs; S from the last run).
declare -A T C M S
NOTES=()

# One backup with a tool.  repo name and snapshot/archive name given.
backup() { # TOOL REPO ARCHIVE LABEL PATH
  local tool=$1 repo=$2 arch=$3 label=$4 path=$5
  case $tool in
    vault)  run_timed "$label" env XDG_CACHE_HOME="$VAULT_CACHE" VAULT_TIMINGS=1 \
              "$VAULT_BIN" add "$repo" "$path" -i "$VAULT_ID" --json ;;
    restic) run_timed "$label" restic -r "$repo" --cache-dir "$RESTIC_CACHE" \
              backup "$path" ;;
    borg)   run_timed "$label" borg create --compression lz4 \
              "$repo::$arch" "$path" ;;
  esac
}

init_repo() { # TOOL REPO
  local tool=$1 repo=$2
  case $tool in
    vault)  run_plain "vault-init-$(basename "$repo")" env XDG_CACHE_HOME="$VAULT_CACHE" \
              "$VAULT_BIN" init "$repo" -i "$VAULT_ID" ;;
    restic) run_plain "restic-init-$(basename "$repo")" restic -r "$repo" \
              --cache-dir "$RESTIC_CACHE" init --repository-version 2 ;;
    borg)   run_plain "borg-init-$(basename "$repo")" borg init \
              --encryption=repokey-blake2 "$repo" ;;
  esac
}

restore() { # TOOL REPO ARCHIVE LABEL DEST
  local tool=$1 repo=$2 arch=$3 label=$4 dest=$5
  retire "$dest"; mkdir -p "$dest"
  case $tool in
    vault)  run_timed "$label" env XDG_CACHE_HOME="$VAULT_CACHE" VAULT_TIMINGS=1 \
              "$VAULT_BIN" extract "$repo" latest -C "$dest" -i "$VAULT_ID" ;;
    restic) run_timed "$label" restic -r "$repo" --cache-dir "$RESTIC_CACHE" \
              restore latest --target "$dest" ;;
    borg)   cd "$dest"   # borg extracts into the current directory
            run_timed "$label" borg extract "$repo::$arch"
            cd "$W" ;;
  esac
}

# Content check (hard): diff -r without following symlinks.
verify_content() { # LABEL SRC RESTORED
  local label=$1 src=$2 got=$3
  [ -d "$got" ] || die "$label: restored tree $got does not exist"
  if ! diff -r --no-dereference "$src" "$got" >"$W/logs/$label.diff" 2>&1; then
    printf '\nBENCH FAILED: %s: restored tree differs from the source\n' "$label" >&2
    head -n 20 "$W/logs/$label.diff" | sed 's/^/    /' >&2
    exit 1
  fi
}

# Metadata check (soft): type, mode, size, mtime, symlink target.
meta_list() { (cd "$1" && find . -printf '%P\t%y\t%m\t%s\t%T@\t%l\n' | LC_ALL=C sort); }
verify_meta() { # LABEL SRC RESTORED
  local label=$1 src=$2 got=$3 n
  meta_list "$src" >"$W/logs/$label.meta.src"
  meta_list "$got" >"$W/logs/$label.meta.got"
  # directory sizes are file-system specific: blank them
  n=$(diff <(awk -F'\t' 'BEGIN{OFS="\t"} $2=="d"{$4="-"} 1' "$W/logs/$label.meta.src") \
           <(awk -F'\t' 'BEGIN{OFS="\t"} $2=="d"{$4="-"} 1' "$W/logs/$label.meta.got") \
      | grep -c '^>' || true)
  if [ "$n" -ne 0 ]; then
    NOTES+=("$label: $n entries differ in type/mode/size/mtime/symlink target from the source (contents equal)")
    diff <(awk -F'\t' 'BEGIN{OFS="\t"} $2=="d"{$4="-"} 1' "$W/logs/$label.meta.src") \
         <(awk -F'\t' 'BEGIN{OFS="\t"} $2=="d"{$4="-"} 1' "$W/logs/$label.meta.got") \
      | head -n 6 | sed 's/^/      /' >&2 || true
    say "$label: $n metadata differences (see notes)"
  fi
}

json_field() { # JSONFILE FIELD
  grep -o "\"$2\":[0-9.]*" "$1" | head -n 1 | cut -d: -f2
}

# ---------------------------------------------------------------- dataset A
A=$W/data/share
say "copying dataset A from $BENCH_SHARE_SRC (untimed)"
mkdir -p "$A"
if [ -z "$BENCH_SHARE_LIMIT" ]; then
  cp -a "$BENCH_SHARE_SRC/." "$A/"
elif [[ $BENCH_SHARE_LIMIT =~ ^[0-9]+$ ]]; then
  budget=$((BENCH_SHARE_LIMIT * 1024 * 1024)) used=0
  while IFS= read -r -d '' e; do
    [ "$used" -ge "$budget" ] && break
    cp -a "$e" "$A/"
    used=$((used + $(du -sb "$e" | cut -f1)))
  done < <(find "$BENCH_SHARE_SRC" -mindepth 1 -maxdepth 1 -print0 | LC_ALL=C sort -z)
else
  for e in $BENCH_SHARE_LIMIT; do
    [ -e "$BENCH_SHARE_SRC/$e" ] || die "BENCH_SHARE_LIMIT: $BENCH_SHARE_SRC/$e does not exist"
    cp -a "$BENCH_SHARE_SRC/$e" "$A/"
  done
fi
A_bytes=$(dusb "$A")
A_files=$(find "$A" -type f | wc -l)
A_entries=$(find "$A" | wc -l)
say "dataset A: $((A_bytes / 1048576)) MiB, $A_files files, $A_entries entries"

# ---------------------------------------------------------------- dataset B
B=$W/data/src
if [ ${#tags[@]} -gt 0 ]; then
  say "exporting ${#tags[@]} releases (untimed): ${tags[*]}"
  i=0
  for t in "${tags[@]}"; do
    i=$((i + 1))
    git --git-dir="$BENCH_SOURCE_GIT" archive --format=tar "$t" >"$W/tars/$i.tar" \
      || die "git archive $t failed"
  done
  B_last_bytes=$(tar -tvf "$W/tars/${#tags[@]}.tar" | awk '{s += $3} END {print s}')
  B_last_files=$(tar -tf "$W/tars/${#tags[@]}.tar" | grep -vc '/$' || true)
fi
put_release() { # INDEX
  retire "$B"; mkdir -p "$B"
  tar -x -C "$B" -f "$W/tars/$1.tar"
}

# ---------------------------------------------------------------- run
# Every run starts from fresh repositories and caches; the dataset copies
# are shared.  Per-run values are collected in R_T (wall s), R_C (CPU s),
# R_M (peak KiB), keyed tool.phase, space-separated, one value per run.
declare -A R_T R_C R_M
collect() { # TOOL PHASE WALL CPU PEAK SIZE
  R_T[$1.$2]+=" $3" R_C[$1.$2]+=" $4" R_M[$1.$2]+=" $5"
  S[$1.$2]=$6
}

run_once() { # RUN
  local run=$1 t dest tot cpu peak i
  for t in vault restic borg out; do retire "$W/$t"; done
  mkdir -p "$W/vault" "$W/restic" "$W/borg" "$W/out"
  say "run $run of $BENCH_RUNS: vault identity and repositories"
  run_plain "vault-keygen-r$run" "$VAULT_BIN" keygen -o "$VAULT_ID"
  for t in "${TOOLS[@]}"; do init_repo "$t" "$W/$t/repoA"; done

  say "phase 1: first backup of A"
  for t in "${TOOLS[@]}"; do
    backup "$t" "$W/$t/repoA" A1 "$t-p1-r$run" "$A"
    collect "$t" 1 "$LAST_T" "$LAST_C" "$LAST_M" "$(dusb "$W/$t/repoA")"
    say "  $t: ${LAST_T}s wall, ${LAST_C}s CPU, $((LAST_M / 1024)) MiB peak"
  done

  say "phase 2: unchanged re-backup of A"
  for t in "${TOOLS[@]}"; do
    backup "$t" "$W/$t/repoA" A2 "$t-p2-r$run" "$A"
    collect "$t" 2 "$LAST_T" "$LAST_C" "$LAST_M" "$(dusb "$W/$t/repoA")"
    say "  $t: ${LAST_T}s wall, ${LAST_C}s CPU, $((LAST_M / 1024)) MiB peak"
  done
  VAULT_P2_JSON=$W/logs/vault-p2-r$run.log
  C_vault=$(dusb "$VAULT_CACHE")
  C_restic=$(dusb "$RESTIC_CACHE")
  C_borg=$(dusb "$BORG_CACHE_DIR")

  say "phase 3: extract/restore of A into a fresh directory"
  for t in "${TOOLS[@]}"; do
    dest=$W/out/$t
    restore "$t" "$W/$t/repoA" A2 "$t-p3-r$run" "$dest"
    collect "$t" 3 "$LAST_T" "$LAST_C" "$LAST_M" "$(dusb "$W/$t/repoA")"
    say "  $t: ${LAST_T}s wall, ${LAST_C}s CPU, $((LAST_M / 1024)) MiB peak"
    if [ "$t" = vault ] || [ "$BENCH_VERIFY_ALL" = 1 ]; then
      verify_content "$t-p3-r$run" "$A" "$dest$A"
      say "  $t: restored tree equals the source (diff -r)"
      if [ "$run" = 1 ]; then
        NOTES+=("$t restore of A: contents equal to the source (diff -r --no-dereference), in every run")
      fi
      if [ "$t" = vault ]; then verify_meta "vault-p3-r$run" "$A" "$dest$A"; fi
    fi
    retire "$dest"
  done

  [ ${#tags[@]} -gt 0 ] || return 0
  say "phase 4: ${#tags[@]} successive release backups into the same path"
  for t in "${TOOLS[@]}"; do
    init_repo "$t" "$W/$t/repoB"
    tot=0 cpu=0 peak=0 i=0
    for _ in "${tags[@]}"; do
      i=$((i + 1))
      put_release "$i"
      backup "$t" "$W/$t/repoB" "B$i" "$t-p4-$i-r$run" "$B"
      tot=$(awk -v a="$tot" -v b="$LAST_T" 'BEGIN {printf "%.2f", a + b}')
      cpu=$(awk -v a="$cpu" -v b="$LAST_C" 'BEGIN {printf "%.2f", a + b}')
      if [ "$LAST_M" -gt "$peak" ]; then peak=$LAST_M; fi
    done
    collect "$t" 4 "$tot" "$cpu" "$peak" "$(dusb "$W/$t/repoB")"
    say "  $t: ${tot}s wall, ${cpu}s CPU in total, $((peak / 1024)) MiB peak"
  done
  # the last release back from vault, untimed
  retire "$W/out/vaultB"; mkdir -p "$W/out/vaultB"
  run_plain "vault-p4-extract-r$run" env XDG_CACHE_HOME="$VAULT_CACHE" \
    "$VAULT_BIN" extract "$W/vault/repoB" latest -C "$W/out/vaultB" -i "$VAULT_ID"
  verify_content "vault-p4-r$run" "$B" "$W/out/vaultB$B"
  if [ "$run" = 1 ]; then
    NOTES+=("vault restore of the last release (${tags[-1]}): contents equal (diff -r --no-dereference), in every run")
  fi
  retire "$W/out/vaultB"
}

# Contention on this machine while we run: CPU pressure (PSI) and load.
psi0=$(psi_some) t0=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for run in $(seq 1 "$BENCH_RUNS"); do run_once "$run"; done
psi1=$(psi_some) t1=$(date +%s)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -n "$psi0" ] && [ -n "$psi1" ] && [ "$t1" -gt "$t0" ]; then
  psi_pct=$(awk -v a="$psi0" -v b="$psi1" -v s=$((t1 - t0)) 'BEGIN { printf "%.0f%%", (b - a) / 1e4 / s }')
else
  psi_pct="unknown"
fi

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for k in "${!R_T[@]}"; do
  T[$k]=$(median <<<"${R_T[$k]}")
  C[$k]=$(median <<<"${R_C[$k]}")
  M[$k]=$(median <<<"${R_M[$k]}")
done
br=$(json_field "$VAULT_P2_JSON" bytes_read)
fu=$(json_field "$VAULT_P2_JSON" files_unchanged)
fn=$(json_field "$VAULT_P2_JSON" files)
NOTES+=("vault unchanged re-add (last run): ${fu:-?} of ${fn:-?} files unchanged, ${br:-?} bytes read")

# ---------------------------------------------------------------- report


report() {
  echo "# vault benchmark: vault vs restic vs borg"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), host: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
  echo "- runs: $BENCH_RUNS (each with fresh repositories and caches; times and peak RSS are medians over the runs, sizes from the last run)"
  echo "- contention: CPU pressure (PSI some) ${psi_pct} of the benchmark's duration; load average at start $load_start, at end $load_end"
  echo "- vault: ${vv:-vault}, source tree at commit $vcommit, \`$VAULT_BIN\`; default settings (zstd level 3, one worker thread per core), files cache in XDG_CACHE_HOME"
  echo "- restic: $(restic version | head -n 1); repository version 2, compression auto (its default), --cache-dir in the work dir, RESTIC_PASSWORD set"
  echo "- borg: $(borg --version); init --encryption=repokey-blake2, create --compression lz4 (its default), BORG_PASSPHRASE, BORG_CACHE_DIR/BORG_CONFIG_DIR in the work dir"
  echo "- page cache: $cache_mode$([ "$cache_mode" = cold ] && echo ' (sync; echo 3 > /proc/sys/vm/drop_caches before every timed step)')"
  echo "- dataset A: copy of $BENCH_SHARE_SRC${BENCH_SHARE_LIMIT:+ (limited: $BENCH_SHARE_LIMIT)}: $(fmt_bmib "$A_bytes") MiB, $A_files files, $A_entries entries"
  if [ ${#tags[@]} -gt 0 ]; then
    echo "- dataset B: ${#tags[@]} releases of \`$BENCH_SOURCE_GIT\` (${tags[0]} .. ${tags[-1]}), each unpacked with git archive | tar -x into the same path, replacing the previous one; last release $(fmt_bmib "$B_last_bytes") MiB, $B_last_files files"
  else
    echo "- dataset B: skipped (BENCH_SOURCE_GIT not set)"
  fi
  echo "- wall time: seconds (GNU time %e); CPU: user + system seconds (%U + %S); peak RSS: MiB (%M); repo size: du -sb of the repository after the phase, MiB"
  echo
  echo "| phase | metric | vault | restic | borg | vault/restic | target | vault target | borg/restic |"
  echo "|---|---|--:|--:|--:|--:|--:|---|--:|"
  local p name tgt_t tgt_m tgt_s r
  for p in 1 2 3 4; do
    [ -n "${T[vault.$p]:-}" ] || continue
    case $p in
      1) name="1 first backup of A";        tgt_t=0.5 ;;
      2) name="2 unchanged re-backup of A"; tgt_t=0.2 ;;
      3) name="3 restore of A";             tgt_t=0.5 ;;
      4) name="4 ${#tags[@]} release backups of B (total)"; tgt_t="" ;;
    esac
    tgt_m=1.0
    tgt_s=""
    if [ $p = 2 ] || [ $p = 4 ]; then tgt_s=1.0; fi
    r=$(ratio "${T[vault.$p]}" "${T[restic.$p]}")
    echo "| $name | wall time (s) | $(fmt_s "${T[vault.$p]}") | $(fmt_s "${T[restic.$p]}") | $(fmt_s "${T[borg.$p]}") | $r | ${tgt_t:+≤ $tgt_t} | $(verdict "$r" "$tgt_t") | $(ratio "${T[borg.$p]}" "${T[restic.$p]}") |"
    r=$(ratio "${C[vault.$p]}" "${C[restic.$p]}")
    echo "| | CPU user+sys (s) | $(fmt_s "${C[vault.$p]}") | $(fmt_s "${C[restic.$p]}") | $(fmt_s "${C[borg.$p]}") | $r | ${tgt_t:+(≤ $tgt_t)} | $([ -n "$tgt_t" ] && echo "($(verdict "$r" "$tgt_t"))") | $(ratio "${C[borg.$p]}" "${C[restic.$p]}") |"
    r=$(ratio "${M[vault.$p]}" "${M[restic.$p]}")
    echo "| | peak RSS (MiB) | $(fmt_mib "${M[vault.$p]}") | $(fmt_mib "${M[restic.$p]}") | $(fmt_mib "${M[borg.$p]}") | $r | ≤ $tgt_m | $(verdict "$r" "$tgt_m") | $(ratio "${M[borg.$p]}" "${M[restic.$p]}") |"
    r=$(ratio "${S[vault.$p]}" "${S[restic.$p]}")
    echo "| | repo size (MiB) | $(fmt_bmib "${S[vault.$p]}") | $(fmt_bmib "${S[restic.$p]}") | $(fmt_bmib "${S[borg.$p]}") | $r | ${tgt_s:+≤ $tgt_s} | $(verdict "$r" "$tgt_s") | $(ratio "${S[borg.$p]}" "${S[restic.$p]}") |"
  done
  echo
  echo "Targets apply to vault/restic wall time, peak RSS and the final size of each repository (after phase 2 for A, after phase 4 for B). The CPU rows show the same time targets in parentheses, for information: CPU time is less disturbed than wall time by other load on the machine."
  echo
  echo "Local cache size after phase 2 (not part of the repo size): vault $(fmt_bmib "$C_vault") MiB, restic $(fmt_bmib "$C_restic") MiB, borg $(fmt_bmib "$C_borg") MiB."
  if [ "$BENCH_RUNS" -gt 1 ]; then
    echo
    echo "Wall time of every run (s):"
    echo
    echo "| phase | vault | restic | borg |"
    echo "|---|---|---|---|"
    for p in 1 2 3 4; do
      [ -n "${R_T[vault.$p]:-}" ] || continue
      echo "| $p | ${R_T[vault.$p]# } | ${R_T[restic.$p]# } | ${R_T[borg.$p]# } |"
    done
  fi
  local p label
  for p in 1 2 3; do
    label=vault-p$p-r$BENCH_RUNS
    [ -s "$W/logs/$label.log.err" ] && grep -q '^timings: ' "$W/logs/$label.log.err" || continue
    echo
    case $p in
      1) echo "Where vault's CPU time went, phase 1 (first add), last run (VAULT_TIMINGS=1):" ;;
      2) echo "Where vault's CPU time went, phase 2 (unchanged re-add), last run:" ;;
      3) echo "Where vault's CPU time went, phase 3 (extract), last run:" ;;
    esac
    echo
    grep '^timings: ' "$W/logs/$label.log.err" | sed 's/^timings: //' |
      awk -F' \\| ' 'NR == 1 { print "| " $1 " | " $2 " | " $3 " | " $4 " |"; print "|---|--:|--:|--:|"; next }
                     { print "| " $1 " | " $2 " | " $3 " | " $4 " |" }'
  done
  if [ -n "$PRIMITIVES" ]; then
    echo
    echo "Primitives on this machine, one core, 256 MiB each (tests/bench/hash_speed.c):"
    echo
    echo "$PRIMITIVES"
  fi
  if [ ${#NOTES[@]} -gt 0 ]; then
    echo
    echo "Notes:"
    local n
    for n in "${NOTES[@]}"; do echo "- $n"; done
  fi
}

# The primitives' speeds on this machine (tests/bench/hash_speed.c: chunk
# ID, object name, sealing; libcrypto and libsodium), so that a ratio
# can be read against what the CPU offers.  Built beside VAULT_BIN.
PRIMITIVES=
primitives() {
  local build_dir
  build_dir=$(cd "$(dirname "$VAULT_BIN")/.." && pwd)
  if cmake --build "$build_dir" --target hash_speed >/dev/null 2>&1 &&
     [ -x "$build_dir/tests/hash_speed" ]; then
    PRIMITIVES=$("$build_dir/tests/hash_speed" 256)
  fi
}
primitives

say "done"
if [ -n "$BENCH_REPORT" ]; then
  report | tee "$BENCH_REPORT"
else
  report
fi
