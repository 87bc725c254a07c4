#!/usr/bin/env bash
# test_marker_ahead.sh - an add's marker put up in the round trip that
# reads the config (format spec section 15a, "Adds";
# vault/src/repo/marker_ahead.h), against rclone through the fault
# proxy's request log:
#   - it is kept only when the open finds the keys it was sealed with:
#     after another client changed keys/ (a share), or with an open record
#     that is damaged or names another vault, the add still lands, the
#     marker made ahead is taken down in the open's round trip, the add
#     writes its own, and no marker is left;
#   - a member removed since its last open: its add fails, and the marker
#     sealed with what it found before is taken down;
#   - whatever happens to the add (a dry run, an add refused after the
#     open), no marker is left in locks/;
#   - a prune after all that sweeps: nothing holds it back.
# Skipped (77) without rclone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_remote.sh"

proxied_vault_ok

# markers: lock objects in storage (not a save's temporaries).
markers() {
    find "$WORK/store/v/locks" -type f -regextype posix-extended \
        -regex '.*/[0-9a-f]{64}' | wc -l
}
# count NAME REGEX: requests of proxy NAME whose line matches REGEX.
count() {
    grep -c -E "$2" "$WORK/$1.log" || true
}
show() { sort -n "$WORK/$1.log" | sed 's/^/    /' >&2; }
# first_at NAME REGEX: when the first request of NAME matching REGEX came.
first_at() {
    grep -E "$2" "$WORK/$1.log" | sort -n | head -n 1 | cut -d' ' -f1
}
# The proxy delays each way by LATENCY: requests sent together arrive
# within a few ms, a request sent after an answer a round trip later.
LATENCY=50
GAP=$LATENCY

mkdir -p src/a
for i in $(seq 1 10); do
    seq "$i" "$((i * 300))" >"src/a/f$i.txt"
done

# ---- the marker goes up with the config, and is the add's ------------------
start_proxy first --latency "$LATENCY"
VAULT_HTTP_STATS=$WORK/first.http ok add "$LOC" "$WORK/src" -i id.txt
stop_proxy
# The shortest wait for an answer is the round trip (2 x LATENCY), which
# sizes the add's upload backlog: the saves (whose transfer libcurl
# counts as started when their body goes out) do not count.
wait_us=$(awk '{for (i = 1; i < NF; i++) if ($i == "answer_wait_us") w = $(i + 1)} END {print w + 0}' "$WORK/first.http")
[ "$wait_us" -ge $((2 * LATENCY * 900)) ] ||
    fail "add: shortest answer wait $wait_us us, below the round trip of $((2 * LATENCY)) ms"
[ "$(count first ' POST /v/locks/')" -eq 1 ] || { show first; fail "add: not one marker saved"; }
config_at=$(first_at first ' GET /v/config ')
marker_at=$(first_at first ' POST /v/locks/')
[ $((marker_at - config_at)) -le "$GAP" ] ||
    { show first; fail "add: the marker was not saved with the config's read"; }
marker=$(grep -E ' POST /v/locks/' "$WORK/first.log" | sed 's|.*/locks/\([0-9a-f]*\).*|\1|')
grep -q -E " DELETE /v/locks/$marker " "$WORK/first.log" ||
    { show first; fail "add: its marker was not the one taken down at its end"; }
[ "$(markers)" -eq 0 ] || fail "add left $(markers) marker(s)"
pass

# ---- keys/ changed by another client: made again -----------------------------
age-keygen -o bob.txt 2>/dev/null
bob=$(age-keygen -y bob.txt)
start_proxy share
XDG_CACHE_HOME=$WORK/cache-other ok share "$LOC" "$bob" -i id.txt
stop_proxy
echo changed >src/a/new.txt
start_proxy changed --latency "$LATENCY"
ok add "$LOC" "$WORK/src" -i id.txt
stop_proxy
# the first, sealed with what this client found before, went down in
# the open's round trip; the second is the add's own
[ "$(count changed ' POST /v/locks/')" -eq 2 ] ||
    { show changed; fail "after a share by another client: not two markers saved"; }
[ "$(count changed ' DELETE /v/locks/')" -eq 2 ] ||
    { show changed; fail "after a share by another client: not both markers taken down"; }
ahead=$(grep -E ' POST /v/locks/' "$WORK/changed.log" | sort -n | head -n 1 | sed 's|.*/locks/\([0-9a-f]*\).*|\1|')
own=$(grep -E ' POST /v/locks/' "$WORK/changed.log" | sort -n | tail -n 1 | cut -d' ' -f1)
gone=$(first_at changed " DELETE /v/locks/$ahead ")
index_at=$(first_at changed ' GET /v/index/ ')
[ -n "$gone" ] && [ "$gone" -lt "$index_at" ] ||
    { show changed; fail "the marker made from old keys was not taken down before the add went on"; }
