/*
 * repo.h - the open vault handle shared by the library's operations:
 * what it holds, creating and opening vaults on any backend, and the
 * handle's snapshot objects.  Private.
 *
 * Reading blobs through the handle (index, pack keys, trees) is
 * blob_load.h, included here because every operation on an open vault
 * reads blobs; walking a snapshot's trees is tree_walk.h.
 */
#ifndef VAULT_REPO_H
#define VAULT_REPO_H

#include <pthread.h>

#include "backend/backend.h"
#include "common/internal.h"
#include "crypto/keys.h"
#include "format/pack.h"
#include "format/snapshot.h"
#include "format/tree.h"
#include "repo/blob_load.h"
#include "common/progress.h"
#include "repo/membership.h"

/* Decompression contexts a handle keeps for reuse: one per thread that
 * loads blobs at once (restore's workers and walker) is enough. */
#define REPO_DCTX_KEEP 16
/* Bytes (as stored: blobs are held sealed) and blobs a handle keeps
 * loaded ahead (blob_load.h). */
#define REPO_PREFETCH_BYTES (32u * 1024 * 1024)
/* On storage whose answers take a round trip of REPO_FAR_SECONDS or more
 * (vlt_repo_prefetch_far), more bytes: restore's windows there are larger
 * (restore_ahead.c), as each range costs a round trip.  Nearer, the
 * windows arrive faster than files take them and would only fill more
 * memory. */
#define REPO_PREFETCH_BYTES_FAR (48u * 1024 * 1024)
#define REPO_FAR_SECONDS 0.01
#define REPO_PREFETCH_BLOBS 8192
/* On this machine's disk, fewer: its windows are smaller (restore_ahead.c),
 * and what is held past them is dropped sooner, each drop scanning the
 * held entries for the oldest. */
#define REPO_PREFETCH_BLOBS_LOCAL 4096
#define REPO_OPENING_MAX 32
#define REPO_PREFETCH_TABLE (4 * REPO_PREFETCH_BLOBS) /* a power of two */

/* What the index lists of one pack (repo.h: vault.pack_listings). */
typedef struct pack_listing {
    uint64_t end;   /* where its last listed blob ends */
    uint32_t count; /* its listed blobs */
} pack_listing;

struct vault {
    backend *be;
    keyring *keys;
    char *member;   /* the member string of the envelope that opened */
    membership *members; /* the verified membership (membership.h) */
    char *location; /* as given to open, for messages and caches */
    vault_index index;
    int index_loaded;
    /* The client's cache folder (NULL: none, --no-cache) and the index
     * file mapped under index (repo/index_cache.h), if any. */
    char *cache_dir;
    struct index_cache *index_cache;
    /* The add marker this handle wrote and has not taken down yet ("":
     * none): loading the locks skips it, this handle knows what it
     * says. */
    char own_marker[65];
    /* The marker the open put up for the add that follows (marker_ahead.h),
     * until that add takes it or vault_close takes it down; NULL: none. */
    struct lock_record *ahead_marker;
    uint8_t (*pack_keys)[SECRET_BYTES]; /* by pack number, lazily */
    uint8_t *pack_key_state;            /* 0 unknown, 1 ok */
    size_t pack_keys_size;
    /* By pack number: what the index lists of the pack, so that a
     * remote pack opens without asking its size (blob_load.c,
     * pack_listed).  Made on first need for remote storage, under
     * pack_key_lock; n_pack_ends 0 until then. */
    struct pack_listing *pack_listings;
    size_t n_pack_ends;
    ZSTD_DCtx *dctx[REPO_DCTX_KEEP]; /* idle ones, for vlt_repo_load_blob */
    size_t n_dctx;
    /* The chunk a long run of zero bytes is cut into (blob_load.c,
     * zero_chunk), once asked for. */
    int zero_known;
    uint32_t zero_len;
    uint8_t zero_id[CHUNK_ID_BYTES];
    /* Blobs loaded ahead of use (vlt_repo_prefetch), as stored, in no
     * order, at most REPO_PREFETCH_BYTES(_FAR) in all; a load takes its blob
     * out. */
    struct prefetched *prefetched;
    size_t n_prefetched, cap_prefetched, prefetched_bytes;
    uint64_t prefetched_added; /* entries ever added: their age order */
    int prefetch_far; /* REPO_PREFETCH_BYTES_FAR apply (prefetch_lock) */
    /* Finds them by ID (blob_load.c): open addressing, entry number + 1,
     * 0 empty; REPO_PREFETCH_TABLE slots, made on first use. */
    uint32_t *prefetched_table;
    /* Packs some thread is opening (blob_load.c, pack_key_get): the
     * others wait for it rather than open them again (prefetch_lock,
     * prefetch_done).  Past REPO_OPENING_MAX, threads open on their own. */
    uint32_t opening[REPO_OPENING_MAX];
    size_t n_opening;
    /* Restore's threads load blobs through one handle at once (repo.c);
     * these guard what that shares.  pack_key_lock: pack_keys and
     * pack_key_state (never held across I/O: a pack's first users each
     * open it, the first to finish stores the key); dctx_lock: dctx and
     * n_dctx; zero_lock: zero_known and what it says; prefetch_lock: the
     * prefetched blobs.  Per handle: handles on other vaults do not
     * wait. */
    pthread_mutex_t pack_key_lock;
    pthread_mutex_t dctx_lock;
    pthread_mutex_t zero_lock;
    pthread_mutex_t prefetch_lock;
    pthread_cond_t prefetch_done; /* a prefetch filled its places */
    /* Threads loading prefetches (blob_load.c, loaders): made on first
     * need under prefetch_lock, stopped by vault_close. */
    struct vlt_pool *loaders;
    int loaders_failed;
    int locks_ready; /* the locks are initialised (vault_close destroys) */
    size_t tree_memory_limit; /* vault_set_tree_memory_limit; 0: default */
    vlt_progress progress; /* vault_set_progress */
};

