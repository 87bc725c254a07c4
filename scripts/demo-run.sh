#!/usr/bin/env bash
# The demo: an identity, a vault of fixtures/, its listing, an extraction,
# and a comparison with the source.  Everything happens in a temporary
# directory that is removed at the end.
set -euo pipefail
vault=$(realpath "$1")
src=$(realpath "${2:-$(dirname "$0")/../fixtures}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CACHE_HOME="$work/cache" XDG_CONFIG_HOME="$work/config"
run() { printf '\n$ %s\n' "$*" | sed "s|$work/||g; s|$vault|vault|"; "$@"; }

run "$vault" keygen -o "$work/identity.txt"
run "$vault" init "$work/demo-vault" -i "$work/identity.txt"
run "$vault" add "$work/demo-vault" "$src" -i "$work/identity.txt" --tag demo
run "$vault" add "$work/demo-vault" "$src" -i "$work/identity.txt" --tag again
run "$vault" ls "$work/demo-vault" -i "$work/identity.txt"
run "$vault" ls "$work/demo-vault" latest -l -R -i "$work/identity.txt"
run "$vault" extract "$work/demo-vault" latest -C "$work/restored" -i "$work/identity.txt"
printf '\n$ diff -r fixtures restored%s\n' "$src"
diff -r "$src" "$work/restored$src"
echo "identical: the restored tree equals fixtures/"
printf '\n$ ls -R demo-vault (what storage sees: names are hashes)\n'
(cd "$work/demo-vault" && find . -type f | sort | head -12)
