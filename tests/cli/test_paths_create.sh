#!/usr/bin/env bash
# test_paths_create.sh - first use on a fresh account (issue #12, item 6):
# `vault keygen -o ~/.config/vault/identity.txt` makes the missing
# folders (0700) and `vault init` of a local path makes its missing
# parents; when a folder cannot be made, the error names the user's path,
# never an internal temporary file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

export HOME=$WORK/home
mkdir "$HOME"
ok keygen -o "$HOME/.config/vault/identity.txt"
[ -f "$HOME/.config/vault/identity.txt" ] || fail "no identity written"
[ "$(stat -c %a "$HOME/.config")" = 700 ] && [ "$(stat -c %a "$HOME/.config/vault")" = 700 ] ||
    fail "the folders made are not 0700: $(stat -c '%a %n' "$HOME/.config" "$HOME/.config/vault")"
[ "$(stat -c %a "$HOME/.config/vault/identity.txt")" = 600 ] || fail "the identity is not 0600"
pass

# A file where a folder should be: the error names the path given.
: >"$WORK/plain"
expect_fail 1 'plain/sub/id\.txt' keygen -o "$WORK/plain/sub/id.txt"
grep -q '\.tmp-' err.txt && fail "the error names a temporary file: $(cat err.txt)"
pass

# init makes the missing parents of a local vault.
ok init "$WORK/backups/2026/vault" -i "$HOME/.config/vault/identity.txt"
ok add "$WORK/backups/2026/vault" "$HOME" -i "$HOME/.config/vault/identity.txt"
[ "$(stat -c %a "$WORK/backups")" = 700 ] || fail "the vault's parent is not 0700"
expect_fail 1 'plain/v' init "$WORK/plain/v" -i "$HOME/.config/vault/identity.txt"
pass
