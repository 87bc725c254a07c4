#!/usr/bin/env bash
# test_roundtrip.sh - the fixture of make_tree.sh goes into a vault and
# comes back identical: through `extract -C`, through `extract --tar` and
# GNU tar, and piecewise (single paths).  `ls` lists exactly the tree with
# the right metadata, snapshots carry their host, user, paths and tags,
# --exclude leaves things out, and every compression setting round-trips.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v tar >/dev/null || die "GNU tar is needed"

make_tree "$WORK/src" 2>make_tree.log
SRC=$WORK/src
grep -h '^note' make_tree.log >&2 || true
new_identity id.txt
new_vault vault id.txt

# --- add ------------------------------------------------------------------------
ok add vault "$SRC" -i id.txt --tag roundtrip --tag 'two words' --json
cp out.txt add.json
snap=$(json_get add.json 'j["id"]')
[[ $snap =~ ^[0-9a-f]{64}$ ]] || die "add --json: id '$snap' is not 64 hex digits"
[ -f "vault/snapshots/$snap" ] || die "add reported snapshot $snap but vault/snapshots/$snap does not exist"
[ "$(json_get add.json 'j["errors"]')" = 0 ] || die "add counted errors: $(cat add.json)"
pass

# --- extract -C: everything comes back ----------------------------------------
ok extract vault latest -C out1 -i id.txt
grep -q '^restored ' out.txt || die "extract printed no summary: $(cat out.txt)"
treecmp "$SRC" "out1$SRC"
# By ID prefix too, and by full ID.
ok extract vault "${snap:0:8}" "$SRC/file.txt" -C out1b -i id.txt
cmp -s "$SRC/file.txt" "out1b$SRC/file.txt" || die "extract by ID prefix: file.txt differs"
ok extract vault "$snap" "$SRC/file.txt" -C out1c -i id.txt
cmp -s "$SRC/file.txt" "out1c$SRC/file.txt" || die "extract by full ID: file.txt differs"
pass

# --- extract --tar FILE, unpacked by GNU tar ---------------------------------
ok extract vault latest --tar snap.tar -i id.txt
[ -s snap.tar ] || die "extract --tar wrote an empty file"
# The 64 MiB sparse file's zero chunks are holes of a GNU sparse entry:
# only the chunk around its few bytes goes in (the tree holds ~15 MiB of
# other data).
tar_bytes=$(stat -c %s snap.tar)
[ "$tar_bytes" -lt $((30 * 1024 * 1024)) ] ||
    fail "the tar is $tar_bytes bytes: the sparse file went in whole"
mkdir tarx
tar --xattrs --numeric-owner -xpf snap.tar -C tarx 2>tar.err ||
    die "GNU tar could not extract vault's tar: $(cat tar.err)"
# Everything, nanosecond mtimes and holes included, must match.
treecmp "$SRC" "tarx$SRC"
rm -rf tarx out1

# --- extract --tar - | tar -t ------------------------------------------------
set +e
"$VAULT" extract vault latest --tar - -i id.txt 2>tar-stdout.err |
    tar --quoting-style=literal -tf - >tar-list.txt 2>tar-t.err
status=("${PIPESTATUS[@]}")
set -e
check_sane "${status[0]}" tar-stdout.err "vault extract --tar -"
[ "${status[0]}" -eq 0 ] || die "vault extract --tar - exited ${status[0]}: $(cat tar-stdout.err)"
[ "${status[1]}" -eq 0 ] || die "tar -t of vault's stream exited ${status[1]}: $(cat tar-t.err)"
grep -q '^restored ' tar-stdout.err ||
    die "extract --tar -: the summary should go to stderr; stderr: $(cat tar-stdout.err)"
"$PYTHON" - "$SRC" tar-list.txt <<'EOF' || die "tar -t listing of the --tar - stream is wrong"
import os, sys
src, listing = sys.argv[1], sys.argv[2]
expected = []
parts = src.strip("/").split("/")
for i in range(1, len(parts)):              # the ancestors
    expected.append("/".join(parts[:i]) + "/")
