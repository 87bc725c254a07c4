#!/usr/bin/env bash
# test_mount.sh - `vault mount` through a real FUSE mount: the fixture of
# make_tree.sh comes back identical (content, and every piece of
# metadata treecmp.py compares: types, modes, owners, nanosecond
# mtimes, symlink targets, user.* xattrs, hard links, holes); reads at
# random offsets and lengths (across chunk boundaries) return the source
# bytes; du of the sparse file is small; the layout (snapshots/, ids/,
# latest, tags/, hosts/); a snapshot added while mounted appears; the
# mount is read-only; unmounting while a process holds a file open,
# Ctrl-C, and a stale mountpoint left by a killed server; a damaged chunk
# fails the reads of its file with EIO and a message naming it, while
# other files read; a remote vault (rest:, `rclone serve restic`) mounts
# the same; a writer member is refused.
#
# Needs /dev/fuse and fusermount3 (Debian's fuse3), and a vault built
# with libfuse3; skips (77) without them, unless VAULT_TEST_REQUIRE_SERVERS
# is 1 (./test.sh, CI), where that is a failure.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_remote.sh" # skip

[ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ] ||
    skip "no usable /dev/fuse"
command -v fusermount3 >/dev/null || skip "fusermount3 is not installed (Debian: fuse3)"
command -v mountpoint >/dev/null || die "mountpoint(1) is needed"
v mount --help
grep -q 'MOUNTPOINT' out.txt || die "vault mount --help says nothing of MOUNTPOINT"
v mount "$WORK" "$WORK/nothing-here"
if grep -q 'built without FUSE' err.txt; then
    skip "this vault was built without libfuse3"
fi

MOUNTS=()
# Unmounts what is still mounted before lib.sh removes the work folder.
unmount_all() {
    local m
    for m in "${MOUNTS[@]}"; do
        mountpoint -q "$m" 2>/dev/null && fusermount3 -u -z "$m" 2>/dev/null
    done
    return 0
}
trap 'st=$?; unmount_all; (exit $st); cleanup' EXIT

# start_mount MNT VAULT ARGS...: `vault mount --foreground` in the
# background (MOUNT_PID), its stderr in MNT.err; waits until it serves.
start_mount() {
    local mnt=$1
    shift
    mkdir -p "$mnt"
    MOUNTS+=("$mnt")
    # A background job starts with SIGINT ignored, which libfuse then
    # leaves alone: the mount gets it back, as from a terminal.
    "$PYTHON" -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$VAULT" mount "$@" "$mnt" --foreground \
        >"$mnt.out" 2>"$mnt.err" &
    MOUNT_PID=$!
    local i
    for i in $(seq 1 300); do
        [ -e "$mnt/snapshots" ] && return 0
        kill -0 "$MOUNT_PID" 2>/dev/null ||
            die "vault mount exited before serving: $(cat "$mnt.err")"
        sleep 0.1
    done
    die "vault mount did not serve $mnt within 30 s: $(cat "$mnt.err")"
}

# wait_exit PID WHAT: waits for PID (a job of this shell) to end, at most
# 60 s (then it is killed and the test fails); returns its status.
wait_exit() {
    local i
    for i in $(seq 1 600); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$1" 2>/dev/null; then
        kill -KILL "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
        die "$2 did not exit within 60 s"
    fi
    wait "$1"
}

# stop_mount MNT: fusermount3 -u, and the server must exit 0, cleanly.
stop_mount() {
    fusermount3 -u "$1" || die "fusermount3 -u $1 failed"
    local st=0
    wait_exit "$MOUNT_PID" "vault mount" || st=$?
    check_sane "$st" "$1.err" "vault mount"
    [ "$st" -eq 0 ] || die "vault mount exited $st after unmount: $(cat "$1.err")"
    ! mountpoint -q "$1" || die "$1 is still mounted"
    pass
}

