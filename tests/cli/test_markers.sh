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

# markers: the objects in v/locks (not the temporaries of a save).
markers() {
    find v/locks -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' | wc -l
}

# start_add ID: an add as ID in the background, stopped (SIGSTOP) as soon
# as its marker is up; its pid in $ADD_PID.
start_add() {
    "$VAULT" add v src -i "$1" >add-out.txt 2>add-err.txt &
    ADD_PID=$!
    for _ in $(seq 1 30000); do
        [ "$(markers)" -gt 0 ] && break
        kill -0 "$ADD_PID" 2>/dev/null || die "add ended before its marker was seen"
        sleep 0.01
    done
    kill -STOP "$ADD_PID"
    [ "$(markers)" -eq 1 ] || die "no add marker appeared"
}

# --- unlock keeps a live marker of this machine ------------------------------
start_add id.txt
ok unlock v -i id.txt
grep -q 'removed 0 stale' out.txt && grep -q 'kept 1 of adds running on this machine' out.txt ||
    fail "unlock did not keep the running add's marker: $(cat out.txt)"
ok unlock v -i id.txt --remove-all
[ "$(markers)" -eq 1 ] || fail "unlock --remove-all removed a live marker of this machine"
# A writer may not remove the owner's marker, whatever its state.
ok unlock v -i writer.txt --remove-all
grep -q 'kept 1 of other members' out.txt || fail "a writer's unlock: $(cat out.txt)"
pass

# --- the add dies: prune frees its packs at once ------------------------------
# Killed once it stored a pack (stopped first, so that it cannot end
# between the look and the kill).
kill -CONT "$ADD_PID"
for _ in $(seq 1 30000); do
    [ -n "$(find v/data -type f ! -name '.tmp-*')" ] && break
    sleep 0.01
done
kill -STOP "$ADD_PID"
kill -KILL "$ADD_PID"
wait "$ADD_PID" 2>/dev/null || true
[ "$(markers)" -eq 1 ] || die "the killed add left no marker"
stored=$(find v/data -type f ! -name '.tmp-*' | wc -l)
note "the killed add left $stored packs"
ok unlock v -i writer.txt
grep -q 'kept 1 of other members' out.txt || fail "a writer removed the owner's marker"
ok prune v -i id.txt
grep -q 'stale add markers .* removed: 1' out.txt ||
    fail "prune did not remove the dead add's marker: $(cat out.txt)"
grep -q 'left alone while adds run' out.txt &&
    fail "prune still waits for the dead add: $(cat out.txt)"
[ "$(markers)" -eq 0 ] || fail "locks left after prune: $(ls v/locks)"
# (its half-written .tmp- files go after a day: a save elsewhere may be writing)
[ "$(find v/data -type f ! -name '.tmp-*' | wc -l)" -eq 0 ] || fail "the dead add's packs were not freed"
pass
ok check v -i id.txt

# --- unlock removes a dead add's marker ---------------------------------------
start_add id.txt
kill -KILL "$ADD_PID"
wait "$ADD_PID" 2>/dev/null || true
ok unlock v -i id.txt --dry-run
grep -q 'would remove 1 stale add marker' out.txt || fail "unlock --dry-run: $(cat out.txt)"
[ "$(markers)" -eq 1 ] || fail "unlock --dry-run removed the marker"
ok unlock v -i id.txt
grep -q 'removed 1 stale add marker' out.txt || fail "unlock: $(cat out.txt)"
[ "$(markers)" -eq 0 ] || fail "unlock left the dead add's marker"
pass

# A writer removes its own dead marker.
start_add writer.txt
kill -KILL "$ADD_PID"
wait "$ADD_PID" 2>/dev/null || true
ok unlock v -i writer.txt
grep -q 'removed 1 stale add marker' out.txt || fail "a writer's own dead marker: $(cat out.txt)"
[ "$(markers)" -eq 0 ] || fail "the writer's dead marker is still there"
pass
expect_fail 2 'unexpected argument' unlock v extra -i id.txt