for dirpath, dirs, files in os.walk(src):
    rel = dirpath.lstrip("/")
    expected.append(rel + "/")
    for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
        expected.append(os.path.join(rel, name))
# Literal quoting: the newline name spans two lines; compare line multisets.
want = sorted("\n".join(expected).split("\n"))
with open(listing, encoding="utf-8", errors="surrogateescape") as f:
    got = sorted(f.read().rstrip("\n").split("\n"))
if want != got:
    ws, gs = set(want), set(got)
    print("missing from tar -t:", sorted(ws - gs)[:20])
    print("unexpected in tar -t:", sorted(gs - ws)[:20])
    print("lines: %d expected, %d listed" % (len(want), len(got)))
    sys.exit(1)
EOF
pass
# The stream holds the same archive as the file written above (same
# snapshot, same walk); libarchive pads a pipe's last block to 10240 bytes
# and a regular file's not, so the stream may have extra zero bytes.
RC=0
"$VAULT" extract vault latest --tar - -i id.txt 2>stream.err >stream.tar || RC=$?
check_sane "$RC" stream.err "vault extract --tar - >stream.tar"
"$PYTHON" - snap.tar stream.tar <<'EOF' || fail "extract --tar - and --tar FILE wrote different archives"
import sys
a, b = (open(p, "rb").read() for p in sys.argv[1:3])
short, long_ = sorted((a, b), key=len)
if long_[:len(short)] != short or long_[len(short):].strip(b"\0"):
    sys.exit(1)
EOF
pass
rm -f stream.tar snap.tar

# --- extract PATH: only that subtree ------------------------------------------
ok extract vault latest "$SRC/dir" -C out2 -i id.txt
treecmp "$SRC/dir" "out2$SRC/dir"
[ "$(ls -A "out2$SRC")" = dir ] ||
    die "extract of $SRC/dir restored more than it: $(ls -A "out2$SRC" | head)"
[ "$(ls -A out2)" = "$(echo "$SRC" | cut -d/ -f2)" ] ||
    die "extract of $SRC/dir wrote outside its path: $(ls -A out2)"
pass
# A single hard-linked file, a file deep down, the newline name, together.
nl_name=$(printf 'new\nline')
deep_leaf=$(cd "$SRC" && find deep -name leaf)
ok extract vault latest "$SRC/hl/b" "$SRC/$deep_leaf" "$SRC/$nl_name" -C out3 -i id.txt
for f in hl/b "$deep_leaf" "$nl_name"; do
    cmp -s "$SRC/$f" "out3$SRC/$f" || die "extract of single path '$f': content differs or missing"
done
count=$(find "out3$SRC" ! -type d -printf x | wc -c)
[ "$count" -eq 3 ] || die "extract of 3 single paths restored $count non-directories: $(find "out3$SRC" ! -type d)"
pass

# --- ls -R --json: exactly the tree, with the right metadata ---------------------
ok ls vault latest -R --json -i id.txt
cp out.txt ls.json
# JSON text is UTF-8 (RFC 8259), whatever bytes the file names hold.
"$PYTHON" -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' ls.json 2>/dev/null ||
    fail "ls --json output is not valid UTF-8 (a file name that is not UTF-8 is written as raw bytes)"
"$PYTHON" - "$SRC" ls.json <<'EOF' || die "ls latest -R --json does not match the tree"
import datetime, json, os, stat, sys
src, listing = sys.argv[1], sys.argv[2]
with open(listing, encoding="utf-8", errors="surrogateescape") as f:
    entries = json.load(f)
errors = []
required = ("path", "type", "mode", "size", "mtime")
for e in entries:
    for k in required:
        if k not in e:
            errors.append("entry %r lacks %r" % (e.get("path"), k))
got = {e["path"]: e for e in entries}
if len(got) != len(entries):
    errors.append("ls lists some paths twice")
