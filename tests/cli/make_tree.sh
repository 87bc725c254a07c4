#!/usr/bin/env bash
# make_tree.sh DIR - builds the round-trip fixture in DIR (created; must
# not exist yet).  Not a test itself: test_roundtrip.sh and others use it.
#
# It holds every kind of file (regular, directory, symlink, dangling
# symlink, FIFO; a character device when run as root), awkward names
# (unicode, bytes that are not UTF-8, spaces, a newline, leading dashes),
# an empty file, a 64 MiB sparse file with a few bytes in the middle, a 12 MiB random file, a file
# with three hard links (one in another directory), 60 levels of nesting,
# odd modes (0600, 0755, 0444, 4755, a 0700 directory, a setgid and a
# sticky directory, a 0555 directory with files in it), user.* xattrs when
# the file system takes them, mtimes with nanoseconds (before 1970 too) on
# everything including symlinks and directories, and (as root) files owned
# by 1234:5678.
#
# Prints notes on stderr for what it had to leave out.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: make_tree.sh DIR" >&2; exit 2; }
root=$1
[ ! -e "$root" ] || { echo "make_tree.sh: $root exists" >&2; exit 1; }
mkdir -p "$root"
cd "$root"
umask 022
is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1

# --- file types ---------------------------------------------------------------
printf 'hello, vault\n' > file.txt
mkdir dir
printf 'inside\n' > dir/inner.txt
ln -s file.txt link
ln -s ../file.txt dir/uplink
ln -s does/not/exist dangling
ln -s dir dirlink
mkfifo fifo
if [ "$is_root" = 1 ]; then
    mknod chardev c 1 3 # like /dev/null
else
    echo "note: make_tree: not root, no character device" >&2
fi

# --- names ----------------------------------------------------------------
printf 'unicode\n' > 'ünïcödé-日本語.txt'
mkdir 'répertoire ünïcode'
printf 'x\n' > 'répertoire ünïcode/fichier é.txt'
printf 'spaces\n' > 'name with spaces.txt'
mkdir 'dir with spaces'
printf 'y\n' > 'dir with spaces/  leading and trailing  '
printf 'newline\n' > "$(printf 'new\nline')"
printf 'dash\n' > ./-rf
printf 'dash\n' > ./--help
printf 'tab\n' > "$(printf 'a\tb')"
printf 'quote\n' > "it's \"quoted\" \\ back"
printf 'star\n' > '*?[x]'
printf 'latin-1\n' > "$(printf 'caf\xe9-not-utf8')" # a name that is not UTF-8

# --- sizes ----------------------------------------------------------------
: > empty
truncate -s 64M sparse
printf 'in the middle of nowhere' |
    dd of=sparse bs=1 seek=$((32 * 1024 * 1024 + 12345)) conv=notrunc status=none
head -c $((12 * 1024 * 1024)) /dev/urandom > random.bin
# Compressible, a few chunks long, with one copy of a random block twice.
head -c $((256 * 1024)) /dev/urandom > dir/block
{ cat dir/block; seq 1 200000; cat dir/block; } > dir/mixed.bin

# --- hard links -----------------------------------------------------------
mkdir hl other
printf 'linked content\n' > hl/a
ln hl/a hl/b
ln hl/a hl/c
ln hl/a other/d

# --- nesting --------------------------------------------------------------
p=deep
for i in $(seq 1 60); do p=$p/d$i; done
mkdir -p "$p"
printf 'bottom\n' > "$p/leaf"

# --- modes ----------------------------------------------------------------
mkdir modes
printf 'a\n' > modes/m0600; chmod 0600 modes/m0600
printf 'b\n' > modes/m0755; chmod 0755 modes/m0755
printf 'c\n' > modes/m0444; chmod 0444 modes/m0444
printf 'd\n' > modes/m0000; chmod 0000 modes/m0000
printf 'e\n' > modes/m4755; chmod 4755 modes/m4755
mkdir modes/d0700; chmod 0700 modes/d0700
mkdir modes/dsetgid; printf 'g\n' > modes/dsetgid/f; chmod 2755 modes/dsetgid
mkdir modes/dsticky; chmod 1777 modes/dsticky
mkdir modes/d0555
printf 'r1\n' > modes/d0555/one
printf 'r2\n' > modes/d0555/two
mkdir modes/d0555/sub

# --- xattrs ---------------------------------------------------------------
if command -v setfattr >/dev/null &&
    setfattr -n user.test -v value file.txt 2>/dev/null; then
    setfattr -n user.empty file.txt
    setfattr -n user.bin -v 0x00ff00fe modes/m0600
    setfattr -n user.dir -v 'on a directory' dir
    setfattr -n user.ro -v 'read-only file' modes/m0444
    setfattr -n user.big -v "$(head -c 3000 /dev/zero | tr '\0' 'x')" random.bin
else
    echo "note: make_tree: no user.* xattrs on this file system" >&2
fi

# --- ownership ------------------------------------------------------------
if [ "$is_root" = 1 ]; then
    mkdir owned
    printf 'owned\n' > owned/file
    chown 1234:5678 owned/file
    chown -h 1234:5678 link
    chown 4321:8765 owned
    # chown clears set-id bits; set them again after.
    printf 's\n' > owned/setuid; chown 1234:5678 owned/setuid
    chmod 6750 owned/setuid
else
    echo "note: make_tree: not root, no foreign ownership" >&2
fi

# --- mtimes, last: every creation above changed some directory's mtime ----
n=0
stamp() { # stamp PATH: a distinct time with nanoseconds
    n=$((n + 1))
    touch -h -d "2011-04-0$((n % 9 + 1)) 12:$((n % 60)):$((n % 60)).$((100000000 + n * 7654321 % 899999999))" -- "$1"
}
touch -d '1960-06-15 08:30:00.25' modes/m0755      # before the epoch
touch -d '2100-01-01 00:00:00.999999999' modes/m0600 # far future
touch -h -d '1999-12-31 23:59:59.123456789' link dangling
# Files and links first, then directories deepest first (children's
# changes are over by then), the 0555 directory's mode last of all.
while IFS= read -r -d '' f; do
    case $f in ./modes/m0755 | ./modes/m0600 | ./link | ./dangling) ;;
    *) stamp "$f" ;;
    esac
done < <(find . ! -type d -print0)
while IFS= read -r -d '' d; do
    stamp "$d"
done < <(find . -mindepth 1 -type d -depth -print0)
chmod 0555 modes/d0555
touch -d '2020-02-29 12:00:00.000000001' .
