#!/usr/bin/env bash
# test_age_interop.sh - libvault's age module (through tests/tools/agetool)
# against the reference `age` 1.1.1 and `age-keygen` binaries, both ways:
# X25519 keys from either side, several recipients, armor, passphrases,
# payload sizes around the 64 KiB chunk boundary.
#
# age reads passphrases only from a terminal, so the passphrase cases drive
# it through a pseudo-terminal with a small Python helper (pty module).
# age -o creates no file for an empty payload, so outputs go to stdout
# where no terminal is involved.
set -euo pipefail

: "${AGETOOL:?AGETOOL must point to the agetool binary}"
for tool in age age-keygen cmp; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool not found"; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/vault-age-interop-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

checks=0
pass() { checks=$((checks + 1)); }
die() { echo "FAIL: $*" >&2; exit 1; }
same() { cmp -s "$1" "$2" || die "$3: $1 and $2 differ"; pass; }

# --- keys -----------------------------------------------------------------
age-keygen -o age1.key 2>/dev/null
age-keygen -o age2.key 2>/dev/null
"$AGETOOL" keygen > ours1.key
"$AGETOOL" keygen > ours2.key
for k in age1 age2 ours1 ours2; do
    age-keygen -y "$k.key" > "$k.pub.age"
    "$AGETOOL" pubkey < "$k.key" > "$k.pub.ours"
    same "$k.pub.age" "$k.pub.ours" "public key of $k.key"
done
grep -q '^# public key: age1' ours1.key || die "keygen output lacks a public key comment"
grep -q '^AGE-SECRET-KEY-1' ours1.key || die "keygen output lacks a secret key"
r_age1=$(cat age1.pub.age); r_age2=$(cat age2.pub.age)
r_ours1=$(cat ours1.pub.age); r_ours2=$(cat ours2.pub.age)

# --- X25519, one recipient, every size ---------------------------------------
sizes="0 1 1000 65535 65536 65537 200000"
for n in $sizes; do
    head -c "$n" /dev/urandom > "in.$n"
    for k in age1 ours1; do
        r=$(cat "$k.pub.age")
        # ours -> age
        "$AGETOOL" encrypt -r "$r" < "in.$n" > "ours.$k.$n.age"
        age -d -i "$k.key" "ours.$k.$n.age" > "out.a.$k.$n"
        same "in.$n" "out.a.$k.$n" "age decrypting ours ($k, $n bytes)"
        # age -> ours
        age -r "$r" -o "age.$k.$n.age" "in.$n"
        "$AGETOOL" decrypt -i "$k.key" < "age.$k.$n.age" > "out.o.$k.$n"
        same "in.$n" "out.o.$k.$n" "ours decrypting age ($k, $n bytes)"
    done
done

# --- armor -------------------------------------------------------------------
for n in 0 1000 65537; do
    age -a -r "$r_age1" -o "age.$n.asc" "in.$n"
    head -1 "age.$n.asc" | grep -q -- '-----BEGIN AGE ENCRYPTED FILE-----' ||
        die "age -a did not armor"
    "$AGETOOL" decrypt -i age1.key < "age.$n.asc" > "out.asc.$n"
    same "in.$n" "out.asc.$n" "ours decrypting age -a ($n bytes)"
    "$AGETOOL" encrypt -a -r "$r_age1" < "in.$n" > "ours.$n.asc"
    age -d -i age1.key "ours.$n.asc" > "out.asc2.$n"
    same "in.$n" "out.asc2.$n" "age decrypting our armor ($n bytes)"
done

# --- several recipients, and identity files with several keys ---------------
for n in 1 200000; do
    age -r "$r_age1" -r "$r_ours1" -r "$r_age2" -o "age.multi.$n" "in.$n"
    "$AGETOOL" encrypt -r "$r_ours2" -r "$r_age1" -r "$r_ours1" \
        < "in.$n" > "ours.multi.$n"
    for k in age1 ours1; do
        "$AGETOOL" decrypt -i "$k.key" < "age.multi.$n" > "out.m1.$k.$n"
        same "in.$n" "out.m1.$k.$n" "ours decrypting age multi ($k)"
        age -d -i "$k.key" "ours.multi.$n" > "out.m2.$k.$n"
        same "in.$n" "out.m2.$k.$n" "age decrypting our multi ($k)"
    done
    age -d -i age2.key "age.multi.$n" > "out.m3.$n"
    same "in.$n" "out.m3.$n" "age decrypting age multi (age2)"
    "$AGETOOL" decrypt -i ours2.key < "ours.multi.$n" > "out.m4.$n"
    same "in.$n" "out.m4.$n" "ours decrypting our multi (ours2)"
done
cat age2.key ours1.key > both.key
"$AGETOOL" decrypt -i both.key < age.multi.1 > out.both
same in.1 out.both "ours with a two-key identity file"
age -d -i both.key ours.multi.1 > out.both2
same in.1 out.both2 "age with a two-key identity file"

