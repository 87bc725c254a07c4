#!/usr/bin/env bash
# mount.sh - `vault mount` against `restic mount` on the same data, in one
# run.  Both back up the same folder (a file of random bytes and a copy of
# /usr/share, or part of it), then each is mounted in turn and timed,
# with the page cache dropped before every step (root needed; otherwise
# warm, and the report says so):
#
#   mount + ls     from starting the mount command until `ls snapshots/`
#                  has answered (what a user waits for)
#   ls snapshots/  the first `ls snapshots/` once the mount is there
#   find | wc -l   over the snapshot's /usr/share copy
#   du -s          over the same
#   cat big        `cat` of the big file to /dev/null
#   peak RSS       the mount process's VmHWM at the end
#
# and prints a Markdown table with the ratios vault/restic.  Targets: every
# figure <= 0.5 of restic's.
#
# Settings (environment):
#   BENCH_DIR          work folder (default /tmp/vault-bench-mount), emptied
#   VAULT_BIN          the vault binary (default build/bin/vault)
#   BENCH_BIG_MB       size of the big file in MiB (default 500)
#   BENCH_SHARE_SRC    what is copied (default /usr/share)
#   BENCH_SHARE_LIMIT  top-level names of it to copy ("doc man"); default all
#   BENCH_KEEP         1 keeps the work folder
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
VAULT_BIN=${VAULT_BIN:-$here/../../build/bin/vault}
VAULT_BIN=$(cd "$(dirname "$VAULT_BIN")" && pwd)/$(basename "$VAULT_BIN")
BENCH_DIR=${BENCH_DIR:-/tmp/vault-bench-mount}
BIG_MB=${BENCH_BIG_MB:-500}
SHARE_SRC=${BENCH_SHARE_SRC:-/usr/share}

for tool in restic fusermount3 mountpoint python3; do
    command -v "$tool" >/dev/null || {
        echo "mount.sh: $tool is needed (VAULT_DEPS_BENCH=1 scripts/deps.sh)" >&2
        exit 1
    }
done
[ -x "$VAULT_BIN" ] || { echo "mount.sh: no vault at $VAULT_BIN" >&2; exit 1; }

log() { echo "mount.sh: $*" >&2; }

cleanup() {
    for m in "$BENCH_DIR"/mnt-*; do
        [ -d "$m" ] && mountpoint -q "$m" && fusermount3 -u -z "$m"
    done
    if [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf "$BENCH_DIR"; fi
}
trap cleanup EXIT
cleanup
mkdir -p "$BENCH_DIR"
cd "$BENCH_DIR"
export XDG_CACHE_HOME=$BENCH_DIR/cache XDG_CONFIG_HOME=$BENCH_DIR/config

drop=warm
if [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ]; then drop=dropped; fi
drop_caches() {
    sync
    if [ "$drop" = dropped ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}

# --- data --------------------------------------------------------------------
log "making the data: a $BIG_MB MiB file and a copy of $SHARE_SRC"
DATA=$BENCH_DIR/data
mkdir -p "$DATA/share"
head -c $((BIG_MB * 1024 * 1024)) /dev/urandom >"$DATA/big"
if [ -n "${BENCH_SHARE_LIMIT:-}" ]; then
    for name in $BENCH_SHARE_LIMIT; do
        cp -a "$SHARE_SRC/$name" "$DATA/share/"
    done
else
    cp -a "$SHARE_SRC/." "$DATA/share/"
fi
files=$(find "$DATA/share" | wc -l)
share_mb=$(du -sm "$DATA/share" | cut -f1)

# --- backups (untimed) ---------------------------------------------------------
log "backing up with vault and restic"
"$VAULT_BIN" keygen -o id.txt >/dev/null 2>&1
"$VAULT_BIN" init vrepo -i id.txt >/dev/null
"$VAULT_BIN" add vrepo "$DATA" -i id.txt >/dev/null
echo bench-password >pw.txt
export RESTIC_PASSWORD_FILE=$BENCH_DIR/pw.txt
restic init -q --repo rrepo >/dev/null
restic backup -q --repo rrepo "$DATA" >/dev/null

# now_ms: milliseconds since the epoch.
now_ms() { date +%s%3N; }

# timed CMD...: runs CMD (output discarded), prints seconds.
timed() {
    local t0 t1
    t0=$(now_ms)
    "$@" >/dev/null
    t1=$(now_ms)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1000 }'
}

declare -A R
# bench NAME CMD...: mounts with CMD at mnt-NAME and times each step.
bench() {
    local name=$1
    shift
    local mnt=$BENCH_DIR/mnt-$name
    mkdir -p "$mnt"
    drop_caches
    local t0 t1 pid
    t0=$(now_ms)
    "$@" "$mnt" >"mount-$name.log" 2>&1 &
    pid=$!
    until mountpoint -q "$mnt"; do
        kill -0 "$pid" 2>/dev/null || { log "$name: mount failed: $(cat "mount-$name.log")"; exit 1; }
        sleep 0.01
    done
    local t_mounted
    t_mounted=$(now_ms)
    ls "$mnt/snapshots/" >/dev/null
    t1=$(now_ms)
    R[$name,mount_ls]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
    R[$name,ls]=$(awk -v a="$t_mounted" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1000 }')
    local snap
    snap=$mnt/snapshots/$(ls "$mnt/snapshots" | head -n 1)
    drop_caches
    R[$name,find]=$(timed sh -c "find '$snap$DATA/share' | wc -l")
    drop_caches
    R[$name,du]=$(timed du -s "$snap$DATA/share")
    drop_caches
    R[$name,cat]=$(timed cat "$snap$DATA/big")
    local n
    n=$(find "$snap$DATA/share" | wc -l)
    [ "$n" = "$files" ] || log "$name: find counted $n entries, the source has $files"
    cmp -s "$snap$DATA/big" "$DATA/big" || log "$name: the big file differs from the source"
    R[$name,rss]=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
    fusermount3 -u "$mnt"
    wait "$pid" || true
}

log "timing vault mount"
bench vault "$VAULT_BIN" mount vrepo -i id.txt --foreground
log "timing restic mount"
bench restic restic --repo rrepo mount

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
verdict() { awk -v r="$1" 'BEGIN { print (r != "-" && r <= 0.5) ? "met" : "missed" }'; }

echo "# vault mount vs restic mount"
echo
echo "Data: one ${BIG_MB} MiB random file and $share_mb MiB / $files entries of $SHARE_SRC" \
     "(${BENCH_SHARE_LIMIT:-all of it}); page cache $drop before each step;" \
     "$(restic version | head -n 1 | cut -d' ' -f1-2), $(nproc) cores."
echo
echo "| step | vault | restic | vault/restic | target ≤ 0.5 |"
echo "|---|---|---|---|---|"
for row in "mount_ls:mount + first ls snapshots/ (s)" "ls:ls snapshots/ once mounted (s)" \
           "find:find | wc -l (s)" "du:du -s (s)" "cat:cat ${BIG_MB} MiB file (s)" \
           "rss:peak RSS (MiB)"; do
    key=${row%%:*}
    label=${row#*:}
    r=$(ratio "${R[vault,$key]}" "${R[restic,$key]}")
    echo "| $label | ${R[vault,$key]} | ${R[restic,$key]} | $r | $(verdict "$r") |"
done
