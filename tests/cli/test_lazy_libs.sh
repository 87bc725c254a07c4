#!/usr/bin/env bash
# test_lazy_libs.sh - libcurl (remote storage) and libarchive (tar) are
# opened on first use (vault/src/common/lazy_lib.h), never linked:
#  (a) the binary does not link them, nor what they bring (gnutls, ICU);
#  (b) with neither loadable - LD_LIBRARY_PATH at empty files of their
#      sonames, which dlopen refuses ("file too short") - the local
#      commands work: init, add, ls, extract to a folder, check; so
#      neither is loaded at start;
#  (c) in that state rest:, s3: and rclone: locations fail with an error
#      naming libcurl, and archives in and out (add --tar, extract --tar,
#      dump of a folder) with one naming libarchive; nothing crashes, and
#      the failed add leaves the vault as it was;
#  (d) the same tar commands work once the libraries can be loaded.
# Environment: LIBCURL_SONAME, LIBARCHIVE_SONAME (ctest sets them: the
# sonames the build opens).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

: "${LIBCURL_SONAME:?ctest sets LIBCURL_SONAME}"
: "${LIBARCHIVE_SONAME:?ctest sets LIBARCHIVE_SONAME}"

# --- (a) not linked ----------------------------------------------------------
linked=$(ldd "$VAULT" | grep -E 'lib(curl|archive|gnutls|icu)' || true)
[ -z "$linked" ] || fail "vault links what it should open on first use:
$linked"
pass

# --- (b) local commands without the libraries --------------------------------
mkdir broken
: >"broken/$LIBCURL_SONAME"
: >"broken/$LIBARCHIVE_SONAME"
export LD_LIBRARY_PATH=$WORK/broken${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

mkdir src src/sub
printf 'one\n' >src/a.txt
printf 'two\n' >src/sub/b.txt
new_identity id.txt
new_vault va id.txt
ok add va -i id.txt "$WORK/src"
ok ls va -i id.txt latest -R
grep -q '/sub/b\.txt$' out.txt || fail "ls -R: $(cat out.txt)"
ok extract va -i id.txt latest -C back
cmp src/sub/b.txt "back$WORK/src/sub/b.txt" ||
    fail "extract -C: contents differ"
pass
ok check va -i id.txt

# --- (c) what needs them says so ---------------------------------------------
curl_error="remote storage needs libcurl \\($LIBCURL_SONAME\\): "
curl_error+=".*file too short"
expect_fail 1 "$curl_error" init rest:http://127.0.0.1:1/x -i id.txt
AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s \
    expect_fail 1 "$curl_error" init s3:http://127.0.0.1:1/bucket -i id.txt
# said before an rclone server is started for nothing
printf '#!/bin/sh\ntouch "%s/rclone-ran"\nexit 1\n' "$WORK" >fake-rclone
chmod +x fake-rclone
VAULT_RCLONE_PROGRAM=$WORK/fake-rclone \
    expect_fail 1 "$curl_error" init rclone:remote:path -i id.txt
[ ! -e rclone-ran ] || fail "rclone was started without libcurl"
pass

tar_error="tar needs libarchive \\($LIBARCHIVE_SONAME\\): "
tar_error+=".*file too short"
tar -cf in.tar -C src .
before=$(cd va && find . -printf '%p %s\n' | sort)
expect_fail 1 "$tar_error" add va -i id.txt --tar in.tar
[ "$(cd va && find . -printf '%p %s\n' | sort)" = "$before" ] ||
    fail "the add --tar that failed changed the vault"
pass
expect_fail 1 "$tar_error" extract va -i id.txt latest --tar out.tar
[ ! -e out.tar ] || fail "the extract --tar that failed left out.tar behind"
expect_fail 1 "$tar_error" dump va -i id.txt latest:/

# --- (d) the same with the libraries -----------------------------------------
unset LD_LIBRARY_PATH
ok add va -i id.txt --tar in.tar
rm -f out.tar
ok extract va -i id.txt latest --tar out.tar
tar -tf out.tar | grep -q 'sub/b\.txt$' ||
    fail "extract --tar: $(tar -tf out.tar)"
pass