want = set()
parts = src.strip("/").split("/")
for i in range(1, len(parts)):
    want.add("/" + "/".join(parts[:i]))
for dirpath, dirs, files in os.walk(src):
    want.add(dirpath)
    for name in dirs + files:
        want.add(os.path.join(dirpath, name))
for p in sorted(want - set(got)):
    errors.append("missing from ls: %r" % p)
for p in sorted(set(got) - want):
    errors.append("not in the tree but listed: %r" % p)

TYPES = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink",
         stat.S_IFIFO: "fifo", stat.S_IFCHR: "chardev"}
def rfc3339_ns(text):
    # "2011-04-05T12:31:31.337283951Z" -> ns since the epoch
    base, frac = text.rstrip("Z").split(".")
    dt = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    delta = dt - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    secs = delta.days * 86400 + delta.seconds
    return secs * 10**9 + int(frac.ljust(9, "0"))
for p in sorted(want & set(got)):
    if not p.startswith(src):
        continue  # ancestors: metadata of the real ones, not checked here
    e, st = got[p], os.lstat(p)
    t = TYPES.get(stat.S_IFMT(st.st_mode))
    if e.get("type") != t:
        errors.append("%r: type %r, expected %r" % (p, e.get("type"), t))
        continue
    if t != "symlink" and e.get("mode") != stat.S_IMODE(st.st_mode):
        errors.append("%r: mode %o, expected %o" % (p, e.get("mode", -1),
                                                     stat.S_IMODE(st.st_mode)))
    if t == "file" and e.get("size") != st.st_size:
        errors.append("%r: size %r, expected %d" % (p, e.get("size"), st.st_size))
    try:
        ns = rfc3339_ns(e.get("mtime", ""))
    except ValueError:
        errors.append("%r: mtime %r is not RFC 3339 with nanoseconds" % (p, e.get("mtime")))
    else:
        if ns != st.st_mtime_ns:
            errors.append("%r: mtime %s is %d ns, expected %d" % (p, e["mtime"], ns, st.st_mtime_ns))
    if t == "symlink" and e.get("target") != os.readlink(p):
        errors.append("%r: target %r, expected %r" % (p, e.get("target"), os.readlink(p)))
    if os.geteuid() == 0 and (e.get("uid"), e.get("gid")) != (st.st_uid, st.st_gid):
        errors.append("%r: owner %r:%r, expected %d:%d" % (p, e.get("uid"), e.get("gid"), st.st_uid, st.st_gid))
for line in errors:
    print(line)
sys.exit(1 if errors else 0)
EOF
pass

# Plain ls -R: one path per line, the same paths, escaped for a terminal
# (control bytes and bytes that are not UTF-8 as \xHH, a backslash as
# \\, so the newline name is one line too).
ok ls vault "latest:$SRC" -R -i id.txt
"$PYTHON" - "$SRC" out.txt <<'EOF' || die "ls latest:$SRC -R (text) does not list the tree"
import os, sys
src, listing = sys.argv[1], sys.argv[2]
def escaped(path):
    out, raw = [], os.fsencode(path)
    text = raw.decode("utf-8", errors="surrogateescape")
    for ch in text:
        c = ord(ch)
        if 0xdc80 <= c <= 0xdcff:          # a byte that is not UTF-8
            out.append("\\x%02x" % (c - 0xdc00))
        elif ch == "\\":
            out.append("\\\\")
        elif c < 0x20 or c == 0x7f:
            out.append("\\x%02x" % c)
        elif 0x80 <= c <= 0x9f:
            out.append("".join("\\x%02x" % b for b in ch.encode()))
        else:
            out.append(ch)
    return "".join(out)
want = []
for dirpath, dirs, files in os.walk(src):
    for name in dirs + files:
        want.append(escaped(os.path.join(dirpath, name)))
want = sorted(want)
with open(listing, encoding="utf-8") as f:
    got = sorted(f.read().rstrip("\n").split("\n"))
