#!/usr/bin/env bash
# test_markers.sh - add markers whose add died (issue #12, items 1 and 3):
# an add killed with SIGKILL leaves its marker and unindexed packs; the
# next prune sees that the marker's process is gone from this machine,
# deletes the marker and frees the packs at once (before: "N unindexed
# packs left alone while adds run" for 24 hours).  `vault unlock` never
# removes the marker of an add still running here (also not with
# --remove-all), removes it once that add is dead, and lets readers and
# writers remove only their own markers.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_identity id.txt
new_identity writer.txt
new_vault v id.txt
ok share v "$(sed -n 's/^# public key: //p' writer.txt)" --role writer -i id.txt
mkdir src
for i in $(seq 1 30); do random_file "src/f$i" 3000000; done

# start_add: an owner's add in the background, stopped (SIGSTOP) as soon
# as its marker is up; its pid in $ADD_PID.
start_add() {
    "$VAULT" add v src -i id.txt >add-out.txt 2>add-err.txt &
    ADD_PID=$!
    for _ in $(seq 1 30000); do
        [ -n "$(ls v/locks)" ] && break
        kill -0 "$ADD_PID" 2>/dev/null || die "add ended before its marker was seen"
        sleep 0.01
    done
    kill -STOP "$ADD_PID"
    [ -n "$(ls v/locks)" ] || die "no add marker appeared"
}

# --- unlock keeps a live marker of this machine ------------------------------
start_add
ok unlock v -i id.txt
grep -q 'removed 0 stale' out.txt && grep -q 'kept 1 of adds running on this machine' out.txt ||
    fail "unlock did not keep the running add's marker: $(cat out.txt)"
ok unlock v -i id.txt --remove-all
[ -n "$(ls v/locks)" ] || fail "unlock --remove-all removed a live marker of this machine"
# A writer may not remove the owner's marker, whatever its state.
ok unlock v -i writer.txt --remove-all
grep -q 'kept 1 of other members' out.txt || fail "a writer's unlock: $(cat out.txt)"
pass

# --- the add dies: prune frees its packs at once ------------------------------
kill -CONT "$ADD_PID"
sleep 0.3 # let it store some packs
kill -KILL "$ADD_PID"
wait "$ADD_PID" 2>/dev/null || true
[ -n "$(ls v/locks)" ] || die "the killed add left no marker"
stored=$(find v/data -type f ! -name '.tmp-*' | wc -l)
note "the killed add left $stored packs"
ok unlock v -i writer.txt
grep -q 'kept 1 of other members' out.txt || fail "a writer removed the owner's marker"
ok prune v -i id.txt
grep -q 'stale add markers .* removed: 1' out.txt ||
    fail "prune did not remove the dead add's marker: $(cat out.txt)"
grep -q 'left alone while adds run' out.txt &&
    fail "prune still waits for the dead add: $(cat out.txt)"
[ -z "$(ls v/locks)" ] || fail "locks left after prune: $(ls v/locks)"
# (its half-written .tmp- files go after a day: a save elsewhere may be writing)
[ "$(find v/data -type f ! -name '.tmp-*' | wc -l)" -eq 0 ] || fail "the dead add's packs were not freed"
pass
ok check v -i id.txt

# --- unlock removes a dead add's marker ---------------------------------------
start_add
kill -KILL "$ADD_PID"
wait "$ADD_PID" 2>/dev/null || true
ok unlock v -i id.txt --dry-run
grep -q 'would remove 1 stale add marker' out.txt || fail "unlock --dry-run: $(cat out.txt)"
[ -n "$(ls v/locks)" ] || fail "unlock --dry-run removed the marker"
ok unlock v -i id.txt
grep -q 'removed 1 stale add marker' out.txt || fail "unlock: $(cat out.txt)"
[ -z "$(ls v/locks)" ] || fail "unlock left the dead add's marker"
pass

# A writer removes its own dead marker.
"$VAULT" add v src -i writer.txt >add-out.txt 2>add-err.txt &
ADD_PID=$!
for _ in $(seq 1 30000); do
    [ -n "$(ls v/locks)" ] && break
    kill -0 "$ADD_PID" 2>/dev/null || break
    sleep 0.01
done
kill -KILL "$ADD_PID" 2>/dev/null || true
wait "$ADD_PID" 2>/dev/null || true
if [ -n "$(ls v/locks)" ]; then
    ok unlock v -i writer.txt
    grep -q 'removed 1 stale add marker' out.txt || fail "a writer's own dead marker: $(cat out.txt)"
    pass
fi
expect_fail 2 'unexpected argument' unlock v extra -i id.txt
