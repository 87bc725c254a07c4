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
/* Verified plaintext of a blob; detail names the pack on failure.  When
 * the index has several copies of the ID, a copy that fails (missing
 * pack, bad trailer, bad blob, wrong chunk ID or type) is reported
 * (vlt_warn) and the next is tried, best first. */
vault_error vlt_repo_load_blob(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                               blob_type type, uint8_t **out, size_t *len);
/* One copy's verified plaintext (prune checks the copy it keeps). */
vault_error vlt_repo_load_copy(vault_t *v, const index_slot *s,
                               blob_type type, uint8_t **out, size_t *len);
/* Opens entry e of pack pack_id (a pack the loaded index knows) and
 * checks its chunk ID: prune does before it vouches for another member's
 * entry by re-signing it. */
vault_error vlt_repo_verify_entry(vault_t *v, const uint8_t pack_id[32],
                                  const pack_entry *e);
/* The SLOT_* flags of index entries whose segment author is author: -1
 * when the author is not a member (the segment is forged). */
int vlt_repo_author_flags(vault_t *v, const uint8_t author[SIGN_PUBLIC_BYTES]);
/* The flags of the copies this handle stores itself (SLOT_OWN, and
 * SLOT_TRUSTED if the opener is an owner or reader). */
uint32_t vlt_repo_own_flags(vault_t *v);
/* Whether a lock object counts: a prune mark only from a current owner
 * (a writer cannot condemn packs); add markers from any member. */
struct lock_record;
int vlt_repo_lock_honoured(vault_t *v, const struct lock_record *l);
/* Loads and decodes tree blob id into *out (the caller clears it, also on
 * failure); a tree that does not decode is named ("tree <id>: ..."). */
vault_error vlt_repo_load_tree(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                               tree *out);
/* Told each blob of vlt_repo_load_blobs in order: its plaintext (NULL,
 * with its length, for a chunk of zeros, which is not loaded), lent for
 * the call.  A non-OK return stops the loading and is returned. */
typedef vault_error (*blob_sink_fn)(void *ctx, const uint8_t *data,
                                    size_t len);
/* The verified plaintexts of n blobs of type, handed to fn in order: what
 * vlt_repo_load_blob gives one by one, in fewer round trips.  The blobs
 * of a window (up to BLOBS_WINDOW_RAW plaintext bytes, _LOCAL on a local
 * backend) are grouped by pack and sorted by offset, and ranges closer
 * than BLOBS_MERGE_GAP are read in one load of at most BLOBS_MERGE_MAX
 * bytes.  A blob that fails there is loaded again alone
 * (vlt_repo_load_blob: other copies, and its error). */
vault_error vlt_repo_load_blobs(vault_t *v,
                                const uint8_t (*ids)[CHUNK_ID_BYTES],
                                size_t n, blob_type type, blob_sink_fn fn,
                                void *ctx);
/* Loads blobs ahead of their use (a walk's next trees, the small files
 * of a directory): up to REPO_PREFETCH_PLAN_BLOBS blobs and
 * REPO_PREFETCH_BYTES(_FAR) / 2 bytes as stored of those not held yet,
 * in merged ranges (as vlt_repo_load_blobs), up to backend_connections
 * ranges at once; each blob is kept in the handle as stored (the oldest
 * dropped past REPO_PREFETCH_BYTES(_FAR)) until a load of it takes it, which
 * authenticates and opens it,
 * or as many loads as it was asked for (a chunk that several files share).
 * Best effort: a blob that fails is left for its own load to report. */
void vlt_repo_prefetch(vault_t *v, const uint8_t (*ids)[CHUNK_ID_BYTES],
                       size_t n, blob_type type);
/* vlt_repo_prefetch in two steps, for a caller that has another thread
 * do the loading: _plan takes the places at once (so the blobs' users,
 * even those that come before the loading starts, wait for it), _load
 * loads them and frees the plan.  _plan returns NULL when there is
 * nothing to load; _load accepts NULL.  A plan must be loaded. */
typedef struct vlt_prefetch_plan vlt_prefetch_plan;
vlt_prefetch_plan *vlt_repo_prefetch_plan(vault_t *v,
                                          const uint8_t (*ids)[CHUNK_ID_BYTES],
                                          size_t n, blob_type type);
void vlt_repo_prefetch_load(vlt_prefetch_plan *p);
/* Lets the blobs' users wait for plan p instead of loading them alone:
 * for a caller whose thread that loads p never waits for those users
 * (restore's loaders).  p must then be loaded. */
void vlt_repo_prefetch_promise(vlt_prefetch_plan *p);
/* Whether blobs more blobs of bytes as stored fit beside those loaded
 * ahead now, with none dropped. */
int vlt_repo_prefetch_fits(vault_t *v, uint64_t bytes, size_t blobs);
/* Lets the handle hold REPO_PREFETCH_BYTES_FAR loaded ahead if its
 * storage answers in a round trip of REPO_FAR_SECONDS or more (as seen
 * so far); returns whether it does. */
int vlt_repo_prefetch_far(vault_t *v);
/* Decodes tree id from the blobs loaded ahead, leaving it there (a walk
 * looks one level further ahead); VAULT_E_NOT_FOUND, with no detail, if
 * it is not there (yet). */
vault_error vlt_repo_peek_tree(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                               tree *out);
/* Frees the blobs loaded ahead (vault_close). */
void vlt_repo_prefetch_drop(vault_t *v);
/* Stops the handle's loaders (the threads prefetches run on), if any,
 * once their jobs are done: for vault_close, before what they use goes. */
void vlt_repo_loaders_stop(vault_t *v);
#define BLOBS_MERGE_GAP (64u * 1024)
#define BLOBS_MERGE_MAX (8u * 1024 * 1024)
#define BLOBS_WINDOW_RAW (16u * 1024 * 1024)
/* On storage on this machine (be->is_local) a window spares no round
 * trips, only system calls: one chunk's worth.  Each thread restoring a
 * file holds its window's plaintexts; at 16 MiB two threads held 29 MiB
 * of an extract's 53 MiB heap (/usr/share copy). */
#define BLOBS_WINDOW_RAW_LOCAL (4u * 1024 * 1024)
#define BLOBS_WINDOW_COUNT 512

/* Blobs one prefetch plan takes at most (a window of small files). */
#define REPO_PREFETCH_PLAN_BLOBS 2048

/* The plaintext length of data chunk id, from the index alone, and
 * whether it is the chunk a long run of zero bytes is cut into (restore
 * writes those as holes without loading them). */
vault_error vlt_repo_chunk_size(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                                uint32_t *len, int *zero);
/* The bytes data chunk id takes as stored (sealed, compressed), from the
 * index alone: what holding it loaded ahead costs. */
vault_error vlt_repo_chunk_stored(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                                  uint32_t *stored);

#endif
