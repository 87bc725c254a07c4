#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then build the example
# (tests/example/backup_example.c) against what was installed, with
# pkg-config, once with the shared and once with the static library, and
# run it: it backs up the fixtures folder and restores it.
# Environment: BUILD_DIR, VAULT_SOURCE_DIR; CC and EXAMPLE_CFLAGS (the
# sanitizer flags of the build, if any) are optional.
set -euo pipefail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cc=${CC:-cc}
read -r -a extra <<<"${EXAMPLE_CFLAGS:-}"

cmake --install "$BUILD_DIR" --prefix "$prefix" >"$work/install.log"

for f in bin/vault include/vault.h share/man/man1/vault.1 share/man/man3/vault.3 \
         share/bash-completion/completions/vault share/zsh/vendor-completions/_vault \
         share/fish/vendor_completions.d/vault.fish; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
libdir=$(dirname "$(find "$prefix" -name libvault.pc)")/..
libdir=$(cd "$libdir" && pwd)
for f in libvault.a libvault.so; do
  [ -e "$libdir/$f" ] || { echo "not installed: $f"; exit 1; }
done
# The soname carries the major version; the .so is a link to it.
soname=$(objdump -p "$libdir/libvault.so" | awk '$1 == "SONAME" {print $2}')
case $soname in libvault.so.[0-9]*) ;; *) echo "soname: '$soname'"; exit 1;; esac
[ -e "$libdir/$soname" ] || { echo "not installed: $soname"; exit 1; }

# The shared library exports the public API and nothing else.
others=$(nm -D --defined-only "$libdir/libvault.so" |
         awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^vault_/ {print $3}')
if [ -n "$others" ]; then
  echo "libvault.so exports symbols that are not vault_*:"; echo "$others"
  exit 1
fi
nm -D --defined-only "$libdir/libvault.so" | grep -q ' T vault_add$'

export PKG_CONFIG_PATH=$libdir/pkgconfig
version=$(pkg-config --modversion libvault)
# libcurl and libarchive are opened on first use, not linked: a program
# linking libvault.a does not link them either.
if pkg-config --print-requires-private libvault | grep -E 'libcurl|libarchive'; then
  echo "libvault.pc requires what libvault opens on first use"; exit 1
fi
[ "$version" = "$("$prefix/bin/vault" --version | awk '{print $2}')" ]

example=$VAULT_SOURCE_DIR/tests/example/backup_example.c
# shellcheck disable=SC2046 # pkg-config's output is words
"$cc" -std=c11 -Wall -Wextra -Werror "${extra[@]}" "$example" \
  $(pkg-config --cflags --libs libvault) -o "$work/example_shared"
# libvault.a, with its dependencies (Requires.private) shared: static
# copies of those are seldom installed.
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Wextra -Werror "${extra[@]}" "$example" \
  $(pkg-config --cflags libvault) "$libdir/libvault.a" -pthread \
  $(pkg-config --libs $(pkg-config --print-requires-private libvault)) \
  -o "$work/example_static"
if objdump -p "$work/example_static" | grep -q 'NEEDED.*libvault'; then
  echo "example_static links the shared library"; exit 1
fi

src=$VAULT_SOURCE_DIR/fixtures
for kind in shared static; do
  out=$work/$kind
  mkdir "$out"
  LD_LIBRARY_PATH=$libdir "$work/example_$kind" "$src" "$out" >"$out.log" ||
    { cat "$out.log"; exit 1; }
  grep -q 'hello.c$' "$out.log" || { cat "$out.log"; echo "ls lists no hello.c"; exit 1; }
  diff -r "$src" "$out/restored$src"
done
objdump -p "$work/example_shared" | grep -q "NEEDED.*$soname"
echo "installed into $prefix; the example built against it, shared and static, restored $src"