make_tree "$WORK/src" 2>make_tree.log
SRC=$WORK/src
grep -h '^note' make_tree.log >&2 || true
new_identity id.txt
new_vault vault id.txt
ok add vault "$SRC" -i id.txt --tag roundtrip --tag 'two words' --json
snap=$(json_get out.txt 'j["id"]')
ok ls vault -i id.txt --json
host=$(json_get out.txt 'j[0]["host"]')

# --- usage errors --------------------------------------------------------------
expect_fail 2 'cache-size' mount vault "$WORK" --cache-size lots -i id.txt
expect_fail 2 'mountpoint' mount vault -i id.txt
expect_fail 1 'not a folder' mount vault "$SRC/file.txt" -i id.txt

# --- the layout ------------------------------------------------------------------
start_mount mnt vault -i id.txt
[ "$(ls mnt | tr '\n' ' ')" = "hosts ids latest snapshots tags " ] ||
    fail "the root holds: $(ls mnt | tr '\n' ' ')"
name=$(ls mnt/snapshots)
[[ $name =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$ ]] ||
    fail "snapshots/ holds '$name', not one local time"
[ "$(readlink mnt/latest)" = "snapshots/$name" ] ||
    fail "latest points to $(readlink mnt/latest)"
[ "$(readlink "mnt/ids/${snap:0:8}")" = "../snapshots/$name" ] ||
    fail "ids/${snap:0:8} points to $(readlink "mnt/ids/${snap:0:8}" || true)"
[ "$(readlink "mnt/tags/two words/$name")" = "../../snapshots/$name" ] ||
    fail "tags/two words/$name is not a link to the snapshot"
[ -d "mnt/tags/roundtrip/$name/$SRC" ] || fail "tags/roundtrip/$name/ does not lead to the files"
[ -d "mnt/hosts/$host/$name$SRC" ] || fail "hosts/$host/$name does not lead to the files"
[ ! -e mnt/nothing ] || fail "a made-up name exists"
pass

# --- everything ls -l shows, and the content -------------------------------------
M=mnt/snapshots/$name$SRC
treecmp "$SRC" "$M"
# diff -r agrees; it cannot compare the FIFO and the device, and says so.
diff -r --no-dereference "$SRC" "$M" >diff-mount.txt 2>&1 || true
if grep -v -E 'is a (fifo|character special file) while file' diff-mount.txt >diff-rest.txt; then
    fail "diff -r of the mount against the source: $(head -c 2000 diff-rest.txt)"
fi
pass
if command -v getfattr >/dev/null && getfattr -n user.test "$SRC/file.txt" >/dev/null 2>&1; then
    [ "$(getfattr --only-values -n user.test "$M/file.txt")" = value ] ||
        fail "getfattr user.test on the mount"
    getfattr -n user.nothing "$M/file.txt" >/dev/null 2>&1 &&
        fail "getfattr of an absent attribute succeeded"
    pass
fi
# du counts the holes of the 64 MiB sparse file as nothing: one chunk of
# data at most (4 MiB), not 64 MiB.
du_k=$(du -k "$M/sparse" | cut -f1)
[ "$du_k" -le 4200 ] || fail "du of the sparse file says $du_k KiB"
[ "$(stat -c %s "$M/sparse")" = $((64 * 1024 * 1024)) ] || fail "the sparse file's size"
pass

