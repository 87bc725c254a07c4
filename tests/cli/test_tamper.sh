#!/usr/bin/env bash
# test_tamper.sh - storage that flips a byte is caught, never obeyed.
#
# A small vault (a few small files and one 300 KiB random file, stored
# uncompressed so that a flip in a pack surely hits ciphertext) has one
# byte flipped at a time in every object: config, keys/*, data/*/*,
# index/*, snapshots/* - at every offset of objects under 200 bytes, else
# at the first, middle and last byte and ~20 evenly spaced ones.  After
# each flip `vault ls`, `vault ls latest -R` and `vault extract latest -C
# fresh` run, and:
#   - none may crash (killed by a signal, or a sanitizer report);
#   - some command must fail with a "vault: " message (exit 1 or 3);
#   - a command that succeeds must print what it printed before the flip:
#     `ls` the same lines, `extract` the same tree;
#   - even a partial extract (exit 3) may only restore correct files:
#     everything it wrote must equal the original.
# The byte is restored after each flip.  Each object is then also
# truncated (to half, by one byte), emptied, extended by a byte and
# removed, and litter (names that are not 64 hex digits) is dropped into
# the folders, which must be ignored.  At the end the vault is checked
# byte for byte and used once more.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkdir src src/sub
printf 'alpha\n' >src/a.txt
printf 'bravo bravo\n' >src/b.txt
printf 'charlie\n' >src/sub/c.txt
: >src/empty
ln -s a.txt src/link
random_file src/big.bin $((300 * 1024))
new_identity id.txt
new_vault vault id.txt
ok add vault "$WORK/src" --compression off -i id.txt

"$PYTHON" - "$VAULT" "$WORK" <<'EOF'
import hashlib, os, re, shutil, stat, subprocess, sys, time

vault_bin, work = sys.argv[1], sys.argv[2]
os.chdir(work)
VAULT = "vault"
ID = "id.txt"
COMMANDS = [
    ("ls", [vault_bin, "ls", VAULT, "-i", ID]),
    ("ls -R", [vault_bin, "ls", VAULT, "latest", "-R", "-l", "-i", ID]),
    ("extract", [vault_bin, "extract", VAULT, "latest", "-C", "fresh", "-i", ID]),
]

def run_all():
    """Runs the three commands at once (they only read the vault; extract
    writes to its own directory): [(name, status, stdout, stderr)]."""
    shutil.rmtree("fresh", ignore_errors=True)
    procs = [(name, subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE))
             for name, argv in COMMANDS]
    results = []
    deadline = time.time() + 60
    for name, p in procs:
        try:
            out, err = p.communicate(timeout=max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            # Reported as a crash: a hang is no way to report damage.
            results.append((name, 999, out, b"hung for 60 s: " + err))
            continue
        results.append((name, p.returncode, out, err))
    return results

def tree(root):
    """{relative path: (type, mode, size, mtime_ns, sha256 or link target)}"""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, root)
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                what = os.readlink(full)
            else:
                what = None
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                        st.st_size if not stat.S_ISDIR(st.st_mode) else 0,
                        st.st_mtime_ns, what)
    return out

def sane(name, code, err):
    """Crash or sanitizer report -> message, else None."""
    text = err.decode(errors="replace")
    if code == 999:
        return "%s %s" % (name, text[:2000])
    if code < 0 or code >= 128:
        return "%s crashed (status %d): %s" % (name, code, text[-2000:])
    if "Sanitizer" in text or "runtime error:" in text:
        return "%s: sanitizer report: %s" % (name, text[:3000])
    return None

# --- the untouched vault ----------------------------------------------------
base = run_all()
for name, code, out, err in base:
    problem = sane(name, code, err)
    if problem or code != 0:
        sys.exit("FAIL: untouched vault: %s exited %d: %s" % (name, code, err.decode()))
base_out = {name: out for name, code, out, err in base}
base_tree = tree("fresh")
if not any(k.endswith("big.bin") for k in base_tree):
    sys.exit("FAIL: untouched vault: extract restored no big.bin")

def digest_all():
    h = {}
    for dirpath, dirs, files in os.walk(VAULT):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                h[p] = hashlib.sha256(fh.read()).hexdigest()
    return h

original = digest_all()
objects = []
for p in sorted(original):
    rel = os.path.relpath(p, VAULT)
    if rel == "config" or re.match(r"^(keys|index|snapshots)/[0-9a-f]{64}$", rel) \
            or re.match(r"^data/[0-9a-f]{2}/[0-9a-f]{64}$", rel):
        objects.append(p)
kinds = {k: sum(1 for p in objects if os.path.relpath(p, VAULT).split("/")[0] == k)
         for k in ("config", "keys", "data", "index", "snapshots")}
for k, n in kinds.items():
    if n == 0:
        sys.exit("FAIL: the vault has no %s object to tamper with" % k)

