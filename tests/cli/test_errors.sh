#!/usr/bin/env bash
# test_errors.sh - how `vault` fails and what it promises around failure:
# exit codes (1 failure, 2 usage, 3 partial), "vault: ..." messages on
# stderr with nothing on stdout, refusals that leave things untouched
# (init into a non-empty directory, extract over existing files, keygen over
# an identity), help and version on stdout, wrong identities, and
# passphrase-protected identity files (which are age scrypt files the
# reference age opens).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# snapshot_of DIR: a listing of everything in DIR with modes, sizes,
# mtimes and content hashes, to prove that DIR was not touched.
snapshot_of() {
    (cd "$1" && find . -printf '%p %y %m %s %T@\n' | sort &&
        find . -type f -exec sha256sum {} + | sort)
}

mkdir src
printf 'original\n' >src/a.txt
printf 'bee\n' >src/b.txt
new_identity id.txt
new_identity other.txt
new_vault vault id.txt
ok add vault "$WORK/src" -i id.txt

# --- help and version: stdout, exit 0, nothing on stderr ----------------------
check_info() { # check_info PATTERN ARGS...
    local pattern=$1
    shift
    expect_rc 0 "$@"
    [ -s out.txt ] || die "vault $* printed nothing on stdout"
    [ ! -s err.txt ] || die "vault $* wrote to stderr: $(cat err.txt)"
    grep -q -E -- "$pattern" out.txt || die "vault $*: stdout does not match /$pattern/: $(head -5 out.txt)"
    pass
}
check_info '^vault [0-9]+\.[0-9]+\.[0-9]+' --version
check_info '^usage: vault COMMAND' help
check_info '^usage: vault COMMAND' --help
for cmd in keygen init add ls extract; do
    check_info "^usage: vault $cmd" "$cmd" --help
    check_info "^usage: vault $cmd" help "$cmd"
done
check_info 'exclude' add --help
check_info '^usage: vault add' add vault --help  # --help anywhere in the line

# --- usage errors: exit 2 ----------------------------------------------------
expect_fail 2 'no such command' frobnicate
expect_fail 2 'no such command' help frobnicate
expect_fail 2 'name the vault|vault' add
expect_fail 2 'back up|path' add vault
expect_fail 2 'snapshot' extract vault -i id.txt
expect_fail 2 '-C|--tar' extract vault latest -i id.txt
expect_fail 2 '-C|--tar' extract vault latest -C x --tar y -i id.txt
expect_fail 2 'directory|vault' init
expect_fail 2 'unexpected|argument' init a b
expect_fail 2 '-i|-r|both' init newvault -i id.txt -r "$(grep -o 'age1[a-z0-9]*' id.txt | head -1)"
# ls takes SNAP PATH (issue #12); a third operand is one too many
expect_fail 2 'unexpected|argument' ls vault latest / extra -i id.txt
expect_fail 2 'tag' add vault "$WORK/src" --tag '' -i id.txt
expect_fail 2 'bogus|option' ls vault --bogus -i id.txt
expect_fail 2 'option|-q' add vault "$WORK/src" -q -i id.txt
expect_fail 2 'option|argument|-i' ls vault -i
expect_fail 2 'unexpected|argument' keygen extra
for bad in abc -5 0 2x '' 100000 3000000000; do
    expect_fail 2 'threads' add vault "$WORK/src" --threads "$bad" -i id.txt
done
ok add vault "$WORK/src" --threads 2 -i id.txt
# No command at all is a usage error too: the usage goes to stderr, since
# a failing vault prints nothing on stdout.
v
[ "$RC" -eq 2 ] || fail "vault without arguments exited $RC, expected 2"
grep -q 'usage' out.txt err.txt || fail "vault without arguments printed no usage"
[ ! -s out.txt ] || fail "vault without arguments exits 2 but prints its usage on stdout"
pass

