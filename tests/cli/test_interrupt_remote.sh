#!/usr/bin/env bash
# test_interrupt_remote.sh - SIGINT over a slow link and against a silent
# server (issue #12, item 1): vault over restic's REST protocol (rclone
# serve restic on loopback) behind the fault proxy.  An add whose pack
# uploads crawl (--bandwidth) and one whose request the server never
# answers (a stall of a minute) both stop within seconds of SIGINT - the
# transfer is aborted through libcurl's progress callback, a retry wait
# is cut short - with exit 130 and "vault: interrupted", and the add
# marker is taken down over the same link (the cleanup is shielded from
# the interruption).  Skipped (77) without rclone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_remote.sh"

proxied_vault
[ "$RC" -eq 0 ] || die "init $LOC failed: $(cat err.txt)"
pass
stop_proxy
mkdir src
for i in $(seq 1 8); do random_file "src/f$i" 3000000; done

# markers: add markers in the served vault (not a save's temporary).
markers() {
    find "$WORK/store/v/locks" -type f -regextype posix-extended \
        -regex '.*/[0-9a-f]{64}' 2>/dev/null | wc -l
}

# interrupt_add WHAT: starts an add through the proxy, sends SIGINT once
# its marker is stored and one second later, and checks that it stopped
# within 15 s, cleanly.
interrupt_add() {
    local what=$1
    "$PYTHON" - "$VAULT" add "$LOC" src -i id.txt \
        >out.txt 2>err.txt <<'EOF' || RC=$?
import glob, os, signal, subprocess, sys, time
p = subprocess.Popen(sys.argv[1:])
locks = os.path.join(os.environ["WORK"], "store/v/locks/*")
deadline = time.time() + 120
while p.poll() is None and time.time() < deadline:
    if [n for n in glob.glob(locks) if len(os.path.basename(n)) == 64]:
        break
    time.sleep(0.01)
time.sleep(1)
if p.poll() is not None:
    sys.exit("the add ended (%d) before it could be interrupted" % p.returncode)
p.send_signal(signal.SIGINT)
start = time.time()
try:
    rc = p.wait(timeout=15)
except subprocess.TimeoutExpired:
    p.kill()
    sys.exit("the add was still running 15 s after SIGINT")
if rc < 0:
    sys.exit("vault was killed by signal %d instead of exiting" % -rc)
sys.stderr.write("note: stopped %.1f s after SIGINT\n" % (time.time() - start))
sys.exit(rc)
EOF
    check_sane 0 err.txt "vault add ($what)"
    [ "$RC" -eq 130 ] || fail "$what: add exited $RC, expected 130: $(cat err.txt)"
    grep -qx 'vault: interrupted' err.txt || fail "$what: no 'vault: interrupted': $(cat err.txt)"
    [ "$(markers)" -eq 0 ] || fail "$what: the add marker was left behind"
    grep '^note:' err.txt >&2 || true
    pass
}

export WORK
# A crawling link: 300 kB/s, so a pack takes a minute to go.
RC=0
start_proxy slow --bandwidth 300000
interrupt_add "slow link"
stop_proxy

# A server that never answers the pack uploads (each stalls a minute).
RC=0
start_proxy stall --match "POST /v/data/" --fault-rate 1 --kinds stall \
    --stall-ms 60000 --seed 1
interrupt_add "silent server"
stop_proxy

# The vault is whole, and a plain add completes.
start_proxy after
ok add "$LOC" src -i id.txt
ok check "$LOC" -i id.txt --read-data
stop_proxy