if want != got:
    print("missing:", sorted(set(want) - set(got))[:10])
    print("extra:", sorted(set(got) - set(want))[:10])
    sys.exit(1)
EOF
pass
# ls -l: mode string, size and symlink arrow.
ok ls vault "latest:$SRC" -l -i id.txt
grep -q -E '^-rw-r--r-- .* 13 .*/file\.txt$' out.txt || die "ls -l: no proper line for file.txt:
$(cat out.txt)"
grep -q -E '^l.* /.*/link -> file\.txt$' out.txt || die "ls -l: no 'link -> file.txt' line:
$(cat out.txt)"
grep -q -E '^dr-xr-xr-x .*/modes/d0555$' out.txt && die "ls -l without -R listed a grandchild"
pass
# ls SNAP:PATH of a file lists that file; of a missing path fails.
ok ls vault "latest:$SRC/file.txt" -i id.txt
[ "$(cat out.txt)" = "$SRC/file.txt" ] || die "ls latest:FILE printed '$(cat out.txt)'"
expect_fail 1 'not|no such' ls vault "latest:$SRC/no-such-file" -i id.txt

# --- snapshots: ls --json and text ---------------------------------------------
ok add vault "$SRC/dir" -i id.txt --host other-host --json
cp out.txt add2.json
snap2=$(json_get add2.json 'j["id"]')
ok ls vault --json -i id.txt
cp out.txt snaps.json
"$PYTHON" - snaps.json "$snap" "$snap2" "$SRC" "$(id -un)" "$(hostname)" <<'EOF' || die "ls --json (snapshots) is wrong"
import json, sys
path, id1, id2, src, user, host = sys.argv[1:]
with open(path, encoding="utf-8") as f:
    snaps = json.load(f)
errors = []
if [s.get("id") for s in snaps] != [id1, id2]:
    errors.append("ids %r, expected [%s, %s] oldest first" % ([s.get("id") for s in snaps], id1, id2))
for s in snaps:
    for k in ("id", "time", "host", "user", "paths", "tags"):
        if k not in s:
            errors.append("snapshot %s lacks %r" % (s.get("id"), k))
if len(snaps) == 2:
    a, b = snaps
    if a.get("paths") != [src]:
        errors.append("paths %r, expected [%r]" % (a.get("paths"), src))
    if sorted(a.get("tags", [])) != ["roundtrip", "two words"]:
        errors.append("tags %r" % a.get("tags"))
    if a.get("host") != host:
        errors.append("host %r, expected %r" % (a.get("host"), host))
    if a.get("user") != user:
        errors.append("user %r, expected %r" % (a.get("user"), user))
    if b.get("host") != "other-host":
        errors.append("--host other-host recorded %r" % b.get("host"))
    if b.get("tags") != []:
        errors.append("untagged snapshot has tags %r" % b.get("tags"))
    if not (a.get("time", "") <= b.get("time", "")):
        errors.append("times not in order: %r, %r" % (a.get("time"), b.get("time")))
for line in errors:
    print(line)
sys.exit(1 if errors else 0)
EOF
pass
ok ls vault -i id.txt
[ "$(wc -l < out.txt)" -eq 2 ] || die "ls (snapshots) printed $(wc -l < out.txt) lines, expected 2:
$(cat out.txt)"
grep "^${snap:0:8}" out.txt | grep -q 'roundtrip' || die "ls: tag 'roundtrip' not shown for ${snap:0:8}:
$(cat out.txt)"
grep "^${snap:0:8}" out.txt | grep -q -F "$SRC" || die "ls: path not shown:
$(cat out.txt)"
pass

# --- --exclude ----------------------------------------------------------------
ok add vault "$SRC" -i id.txt --exclude '*.bin' --exclude "$SRC/deep" \
    --exclude fifo --exclude 'd0555' --json
