#!/usr/bin/env bash
# `cpack -G DEB` into a temporary folder: the package depends on what
# the binaries link (found by dpkg-shlibdeps) and on libcurl and
# libarchive, which vault opens on first use where dpkg-shlibdeps cannot
# see them; its binary and library link neither.
# Environment: BUILD_DIR; CURL_DEB_PACKAGE and ARCHIVE_DEB_PACKAGE, the
# packages holding the libraries the build opens (libcurl4, libarchive13).
set -euo pipefail
: "${CURL_DEB_PACKAGE:?}" "${ARCHIVE_DEB_PACKAGE:?}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$BUILD_DIR" && cpack -G DEB -B "$work" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; exit 1; }
debs=("$work"/vault_*.deb)
[ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ] ||
  { echo "not one package made: ${debs[*]}"; exit 1; }
deb=${debs[0]}

depends=$(dpkg-deb -f "$deb" Depends)
# "name (>= version)" or "name" among the comma-separated entries
has() { tr ',' '\n' <<<"$depends" | grep -qE "^ *$1( \\(>= [^)]+\\))? *$"; }
# libsodium23: dpkg-shlibdeps' list is still there
for package in "$CURL_DEB_PACKAGE" "$ARCHIVE_DEB_PACKAGE" libsodium23; do
  has "$package" || { echo "Depends lacks $package: $depends"; exit 1; }
done

dpkg-deb -x "$deb" "$work/root"
lib=$(find "$work/root" -name 'libvault.so.*' -type f)
for f in "$work/root/usr/bin/vault" "$lib"; do
  [ -f "$f" ] || { echo "not packaged: ${f:-libvault.so}"; exit 1; }
  if objdump -p "$f" | grep -E 'NEEDED +lib(curl|archive)'; then
    echo "$f links what vault opens on first use"; exit 1
  fi
done
echo "package: $(basename "$deb"), Depends: $depends"
