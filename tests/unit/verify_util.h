/*
 * verify_util.h - what the crash, fault-injection and allocation-failure
 * tests (test_crash.c, test_faults.c, test_alloc.c) check after every
 * injected failure: that the vault is intact and every snapshot extracts
 * to exactly the files it was made from.  Helpers fail the running
 * cmocka test with a message that says what is wrong.
 */
#ifndef VAULT_VERIFY_UTIL_H
#define VAULT_VERIFY_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "test_util.h"

/*
 * Fails the test unless the vault in directory path is sound, opened as
 * id through a clean local backend:
 *  - vault_check with read_data finds no problem (warnings - packs no
 *    segment lists, as interrupted adds leave - are allowed);
 *  - and, independently of check.c: every object in keys/, data/, index/,
 *    snapshots/ and locks/ hashes to its name (no torn object under a
 *    final name), every pack's own index authenticates, every index
 *    segment loads, every indexed blob opens (trees decode), every lock
 *    opens, and every snapshot's trees reference only indexed blobs of the
 *    right type whose lengths add up to each file's size.
 * Returns the number of snapshots.
 */
size_t vu_check(const char *path, const vault_identity_t *id);

/* The snapshot object names of the vault at path, sorted (malloc'ed
 * array of 65-byte names, *n of them). */
char (*vu_snapshot_names(const char *path, const vault_identity_t *id,
                         size_t *n))[65];

/* Extracts snapshot snap of the vault at path into scratch (emptied
 * first) and fails unless it holds src - an absolute, canonical path that
 * was given to add - exactly as it is on disk now. */
void vu_extract_same(const char *path, const vault_identity_t *id,
                     const char *snap, const char *src, const char *scratch);

/* Fails unless tree got is tree want: the same names, types, permission
 * bits, file contents and symlink targets, recursively. */
void vu_same_tree(const char *want, const char *got);

/* A small source tree in dir (created): files of assorted sizes (one over
 * the chunker's minimum, so several chunks), an empty one, a
 * subdirectory, a symlink; contents follow from seed.  n_files >= 1. */
void vu_make_source(const char *dir, unsigned seed, unsigned n_files,
                    size_t big_len);

/* A fresh temporary directory, canonical (realpath), malloc'ed; free it
 * with test_rmtree.  Without $TMPDIR it is made in /dev/shm when that is
 * a writable directory: the local backend fsyncs every object and folder,
 * which on a disk makes thousands of adds take minutes, while these tests
 * simulate process crashes (SIGKILL), after which the page cache still
 * holds everything written - so the fsyncs prove nothing here. */
char *vu_tempdir(void);

/* rm -rf and cp -a (files, directories, symlinks; modes kept) without a
 * shell: the loops call them thousands of times. */
void vu_rm_rf(const char *path);
void vu_copy_tree(const char *from, const char *to);

/* After an extraction into target that may have failed part-way: fails
 * unless no temporary (".vault-tmp-") is left and every file and symlink
 * under a final name is whole - the same as at its absolute path in the
 * snapshot (the source, which must not have changed).  what: for
 * messages. */
void vu_target_clean(const char *target, const char *what);

/* Entries under dir whose names contain text (e.g. ".vault-tmp-"). */
size_t vu_count_named(const char *dir, const char *text);

/* Under AddressSanitizer: runs LeakSanitizer now and fails the test
 * if anything leaked, naming what (and n) - so that a leak on an error
 * path is pinned to the fault that made it.  Elsewhere: nothing. */
void vu_leak_check(const char *what, uint64_t n);

/* add options for path with the given workers, no files cache, and a
 * fixed hostname. */
void vu_add_options(vault_add_options *o, const char *const *paths,
                    int threads);

#endif
