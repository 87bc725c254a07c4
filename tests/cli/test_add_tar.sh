#!/usr/bin/env bash
# test_add_tar.sh - `add --tar FILE|-` (issue #12): an archive's entries
# become a snapshot without being unpacked (borg import-tar; restic has
# none).
#  (a) round trip: the fixture tree (make_tree.sh) archived by GNU tar
#      (gnu format, sparse), by GNU tar as pax with xattrs, by bsdtar as
#      pax and zip (when installed) and by Python as zip; each imported,
#      written back with `extract --tar`, and compared entry by entry
#      (tarcmp.py: names, types, modes, mtimes, owners, link targets,
#      devices, xattrs, contents, hard links); also from standard input,
#      gzip'ed; sparse files stay sparse on extract -C;
#  (b) hostile archives: "../x", absolute names, a declared size the body
#      does not have, a symlink and then a file below it, hard links out
#      of the archive, one name twice: each stored as given (a leading
#      "/" dropped), or reported and left out, or refused with a clear
#      error - and extract never writes outside its target;
#  (c) the add reads nothing else: no file system walk, excludes do not
#      apply, a missing archive and an unreadable one are clear errors.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v tar >/dev/null || die "GNU tar is needed"
new_identity id.txt
new_vault va id.txt
make_tree "$WORK/src" 2>/dev/null
SRC=$WORK/src

# roundtrip ARCHIVE [TARCMP OPTIONS]: add --tar ARCHIVE, extract --tar
# back, compare entry by entry.
roundtrip() {
    local archive=$1
    shift
    ok add va -i id.txt --tar "$archive"
    grep -q '^snapshot .* saved' out.txt || fail "add --tar $archive: $(cat out.txt)"
    [ ! -s err.txt ] || fail "add --tar $archive said: $(cat err.txt)"
    rm -f back.tar
    ok extract va -i id.txt latest --tar back.tar
    local out
    if ! out=$("$PYTHON" "$CLI_TESTS_DIR/tarcmp.py" "$archive" back.tar "$@" 2>&1); then
        fail "$archive and its round trip differ:
$out"
    fi
    pass
}

# --- (a) round trips -----------------------------------------------------------
tar --format=gnu --sparse -cf gnu.tar -C "$SRC" . 2>/dev/null
roundtrip gnu.tar
# the snapshot records the archive it came from
ok ls va -i id.txt
grep -qF "$WORK/gnu.tar" out.txt || fail "the snapshot's path: $(cat out.txt)"
pass
# the sparse file comes back sparse, hard links linked
ok extract va -i id.txt latest -C x1
[ "$(stat -c %s x1/sparse)" -eq $((64 * 1024 * 1024)) ] ||
    fail "sparse: size $(stat -c %s x1/sparse)"
[ "$(du -k x1/sparse | cut -f1)" -lt 8192 ] ||
    fail "sparse: $(du -k x1/sparse | cut -f1) KiB allocated"
[ "$(stat -c %i x1/hl/a)" = "$(stat -c %i x1/other/d)" ] ||
    fail "hard links came back as copies"
cmp "$SRC/big" x1/big 2>/dev/null || cmp "$SRC/sparse" x1/sparse ||
    fail "contents differ"
pass

tar --format=posix --xattrs --sparse -cf pax.tar -C "$SRC" .
roundtrip pax.tar
if xattrs_supported "$WORK"; then
    "$PYTHON" - pax.tar <<'EOF' || fail "pax.tar carries no xattrs: the xattr check proved nothing"
import sys, tarfile
t = tarfile.open(sys.argv[1])
sys.exit(0 if any(k.startswith("SCHILY.xattr.user.")
                  for m in t.getmembers() for k in m.pax_headers) else 1)
EOF
    pass
else
    note "no user.* xattrs here: the xattr check compared none"
fi

