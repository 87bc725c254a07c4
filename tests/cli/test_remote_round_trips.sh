#!/usr/bin/env bash
# test_remote_round_trips.sh - the round trips a remote vault waits for
# in turn (issue #11), counted through the fault proxy with a long
# latency (150 ms each way: a round trip of 300 ms, a new connection one
# more), so that requests sent together and requests sent one after the
# other fall into clearly separate rounds of the proxy's request log:
#   - `ls -R` of a snapshot with the cache warm: one round (config, keys/,
#     snapshots/, index/ and locks/ listed at once), list requests and the
#     config only, snapshots/ listed once;
#   - a re-add of unchanged files: four rounds (config and keys/, with
#     the add marker sealed with the keys the last open found; locks/
#     and index/, which the format requires after the marker; the
#     snapshot; the marker's removal), one more for a new tree pack and
#     one for its index segment, and no HEAD before a save;
#   - the first add after init: no HEAD at all, no load of keys/ (init
#     left the envelope and founding record it saved in the cache), and
#     its marker saved with the config's read too (init recorded what
#     the open finds); a client without them loads them in one round.
# Skipped (77) without rclone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_remote.sh"

proxied_vault_ok

LATENCY=150                 # one way, ms
GAP=$((LATENCY))            # half a round trip: the edge between rounds

# rounds NAME: the number of rounds in proxy NAME's log, a new round
# starting when an answer came more than GAP ms after the first of the
# round it would join.
rounds() {
    sort -n -k1,1 "$WORK/$1.log" |
        awk -v gap="$GAP" 'NR == 1 || $1 - start > gap { n++; start = $1 } END { print n + 0 }'
}
# count NAME REGEX: requests of proxy NAME whose line matches REGEX.
count() {
    grep -c -E "$2" "$WORK/$1.log" || true
}
show() { sed 's/^/    /' "$WORK/$1.log" >&2; }

mkdir -p src/a/b
for i in $(seq 1 20); do
    seq "$i" "$((i * 500))" >"src/a/f$i.txt"
    random_file "src/a/b/r$i.bin" $((i * 3000))
done

# ---- first add ---------------------------------------------------------------
start_proxy add --latency "$LATENCY"
ok add "$LOC" "$WORK/src" -i id.txt
stop_proxy
heads=$(count add ' HEAD ')
[ "$heads" -eq 0 ] || { show add; fail "first add: $heads HEAD requests, expected none (fresh objects are saved without asking)"; }
# init kept the envelope and record 0 it saved in the cache
[ "$(count add ' GET /v/keys/[0-9a-f]')" -eq 0 ] || { show add; fail "first add: keys/ objects loaded although init cached them"; }
# with_config NAME: the add marker of proxy NAME's log was saved in the
# round of the config's read.
with_config() {
    local config marker
    config=$(grep -E ' GET /v/config ' "$WORK/$1.log" | cut -d' ' -f1)
    marker=$(grep -E ' POST /v/locks/' "$WORK/$1.log" | cut -d' ' -f1)
    [ -n "$config" ] && [ -n "$marker" ] && [ $((marker - config)) -le "$GAP" ]
}
with_config add || { show add; fail "first add: its marker was not saved with the config's read"; }
note "first add: $(proxy_stat add requests) requests in $(rounds add) rounds"
pass

# ---- another client: keys/ objects loaded together ---------------------------
start_proxy other --latency "$LATENCY"
XDG_CACHE_HOME=$WORK/cache-other ok ls "$LOC" -i id.txt
stop_proxy
keys_gets=$(count other ' GET /v/keys/[0-9a-f]')
keys_first=$(grep -E ' GET /v/keys/[0-9a-f]' "$WORK/other.log" | sort -n | head -n 1 | cut -d' ' -f1)
keys_last=$(grep -E ' GET /v/keys/[0-9a-f]' "$WORK/other.log" | sort -n | tail -n 1 | cut -d' ' -f1)
[ "$keys_gets" -ge 2 ] || { show other; fail "a new client: $keys_gets loads of keys/ objects, expected the envelope and the record"; }
[ $((keys_last - keys_first)) -le "$GAP" ] || { show other; fail "a new client: the keys/ objects loaded one after the other"; }
pass

# ---- unchanged re-add --------------------------------------------------------
start_proxy readd --latency "$LATENCY"
ok add "$LOC" "$WORK/src" -i id.txt
stop_proxy
n=$(rounds readd)
# The snapshot holds the source's ancestors, $WORK among them, whose
# times the logs written here change: their new tree may take a pack
# and an index segment, a round each.
expected=4
[ "$(count readd ' POST /v/data/')" -eq 0 ] || expected=$((expected + 1))
[ "$(count readd ' POST /v/index/')" -eq 0 ] || expected=$((expected + 1))
[ "$n" -le "$expected" ] || { show readd; fail "re-add: $n rounds in turn, expected $expected"; }
[ "$(count readd ' HEAD ')" -eq 0 ] || { show readd; fail "re-add: a HEAD request"; }
[ "$(count readd ' GET /v/keys/[0-9a-f]')" -eq 0 ] || { show readd; fail "re-add: keys/ objects loaded although cached"; }
with_config readd || { show readd; fail "re-add: its marker was not saved with the config's read"; }
# The marker goes up before locks/ and index/ are listed (format spec
# section 15a): that round trip stays.
marker=$(grep -E ' POST /v/locks/' "$WORK/readd.log" | cut -d' ' -f1)
listed=$(grep -E ' GET /v/index/ ' "$WORK/readd.log" | cut -d' ' -f1)
[ -n "$marker" ] && [ -n "$listed" ] && [ "$listed" -gt $((marker + GAP)) ] ||
    { show readd; fail "re-add: index/ listed before the add marker was up"; }
note "re-add: $(proxy_stat readd requests) requests in $n rounds"
pass

# ---- ls -R with the cache warm ----------------------------------------------
start_proxy ls --latency "$LATENCY"
ok ls "$LOC" latest -R -i id.txt
stop_proxy
grep -q 'f20.txt' "$WORK/out.txt" || fail "ls -R: f20.txt missing from: $(head -c 400 "$WORK/out.txt")"
n=$(rounds ls)
[ "$n" -eq 1 ] || { show ls; fail "ls -R: $n rounds in turn, expected 1"; }
other=$(grep -v -E ' GET /v/(config|keys/|snapshots/|index/|locks/) ' "$WORK/ls.log" || true)
[ -z "$other" ] || { show ls; fail "ls -R with a warm cache asked for more than listings and the config: $other"; }
[ "$(count ls ' GET /v/snapshots/ ')" -eq 1 ] || { show ls; fail "ls -R: snapshots/ listed more than once"; }
note "ls -R: $(proxy_stat ls requests) requests in $n round"
pass

# ---- a snapshot added elsewhere is seen -------------------------------------
# The listing of snapshots/ kept for reuse lives only seconds and within
# one process: the next ls sees a snapshot added since.
echo more >src/a/new.txt
start_proxy again
ok add "$LOC" "$WORK/src" -i id.txt
ok ls "$LOC" latest -R -i id.txt
stop_proxy
grep -q 'new.txt' "$WORK/out.txt" || fail "ls after an add does not show the new file"
pass