# --- wrong identity: exit 1, "not a member" ----------------------------------------
n_before=$(find vault/snapshots -type f | wc -l)
expect_fail 1 'not a member' ls vault -i other.txt
expect_fail 1 'not a member' ls vault latest -R -i other.txt
expect_fail 1 'not a member' add vault "$WORK/src" -i other.txt
expect_fail 1 'not a member' extract vault latest -C out-other -i other.txt
[ ! -e out-other ] || [ -z "$(ls -A out-other)" ] || die "extract as a non-member wrote files"
pass
n_snaps=$(find vault/snapshots -type f | wc -l)
[ "$n_snaps" -eq "$n_before" ] || fail "a refused add left snapshots behind ($n_before before, $n_snaps after)"
expect_fail 1 'no such file|not found|cannot|exist' ls vault -i no-such-identity.txt
printf 'this is not an identity\n' >garbage.txt
expect_fail 1 'identity|key|secret' ls vault -i garbage.txt
# Environment instead of arguments.
VAULT_REPOSITORY=vault VAULT_IDENTITY=id.txt ok ls
[ "$(wc -l <out.txt)" -eq "$n_snaps" ] || fail "ls via VAULT_REPOSITORY/VAULT_IDENTITY listed $(wc -l <out.txt) snapshots, expected $n_snaps"
VAULT_IDENTITY=other.txt expect_fail 1 'not a member' ls vault

# --- init ------------------------------------------------------------------------
mkdir full
printf 'precious\n' >full/keep.txt
mkdir full/sub
before=$(snapshot_of full)
expect_fail 1 'not empty|exists' init full -i id.txt
[ "$(snapshot_of full)" = "$before" ] || die "init into a non-empty directory changed it"
pass
expect_fail 1 'not empty|exists' init vault -i id.txt  # an existing vault
ok ls vault -i id.txt                                 # ...which still works
mkdir empty
ok init empty -i id.txt
for d in config keys data index snapshots; do
    [ -e "empty/$d" ] || die "init into an empty directory made no $d"
done
ok ls empty -i id.txt
[ ! -s out.txt ] || die "a new vault lists snapshots: $(cat out.txt)"
# Missing parents: created, or refused cleanly.
v init "$WORK/deeper/new/vault" -i id.txt
if [ "$RC" -eq 1 ]; then
    grep -q '^vault: .*deeper' err.txt || fail "init with missing parents: unclear error: $(cat err.txt)"
    [ ! -e "$WORK/deeper/new/vault/config" ] || fail "init failed but left a config"
else
    [ "$RC" -eq 0 ] || fail "init with missing parents exited $RC"
    [ -f "$WORK/deeper/new/vault/config" ] || fail "init with missing parents made no config"
fi
pass
: >afile
expect_fail 1 '.' init afile -i id.txt
[ -f afile ] && [ ! -s afile ] || die "init over a regular file changed it"
pass

# --- not a vault -------------------------------------------------------------------
mkdir plain
expect_fail 1 'not a vault' ls plain -i id.txt
expect_fail 1 'not a vault' ls "$WORK/nonexistent" -i id.txt
expect_fail 1 'not a vault' add plain "$WORK/src" -i id.txt
expect_fail 1 'not a vault' extract plain latest -C x -i id.txt
[ -z "$(ls -A plain)" ] || die "commands on a non-vault wrote into it: $(ls -A plain)"
pass

# --- missing things inside a vault ---------------------------------------------------
expect_fail 1 'snapshot|not found|no ' ls vault deadbeef -i id.txt
expect_fail 1 'snapshot|not found|no ' extract vault deadbeef -C x -i id.txt
expect_fail 1 'snapshot|not found|no ' ls empty latest -i id.txt
expect_fail 1 '.' add vault "$WORK/does-not-exist" -i id.txt
# A partly unreadable add: one path exists, one does not -> exit 3 or 1.
v add vault "$WORK/src" "$WORK/does-not-exist" -i id.txt
[ "$RC" -eq 3 ] || [ "$RC" -eq 1 ] || die "add of an existing and a missing path exited $RC"
grep -q '^vault: ' err.txt || die "add with a missing path: no 'vault: ' message"
grep -q 'does-not-exist' err.txt || die "add with a missing path does not name it: $(cat err.txt)"
pass

