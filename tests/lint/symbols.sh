#!/usr/bin/env bash
# Fails if libvault defines a global symbol outside its two prefixes:
# vault_ (the public API, declared in vault.h) and vlt_ (internal), so a
# program that links the library never collides with it.  Also fails if
# a vault_ symbol is not declared in vault.h (a private function under
# the public prefix).
set -euo pipefail
lib=$1 header=$2
mapfile -t symbols < <(nm -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort -u)
[ ${#symbols[@]} -gt 0 ] || { echo "FAIL: no symbols in $lib" >&2; exit 1; }
bad=0
for s in "${symbols[@]}"; do
  case $s in
    vlt_*) ;;
    # AddressSanitizer's ODR indicators for our globals (its own names).
    __odr_asan.vlt_*|__odr_asan.vault_*) ;;
    vault_*) grep -qE "\b$s\b" "$header" || { echo "not in vault.h: $s"; bad=1; } ;;
    *) echo "unprefixed: $s"; bad=1 ;;
  esac
done
[ $bad = 0 ] || { echo "FAIL: symbols above" >&2; exit 1; }
echo "symbols: ${#symbols[@]}, all vault_ (public) or vlt_ (internal)"
