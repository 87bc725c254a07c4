/*
 * add_internal.h - what the parts of `add` share.  Private to ops/add.
 *
 *   archiver.c      vault_add: the add marker, setup, the snapshot commit
 *   add_tree.c      entries from the source (add_source.h) into trees:
 *                   files cut into chunks, directories waiting for their
 *                   files' chunk IDs, the snapshot's root
 *   add_pipeline.c  blobs to the vault: worker threads (common/pool.h)
 *                   hash chunks, compress, seal and pack the new ones;
 *                   finished packs are listed in index segments
 *   source_fs.c     the file system as a source
 *   source_snapshot.c  another vault's snapshot as a source (copy)
 *
 * The walker (the caller's thread) reads entries and cuts chunks; it
 * hands the chunks, in batches through the pool's bounded queue, to the
 * workers, which compute each chunk ID, write it into the file's content
 * list (a slot reserved in order by the walker) and count it off the
 * directory's file_group; then they look it up in the index and
 * compress, seal and pack only the new ones (one pack of data and one
 * of trees under construction: tree packs are what a local cache keeps;
 * per worker where packs are written as they are made, else one of each
 * the workers share, see pack_slot).  Before it encodes a directory's
 * tree, the walker waits for that group, so every ID is in.  Tree blobs
 * the walker hashes itself: their IDs go into the parent.  Finished
 * packs go to uploader threads (a second pool, sized by the backend's
 * connections), which save them first; index segments listing them
 * follow; the snapshot, saved last, is the commit point (format spec
 * "Write ordering").
 */
#ifndef VAULT_ADD_INTERNAL_H
#define VAULT_ADD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pool.h"
#include "format/chunker.h"
#include "format/pack.h"
#include "ops/add/add_source.h"
#include "repo/filecache.h"
#include "repo/repo.h"
#include "repo/upload_journal.h"

/* Jobs of one directory's files (or of one path given): the walker waits
 * until their chunk IDs are all written before it encodes the tree that
 * lists them. */
typedef struct file_group {
    size_t outstanding; /* jobs queued or being hashed; under the pool's
                           lock */
    struct pending_record *recs; /* files cache records to write after */
    size_t n_recs, cap_recs;
} file_group;

/* A file read afresh whose cache record waits for its chunk IDs. */
typedef struct pending_record {
    size_t node;       /* index in the nodes its group's tree holds */
    char *path;        /* the files cache's key: the path... */
    filecache_key key; /* ...and the identity it was read with */
    int has_xattrs;    /* it had extended attributes */
} pending_record;

/* A directory the walker has finished with whose tree cannot be encoded
 * yet: its files' chunk IDs are still being computed, or a subdirectory's
 * tree is still waiting.  Waiting for them at the end of every directory
 * would stop the reading until the workers caught up - they hash in
 * queue order, so that is nearly the whole queue - and then idle the
 * workers while the walker reads the next files.  Instead such a
 * directory waits in a FIFO (adder.waiting): that is post-order, so a
 * directory's subdirectories are always ahead of it, and the head, once
 * its group is done, can always be stored.  The walker stores what is
 * ready at the end of every directory. */
typedef struct waiting_dir {
    struct waiting_dir *parent; /* counts this in subdirs; NULL at the top */
    struct waiting_dir *next;   /* in adder.waiting */
    tree t;                     /* workers write into its nodes' content */
    file_group g;               /* its files' jobs */
    size_t index;               /* its node in parent->t.nodes */
    uint8_t *subtree;           /* at the top: where the tree ID goes */
    size_t subdirs;             /* subdirectories not stored yet */
} waiting_dir;

/* Directories waiting at most before the walker waits for the oldest
 * (a bound on the trees held; below the 512 levels extraction follows,
 * so a deep chain, each level waiting for the one below, reaches it). */
#define WAITING_DIRS_MAX 256

/* Packs finished but not yet listed in a saved index segment. */
typedef struct done_packs {
    uint8_t (*ids)[32];  /* the packs' IDs */
    size_t *starts;      /* n + 1: pack i's entries are entries[starts[i]
                            .. starts[i + 1]) */
    size_t n, cap;       /* packs, and room in ids */
    size_t cap_starts;   /* room in starts */
    pack_entry *entries; /* where each of their blobs is */
    size_t n_entries, cap_entries;
} done_packs;

struct batch; /* add_pipeline.c */

/* A pack under construction and the lock of whoever adds to it.  On a
 * local disk each worker has its own (its pack goes to the disk as it
 * is made, so it holds little).  Where a pack is held whole until it is
 * uploaded, the workers share one of each kind: per-worker packs held
 * one 16 MiB pack per worker besides the uploaders', most of an add's
 * memory over a slow link (88 MiB against restic's 89 at 100 Mbit/s). */
