#!/usr/bin/env bash
# Renders every man page the build made (build/man/) with man -l and with
# groff's warnings on; any warning fails.  Also checks that vault(1) names
# every command `vault help` lists.
# Environment: BUILD_DIR, VAULT (the binary).
set -euo pipefail

pages=("$BUILD_DIR"/man/*.[0-9])
[ -e "${pages[0]}" ] || { echo "no man pages in $BUILD_DIR/man"; exit 1; }
status=0
for page in "${pages[@]}"; do
  warnings=$( { groff -man -Tutf8 -ww -z "$page"; } 2>&1)
  warnings+=$( { LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" >/dev/null; } 2>&1)
  if [ -n "$warnings" ]; then
    echo "$page:"; echo "$warnings"; status=1
  fi
done

# Every command in `vault help` has its section in vault(1).
rendered=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$BUILD_DIR/man/vault.1" 2>/dev/null)
commands=$("$VAULT" help | awk '/^commands:/ {on = 1; next} on && NF == 0 {exit} on {print $1}')
[ -n "$commands" ] || { echo "vault help lists no commands"; exit 1; }
for c in $commands; do
  if ! grep -Eq "^   $c\$" <<<"$rendered"; then
    echo "vault.1 has no section for the command $c"; status=1
  fi
done
exit $status
