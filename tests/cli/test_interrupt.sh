#!/usr/bin/env bash
# test_interrupt.sh - SIGINT and SIGTERM stop add and extract cleanly
# (issue #12, item 1): exit 130 and "vault: interrupted", no add marker
# and no temporary left in the vault, no "*.vault-tmp-*" left in the
# target; the next add uploads only what the interrupted one had not
# stored (its packs are reused), and the vault checks clean, data read.
#
# The signal is sent once the add has stored a few packs (or the
# extraction placed a few files), which a poll of the folders tells; if
# the command finished first (a very fast machine), the interruption
# checks are skipped with a note rather than failing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

new_identity id.txt
new_vault v id.txt
# 40 files of 3 MB of random bytes: ~120 MB, ~8 packs, incompressible.
mkdir src
for i in $(seq 1 40); do random_file "src/f$i" 3000000; done
total=$(du_bytes src)

# interrupt SIGNAL WHEN_GLOB MIN ARGS...: runs vault ARGS in the
# background (through Python, so that SIGINT is not ignored as bash
# ignores it for background jobs), waits until at least MIN paths match
# WHEN_GLOB, sends SIGNAL, and leaves the exit status in $RC (0 if the
# command had finished before the signal).  A death by a signal (the
# handler was not in place, or a crash) fails the test.
interrupt() {
    local sig=$1 glob=$2 min=$3
    shift 3
    RC=0
    "$PYTHON" - "$sig" "$glob" "$min" "$VAULT" "$@" \
        >"$WORK/out.txt" 2>"$WORK/err.txt" <<'EOF' || RC=$?
import glob, signal, subprocess, sys, time
sig, pattern, least = getattr(signal, sys.argv[1]), sys.argv[2], int(sys.argv[3])
p = subprocess.Popen(sys.argv[4:])
deadline = time.time() + 300
while p.poll() is None and time.time() < deadline:
    if len(glob.glob(pattern, recursive=True)) >= least:
        p.send_signal(sig)
        break
    time.sleep(0.01)
rc = p.wait()
if rc < 0:
    sys.exit("vault was killed by signal %d instead of exiting" % -rc)
sys.exit(rc)
EOF
    [ "$RC" -ne 1 ] || ! grep -q '^vault was killed' "$WORK/err.txt" ||
        die "vault $*: $(tail -n 5 "$WORK/err.txt")"
    check_sane 0 "$WORK/err.txt" "vault $* (interrupted by $sig)"
}

# was_interrupted WHAT: 0 if the last command ($RC, err.txt) was
# interrupted as it should be (exit 130, "vault: interrupted"; else the
# test fails), 1 if it had finished before the signal (noted).
was_interrupted() {
    if [ "$RC" -eq 0 ]; then
        note "$1 finished before the signal: interruption not checked"
        return 1
    fi
    [ "$RC" -eq 130 ] || fail "interrupted $1 exited $RC, expected 130: $(cat err.txt)"
    grep -qx 'vault: interrupted' err.txt ||
        fail "interrupted $1 did not say 'vault: interrupted': $(cat err.txt)"
    pass
}

# --- add, SIGINT after 3 packs --------------------------------------------
interrupt SIGINT "$WORK/v/data/*/*" 3 add v src -i id.txt --threads 2
if was_interrupted add; then
    [ -z "$(ls v/locks)" ] || fail "the interrupted add left its marker: $(ls v/locks)"
    [ -z "$(find v -name '.tmp-*')" ] ||
        fail "the interrupted add left temporaries: $(find v -name '.tmp-*')"
    pass
    stored=$(du_bytes v/data)
    note "interrupted add stored $stored of $total bytes"
    ok add v src -i id.txt --json
    added=$(json_get out.txt 'j["bytes_added"]')
    # Only the rest is uploaded (the packs of the first add are reused);
    # a pack or two in flight at the signal may be stored again.
    [ "$added" -le $((total - stored + 40000000)) ] ||
        fail "the next add uploaded $added bytes; $stored of $total were stored already"
    pass
    ok check v -i id.txt --read-data
fi

# --- add, SIGTERM (from a shell's kill: also for background jobs) ----------
mkdir src2
for i in $(seq 1 30); do random_file "src2/g$i" 3000000; done
before=$(find v/data -type f | wc -l)
"$VAULT" add v src2 -i id.txt >out.txt 2>err.txt &
pid=$!
for _ in $(seq 1 30000); do
    [ "$(find v/data -type f | wc -l)" -ge $((before + 2)) ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
done
kill -TERM "$pid" 2>/dev/null || true
RC=0
wait "$pid" || RC=$?
check_sane 0 err.txt "vault add (SIGTERM)"
if was_interrupted "add (SIGTERM)"; then
    [ -z "$(ls v/locks)" ] || fail "add left its marker after SIGTERM"
    pass
fi

# --- extract, SIGINT after 5 files -----------------------------------------
interrupt SIGINT "$WORK/out/**/f*" 5 extract v latest -C out -i id.txt
if was_interrupted extract; then
    [ -z "$(find out -name '*.vault-tmp-*')" ] ||
        fail "the interrupted extract left temporaries: $(find out -name '*.vault-tmp-*')"
    pass
fi
# --- extract --tar, SIGINT once the file is there: no half tar left -------
interrupt SIGINT "$WORK/x.tar" 1 extract v latest --tar x.tar -i id.txt
if was_interrupted "extract --tar"; then
    [ ! -e x.tar ] || fail "the interrupted extract --tar left x.tar"
    pass
fi

# Run again into the same target: it resumes and completes.
ok extract v latest -C out -i id.txt
treecmp "$WORK/src" "out$WORK/src"
[ -z "$(find out -name '*.vault-tmp-*')" ] || fail "temporaries after the resumed extract"