# --- extract over existing files ---------------------------------------------------
ok extract vault latest -C target -i id.txt
restored=target$WORK/src
printf 'local change\n' >"$restored/a.txt"
rm "$restored/b.txt"
expect_rc 3 extract vault latest -C target -i id.txt
grep -q '^vault: .*a\.txt' err.txt || die "extract did not report the existing a.txt: $(cat err.txt)"
[ "$(cat "$restored/a.txt")" = "local change" ] || die "extract without --overwrite replaced a.txt"
cmp -s src/b.txt "$restored/b.txt" || die "extract without --overwrite did not restore the missing b.txt"
grep -q 'failed' out.txt || die "the partial extract's summary does not count failures: $(cat out.txt)"
pass
# No temporary files left behind by the refused items.
leftover=$(find target -name '*.vault-tmp-*' | head -3)
[ -z "$leftover" ] || die "extract left temporary files: $leftover"
ok extract vault latest -C target --overwrite -i id.txt
cmp -s src/a.txt "$restored/a.txt" || die "extract --overwrite did not replace a.txt"
pass
# Symlinks already in the target are never followed: not as a directory on
# the way, and with --overwrite a symlink is replaced, not written through.
mkdir -p evil outside
first=$(echo "$WORK" | cut -d/ -f2)
ln -s "$WORK/outside" "evil/$first"
expect_rc 3 extract vault latest -C evil -i id.txt
grep -q '^vault: ' err.txt || fail "extract through a symlinked directory: no message"
[ -z "$(ls -A outside)" ] || fail "extract followed a symlink out of the target: $(ls -A outside)"
pass
mkdir -p "evil2$WORK/src"
printf 'precious\n' >outside/victim
ln -s "$WORK/outside/victim" "evil2$WORK/src/a.txt"
ok extract vault latest -C evil2 --overwrite -i id.txt
[ "$(cat outside/victim)" = precious ] || fail "extract --overwrite wrote through a symlink"
[ ! -L "evil2$WORK/src/a.txt" ] && cmp -s src/a.txt "evil2$WORK/src/a.txt" ||
    fail "extract --overwrite did not replace the symlink with the file"
pass
# A directory where the snapshot has a file: reported, left alone.
mkdir -p "clash$WORK/src/a.txt/inner"
expect_rc 3 extract vault latest -C clash --overwrite -i id.txt
[ -d "clash$WORK/src/a.txt/inner" ] || fail "extract --overwrite replaced a directory by a file"
cmp -s src/b.txt "clash$WORK/src/b.txt" || fail "the clash on a.txt stopped b.txt from being restored"
pass

# --tar onto an existing file: refused without --overwrite.
printf 'keep me\n' >exists.tar
expect_fail 1 'exist|overwrite' extract vault latest --tar exists.tar -i id.txt
[ "$(cat exists.tar)" = "keep me" ] || die "extract --tar replaced an existing file without --overwrite"
ok extract vault latest --tar exists.tar --overwrite -i id.txt
tar -tf exists.tar >exists.list 2>/dev/null || die "extract --tar --overwrite wrote no usable tar"
grep -q "src/a.txt$" exists.list || die "the tar from extract --tar --overwrite lacks src/a.txt"
pass

# --- keygen ------------------------------------------------------------------------
[ "$(stat -c %a id.txt)" = 600 ] || die "identity file mode is $(stat -c %a id.txt), expected 600"
pub=$(grep '^# public key: ' id.txt | cut -d' ' -f4)
ok keygen -y -i id.txt
[ "$(cat out.txt)" = "$pub" ] || die "keygen -y -i printed '$(cat out.txt)', file says $pub"
RC=0
"$VAULT" keygen -y <id.txt >y.txt 2>err.txt || RC=$?
check_sane "$RC" err.txt "vault keygen -y <id.txt"
[ "$RC" -eq 0 ] || die "keygen -y from stdin failed: $(cat err.txt)"
[ "$(cat y.txt)" = "$pub" ] || die "keygen -y from stdin printed '$(cat y.txt)'"
pass
cp id.txt id.before
expect_fail 1 'exists' keygen -o id.txt
cmp -s id.txt id.before || die "keygen -o over an existing identity changed it"
pass
# Without -o: the identity on stdout, the public key on stderr.
ok keygen
grep -q '^AGE-SECRET-KEY-1' out.txt || die "keygen without -o printed no secret key on stdout"
grep -q '^Public key: age1' err.txt || die "keygen without -o printed no public key on stderr"
pass
expect_fail 2 '.' keygen --passphrase   # needs -o
expect_fail 1 '.' keygen -y -i garbage.txt

