/*
 * index_cache.h - the index of a vault kept in the client's cache as one
 * file, mapped read-only under the in-memory index (pack.h, index_base),
 * so that opening a vault of ten million chunks neither reads every index
 * segment again nor holds 60 bytes a chunk in memory.  Private.
 *
 * The file is derived data: it says which index segments it was built
 * from, and an open uses it only for those still listed, loading the
 * rest into memory as before.  It is built again from the segments when
 * it is missing, damaged, made by another member, for other keys, when
 * an author's standing in the membership changed, when a segment it
 * covers is gone (a prune), or when too many are not covered.  It is
 * authenticated (keyed BLAKE2b under a key derived from this member's
 * own signing seed) and written atomically.  format-spec/format.md §13.4.
 */
#ifndef VAULT_INDEX_CACHE_H
#define VAULT_INDEX_CACHE_H

#include "backend/backend.h"
#include "crypto/keys.h"
#include "format/pack.h"

typedef struct index_cache index_cache;

/* Opens the index cache at path for member k.  *out is NULL (and VAULT_OK
 * returned) when there is no usable cache there: missing, damaged (it is
 * then removed), or made under other keys or author standings than
 * author_of gives now.  Only running out of memory is an error. */
vault_error vlt_index_cache_open(const char *path, const keyring *k,
                                 index_author_fn author_of, void *author_ctx,
                                 index_cache **out);
/* Builds the cache at path from the index segments named in names, as
 * vlt_index_load_names would load them (segments that are damaged or
 * forged are left out: they stay uncovered, and the in-memory load
 * reports them).  When the cache folder cannot be written there is just
 * no cache: only storage failing or memory running out are errors.  Its
 * memory
 * is bounded: entries are sorted in runs of INDEX_CACHE_RUN_SLOTS in
 * temporary files next to path and merged. */
#define INDEX_CACHE_RUN_SLOTS (1u << 20)
vault_error vlt_index_cache_build(const char *path, backend *be,
                                  const keyring *k, const name_list *names,
                                  index_author_fn author_of, void *author_ctx);
/* For tests: runs of n slots (0: INDEX_CACHE_RUN_SLOTS), so that a small
 * index is merged from many. */
void vlt_index_cache_set_run_slots(size_t n);
/* Of names, the segments c does not cover (in *uncovered, to be freed);
 * *stale is set when c covers a segment names lacks (a prune removed
 * it: c lists entries of packs that may be gone). */
vault_error vlt_index_cache_diff(const index_cache *c, const name_list *names,
                                 name_list *uncovered, int *stale);
/* The mapped index, valid until close. */
const index_base *vlt_index_cache_base(const index_cache *c);
size_t vlt_index_cache_segments(const index_cache *c);
void vlt_index_cache_close(index_cache *c);

#endif