# --- reads at random offsets and lengths ---------------------------------------
"$PYTHON" - "$SRC" "$M" <<'EOF' || fail "reads at random offsets differ from the source"
import os, random, sys
src, mnt = sys.argv[1], sys.argv[2]
rng = random.Random(1234)
bad = 0
for name in ["random.bin", "dir/mixed.bin", "sparse", "file.txt", "empty"]:
    size = os.path.getsize(os.path.join(src, name))
    a = os.open(os.path.join(src, name), os.O_RDONLY)
    b = os.open(os.path.join(mnt, name), os.O_RDONLY)
    cases = [(0, size + 10), (max(0, size - 1), 100), (size, 10), (size + 5, 10)]
    for _ in range(60):
        off = rng.randrange(0, size + 1) if size else 0
        cases.append((off, rng.choice([1, 17, 4095, 65536, 300000, 2500000, 6000000])))
    if name == "sparse":   # the data in the middle, and either side of it
        cases += [(32 * 1024 * 1024 + 12000, 1000), (32 * 1024 * 1024 - 1, 5000000)]
    for off, n in cases:
        if os.pread(a, n, off) != os.pread(b, n, off):
            print("differs: %s at %d, %d bytes" % (name, off, n))
            bad += 1
    os.close(a)
    os.close(b)
sys.exit(1 if bad else 0)
EOF
pass
# dd and several readers at once (the server's threads).
cmp <(dd if="$SRC/random.bin" bs=4096 skip=777 count=999 status=none) \
    <(dd if="$M/random.bin" bs=4096 skip=777 count=999 status=none) ||
    fail "dd of random.bin at block 777 differs"
pids=()
for f in random.bin dir/mixed.bin sparse dir/block; do
    cmp "$SRC/$f" "$M/$f" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent cmp differed"; done
pass

# --- read-only ---------------------------------------------------------------------
touch "$M/new" 2>/dev/null && fail "created a file on the mount"
( : >>"$M/file.txt" ) 2>/dev/null && fail "opened a file for writing on the mount"
mkdir "$M/newdir" 2>/dev/null && fail "made a folder on the mount"
pass

# --- a snapshot added while mounted appears -----------------------------------------
printf 'second\n' >"$SRC/second.txt"
ok add vault "$SRC" -i id.txt
for i in $(seq 1 150); do
    [ "$(ls mnt/snapshots | wc -l)" -eq 2 ] && break
    sleep 0.1
done
[ "$(ls mnt/snapshots | wc -l)" -eq 2 ] ||
    fail "the second snapshot did not appear within 15 s: $(ls mnt/snapshots)"
[ "$(cat "mnt/latest$SRC/second.txt" 2>/dev/null)" = second ] ||
    fail "latest does not lead to the second snapshot"
[ ! -e "$M/second.txt" ] || fail "the first snapshot changed"
pass

# --- unmounting while a file is held open ---------------------------------------------
mkfifo go ready
"$PYTHON" - "$M/random.bin" "$SRC/random.bin" go ready >holder.out 2>&1 <<'EOF' &
import hashlib, sys
f = open(sys.argv[1], "rb")          # held open across the unmount
with open(sys.argv[4], "w") as r:    # tell the test it is open
    r.write("open\n")
open(sys.argv[3]).read()             # wait for the go
got = hashlib.sha256(f.read()).hexdigest()
want = hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
print("same" if got == want else "differs")
EOF
holder=$!
# Bounded waits on the FIFOs: a holder that failed never opens them.
timeout 60 cat ready >/dev/null ||
    die "the process to hold a file open did not open it: $(cat holder.out)"
fusermount3 -u mnt 2>/dev/null && fail "fusermount3 -u succeeded while a file was open"
mountpoint -q mnt || fail "the refused unmount unmounted"
fusermount3 -u -z mnt || fail "fusermount3 -u -z (lazy) failed"
timeout 60 sh -c 'echo go >go' || fail "the holder does not wait for its go"
wait_exit "$holder" "the process holding a file open" ||
    fail "the process holding a file open failed: $(cat holder.out)"
[ "$(cat holder.out)" = same ] || fail "the held file read wrong after the lazy unmount: $(cat holder.out)"
st=0
wait_exit "$MOUNT_PID" "vault mount, after the lazy unmount and the close," || st=$?
check_sane "$st" mnt.err "vault mount"
[ "$st" -eq 0 ] || fail "vault mount exited $st after the lazy unmount: $(cat mnt.err)"
! mountpoint -q mnt || fail "mnt is still mounted"
pass

