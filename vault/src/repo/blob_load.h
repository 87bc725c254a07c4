/*
 * blob_load.h - reading blobs through an open vault handle: the index,
 * each pack's key (its header opened and its trailer verified on first
 * use, then cached), reusable decompression contexts.  Private.
 *
 * Every call here may be made from several threads at once on one handle
 * (restore's workers and walker), once vlt_repo_load_index has returned:
 * the caches are guarded by locks of their own.
 */
#ifndef VAULT_BLOB_LOAD_H
#define VAULT_BLOB_LOAD_H

#include "format/pack.h"
#include "format/tree.h"
#include "vault.h"

/* Loads the index (once; later calls return at once).  Packs condemned by
 * a prune mark are marked first, so their entries give way to copies
 * elsewhere. */
vault_error vlt_repo_load_index(vault_t *v);
/* Drops the loaded index and the pack keys cached by pack number, after
 * the set of packs changed under this handle (a failed add, a rekey). */
void vlt_repo_forget_index(vault_t *v);
/* Verified plaintext of a blob; detail names the pack on failure. */
vault_error vlt_repo_load_blob(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                               blob_type type, uint8_t **out, size_t *len);
/* Loads and decodes tree blob id into *out (the caller clears it, also on
 * failure); a tree that does not decode is named ("tree <id>: ..."). */
vault_error vlt_repo_load_tree(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                               tree *out);
/* The plaintext length of data chunk id, from the index alone, and
 * whether it is the chunk a long run of zero bytes is cut into (restore
 * writes those as holes without loading them). */
vault_error vlt_repo_chunk_size(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                                uint32_t *len, int *zero);

#endif