[ "$index_at" -gt $((own + GAP)) ] ||
    { show changed; fail "index/ listed before the add's own marker was up"; }
[ "$(markers)" -eq 0 ] || fail "add after a share left $(markers) marker(s)"
start_proxy listing
ok ls "$LOC" latest -R -i id.txt
stop_proxy
grep -q 'new.txt' "$WORK/out.txt" || fail "the add after a share did not land"
# this client's record now says what it found: the next add needs one marker
start_proxy again
ok add "$LOC" "$WORK/src" -i id.txt
stop_proxy
[ "$(count again ' POST /v/locks/')" -eq 1 ] ||
    { show again; fail "the add after the record was brought up to date saved $(count again ' POST /v/locks/') markers"; }
pass

# add_with_record NAME POSTS WHAT: an add through proxy NAME saves POSTS
# markers (1: none was made from the record; 2: the one made from it went
# down again), leaves none, and puts this vault's record back.
add_with_record() {
    start_proxy "$1"
    ok add "$LOC" "$WORK/src" -i id.txt
    stop_proxy
    [ "$(count "$1" ' POST /v/locks/')" -eq "$2" ] ||
        { show "$1"; fail "with $3: $(count "$1" ' POST /v/locks/') markers saved, expected $2"; }
    [ "$(markers)" -eq 0 ] || fail "add with $3 left $(markers) marker(s)"
    cmp -s "$record" "$WORK/record.good" || fail "with $3: the open did not write this vault's record back"
}

# ---- a damaged open record: no marker made from it -----------------------------
record=$(find "$WORK/cache/vault/locations" -type f | head -n 1)
[ -n "$record" ] || die "no open record in $WORK/cache/vault/locations"
cp "$record" "$WORK/record.good"
head -c 100 "$WORK/record.good" >"$record"
add_with_record damaged 1 "a damaged record"
pass

# ---- a record of another vault: its marker goes down again -------------------
other_loc=rest:http://127.0.0.1:$RCLONE_PORT/other/
ok init "$other_loc" -i id.txt
other_record=$(find "$WORK/cache/vault/locations" -type f ! -name "$(basename "$record")" | head -n 1)
[ -n "$other_record" ] || die "no open record of the other vault"
cp "$other_record" "$record"
add_with_record foreign 2 "another vault's record"
pass

# ---- a removed member: its marker goes down, its add fails -------------------
# Wendy, a writer with a cache and record of her own, is unshared and the
# keys rotated; her next add seals a marker with what she found before,
# which the open then refuses: the marker goes down, nothing is left.
new_identity wendy.txt
wendy=$("$VAULT" keygen -y -i wendy.txt)
start_proxy members
ok share "$LOC" "$wendy" --role writer -i id.txt
XDG_CACHE_HOME=$WORK/cache-wendy ok add "$LOC" "$WORK/src" -i wendy.txt
ok unshare "$LOC" "$wendy" -i id.txt
stop_proxy
start_proxy removed
XDG_CACHE_HOME=$WORK/cache-wendy expect_fail 1 'member|permission|not' add "$LOC" "$WORK/src" -i wendy.txt
stop_proxy
[ "$(count removed ' POST /v/locks/')" -eq 1 ] && [ "$(count removed ' DELETE /v/locks/')" -eq 1 ] ||
    { show removed; fail "a removed member's add: its marker made from what it found before not saved and taken down"; }
[ "$(markers)" -eq 0 ] || fail "a removed member's add left $(markers) marker(s)"
pass

# ---- dry run, and an add refused after the open: nothing left ------------------
start_proxy dry
ok add "$LOC" "$WORK/src" -n -i id.txt
stop_proxy
[ "$(count dry ' /v/locks/[0-9a-f]')" -eq 0 ] || { show dry; fail "a dry run saved a marker"; }
start_proxy refused
expect_fail 1 'missing' add "$LOC" "$WORK/missing" -i id.txt
stop_proxy
# its open put a marker up; closing the vault took it down
[ "$(count refused ' POST /v/locks/')" -eq 1 ] && [ "$(count refused ' DELETE /v/locks/')" -eq 1 ] ||
    { show refused; fail "an add refused after its open: its marker not put up and taken down"; }
[ "$(markers)" -eq 0 ] || { show refused; fail "an add refused after its open left $(markers) marker(s)"; }
pass

# ---- nothing holds a prune back ---------------------------------------------
start_proxy rest
ok forget "$LOC" --keep-last 1 -i id.txt
ok prune "$LOC" -i id.txt
ok check "$LOC" -i id.txt
ok extract "$LOC" latest -C "$WORK/out" -i id.txt
stop_proxy
treecmp "$WORK/src" "$WORK/out$WORK/src"
pass

stop_rclone