# --- Ctrl-C unmounts ---------------------------------------------------------------------
start_mount mnt vault -i id.txt
kill -INT "$MOUNT_PID"
st=0
wait_exit "$MOUNT_PID" "vault mount, after SIGINT," || st=$?
[ "$st" -eq 0 ] || fail "vault mount exited $st on SIGINT: $(cat mnt.err)"
! mountpoint -q mnt || fail "SIGINT left mnt mounted"
pass

# --- a stale mountpoint is explained --------------------------------------------------
start_mount mnt vault -i id.txt
kill -KILL "$MOUNT_PID"
wait "$MOUNT_PID" 2>/dev/null || true
expect_fail 1 'not connected.*fusermount3 -u' mount vault mnt -i id.txt
fusermount3 -u mnt || fail "fusermount3 -u of the stale mount failed"
pass

# --- background mode ------------------------------------------------------------------
v mount vault mnt -i id.txt
[ "$RC" -eq 0 ] || die "vault mount (background) exited $RC: $(cat err.txt)"
[ -f "mnt/latest$SRC/file.txt" ] || fail "the background mount does not serve"
fusermount3 -u mnt || fail "fusermount3 -u of the background mount failed"
pass

# --- a damaged chunk: EIO and a message, never wrong bytes -------------------------------
mkdir tsrc
head -c $((3 * 1024 * 1024)) /dev/urandom >tsrc/victim.bin
printf 'bystander\n' >tsrc/bystander.txt
new_vault tvault id.txt
ok add tvault "$WORK/tsrc" -i id.txt --compression off
# The data pack is mostly victim.bin's chunks: a byte flipped in its
# middle lands in one of them.
pack=$(find tvault/data -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)
"$PYTHON" - "$pack" <<'EOF'
import os, sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(os.path.getsize(p) // 2)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x40]))
EOF
start_mount tmnt tvault -i id.txt
T=tmnt/latest$WORK/tsrc
[ "$(cat "$T/bystander.txt")" = bystander ] || fail "the undamaged file does not read"
if cat "$T/victim.bin" >victim.out 2>cat.err; then
    fail "reading the damaged file succeeded"
fi
grep -q 'Input/output error' cat.err || fail "the damaged read did not fail with EIO: $(cat cat.err)"
cmp -s victim.out "tsrc/victim.bin" && fail "the damaged file read whole"
# Every byte that was served is right.
cmp -s victim.out <(head -c "$(stat -c %s victim.out)" tsrc/victim.bin) ||
    fail "wrong bytes were served before the failure"
grep -q "victim.bin" tmnt.err || fail "no message names the damaged file: $(cat tmnt.err)"
pass
stop_mount tmnt

# --- a remote vault, through the same code -------------------------------------
if command -v rclone >/dev/null; then
    start_rclone "$WORK/vault"
    start_mount rmnt "rest:http://127.0.0.1:$RCLONE_PORT/" -i id.txt
    cmp "$SRC/random.bin" "rmnt/latest$SRC/random.bin" ||
        fail "random.bin read from the remote vault differs"
    [ "$(ls rmnt/snapshots | wc -l)" -eq 2 ] || fail "the remote mount lists $(ls rmnt/snapshots)"
    treecmp "$SRC/dir" "rmnt/latest$SRC/dir"
    stop_mount rmnt
    stop_rclone
elif [ "${VAULT_TEST_REQUIRE_SERVERS:-0}" = 1 ]; then
    fail "rclone is not installed: the remote mount is not tested"
else
    note "rclone is not installed: the remote mount is not tested"
fi

# --- a writer member cannot mount --------------------------------------------------
new_identity w.txt
ok keygen -y -i w.txt
writer=$(cat out.txt)
ok share vault "$writer" --role writer -i id.txt
expect_fail 1 'writer' mount vault mnt -i w.txt
! mountpoint -q mnt || fail "the writer's refused mount left something mounted"
