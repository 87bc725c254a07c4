#!/usr/bin/env bash
# test_add_small_files.sh - add reads small files through io_uring, and
# through plain system calls where io_uring is refused (issue #16).
#  (a) a tree with files on both sides of the read-ahead's limits (256 KiB
#      a file, 32 files and 4 MiB in flight), directories between files,
#      empty files, a FIFO, symlinks, hard links: stored and extracted
#      whole, with io_uring;
#  (b) the same under a seccomp filter that refuses io_uring_setup (as
#      container runtimes do): the same tree, the same snapshot listing;
#  (c) under a filter that kills the process on io_uring_setup, add dies:
#      (a) did go through io_uring;
#  (d) as another user than the files' owner (root only): O_NOATIME is
#      refused for each file and the open is retried without it; the
#      tree comes back whole.
#  (e) a local user swaps files with FIFOs while add walks (rename_race):
#      with io_uring and without, add never waits for a FIFO's writer;
#      it stores what it found, or names the file that was replaced.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

: "${IO_URING_FILTER:?IO_URING_FILTER must name the filter tool (ctest sets it)}"
: "${RENAME_RACE:?RENAME_RACE must name the race tool (ctest sets it)}"

new_identity id.txt

S=$WORK/t/src # t holds only src: its mtime stays
mkdir -p "$S/a/sub" "$S/b" "$S/many" "$S/m"
# sizes around the per-file limit (256 KiB) and the page size
i=0
for size in 1 100 4095 4096 4097 65536 262143 262144 262145 1048576 5000000; do
    random_file "$S/a/f$(printf %02d $i)" "$size"
    i=$((i + 1))
done
: >"$S/a/empty"
# directories sorted between files: read-ahead stops at each
for d in c e g; do
    mkdir -p "$S/m/$d"
    random_file "$S/m/$d/inner" 3000
done
for f in b d f h; do
    random_file "$S/m/$f" 7000
done
# more files than are in flight at once, more bytes than the buffers hold
for n in $(seq 1 300); do
    random_file "$S/many/$(printf %03d "$n")" $((n * 97 % 40000 + 1))
done
mkfifo "$S/b/fifo"
ln -s ../a/f01 "$S/b/link"
ln "$S/a/f03" "$S/b/hard"
[ "$(id -u)" -ne 0 ] || chmod 000 "$S/a/f04" # read all the same by root
random_file "$S/a/sub/deep" 12345

# stored_whole VAULT NAME: VAULT's latest snapshot checks, extracts
# identical to S, and its listing of what is under S (S's parents' times
# change as the test goes on) goes to list_NAME.txt.
stored_whole() {
    ok check "$1" -i id.txt --read-data
    mkdir "out_$2"
    ok extract "$1" -i id.txt latest -C "out_$2"
    treecmp "$S" "out_$2$S"
    ok ls "$1" -i id.txt -R -l latest
    grep -F " $S" out.txt >"list_$2.txt"
}

# (a) with io_uring
new_vault va id.txt
ok add va -i id.txt "$S"
stored_whole va a

# (b) io_uring refused: plain system calls, the same result
REAL_VAULT=$VAULT
printf '#!/bin/sh\nexec "%s" refuse "%s" "$@"\n' "$IO_URING_FILTER" \
    "$REAL_VAULT" >refused.sh
chmod +x refused.sh
VAULT=$WORK/refused.sh
new_vault vb id.txt
ok add vb -i id.txt "$S"
VAULT=$REAL_VAULT
stored_whole vb b
[ "$(wc -l <list_a.txt)" -gt 300 ] || fail "listing too short: $(cat list_a.txt)"
cmp -s list_a.txt list_b.txt || fail "listings differ with io_uring refused:
$(diff list_a.txt list_b.txt | head -20)"
pass

# (c) io_uring forbidden: add must die on io_uring_setup (SIGSYS)
new_vault vc id.txt
rc=0
"$IO_URING_FILTER" forbid "$VAULT" add vc -i id.txt "$S" >/dev/null \
    2>forbid.err || rc=$?
[ "$rc" -eq $((128 + 31)) ] || fail "add under a filter killing io_uring_setup \
exited $rc, expected $((128 + 31)) (SIGSYS): it did not use io_uring"
pass

# (d) another user: every O_NOATIME open is refused (EPERM), retried
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    mkdir -p nobody
    cp id.txt nobody/id.txt
    chown -R 65534:65534 nobody
    chmod 644 "$S"/a/f* "$S"/many/* && chmod 755 "$S" "$S"/*
    chmod 711 "$WORK"
    as_nobody() {
        setpriv --reuid=65534 --regid=65534 --clear-groups \
            env HOME="$WORK/nobody" XDG_CACHE_HOME="$WORK/nobody/cache" \
            XDG_CONFIG_HOME="$WORK/nobody/config" "$REAL_VAULT" "$@"
    }
    as_nobody init "$WORK/nobody/vn" -i "$WORK/nobody/id.txt" >/dev/null 2>&1 ||
        die "init as nobody failed"
    as_nobody add "$WORK/nobody/vn" -i "$WORK/nobody/id.txt" "$S" \
        >nobody.out 2>nobody.err || fail "add as nobody failed: $(cat nobody.err)"
    pass
    mkdir out_d
    ok extract "$WORK/nobody/vn" -i id.txt latest -C out_d
    treecmp "$S" "out_d$S"
else
    note "(d) skipped: needs root and setpriv"
fi

# (e) files swapped with FIFOs under the walk.  Before the walk's own
# open used O_NONBLOCK, about one add in seven of this tree waited
# forever for a FIFO's writer.  Half the rounds without a files cache:
# every file is read again, and the first add's data read-ahead
# (source_fs.c) opens the swapped files too.
R=$WORK/race
mkdir -p "$R/src" "$R/fifos"
for n in $(seq 1 30); do random_file "$R/src/f$n" 500; done
pairs=()
for n in 1 2 3 4 5 6 7 8; do
    random_file "$R/src/x$n" 700
    mkfifo "$R/fifos/p$n"
    pairs+=("$R/src/x$n" "$R/fifos/p$n")
done
new_vault vr id.txt
"$RENAME_RACE" 600 "${pairs[@]}" >/dev/null &
racer=$!
replaced=0
for round in $(seq 1 20); do
    run=$VAULT
    [ $((round % 2)) -eq 0 ] || run=$WORK/refused.sh # io_uring refused
    cache=()
    [ $((round % 4)) -ge 2 ] || cache=(--no-cache)
    rc=0
    timeout 60 "$run" add vr -i id.txt "${cache[@]}" "$R/src" >race.out 2>race.err || rc=$?
    [ "$rc" -ne 124 ] || fail "add hung on a file swapped for a FIFO (round \
$round): $(cat race.err)"
    case $rc in
    0) ;;
    3) grep -q "/x[1-8]: replaced while it was backed up" race.err ||
           fail "add's partial result does not name a swapped file: \
$(cat race.err)"
       replaced=$((replaced + 1)) ;;
    *) fail "add under the race exited $rc: $(cat race.err)" ;;
    esac
done
kill "$racer" 2>/dev/null || true
wait "$racer" 2>/dev/null || true
pass
note "(e) $replaced of 20 adds found a file replaced"
ok check vr -i id.txt --read-data