# from standard input, compressed
gzip -c pax.tar >pax.tar.gz
RC=0
"$VAULT" add va -i id.txt --tar - <pax.tar.gz >out.txt 2>err.txt || RC=$?
check_sane "$RC" err.txt "vault add --tar -"
[ "$RC" -eq 0 ] || die "add --tar - exited $RC: $(cat err.txt)"
rm -f back.tar
ok extract va -i id.txt latest --tar back.tar
"$PYTHON" "$CLI_TESTS_DIR/tarcmp.py" pax.tar back.tar >cmp.txt ||
    fail "--tar - of a gzip'ed pax: $(cat cmp.txt)"
pass
# an archive imported again adds next to nothing
ok add va -i id.txt --tar pax.tar --json
[ "$(json_get out.txt 'j["bytes_added"]')" -lt 65536 ] ||
    fail "the same archive again added $(json_get out.txt 'j["bytes_added"]') bytes"
pass

# zip: Python's (always), bsdtar's (if installed).  Zip holds no devices,
# fifos or owners, Python cannot read a name that is not UTF-8, and
# libarchive takes a "\" in a zip name for a "/" (Windows zips).
mkdir zsrc
(cd "$SRC" && tar --exclude=./chardev --exclude=./fifo --exclude='./caf*' \
    --exclude='*\\*' \
    -cf - .) | tar -xpf - -C zsrc 2>/dev/null
"$PYTHON" - zsrc py.zip <<'EOF'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED,
                     strict_timestamps=False) as z:
    for dirpath, dirs, files in os.walk(src):
        for name in sorted(dirs + files):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)
            # Python's zip follows symlinks: bsdtar's zip has them
            if not os.path.islink(path) and \
                    (os.path.isdir(path) or os.stat(path).st_size < 8 << 20):
                z.write(path, rel)
EOF
roundtrip py.zip
if command -v bsdtar >/dev/null; then
    bsdtar --format=zip -cf bsd.zip -C zsrc .
    roundtrip bsd.zip
    bsdtar --format=pax -cf bsd-pax.tar -C "$SRC" . 2>/dev/null || true
    roundtrip bsd-pax.tar
else
    note "bsdtar (libarchive-tools) not installed: its zip and pax skipped"
fi

# --- (b) hostile archives -------------------------------------------------------
mkdir outside
echo original >outside/keep
# hostile NAME.tar KIND: made by Python's tarfile, which writes names as
# given.
"$PYTHON" - "$WORK" <<'EOF'
import io, os, sys, tarfile
work = sys.argv[1]
def entry(t, name, data=b"x", **kw):
    i = tarfile.TarInfo(name)
    for k, v in kw.items():
        setattr(i, k, v)
    if i.type == tarfile.REGTYPE:
        i.size = len(data)
        t.addfile(i, io.BytesIO(data))
    else:
        t.addfile(i)
with tarfile.open(os.path.join(work, "dotdot.tar"), "w") as t:
    entry(t, "fine.txt", b"fine")
    entry(t, "../escaped.txt", b"evil")
    entry(t, "a/./../../escaped2.txt", b"evil")
with tarfile.open(os.path.join(work, "absolute.tar"), "w") as t:
    entry(t, os.path.join(work, "outside", "abs.txt"), b"evil")
with tarfile.open(os.path.join(work, "symlink.tar"), "w") as t:
    entry(t, "a", type=tarfile.SYMTYPE,
          linkname=os.path.join(work, "outside"))
    entry(t, "a/b", b"through the link")
    entry(t, "c/d", b"first")
    entry(t, "c", type=tarfile.SYMTYPE,
          linkname=os.path.join(work, "outside"))
with tarfile.open(os.path.join(work, "links.tar"), "w") as t:
    entry(t, "real", b"real")
    entry(t, "up", type=tarfile.LNKTYPE, linkname="../../etc/passwd")
    entry(t, "nowhere", type=tarfile.LNKTYPE, linkname="not/there")
    entry(t, "good", type=tarfile.LNKTYPE, linkname="./real")
    entry(t, "twice", b"one")
    entry(t, "twice", b"two")
