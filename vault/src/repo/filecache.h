/*
 * filecache.h - the local files cache that lets `add` skip reading files
 * that have not changed since the last add from this machine: path, size,
 * mtime, ctime, inode and device → the chunk IDs of the content, and
 * whether the file had extended attributes (any change to them moves the
 * ctime, so a file that had none and matches still has none).
 *
 * It lives on the client only (never in the vault), one file per vault,
 * sealed (XChaCha20-Poly1305) with a key derived from this member's own
 * signing seed: the other members (who share the vault's secrets) cannot
 * read the local paths in it, and a cache from another vault or member,
 * or a damaged one, is ignored rather than trusted.  A member without a
 * signing key uses no cache.
 */
#ifndef VAULT_FILECACHE_H
#define VAULT_FILECACHE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"
#include "format/tree.h"

typedef struct filecache_key {
    uint64_t size, inode, device;
    int64_t mtime_sec, ctime_sec;
    uint32_t mtime_nsec, ctime_nsec;
} filecache_key;

typedef struct filecache filecache;

/* Opens the cache for the vault in dir ("" or NULL: no cache); a missing
 * or invalid cache file just starts empty. */
vault_error vlt_filecache_open(const char *dir, const keyring *k, filecache **out);
/* The cached chunk IDs (n_ids × 32 bytes) for path if its key matches
 * exactly, else NULL; on a match *has_xattrs tells whether it had
 * extended attributes.  The IDs stay valid until the next lookup (they
 * are in a block of the file opened for it); one thread only. */
const uint8_t *vlt_filecache_lookup(filecache *c, const char *path,
                                    const filecache_key *key, uint32_t *n_ids,
                                    int *has_xattrs);
/* How many files the cache knows from earlier runs (0: a first add from
 * this machine, or no cache: every file will be read). */
size_t vlt_filecache_known(const filecache *c);
/* Records path for the next run (thread-unsafe; the walker calls it). */
vault_error vlt_filecache_record(filecache *c, const char *path,
                                 const filecache_key *key,
                                 const uint8_t *ids, uint32_t n_ids,
                                 int has_xattrs);
/* Writes what was recorded in this run (atomically), replacing the old. */
vault_error vlt_filecache_save(filecache *c);
void vlt_filecache_free(filecache *c);

#endif