typedef struct pack_slot {
    pthread_mutex_t lock; /* pw and open; held while a full pack waits
                           * for the uploaders' room */
    pack_writer pw;
    int open; /* pw begun */
    size_t reserved; /* counted in adder.pack_reserved for it */
} pack_slot;

/* The kinds of pack, by what they hold (pack_slot arrays). */
enum { PACK_OF_DATA = 0, PACK_OF_TREES = 1 };

typedef struct adder {
    vault_t *v;
    /* Data packs sealed so far (pack_target: the first ones are smaller
     * on remote storage). */
    atomic_uint data_packs_sealed;
    const vault_add_options *o;
    vault_add_result *r;   /* counted as the add goes */
    const add_source *src; /* what is backed up */
    chunker_table chunker; /* this vault's content-defined cuts */
    filecache *cache;      /* unchanged files' chunk IDs (may be empty) */
    int level;             /* zstd level; 0: store raw */

    vlt_pool *pool;        /* the workers; its lock guards file_groups */
    vlt_pool *uploader;    /* saves sealed packs, lists them in segments */
    pthread_mutex_t index_lock; /* v->index, done and r->blobs/bytes_added */
    /* Bytes of sealed packs handed to the uploaders and not yet saved
     * (queued or on the wire); with pack_reserved at most UPLOAD_HELD_MAX
     * but for one pack (add_pipeline.c); guarded by index_lock, room
     * signalled on upload_room. */
    size_t upload_held;
    /* Bytes counted for the shared data pack being made (its target
     * size; add_pipeline.c); guarded by index_lock. */
    size_t pack_reserved;
    pthread_cond_t upload_room;
    /* The packs the workers share (see pack_slot): where the storage
     * cannot take a pack in pieces (!backend_can_stage); else shared[]
     * is unused and each worker has its own, written as it is made. */
    int packs_shared;
    pack_slot shared[2]; /* by PACK_OF_* */
    int shared_ready;    /* shared[] initialized (its locks) */
    uint32_t own_flags;    /* of the copies this add stores (index_slot) */
    done_packs done;       /* packs saved, not yet in an index segment */
    upload_journal *journal; /* packs saved, for a next add if this one
                              * dies (NULL: none kept) */
    struct batch *cur;     /* the walker's batch being filled */

    waiting_dir *waiting, **waiting_tail; /* oldest first */
    size_t n_waiting;      /* in the list above */
    uint8_t *buf;          /* the walker's read buffer */
    size_t buf_cap;        /* READ_BLOCK + CHUNKER_MAX_SIZE */
} adder;

/* ---- add_pipeline.c ----------------------------------------------------- */

/* Starts n_workers workers (all of them, or an error). */
vault_error vlt_add_pipeline_start(adder *a, unsigned n_workers);
/* Queues what the walker still holds (if rc is VAULT_OK), lets the
 * workers finish and save their packs, stops them, and saves the index
 * segment for the packs not yet listed.  Returns rc if it is a failure,
 * else the first failure of a worker, else the index's result.  Then
 * vlt_add_pipeline_free. */
vault_error vlt_add_pipeline_finish(adder *a, vault_error rc);
void vlt_add_pipeline_free(adder *a);

/* Lists the packs of interrupted adds (their upload journals) that the
 * storage still has, in this add's next index segment and in the index
 * for dedup; a warning tells how much is reused.  Call after the add
 * marker is up and the index loaded, before the walk. */
vault_error vlt_add_adopt_interrupted(adder *a);
/* Hands a blob to the workers (data is taken over).  Either id is its
 * chunk ID, already entered in the index (hashed), or the worker computes
 * it, writes it to id_out and counts the job off group. */
vault_error vlt_add_submit(adder *a, blob_type type, int hashed,
                           const uint8_t id[CHUNK_ID_BYTES], uint8_t *id_out,
                           file_group *group, uint8_t *data, size_t len);
/* Waits until every job of g has its chunk ID written. */
vault_error vlt_add_group_wait(adder *a, file_group *g);
/* Whether every job of g has its chunk ID written already (none still in
 * the walker's unqueued batch either). */
int vlt_add_group_done(adder *a, const file_group *g);
/* Stores a blob unless the vault (or this run) has it already; the
 * walker needs its ID at once, so it hashes it itself.  The buffer (data)
 * is taken over. */
vault_error vlt_add_store_blob(adder *a, blob_type type, uint8_t *data,
                               size_t len, uint8_t id[CHUNK_ID_BYTES]);
/* Whether the index has all n chunk IDs in copies this member may
 * deduplicate against (format.md §15-15a: trusted or its own, not in
 * condemned packs): only then is the files cache's answer used. */
int vlt_add_content_in_index(adder *a, const uint8_t *ids, uint32_t n);

/* ---- add_tree.c --------------------------------------------------------- */

/* Walks a->src into trees and blobs; rec gets the root tree's ID and the
 * paths given. */
vault_error vlt_add_walk(adder *a, snapshot_record *rec);

#endif
