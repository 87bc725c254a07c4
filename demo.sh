#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the
# demo on the embedded default.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVAULT_TESTS=OFF -DVAULT_WERROR=OFF \
  -DVAULT_SANITIZE=OFF >/dev/null
cmake --build build -j"$(nproc)" --target vault_cli >/dev/null
exec scripts/demo-run.sh build/bin/vault