# --- refusals: wrong key, damaged file -----------------------------------------
if "$AGETOOL" decrypt -i age2.key < age.age1.1000.age > out.bad 2>err.txt; then
    die "ours decrypted with the wrong key"
fi
grep -q "no identity matched" err.txt || die "wrong key: unexpected error: $(cat err.txt)"
[ ! -s out.bad ] || die "ours released plaintext for a wrong key"
pass
if age -d -i age2.key -o out.bad2 ours.age1.1000.age 2>/dev/null; then
    die "age decrypted our file with the wrong key"
fi
pass
cp ours.age1.65537.age damaged.age
size=$(stat -c %s damaged.age)
# Flip every bit of one payload byte (writing a fixed value would leave
# the file intact whenever the byte already had it: 1 run in 256).
byte=$(od -An -tu1 -j $((size - 5)) -N1 damaged.age | tr -d ' ')
printf "\\x$(printf %02x $((byte ^ 0xff)))" |
    dd of=damaged.age bs=1 seek=$((size - 5)) conv=notrunc 2>/dev/null
cmp -s damaged.age ours.age1.65537.age && die "damaging the payload changed nothing"
if "$AGETOOL" decrypt -i age1.key < damaged.age > out.bad 2>err.txt; then
    die "ours accepted a damaged payload"
fi
grep -q "payload" err.txt || die "damaged: unexpected error: $(cat err.txt)"
pass
if age -d -i age1.key -o out.bad3 damaged.age 2>/dev/null; then
    die "age accepted a damaged payload"
fi
pass

# --- passphrases ---------------------------------------------------------------
export AGETOOL_PASSPHRASE='correct horse battery staple'
export AGETOOL_SCRYPT_LOG2N=10
for n in 0 65537; do
    "$AGETOOL" encrypt -p < "in.$n" > "ours.p.$n"
    "$AGETOOL" decrypt -p < "ours.p.$n" > "out.p.$n"
    same "in.$n" "out.p.$n" "ours decrypting our passphrase file"
done

py=""
for candidate in /usr/bin/python3 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then py=$candidate; break; fi
done
if [ -z "$py" ]; then
    echo "SKIP: no python3 to drive age's passphrase prompt in a pty"
else
    # Runs a command on a new pseudo-terminal, typing $PTY_PASSPHRASE at
    # each passphrase prompt; exits with the command's status.
    cat > ptyrun.py <<'EOF'
import os, pty, select, sys, time
pw = os.environ["PTY_PASSPHRASE"].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
seen, answered, done, status = b"", 0, 0, 0
deadline = time.time() + 300
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if fd in r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        seen += data
        if seen.count(b"passphrase") > answered and seen.rstrip().endswith(b":"):
            os.write(fd, pw + b"\r")
            answered += 1
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
if not done:
    os.kill(pid, 9)
    sys.exit("ptyrun: timeout; terminal said: " + seen.decode(errors="replace"))
code = os.waitstatus_to_exitcode(status)
if code != 0:
    sys.stderr.write(seen.decode(errors="replace") + "\n")
sys.exit(code)
EOF
    export PTY_PASSPHRASE="$AGETOOL_PASSPHRASE"
    for n in 0 65537; do
        # ours -> age -d
        "$py" ptyrun.py age -d -o "out.pa.$n" "ours.p.$n" >/dev/null
        [ -e "out.pa.$n" ] || : > "out.pa.$n" # age creates no empty output
        same "in.$n" "out.pa.$n" "age decrypting our passphrase file ($n bytes)"
        # age -p -> ours (age's default work factor, 2^18)
        "$py" ptyrun.py age -p -o "age.p.$n" "in.$n" >/dev/null
        head -2 "age.p.$n" | grep -q '^-> scrypt ' || die "age -p wrote no scrypt stanza"
        "$AGETOOL" decrypt -p < "age.p.$n" > "out.po.$n"
        same "in.$n" "out.po.$n" "ours decrypting age -p ($n bytes)"
    done
    # armored passphrase file from age
    "$py" ptyrun.py age -p -a -o age.p.asc in.1000 >/dev/null
    "$AGETOOL" decrypt -p < age.p.asc > out.pasc
    same in.1000 out.pasc "ours decrypting age -p -a"
    # wrong passphrases are refused both ways
    if PTY_PASSPHRASE=wrong "$py" ptyrun.py age -d -o out.bad4 ours.p.0 \
        >/dev/null 2>&1; then
        die "age accepted a wrong passphrase"
    fi
    pass
    if AGETOOL_PASSPHRASE=wrong "$AGETOOL" decrypt -p < age.p.0 \
        > out.bad 2>err.txt; then
        die "ours accepted a wrong passphrase"
    fi
    grep -q "no identity matched" err.txt || die "wrong passphrase: $(cat err.txt)"
    pass
fi

echo "age interop: $checks checks passed"