def positions(size):
    if size < 200:
        return list(range(size))
    pos = {0, size - 1, size // 2}
    for i in range(21):
        pos.add(i * (size - 1) // 20)
    return sorted(pos)

def trailer_start(rel, data):
    """Offset where a pack's trailer begins (len(data) if not a pack)."""
    if not rel.startswith("data/") or len(data) < 48:
        return len(data)
    n = int.from_bytes(data[-4:], "little")
    return max(0, len(data) - 4 - n) if n < len(data) - 4 else len(data)

failures = []
trailer_flips = set()
flips = 0
undetected = []

def judge(where, results, same_output=True):
    """Applies the rules to one damaged state; True if it was detected."""
    detected = False
    for name, code, out, err in results:
        problem = sane(name, code, err)
        if problem:
            failures.append("%s: %s" % (where, problem))
            continue
        text = err.decode(errors="replace")
        if code != 0:
            if code not in (1, 3):
                failures.append("%s: %s exited %d (expected 1 or 3)" % (where, name, code))
            if not re.search(r"(?m)^vault: ", text):
                failures.append("%s: %s exited %d without a 'vault: ' message: %r"
                                % (where, name, code, text[:300]))
            detected = True
        elif same_output and name != "extract" and out != base_out[name]:
            failures.append("%s: %s succeeded with different output:\n%s"
                            % (where, name, out.decode(errors="replace")[:1000]))
    # What extract restored, whatever its status, must be right.
    ex_code = results[2][1]
    got = tree("fresh") if os.path.isdir("fresh") else {}
    wrong = [k for k, v in got.items()
             if k not in base_tree or (v[0] != stat.S_IFDIR and v != base_tree[k])]
    if wrong:
        failures.append("%s: extract (exit %d) restored wrong or foreign items: %s"
                        % (where, ex_code, sorted(wrong)[:5]))
    if ex_code == 0 and same_output and got != base_tree:
        failures.append("%s: extract exited 0 but the tree differs (missing: %s)"
                        % (where, sorted(set(base_tree) - set(got))[:5]))
    return detected

start = time.time()
for path in objects:
    with open(path, "rb") as f:
        data = f.read()
    rel = os.path.relpath(path, VAULT)
    mode = os.stat(path).st_mode
    os.chmod(path, mode | stat.S_IWUSR)
    for pos in positions(len(data)):
        flips += 1
        mask = 0x01 if flips % 2 else 0x80   # low and high bits both
        with open(path, "r+b") as f:
            f.seek(pos)
            f.write(bytes([data[pos] ^ mask]))
        try:
            results = run_all()
        finally:
            with open(path, "r+b") as f:
                f.seek(pos)
                f.write(data[pos:pos + 1])
        where = "%s byte %d (^0x%02x)" % (rel, pos, mask)
        if pos >= trailer_start(rel, data):
            trailer_flips.add(where)
        if not judge(where, results):
            undetected.append(where)

    # Truncated, emptied, one byte longer: always detected.
    for label, damaged in (("truncated to half", data[:len(data) // 2]),
                           ("one byte short", data[:-1]),
                           ("emptied", b""),
                           ("one byte appended", data + b"\0")):
        with open(path, "wb") as f:
            f.write(damaged)
        try:
            results = run_all()
        finally:
            with open(path, "wb") as f:
                f.write(data)
        where = "%s %s" % (rel, label)
        if not judge(where, results):
            undetected.append(where)

    # Removed: a legitimate-looking state (storage lost it), so listings may
    # change, but nothing may crash, something must fail, and extract must
    # not restore anything wrong.
    os.rename(path, path + ".away")
    try:
        results = run_all()
    finally:
        os.rename(path + ".away", path)
    if not judge("%s removed" % rel, results, same_output=False):
        undetected.append("%s removed" % rel)
    os.chmod(path, mode)

# Litter that sync tools and interrupted writes leave: ignored entirely.
litter = ["keys/.DS_Store", "snapshots/x (conflicted copy)", "index/.tmp-123",
          "data/00/notahexname", "snapshots/" + "A" * 64, "locks/whatever"]
for rel in litter:
    full = os.path.join(VAULT, rel)
    made_dir = not os.path.isdir(os.path.dirname(full))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(b"junk\n")
    results = run_all()
    os.remove(full)
    if made_dir:
        os.rmdir(os.path.dirname(full))
    for name, code, out, err in results:
        problem = sane(name, code, err)
        if problem or code != 0:
            failures.append("litter %s: %s exited %d: %s" % (rel, name, code,
                            problem or err.decode(errors="replace")[:300]))
    judge("litter %s" % rel, results)

for w in undetected:
    failures.append("%s: not detected - every command exited 0%s"
                    % (w, " (pack trailer)" if w in trailer_flips else ""))
elapsed = time.time() - start
print("info: %d flips in %d objects (%s), %.1f s"
      % (flips, len(objects), ", ".join("%d %s" % (n, k) for k, n in kinds.items()), elapsed),
      file=sys.stderr)
if digest_all() != original:
    failures.append("the vault is not byte-identical after restoring every flip")
for f in failures[:60]:
    print("FAIL: test_tamper: " + f, file=sys.stderr)
if len(failures) > 60:
    print("FAIL: test_tamper: ... and %d more" % (len(failures) - 60), file=sys.stderr)
sys.exit(1 if failures else 0)
EOF
pass

# The vault still works after all that.
ok extract vault latest -C final -i id.txt
treecmp "$WORK/src" "final$WORK/src"
