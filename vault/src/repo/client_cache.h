/*
 * client_cache.h - the client's own cache folder (never in the vault):
 * $XDG_CACHE_HOME/vault or ~/.cache/vault, one subfolder per vault (its
 * ID in hex), and the open records of remote locations in "locations"
 * (marker_ahead.h).  The files cache (filecache.h) lives there, the local
 * cache of sealed objects (backend_cache.c) in its "objects" folder, and
 * so do the
 * add markers' sightings that keep a marker dated in the future from
 * holding prune back for ever (format.md §15-15a, "Add markers").  Private.
 */
#ifndef VAULT_CLIENT_CACHE_H
#define VAULT_CLIENT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"
#include "format/locks.h"

/* The cache folder when the caller names none: $XDG_CACHE_HOME/vault or
 * ~/.cache/vault, in buf; NULL when neither variable is set. */
const char *vlt_cache_dir_default(char *buf, size_t size);
/* dir/<vault ID hex>/<file> in out (the vault's folder is made, 0700);
 * 0 when there is none: dir NULL or "", or the path is too long. */
int vlt_cache_vault_file(const char *dir, const keyring *k, const char *file,
                         char *out, size_t size);
/* The same for the vault of this ID (before the keyring is open). */
int vlt_cache_vault_path(const char *dir,
                         const uint8_t vault_id[VAULT_ID_BYTES],
                         const char *file, char *out, size_t size);

/* Gives each add marker in locks the earlier of its own time and when
 * this client first saw it (now, for a marker never seen before), and
 * remembers the sightings in the vault's cache folder under dir (NULL or
 * "": none is kept, and a marker counts from its own time or now,
 * whichever is earlier).  Only the markers still in locks are kept. */
void vlt_marker_sightings_apply(const char *dir, const keyring *k,
                                lock_record *locks, size_t n, int64_t now);

#endif
