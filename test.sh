#!/usr/bin/env bash
# The README's second command: installs what is missing, then builds and
# runs the whole test suite twice: a warnings-as-errors build, and an
# AddressSanitizer + UBSan build.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
jobs=$(nproc)
for variant in release asan; do
  dir=build-test-$variant
  flags=(-DVAULT_WERROR=ON)
  [ $variant = asan ] && flags+=(-DVAULT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  echo "== $variant build" >&2
  cmake -S . -B "$dir" "${flags[@]}" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
  echo "== $variant tests" >&2
  (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j"$jobs" --timeout 900)
done