/* The handle's tree memory limit (vault_set_tree_memory_limit). */
size_t vlt_repo_tree_memory_limit(const vault_t *v);

/* Seals the payload to its member alone (an age file with one recipient:
 * `age -d` opens it) and saves it under keys/; its name into name (may be
 * NULL). */
vault_error vlt_envelope_save(backend *be, const envelope_payload *p,
                              char name[65]);
/* Rebuilds the handle's membership from keys/ (after share, unshare). */
vault_error vlt_repo_reload_membership(vault_t *v);

/* vault_init and vault_open on any backend (tests use the memory and
 * fault-injecting ones), with no client cache folder (no index cache).
 * vlt_repo_open_backend takes ownership of be, also on failure;
 * vlt_repo_init_backend does not. */
vault_error vlt_repo_init_backend(backend *be, const char *owner,
                                  char fingerprint[VAULT_FINGERPRINT_CHARS + 1]);
vault_error vlt_repo_open_backend(backend *be, const char *location,
                                  const vault_identity_t *identity,
                                  vault_t **out);
/* The same with storage options (NULL: defaults): once the config names
 * the vault, the backend is wrapped in the local cache
 * (vlt_backend_cache_open, under <cache_dir>/<vault id hex>/objects)
 * unless options->no_cache.  location is the redacted one. */
vault_error vlt_repo_open_backend_with(backend *be, const char *location,
                                       const vault_storage_options *options,
                                       const vault_identity_t *identity,
                                       vault_t **out);

/* Opens the member's keys from the objects of keys/ (envelopes and
 * membership records, each checked against its name) and checks the
 * config with them (format.md §5.5): v->keys, v->members and v->member
 * set.  v->location names the vault in messages; nothing is loaded. */
vault_error vlt_repo_open_keys(vault_t *v, const vault_identity_t *identity,
                               const uint8_t vault_id[VAULT_ID_BYTES],
                               const uint8_t *config, size_t config_len,
                               const keys_object *objs, size_t n_objs);

/* vlt_snapshot_save and vlt_snapshot_load (format/snapshot.h) on the
 * handle's backend and keys. */
vault_error vlt_repo_snapshot_save(vault_t *v, const snapshot_record *rec,
                                   char id_hex[65]);
vault_error vlt_repo_snapshot_load(vault_t *v, const char *name,
                                   snapshot_record *rec);
/* Names of all snapshot objects (malloc'ed array of 65-byte names). */
vault_error vlt_repo_snapshot_names(vault_t *v, char (**names)[65], size_t *n);

/* Starts, on threads of their own, the listings an operation that only
 * reads a snapshot needs next (snapshots/, and locks/ and index/ unless
 * the index is loaded), so that their round trips to remote storage
 * overlap (backend_ahead.c).  Only for operations that read: an add or a
 * prune needs listings made after its marker or mark is up. */
void vlt_repo_list_ahead_read(vault_t *v);
/* Drops the listings started ahead that were not used. */
void vlt_repo_list_ahead_done(vault_t *v);

#endif