# a header that declares 1 GiB and a body of 100 bytes
i = tarfile.TarInfo("huge.bin")
i.size = 1 << 30
with open(os.path.join(work, "short.tar"), "wb") as f:
    f.write(i.tobuf())
    f.write(b"y" * 100)
EOF

# nothing_outside: outside/ holds its one file, unchanged
nothing_outside() {
    [ "$(ls outside)" = keep ] && [ "$(cat outside/keep)" = original ] ||
        fail "something was written outside the target: $(ls -la outside)"
    [ ! -e "$WORK/escaped.txt" ] && [ ! -e "$WORK/../escaped.txt" ] &&
        [ ! -e "$WORK/escaped2.txt" ] || fail "a file escaped the target"
    pass
}

expect_rc 3 add va -i id.txt --tar dotdot.tar
grep -q 'escaped.txt.*\.\.' err.txt || fail "'../' not reported: $(cat err.txt)"
ok ls va -i id.txt -R latest
[ "$(cat out.txt)" = /fine.txt ] || fail "dotdot.tar stored: $(cat out.txt)"
ok extract va -i id.txt latest -C t1
nothing_outside

ok add va -i id.txt --tar absolute.tar
grep -q 'leading "/" dropped' err.txt || fail "no word on the leading /"
ok extract va -i id.txt latest -C t2
[ -f "t2$WORK/outside/abs.txt" ] || fail "the absolute name is not below the target"
nothing_outside

expect_rc 3 add va -i id.txt --tar symlink.tar
grep -q '/a/b: below an entry that is not a directory' err.txt ||
    fail "a/b below the symlink not reported: $(cat err.txt)"
grep -q '/c: a name an entry before it has' err.txt ||
    fail "the symlink c over the folder c not reported: $(cat err.txt)"
ok ls va -i id.txt -R latest
grep -qx /a out.txt && grep -qx /c/d out.txt && ! grep -q '^/a/b' out.txt ||
    fail "symlink.tar stored: $(cat out.txt)"
ok extract va -i id.txt latest -C t3
[ -L t3/a ] && [ "$(cat t3/c/d)" = first ] || fail "symlink.tar extracted wrong"
nothing_outside
rm -f back.tar
ok extract va -i id.txt latest --tar back.tar
nothing_outside

expect_rc 3 add va -i id.txt --tar links.tar
grep -q "up: a hard link to a name with \"..\"" err.txt &&
    grep -q '/nowhere: a hard link to /not/there' err.txt &&
    grep -q '/twice: a name an entry before it has' err.txt || fail "links.tar: $(cat err.txt)"
ok extract va -i id.txt latest -C t4
[ "$(cat t4/good)" = real ] && [ "$(stat -c %i t4/good)" = "$(stat -c %i t4/real)" ] ||
    fail "the good hard link is not one"
[ "$(cat t4/twice)" = one ] || fail "twice: the first one is kept"
[ ! -e t4/up ] && [ ! -e t4/nowhere ] || fail "bad hard links stored"
nothing_outside

ok ls va -i id.txt
before=$(wc -l <out.txt)
expect_fail 1 'archive: .*(truncat|premature|end)' add va -i id.txt --tar short.tar
ok ls va -i id.txt
[ "$(wc -l <out.txt)" -eq "$before" ] || fail "a truncated archive made a snapshot"
pass

# --- (c) what it reads ----------------------------------------------------------
expect_fail 1 'absent.tar' add va -i id.txt --tar absent.tar
head -c 5000 /dev/urandom >noise.bin
expect_fail 1 'archive|noise.bin' add va -i id.txt --tar noise.bin
expect_fail 2 'takes no paths' add va -i id.txt --tar gnu.tar "$SRC"
expect_fail 2 'needs a value' add va -i id.txt --tar ''
# excludes are for walks of the file system: refused, not ignored
expect_fail 1 'excludes apply to paths walked' add va -i id.txt \
    --tar gnu.tar --exclude '*'
expect_fail 1 'excludes apply to paths walked' add va -i id.txt \
    --stdin --exclude-caches <gnu.tar
