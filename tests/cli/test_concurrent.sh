#!/usr/bin/env bash
# test_concurrent.sh - adds take no lock (format spec, "Write ordering"):
# two `vault add`s of different trees into one vault at the same time both
# succeed, both snapshots are listed, and both extract identical to their
# trees.  The trees share one file, so both adds store the same chunks at
# the same time.  Three rounds into the same vault; at the end every
# snapshot of every round still extracts.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
new_identity id.txt
new_vault vault id.txt
random_file shared.bin $((3 * MiB))

# make_side DIR: a tree of ~6 MiB in a few big files and 150 small ones,
# plus the shared file.
make_side() {
    local d=$1
    mkdir -p "$d/small" "$d/nested/a/b"
    random_file "$d/big1" $((2 * MiB))
    random_file "$d/nested/a/b/big2" $((MiB + 12345))
    cp shared.bin "$d/shared.bin"
    for i in $(seq 1 150); do
        printf '%s %s\n' "$d" "$i" >"$d/small/f$i"
    done
    ln -s big1 "$d/link"
}

expected=0
declare -a ids=() dirs=()
for round in 1 2 3; do
    make_side "$WORK/r$round-a"
    make_side "$WORK/r$round-b"
    rc_a=0 rc_b=0
    for side in a b; do
        (
            date +%s%N >"$side$round.start"
            rc=0
            "$VAULT" add vault "$WORK/r$round-$side" -i id.txt --json \
                >"$side$round.json" 2>"$side$round.err" || rc=$?
            date +%s%N >"$side$round.end"
            exit $rc
        ) &
        eval "pid_$side=\$!"
    done
    wait "$pid_a" || rc_a=$?
    wait "$pid_b" || rc_b=$?
    # Both must really have run at once for the test to mean anything; the
    # scheduler decides, so only say so when they did not.
    if [ "$(cat "a$round.start")" -gt "$(cat "b$round.end")" ] ||
        [ "$(cat "b$round.start")" -gt "$(cat "a$round.end")" ]; then
        note "round $round: the two adds did not overlap in time"
    fi
    check_sane "$rc_a" "a$round.err" "round $round: add A"
    check_sane "$rc_b" "b$round.err" "round $round: add B"
    [ "$rc_a" -eq 0 ] || die "round $round: concurrent add A exited $rc_a: $(cat "a$round.err")"
    [ "$rc_b" -eq 0 ] || die "round $round: concurrent add B exited $rc_b: $(cat "b$round.err")"
    pass
    id_a=$(json_get "a$round.json" 'j["id"]')
    id_b=$(json_get "b$round.json" 'j["id"]')
    [ "$id_a" != "$id_b" ] || die "round $round: both adds report snapshot $id_a"
    expected=$((expected + 2))
    ids+=("$id_a" "$id_b")
    dirs+=("$WORK/r$round-a" "$WORK/r$round-b")

    ok ls vault --json -i id.txt
    cp out.txt "ls$round.json"
    listed=$(json_get "ls$round.json" 'len(j)')
    [ "$listed" -eq "$expected" ] || die "round $round: ls lists $listed snapshots, expected $expected"
    for id in "$id_a" "$id_b"; do
        json_get "ls$round.json" "any(s['id'] == '$id' for s in j)" | grep -q True ||
            die "round $round: snapshot $id missing from ls"
    done
    pass
    for side in a b; do
        if [ "$side" = a ]; then id=$id_a; else id=$id_b; fi
        ok extract vault "$id" -C "out$round$side" -i id.txt
        treecmp "$WORK/r$round-$side" "out$round$side$WORK/r$round-$side"
        # Nothing of the other tree leaked into this snapshot.
        other=$([ "$side" = a ] && echo b || echo a)
        [ ! -e "out$round$side$WORK/r$round-$other" ] ||
            fail "round $round: snapshot $side also holds tree $other"
        rm -rf "out$round$side"
    done
done

# Everything is still there after three rounds of concurrent writes.
for i in "${!ids[@]}"; do
    ok extract vault "${ids[$i]}" -C "final$i" -i id.txt
    treecmp "${dirs[$i]}" "final$i${dirs[$i]}"
    rm -rf "final$i"
done
# No temporary files left behind by either writer.
leftover=$(find vault -name '.tmp*' -o -name '*.tmp' | head -5)
[ -z "$leftover" ] || fail "temporary files left in the vault: $leftover"
pass