# --- passphrase-protected identities -------------------------------------------------
export VAULT_SCRYPT_LOG2N=10 # keep scrypt cheap; the format is the same
VAULT_PASSPHRASE=x ok keygen --passphrase -o prot.txt
ppub=$(cat out.txt)
[[ $ppub =~ ^age1 ]] || die "keygen --passphrase printed '$ppub', not a public key"
[ "$(stat -c %a prot.txt)" = 600 ] || die "protected identity mode is $(stat -c %a prot.txt)"
head -n 1 prot.txt | grep -q '^age-encryption.org/v1$' || die "a protected identity is not an age file"
sed -n 2p prot.txt | grep -q '^-> scrypt ' || die "a protected identity has no scrypt stanza"
grep -q 'AGE-SECRET-KEY' prot.txt && die "the protected identity holds the secret key in the clear"
pass
VAULT_PASSPHRASE=x ok keygen -y -i prot.txt
[ "$(cat out.txt)" = "$ppub" ] || die "keygen -y of the protected identity: '$(cat out.txt)' vs '$ppub'"
VAULT_PASSPHRASE=x ok init pvault -i prot.txt
VAULT_PASSPHRASE=x ok add pvault "$WORK/src" -i prot.txt
VAULT_PASSPHRASE=x ok ls pvault -i prot.txt
[ "$(wc -l <out.txt)" -eq 1 ] || die "ls with a protected identity listed $(wc -l <out.txt) snapshots"
VAULT_PASSPHRASE=x ok extract pvault latest -C pout -i prot.txt
cmp -s src/a.txt "pout$WORK/src/a.txt" || die "extract with a protected identity: a.txt differs"
printf 'x\nsecond line ignored\n' >pass.txt
ok ls pvault -i prot.txt --passphrase-file pass.txt
VAULT_PASSPHRASE=wrong expect_fail 1 'passphrase' ls pvault -i prot.txt
VAULT_PASSPHRASE=wrong expect_fail 1 'passphrase' add pvault "$WORK/src" -i prot.txt
printf 'wrong\n' >wrong.txt
expect_fail 1 'passphrase' ls pvault -i prot.txt --passphrase-file wrong.txt
# No passphrase and no terminal: a clear error, not a hang.
if command -v setsid >/dev/null; then
    RC=0
    timeout 30 setsid -w "$VAULT" ls pvault -i prot.txt </dev/null >out.txt 2>err.txt || RC=$?
    check_sane "$RC" err.txt "vault ls (protected identity, no terminal)"
    [ "$RC" -eq 1 ] || die "protected identity without passphrase or terminal: exit $RC, expected 1 ($(cat err.txt))"
    grep -q -i '^vault: .*passphrase' err.txt || die "no clear passphrase error: $(cat err.txt)"
    [ ! -s out.txt ] || die "failed ls wrote to stdout"
    pass
else
    note "no setsid: skipped the no-terminal passphrase check"
fi
# The reference age opens the protected identity (a scrypt age file) and,
# with it, the vault's envelope.  age reads passphrases only from a
# terminal: drive it through a pseudo-terminal.
if command -v age >/dev/null; then
    envelope=$(for f in pvault/keys/*; do
        [ "$(head -c 8 "$f")" = VAULTMB2 ] || echo "$f"
    done | head -1)
    PTY_PASSPHRASE=x pty_run age -d -i prot.txt -o env.txt "$envelope" >pty.log 2>&1 ||
        die "age -d -i prot.txt (passphrase typed on a pty) failed: $(cat pty.log)"
    [ "$(head -n 1 env.txt)" = "vault-envelope/v2" ] || die "age opened the envelope but it is not vault-envelope/v2"
    PTY_PASSPHRASE=x pty_run age -d -o prot-plain.txt prot.txt >pty.log 2>&1 ||
        die "age -d of the protected identity file failed: $(cat pty.log)"
    grep -q '^AGE-SECRET-KEY-1' prot-plain.txt || die "the protected identity's payload holds no secret key"
    if PTY_PASSPHRASE=nope pty_run age -d -o bad.txt prot.txt >pty.log 2>&1; then
        die "age opened the protected identity with a wrong passphrase"
    fi
    pass
else
    note "no age binary: skipped opening the protected identity with age"
fi

# --- failures print nothing on stdout (spot checks beyond expect_fail) -------------
for args in "ls vault -i other.txt" "ls plain -i id.txt" "extract vault nosuch -C z -i id.txt"; do
    # shellcheck disable=SC2086
    v $args
    [ "$RC" -ne 0 ] || die "vault $args succeeded"
    [ ! -s out.txt ] || die "vault $args failed but printed on stdout: $(cat out.txt)"
    [ "$(grep -c -v '^vault: ' err.txt || true)" -eq 0 ] ||
        die "vault $args: stderr has lines not starting with 'vault: ': $(cat err.txt)"
    pass
done
