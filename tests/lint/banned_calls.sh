#!/usr/bin/env bash
# Fails if the library, the CLI or the tests call functions that are easy
# to misuse (curl's list: unbounded copies and formats, strtok's hidden
# state, atoi's silent errors).  Use memcpy with a checked length,
# snprintf, strcspn loops and strtol with end checks instead.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
banned='strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|atoll|gets|strncpy|strncat|tmpnam|tempnam|mktemp'
if grep -nE "(^|[^_a-zA-Z0-9.>])($banned)[[:space:]]*\(" \
    "$root"/vault/src/*.c "$root"/vault/src/*.h "$root"/vault/include/*.h \
    "$root"/cli/*.c "$root"/cli/*.h "$root"/tests/unit/*.c \
    "$root"/tests/tools/*.c; then
    echo "FAIL: banned calls above" >&2
    exit 1
fi
echo "banned calls: none"
