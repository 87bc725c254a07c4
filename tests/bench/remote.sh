#!/usr/bin/env bash
# Benchmark: vault against restic on remote storage, in one run.
#
# Servers: `rclone serve restic` (REST) and a one-node Ceph RADOS Gateway
# (S3, tests/servers/ceph_rgw.sh), both on loopback.  Links, made by the
# test proxy (tests/tools/fault_proxy) in front of the server:
#   direct       loopback through the proxy, no delay
#   20ms-100M    20 ms round trip, 100 Mbit/s each way
#   100ms-1G     100 ms round trip, 1 Gbit/s each way
# Phases per server, link and tool, each with a fresh repository and cache
# and the page cache dropped first: first add, unchanged re-add, ls -R of
# the snapshot with the cache warm, extract.  Reported per phase: wall
# time, peak RSS (GNU time), requests and bytes through the proxy, and the
# ratio vault/restic; for the bandwidth-bound link also the floor (stored
# bytes / bandwidth) and vault's time as a multiple of it.
#
# Environment:
#   VAULT_BIN        vault binary (default: build/bin/vault of this tree)
#   BENCH_DIR        work directory (default /tmp/vault-rbench; emptied)
#   BENCH_KEEP=1     keep it at the end
#   BENCH_SOURCE     what is backed up (default: a copy of /usr/share/doc
#                    plus, with BENCH_SOURCE_GIT, one release of it)
#   BENCH_SOURCE_GIT a git directory; BENCH_TAG (default: its newest tag
#                    matching BENCH_TAG_PATTERN) is exported into the data
#   BENCH_SERVERS    "rest s3" (default) or one of them
#   BENCH_LINKS      "direct 20ms-100M 100ms-1G" (default) or a subset
#   BENCH_PHASES     "add readd ls extract" (default) or the first ones of
#                    them (without extract the restored tree is not compared)
#   BENCH_DROP_CACHES 1 (default): drop the page cache before each step
#   BENCH_REPORT     also write the Markdown report to this file
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

BENCH_DIR=${BENCH_DIR:-/tmp/vault-rbench}
BENCH_KEEP=${BENCH_KEEP:-0}
VAULT_BIN=${VAULT_BIN:-$top/build/bin/vault}
PROXY_BIN=${PROXY_BIN:-$(dirname "$VAULT_BIN")/fault_proxy}
BENCH_SOURCE=${BENCH_SOURCE:-}
BENCH_SOURCE_GIT=${BENCH_SOURCE_GIT:-}
BENCH_TAG=${BENCH_TAG:-}
BENCH_TAG_PATTERN=${BENCH_TAG_PATTERN:-'^[A-Za-z_-]*[0-9]+([._][0-9]+)+$'}
BENCH_SERVERS=${BENCH_SERVERS:-rest s3}
BENCH_LINKS=${BENCH_LINKS:-direct 20ms-100M 100ms-1G}
BENCH_PHASES=${BENCH_PHASES:-add readd ls extract}
BENCH_DROP_CACHES=${BENCH_DROP_CACHES:-1}
BENCH_REPORT=${BENCH_REPORT:-}
GTIME=/usr/bin/time

say() { printf '[rbench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '\nBENCH FAILED: %s\n' "$*" >&2; exit 1; }

[ -x "$GTIME" ] || die "GNU time is missing at $GTIME (apt-get install time)"
[ -x "$VAULT_BIN" ] || die "vault binary not found at $VAULT_BIN"
[ -x "$PROXY_BIN" ] || die "test proxy not found at $PROXY_BIN (built with the tests)"
command -v restic >/dev/null || die "restic is not installed"
command -v rclone >/dev/null || die "rclone is not installed"
VAULT_BIN=$(realpath "$VAULT_BIN")
PROXY_BIN=$(realpath "$PROXY_BIN")
case "$BENCH_DIR" in
  /|/tmp|/home|/root|/usr|"") die "BENCH_DIR=$BENCH_DIR is not a safe work directory" ;;
esac