ok ls vault latest -R --json -i id.txt
cp out.txt excl.json
"$PYTHON" - excl.json "$SRC" <<'EOF' || die "--exclude did not exclude what it should (or too much)"
import json, sys
with open(sys.argv[1], encoding="utf-8", errors="surrogateescape") as f:
    paths = {e["path"] for e in json.load(f)}
src = sys.argv[2]
errors = []
for p in paths:
    if p.endswith(".bin"):
        errors.append("*.bin not excluded: %r" % p)
    if p.startswith(src + "/deep"):
        errors.append("%s/deep not excluded: %r" % (src, p))
    if p.endswith("/fifo") or "/d0555" in p:
        errors.append("name glob not excluded: %r" % p)
for keep in ("/file.txt", "/dir/inner.txt", "/modes/m0444", "/hl/a", "/sparse"):
    if src + keep not in paths:
        errors.append("excluded too much: %r missing" % (src + keep))
for line in errors:
    print(line)
sys.exit(1 if errors else 0)
EOF
pass

# --- -x and compression settings round-trip ----------------------------------
prev=
for level in off 1 19; do
    ok add vault "$SRC/dir" -x --no-cache --compression "$level" -i id.txt
    ok extract vault latest -C "out-c$level" -i id.txt
    treecmp "$SRC/dir" "out-c$level$SRC/dir"
done
expect_fail 2 'compression' add vault "$SRC/dir" --compression 20 -i id.txt
expect_fail 2 'compression' add vault "$SRC/dir" --compression fast -i id.txt
# Compression off really stores more than level 19 for compressible data:
# compare fresh vaults (the one above deduplicates).
for level in off 19; do
    new_vault "v-$level" id.txt
    ok add "v-$level" "$SRC/dir" --compression "$level" -i id.txt --json
    cp out.txt "c-$level.json"
done
off_bytes=$(json_get c-off.json 'j["bytes_added"]')
z19_bytes=$(json_get c-19.json 'j["bytes_added"]')
[ "$z19_bytes" -lt "$off_bytes" ] ||
    die "compression 19 stored $z19_bytes bytes, off stored $off_bytes: no compression happened"
pass

# --- how paths are named ------------------------------------------------------------
# Relative, with a trailing slash or dot-dots: stored as the absolute path.
ok add vault src/dir/ -i id.txt
ok ls vault --json -i id.txt
[ "$(json_get out.txt 'j[-1]["paths"]')" = "['$SRC/dir']" ] ||
    fail "add src/dir/ (relative) recorded paths $(json_get out.txt 'j[-1]["paths"]'), expected ['$SRC/dir']"
cd "$SRC/modes"
ok add "$WORK/vault" ../dir/../hl -i "$WORK/id.txt"
cd "$WORK"
ok ls vault --json -i id.txt
[ "$(json_get out.txt 'j[-1]["paths"]')" = "['$SRC/hl']" ] ||
    fail "add ../dir/../hl recorded paths $(json_get out.txt 'j[-1]["paths"]'), expected ['$SRC/hl']"
pass
# Overlapping paths: either refused clearly or stored once.
v add vault "$SRC/hl" "$SRC/hl/a" -i id.txt
if [ "$RC" -eq 0 ]; then
    ok ls vault latest -R --json -i id.txt
    [ "$(json_get out.txt "sum(e['path'] == '$SRC/hl/a' for e in j)")" = 1 ] ||
        fail "overlapping paths stored $SRC/hl/a more than once"
else
    [ "$RC" -eq 1 ] || [ "$RC" -eq 2 ] || fail "overlapping paths: exit $RC"
    grep -q -i '^vault: .*overlap' err.txt || fail "overlapping paths refused without saying so: $(cat err.txt)"
fi
pass
# A symlink named on the command line is stored as the symlink.
ok add vault "$SRC/dirlink" -i id.txt
ok ls vault "latest:$SRC/dirlink" --json -i id.txt
[ "$(json_get out.txt 'j[0]["type"]')" = symlink ] || fail "add of a symlink stored a $(json_get out.txt 'j[0]["type"]')"
pass
