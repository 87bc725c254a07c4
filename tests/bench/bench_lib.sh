# bench_lib.sh - helpers shared by the benchmarks run.sh and scale.sh.
# Sourced, not run.  The caller sets W (its work directory, with a logs/
# folder), BENCH_DROP_CACHES (1: drop the page cache before each timed
# step if we can) and GTIME (GNU time).

say() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '\nBENCH FAILED: %s\n' "$*" >&2; exit 1; }

# What the report says of the page cache: cold once a drop worked.
cache_mode=warm
drop_caches() {
  [ "$BENCH_DROP_CACHES" = 1 ] || return 0
  sync
  if echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
    cache_mode=cold
  else
    cache_mode=warm
    BENCH_DROP_CACHES=0
    say "cannot drop the page cache; timings are warm-cache"
  fi
}

# Untimed tool command; stops the benchmark if it fails.
run_plain() { # LABEL CMD...
  local label=$1; shift
  local log=$W/logs/$label.log rc=0
  "$@" >"$log" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    printf '\nBENCH FAILED: %s (exit %s)\n  command: %s\n  output (last 30 lines of %s):\n' \
      "$label" "$rc" "$*" "$log" >&2
    tail -n 30 "$log" | sed 's/^/    /' >&2
    exit 1
  fi
}

# Timed tool command: sets LAST_T (wall s), LAST_C (user+sys CPU s) and
# LAST_M (peak RSS, KiB).  Drops the page cache first unless
# BENCH_WARM=1 is set for this one step.  A status listed in
# BENCH_OK_STATUS (space-separated; default "0") counts as success.
LAST_T=0 LAST_C=0 LAST_M=0
run_timed() { # LABEL CMD...
  local label=$1; shift
  local log=$W/logs/$label.log tf=$W/logs/$label.time rc=0
  [ "${BENCH_WARM:-0}" = 1 ] || drop_caches
  "$GTIME" -f '%e %M %U %S' -o "$tf" "$@" >"$log" 2>"$log.err" || rc=$?
  case " ${BENCH_OK_STATUS:-0} " in
    *" $rc "*) ;;
    *)
      printf '\nBENCH FAILED: %s (exit %s)\n  command: %s\n  stderr (last 30 lines):\n' \
        "$label" "$rc" "$*" >&2
      tail -n 30 "$log.err" | sed 's/^/    /' >&2
      printf '  stdout (last 10 lines):\n' >&2
      tail -n 10 "$log" | sed 's/^/    /' >&2
      exit 1 ;;
  esac
  local u sy
  read -r LAST_T LAST_M u sy < <(tail -n 1 "$tf")
  LAST_C=$(awk -v u="$u" -v s="$sy" 'BEGIN { printf "%.2f", u + s }')
}

dusb() { du -sb "$1" | cut -f1; }

# Contention on this machine while we run: CPU pressure (PSI), in
# microseconds of stall since boot.
psi_some() { awk '/^some/ { sub("total=", "", $5); print $5 }' /proc/pressure/cpu 2>/dev/null || echo ""; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
verdict() { # RATIO TARGET
  [ "$2" = "" ] && { echo ""; return; }
  [ "$1" = n/a ] && { echo "n/a"; return; }
  awk -v r="$1" -v t="$2" 'BEGIN { print (r <= t ? "met" : "**missed**") }'
}
fmt_s() { printf '%.2f' "$1"; }
fmt_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
fmt_bmib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
