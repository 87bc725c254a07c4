#!/usr/bin/env bash
# Fails if the library, the CLI or the tests call functions that are easy
# to misuse (curl's list: unbounded copies and formats, strtok's hidden
# state, atoi's silent errors).  Use memcpy with a checked length,
# snprintf, strcspn loops and strtol with end checks instead.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
banned='strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|atoll|gets|strncpy|strncat|tmpnam|tempnam|mktemp'
# Every C file of the library, the CLI and the tests, in every folder.
mapfile -t sources < <(find "$root"/vault "$root"/cli "$root"/tests \
                            -name '*.[ch]' -not -path '*/corpus/*' | sort)
if grep -nE "(^|[^_a-zA-Z0-9.>])($banned)[[:space:]]*\(" "${sources[@]}"; then
    echo "FAIL: banned calls above" >&2
    exit 1
fi
echo "banned calls: none"
