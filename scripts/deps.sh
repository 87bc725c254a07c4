#!/usr/bin/env bash
# Installs the Debian 12 packages vault needs to build, test and benchmark,
# only those that are missing.  scdoc builds the man pages, man-db and
# groff-base render them in the tests, bash-completion runs the completion
# test, dpkg-dev lets `cpack -G DEB` find the package's dependencies;
# rclone, openssl and curl run the remote storage tests (a real `rclone
# serve restic`, a test CA); libarchive-tools (bsdtar) makes the zip and
# pax archives `add --tar` imports in tests/cli/test_add_tar.sh (skipped
# without it).  ceph-mon, ceph-osd, radosgw and ceph-common
# run the one-node Ceph RADOS Gateway the S3 tests start
# (tests/servers/ceph_rgw.sh); about 95 packages, so VAULT_DEPS_S3=0 leaves
# them out.  libfuse3-dev builds `vault mount` and fuse3 brings
# fusermount3, which mounts and unmounts it (tests/cli/test_mount.sh);
# VAULT_DEPS_BENCH=1 adds restic, which tests/bench/mount.sh compares
# with too, and gnuplot-nox, which draws tests/bench/scale.sh's plot of
# time and memory against the vault's size.  Run as root or
# with sudo available.
set -euo pipefail

packages=(build-essential cmake pkg-config libsodium-dev libssl-dev libzstd-dev
          libarchive-dev libcurl4-openssl-dev liburing-dev zlib1g-dev libcmocka-dev age openssh-client
          python3 attr xxd rclone openssl curl
          scdoc man-db groff-base bash-completion dpkg-dev libarchive-tools
          libfuse3-dev fuse3)
if [ "${VAULT_DEPS_S3:-1}" = 1 ]; then
  packages+=(ceph-mon ceph-osd radosgw ceph-common curl)
fi
if [ "${VAULT_DEPS_BENCH:-0}" = 1 ]; then
  packages+=(restic borgbackup time gnuplot-nox)
fi
if [ "${VAULT_DEPS_FUZZ:-0}" = 1 ]; then
  packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
