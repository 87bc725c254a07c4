#!/usr/bin/env bash
# The README's second command: installs what is missing, then builds and
# runs the whole test suite twice: a warnings-as-errors build, and an
# AddressSanitizer + UBSan build; then the tests of the threaded parts
# (the worker pool, add's pipeline over a local disk and over slow
# storage, add's data read-ahead, restore's workers, the CLI end to end,
# an add's marker saved beside the open's reads)
# once more under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
jobs=$(nproc)
# deps.sh installed rclone and Ceph: a remote test that finds a server
# missing fails here instead of skipping.
export VAULT_TEST_REQUIRE_SERVERS=1
echo "the whole suite takes about 14 minutes on 2 cores: three builds," \
     "each followed by its tests; each step is announced below" >&2
for variant in release asan; do
  dir=build-test-$variant
  flags=(-DVAULT_WERROR=ON)
  [ $variant = asan ] && flags+=(-DVAULT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  echo "== $variant build (at ${SECONDS} s)" >&2
  cmake -S . -B "$dir" "${flags[@]}" >/dev/null
  cmake --build "$dir" -j"$jobs" >/dev/null
  echo "== $variant tests (at ${SECONDS} s)" >&2
  (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j"$jobs" --timeout 900)
done

# ThreadSanitizer: only what runs threads, to keep CI short.
threaded=(test_pool test_lazy_lib test_progress test_add test_read_ahead test_latency test_restore test_backend_ahead test_browse vault_cli agetool fault_proxy)
echo "== tsan build of the threaded parts (at ${SECONDS} s)" >&2
cmake -S . -B build-test-tsan -DVAULT_WERROR=ON -DVAULT_TSAN=ON \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-test-tsan -j"$jobs" --target "${threaded[@]}" >/dev/null
echo "== tsan tests (at ${SECONDS} s)" >&2
(cd build-test-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
   ctest --output-on-failure -j"$jobs" --timeout 900 \
     -R '^(test_pool|test_lazy_lib|test_progress|test_add|test_read_ahead|test_latency|test_restore|test_backend_ahead|test_browse|cli_test_roundtrip|cli_test_progress|cli_test_mount|cli_test_marker_ahead)$')
echo "all tests passed in ${SECONDS} s" >&2
