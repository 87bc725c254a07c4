#!/usr/bin/env bash
# Passphrase prompts on a terminal: `keygen --passphrase` asks twice
# without echo and refuses a mismatch; a protected identity is asked for
# when a command needs it; without a terminal the error says what to do.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export VAULT_SCRYPT_LOG2N=10 # a fast work factor for the test

# term ANSWER1 ANSWER2 ARGS...: runs ARGS on a pseudo-terminal, answering
# the first passphrase prompt with ANSWER1 and later ones with ANSWER2;
# writes what the terminal showed to term.log; exits with ARGS' status.
term() {
    "$PYTHON" - "$@" <<'PY'
import os, pty, select, sys, time
answers = [sys.argv[1].encode(), sys.argv[2].encode()]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[3], sys.argv[3:])
seen, asked, done, status = b"", 0, 0, 0
deadline = time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.05)
    if fd in r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        seen += data
        if seen.lower().count(b"passphrase") > asked and seen.rstrip().endswith(b":"):
            os.write(fd, answers[min(asked, 1)] + b"\r")
            asked += 1
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
if not done:
    os.kill(pid, 9)
    sys.exit("timeout; terminal said: " + seen.decode(errors="replace"))
# The child may exit before its last words were read: drain the terminal.
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    seen += data
open("term.log", "wb").write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
PY
}

# Asked twice, not echoed.
term 'correct horse' 'correct horse' "$VAULT" keygen --passphrase -o prot.txt ||
    die "keygen --passphrase on a terminal failed: $(cat term.log)"
[ "$(grep -o -i 'passphrase' term.log | wc -l)" -ge 2 ] ||
    die "keygen did not ask twice: $(cat term.log)"
grep -q 'correct horse' term.log && die "the passphrase was echoed: $(cat term.log)"
head -c 21 prot.txt | grep -q '^age-encryption.org/v1' || die "prot.txt is not an age file"
[ "$(stat -c %a prot.txt)" = 600 ] || die "prot.txt mode $(stat -c %a prot.txt)"
pass

# A mismatch creates nothing.
if term 'one' 'two' "$VAULT" keygen --passphrase -o other.txt; then
    die "keygen accepted two different passphrases"
fi
grep -q -i 'do not match' term.log || die "mismatch message: $(cat term.log)"
[ ! -e other.txt ] || die "a mismatch still wrote other.txt"
pass

# The protected identity is asked for when used.
VAULT_PASSPHRASE='correct horse' ok keygen -y -i prot.txt
pub=$(cat out.txt)
ok init V -r "$pub"
mkdir src && echo data >src/f
term 'correct horse' 'correct horse' "$VAULT" add V src -i prot.txt ||
    die "add with a prompted passphrase failed: $(cat term.log)"
grep -q 'snapshot .* saved' term.log || die "add said: $(cat term.log)"
if term 'wrong' 'wrong' "$VAULT" ls V -i prot.txt; then
    die "ls accepted a wrong passphrase"
fi
grep -q -i 'wrong passphrase' term.log || die "wrong passphrase message: $(cat term.log)"
pass

# No terminal, no variable: a clear error, not a hang.
expect_fail 1 'passphrase' ls V -i prot.txt </dev/null

# A passphrase-protected OpenSSH key (ssh-keygen's default) as the
# identity: asked for on a terminal, or from --passphrase-file; the
# vault shared with its public key (issue #12: share took the key, -i
# then refused it).
if command -v ssh-keygen >/dev/null; then
    ssh-keygen -q -t ed25519 -N 'ssh secret' -C bob -f bob_ssh
    new_identity alice.txt
    ok init S -i alice.txt
    ok share S "$(cat bob_ssh.pub)" -i alice.txt
    ok add S src -i alice.txt
    printf 'ssh secret\n' >ssh-pass.txt
    ok ls S latest -R -i bob_ssh --passphrase-file ssh-pass.txt
    grep -q "/src/f\$" out.txt || fail "bob's ls: $(cat out.txt)"
    term 'ssh secret' 'ssh secret' "$VAULT" ls S -i bob_ssh ||
        die "ls with a prompted ssh passphrase failed: $(cat term.log)"
    if term 'wrong' 'wrong' "$VAULT" ls S -i bob_ssh; then
        die "a wrong ssh key passphrase was accepted"
    fi
    grep -q -i 'wrong passphrase' term.log || die "wrong ssh passphrase: $(cat term.log)"
    expect_fail 1 'passphrase' ls S -i bob_ssh </dev/null
    pass
else
    fail "ssh-keygen (openssh-client) is missing"
fi
