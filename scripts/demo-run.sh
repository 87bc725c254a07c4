#!/usr/bin/env bash
# The demo: a fresh identity, printed public key.
set -euo pipefail
vault=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== vault keygen -o identity.txt"
"$vault" keygen -o "$work/identity.txt"
echo "== the identity file (age format):"
sed 's/AGE-SECRET-KEY-1.*/AGE-SECRET-KEY-1… (secret)/' "$work/identity.txt"
echo "== vault keygen -y -i identity.txt"
"$vault" keygen -y -i "$work/identity.txt"