# The link each name stands for: one-way delay in ms, bytes per second
# each way (0: no cap).
link_delay() { case $1 in direct) echo 0 ;; 20ms-100M) echo 10 ;; 100ms-1G) echo 50 ;; *) die "unknown link $1" ;; esac; }
link_rate() { case $1 in direct) echo 0 ;; 20ms-100M) echo 12500000 ;; 100ms-1G) echo 125000000 ;; *) die "unknown link $1" ;; esac; }

W=$BENCH_DIR
PIDS=()
cleanup() {
  local rc=$?
  [ -z "${PROXY_PID:-}" ] || kill "$PROXY_PID" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${RGW_DIR:-}" ]; then "$top/tests/servers/ceph_rgw.sh" stop "$RGW_DIR" >/dev/null 2>&1 || true; fi
  if [ "$BENCH_KEEP" = 1 ]; then say "work directory kept: $W"; else rm -rf "$W"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$W"
mkdir -p "$W"/{data,logs,out,rest,trash}
cd "$W"

unset VAULT_IDENTITY VAULT_REPOSITORY VAULT_PASSPHRASE RESTIC_REPOSITORY \
      RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND GOMAXPROCS
export RESTIC_PASSWORD=vault-bench-password
export XDG_CONFIG_HOME=$W/config
VAULT_ID=$W/id.txt
"$VAULT_BIN" keygen -o "$VAULT_ID" >/dev/null 2>&1 || die "vault keygen failed"

cache_mode=warm
drop_caches() {
  [ "$BENCH_DROP_CACHES" = 1 ] || return 0
  sync
  if echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then cache_mode=cold
  else cache_mode=warm; BENCH_DROP_CACHES=0; say "cannot drop the page cache"; fi
}
retire() { [ -e "$1" ] || return 0; mv "$1" "$W/trash/$(date +%s%N)-$RANDOM"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # PORT
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  die "nothing listens on port $1"
}

# ---------------------------------------------------------------- data
D=$W/data/src
if [ -n "$BENCH_SOURCE" ]; then
  mkdir -p "$D"; cp -a "$BENCH_SOURCE/." "$D/"
else
  mkdir -p "$D/doc"; cp -a /usr/share/doc/. "$D/doc/"
  if [ -n "$BENCH_SOURCE_GIT" ]; then
    tag=$BENCH_TAG
    [ -n "$tag" ] || tag=$(git --git-dir="$BENCH_SOURCE_GIT" for-each-ref --sort=creatordate \
        --format='%(refname:short)' refs/tags | grep -E -- "$BENCH_TAG_PATTERN" | tail -n 1)
    [ -n "$tag" ] || die "no release tag in $BENCH_SOURCE_GIT"
    mkdir -p "$D/release"
    git --git-dir="$BENCH_SOURCE_GIT" archive --format=tar "$tag" | tar -x -C "$D/release"
  fi
fi
D_bytes=$(du -sb "$D" | cut -f1)
D_files=$(find "$D" -type f | wc -l)
say "data: $((D_bytes / 1048576)) MiB, $D_files files"

# ---------------------------------------------------------------- servers
REST_PORT=
start_rest() {
  REST_PORT=$(free_port)
  rclone serve restic --addr "127.0.0.1:$REST_PORT" "$W/rest" >"$W/logs/rclone.log" 2>&1 &
  PIDS+=($!)
  wait_port "$REST_PORT"
}
RGW_DIR= S3_HOSTPORT=
start_s3() {
  RGW_DIR=$W/rgw
  local envf=$W/rgw.env
  "$top/tests/servers/ceph_rgw.sh" start "$RGW_DIR" >"$envf" 2>"$W/logs/rgw.log" \
    || { tail -n 30 "$W/logs/rgw.log" >&2; die "Ceph RGW did not start"; }
  # shellcheck disable=SC1090
  . "$envf"
  S3_HOSTPORT=${VAULT_TEST_S3_URL#s3:http://}
  S3_HOSTPORT=${S3_HOSTPORT%%/*}
}

# The proxy for one step: its port into PROXY_PORT; stats into a file read
# by proxy_stop.
PROXY_PID= PROXY_PORT= PROXY_STATS=
proxy_start() { # TARGET_PORT LINK [REQUEST_LOG]
  PROXY_STATS=$W/logs/proxy.$RANDOM.stats
  local out=$W/logs/proxy.$RANDOM.out
  # Each step's requests with their times, to see the round trips taken
  # in turn (fault_proxy --log).
  local -a log=()
  [ -z "${3:-}" ] || log=(--log "$3")
  "$PROXY_BIN" --listen "127.0.0.1:${PROXY_LISTEN_PORT:-0}" --to "127.0.0.1:$1" \
    --latency "$(link_delay "$2")" --bandwidth "$(link_rate "$2")" \
    --stats "$PROXY_STATS" "${log[@]}" >"$out" 2>"$W/logs/proxy.err" &
  PROXY_PID=$!
  for _ in $(seq 100); do
    PROXY_PORT=$(awk '/^port /{print $2; exit}' "$out" 2>/dev/null || true)
    [ -n "$PROXY_PORT" ] && return 0
    sleep 0.05
  done
  die "the test proxy did not start"
}
LAST_REQ=0 LAST_UP=0 LAST_DOWN=0
proxy_stop() {
  kill -TERM "$PROXY_PID" 2>/dev/null || true
  wait "$PROXY_PID" 2>/dev/null || true
  LAST_REQ=$(awk '/^requests/{print $2}' "$PROXY_STATS" 2>/dev/null || echo 0)
  LAST_UP=$(awk '/^bytes_up/{print $2}' "$PROXY_STATS" 2>/dev/null || echo 0)
  LAST_DOWN=$(awk '/^bytes_down/{print $2}' "$PROXY_STATS" 2>/dev/null || echo 0)
}

# ---------------------------------------------------------------- tools
# Repository location of TOOL on SERVER for a link, seen through PROXY_PORT.
location() { # TOOL SERVER LINK
  case $2 in
    rest) echo "rest:http://127.0.0.1:$PROXY_PORT/$1-$3/" ;;
    s3) echo "s3:http://127.0.0.1:$PROXY_PORT/$1-${3,,}" ;; # bucket names are lower case
  esac
}
server_port() { case $1 in rest) echo "$REST_PORT" ;; s3) echo "${S3_HOSTPORT##*:}" ;; esac; }

LAST_T=0 LAST_M=0
step() { # LABEL SERVER LINK CMD... (timed, through a fresh proxy)
  local label=$1 server=$2 link=$3; shift 3
  local log=$W/logs/$label.log tf=$W/logs/$label.time rc=0
  drop_caches
  "$GTIME" -f '%e %M' -o "$tf" "$@" >"$log" 2>"$log.err" || rc=$?
  if [ $rc -ne 0 ]; then
    printf '\nBENCH FAILED: %s (exit %s)\n  command: %s\n' "$label" "$rc" "$*" >&2
    tail -n 20 "$log.err" | sed 's/^/    /' >&2
    exit 1
  fi
  read -r LAST_T LAST_M < <(tail -n 1 "$tf")
}

declare -A T M Q U B
run_tool() { # TOOL SERVER LINK
  local tool=$1 server=$2 link=$3 key="$1.$2.$3"
  local cache=$W/cache-$tool-$server-$link dest=$W/out/$tool-$server-$link
  local port; port=$(server_port "$server")
  local -a vault=(env XDG_CACHE_HOME="$cache" "$VAULT_BIN")
  local -a restic=(restic --cache-dir "$cache")
  # One port for all of a tool's steps: a repository's location stays
  # the same from one backup to the next (vault keeps what it found at
  # each location, and saves its add marker a round trip sooner for it).
  PROXY_LISTEN_PORT=$(free_port)
  proxy_start "$port" direct
  local repo; repo=$(location "$tool" "$server" "$link")
  case $tool in
    vault) "${vault[@]}" init "$repo" -i "$VAULT_ID" >"$W/logs/$key.init" 2>&1 ;;
    restic) "${restic[@]}" -r "$repo" init --repository-version 2 >"$W/logs/$key.init" 2>&1 ;;
  esac || { tail -n 20 "$W/logs/$key.init" >&2; die "$key: init failed"; }
  proxy_stop
  for phase in $BENCH_PHASES; do
    proxy_start "$port" "$link" "$W/logs/$key.$phase.requests"
    repo=$(location "$tool" "$server" "$link")
    case $tool.$phase in
      vault.add|vault.readd) step "$key.$phase" "$server" "$link" "${vault[@]}" add "$repo" "$D" -i "$VAULT_ID" ;;
      restic.add|restic.readd) step "$key.$phase" "$server" "$link" "${restic[@]}" -r "$repo" backup "$D" ;;
      vault.ls) step "$key.$phase" "$server" "$link" "${vault[@]}" ls "$repo" latest -R -i "$VAULT_ID" ;;
      restic.ls) step "$key.$phase" "$server" "$link" "${restic[@]}" -r "$repo" ls latest ;;
      vault.extract) retire "$dest"; mkdir -p "$dest"
        step "$key.$phase" "$server" "$link" "${vault[@]}" extract "$repo" latest -C "$dest" -i "$VAULT_ID" ;;
      restic.extract) retire "$dest"; mkdir -p "$dest"
        step "$key.$phase" "$server" "$link" "${restic[@]}" -r "$repo" restore latest --target "$dest" ;;
    esac
    proxy_stop
    T[$key.$phase]=$LAST_T M[$key.$phase]=$LAST_M
    Q[$key.$phase]=$LAST_REQ U[$key.$phase]=$LAST_UP B[$key.$phase]=$LAST_DOWN
    say "$key.$phase: ${LAST_T} s, $((LAST_M / 1024)) MiB, $LAST_REQ requests, up $((LAST_UP / 1048576)) MiB, down $((LAST_DOWN / 1048576)) MiB"
  done
  # The restored tree must equal the source (both tools restore the full
  # path under the target).
  case " $BENCH_PHASES " in *" extract "*) ;; *) return 0 ;; esac
  diff -r --no-dereference "$D" "$dest$D" >"$W/logs/$key.diff" 2>&1 \
    || die "$key: restored tree differs from the source (see $W/logs/$key.diff)"
  retire "$dest"
}

for server in $BENCH_SERVERS; do
  case $server in
    rest) say "starting rclone serve restic"; start_rest ;;
    s3) say "starting Ceph RGW"; start_s3 ;;
    *) die "unknown server $server" ;;
  esac
  for link in $BENCH_LINKS; do
    for tool in vault restic; do
      say "$server, link $link: $tool"
      run_tool "$tool" "$server" "$link"
    done
  done
done

# ---------------------------------------------------------------- report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
{
  echo "## vault vs restic on remote storage ($(date -u +%F), $cache_mode cache)"
  echo
  echo "vault $("$VAULT_BIN" --version | head -n 1), $(restic version | head -n 1), $(rclone version | head -n 1)"
  echo "data: $((D_bytes / 1048576)) MiB in $D_files files"
  echo
  echo "| server | link | phase | vault s | restic s | ratio | vault MiB | restic MiB | RSS ratio | vault req | restic req | vault up MiB | floor s | vault/floor |"
  echo "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
  for server in $BENCH_SERVERS; do
    for link in $BENCH_LINKS; do
      rate=$(link_rate "$link")
      for phase in $BENCH_PHASES; do
        v="vault.$server.$link.$phase" r="restic.$server.$link.$phase"
        floor=- ff=-
        if [ "$rate" -gt 0 ] && { [ $phase = add ] || [ $phase = extract ]; }; then
          bytes=${U[$v]}; [ $phase = extract ] && bytes=${B[$v]}
          floor=$(awk -v b="$bytes" -v r="$rate" 'BEGIN { printf "%.2f", b / r }')
          ff=$(ratio "${T[$v]}" "$floor")
        fi
        echo "| $server | $link | $phase | ${T[$v]} | ${T[$r]} | $(ratio "${T[$v]}" "${T[$r]}") | $(mib "${M[$v]}") | $(mib "${M[$r]}") | $(ratio "${M[$v]}" "${M[$r]}") | ${Q[$v]} | ${Q[$r]} | $((U[$v] / 1048576)) | $floor | $ff |"
      done
    done
  done
} | tee "${BENCH_REPORT:-/dev/null}"
