/*
 * add_pipeline.c - `add`'s blobs on their way into the vault: batches of
 * chunks to the worker pool, which hashes them, and compresses, seals
 * and packs the new ones; finished packs go to the uploader threads
 * (as many as the storage's connections), which save them and list them
 * in index segments, while the workers go on packing (see
 * add_internal.h for the whole flow).
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_initStaticCCtx, ZSTD_estimateCCtxSize */
#include <zstd.h>

#include "common/array.h"
#include "common/internal.h"
#include "common/phase_timer.h"
#include "common/interrupt.h"
#include "ops/add/add_internal.h"

/* A blob on its way to a worker. */
typedef struct job {
    blob_type type;
    int hashed;       /* id computed and entered in the index already */
    uint8_t id[CHUNK_ID_BYTES];
    uint8_t *id_out;  /* where the worker writes the chunk ID, or NULL */
    file_group *group; /* counts this job until its ID is written */
    uint8_t *data;    /* the blob's plaintext, the job's to free */
    size_t len;
} job;

/* Jobs travel in batches: one lock and one wake-up for many chunks. */
#define BATCH_JOBS 32
#define BATCH_BYTES (2u * 1024 * 1024)
typedef struct batch {
    size_t n, bytes;      /* jobs in it, and their data bytes */
    job jobs[BATCH_JOBS];
} batch;

/* --- packs and index segments ------------------------------------------ */

static vault_error done_reserve(done_packs *d, size_t entries)
{
    if (VLT_ARRAY_GROW(&d->ids, &d->cap, d->n + 1) != 0 ||
        VLT_ARRAY_GROW(&d->starts, &d->cap_starts, d->n + 2) != 0 ||
        VLT_ARRAY_GROW(&d->entries, &d->cap_entries,
                       d->n_entries + entries) != 0)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (d->n == 0)
        d->starts[0] = 0;
    return VAULT_OK;
}

/* Saves an index segment for the finished packs; caller holds no lock. */
static vault_error flush_index(adder *a, done_packs *d)
{
    if (d->n == 0)
        return VAULT_OK;
    vault_error rc = vlt_index_segment_save(a->v->be, a->v->keys,
                                            d->ids[0], d->n,
                                            d->starts, d->entries);
    d->n = 0;
    d->n_entries = 0;
    if (d->starts)
        d->starts[0] = 0;
    return rc;
}

static void done_free(done_packs *d)
{
    free(d->ids);
    free(d->starts);
    free(d->entries);
    memset(d, 0, sizeof *d);
}

/* A sealed pack on its way to the storage. */
typedef struct upload {
    uint8_t pack_id[32];
    uint8_t *data;       /* the whole pack, the upload's to free */
    backend_stage *stage; /* or: written to the storage, to commit */
    size_t len;
    pack_entry *entries; /* where its blobs are, the upload's to free */
    size_t n_entries;
    size_t held;         /* its bytes counted in adder.upload_held */
} upload;

/*
 * The bytes of whole packs held in memory at once for the uploaders:
 * queued or on the wire, and the workers' shared data pack from the
 * moment it is begun.  Packs held for a slow link used to be most of
 * an add's memory (one 16 MiB pack per worker and up to three more for
 * the uploaders: 88 MiB against restic's 89 at 100 Mbit/s).  Two keep
 * the link busy: one on the wire, and the next sealed as it ends (at
 * 100 Mbit/s a 16 MiB pack takes 1.3 s on the wire; the workers fill
 * the next in a fraction of that).  Packs are counted whole from their
 * begin (their target size) and at their length once sealed, which is
 * past the target by up to one blob: with room for exactly two targets,
 * the next pack waited for the one on the wire to end, and the link
 * idled while it was made (add 11% slower at 100 Mbit/s).
 */
#define UPLOAD_HELD_MAX ((size_t)2 * (PACK_TARGET_BYTES + CHUNKER_MAX_SIZE))

/* Waits for room for len more bytes among the packs held, or until the
 * uploaders hold none (then one pack goes, whatever its size: waiting
 * only on what the uploaders drain cannot deadlock), or failed (the
 * submit reports it).  The caller holds index_lock. */
static void room_wait_locked(adder *a, size_t len)
{
    while (a->upload_held > 0 &&
           a->upload_held + a->pack_reserved + len > UPLOAD_HELD_MAX &&
           !vlt_pool_failed(a->uploader))
        pthread_cond_wait(&a->upload_room, &a->index_lock);
}

/* A sealed pack goes to the uploaders: its bytes are counted until they
 * are saved; reserved: what its begin counted already (reserve_pack),
 * else it waits for room now. */
static void upload_hold(adder *a, upload *u, size_t len, size_t reserved)
{
    pthread_mutex_lock(&a->index_lock);
    if (reserved) {
        assert(a->pack_reserved >= reserved);
        a->pack_reserved -= reserved;
    } else {
        room_wait_locked(a, len);
    }
    a->upload_held += len;
    u->held = len;
    pthread_mutex_unlock(&a->index_lock);
}

/* Counts a shared data pack about to be begun (waiting for room); its
 * seal hands the count over to the upload.  Returns the bytes counted. */
static size_t reserve_pack(adder *a, size_t len)
{
    pthread_mutex_lock(&a->index_lock);
    room_wait_locked(a, len);
    a->pack_reserved += len;
    pthread_mutex_unlock(&a->index_lock);
    return len;
}

/* A reserved pack that will not be sealed after all (its worker failed). */
static void reserve_drop(adder *a, size_t *reserved)
{
    if (!*reserved)
        return;
    pthread_mutex_lock(&a->index_lock);
    a->pack_reserved -= *reserved;
    *reserved = 0;
    pthread_cond_broadcast(&a->upload_room);
    pthread_mutex_unlock(&a->index_lock);
}

/* The pack's bytes are gone (saved, or dropped): room for another. */
static void upload_release(adder *a, upload *u)
{
    if (!u->held)
        return;
    pthread_mutex_lock(&a->index_lock);
    a->upload_held -= u->held;
    u->held = 0;
    pthread_cond_broadcast(&a->upload_room);
    pthread_mutex_unlock(&a->index_lock);
}

static void upload_free(adder *a, upload *u)
{
    if (!u)
        return;
    upload_release(a, u);
    backend_stage_abort(a->v->be, u->stage); /* not committed: dropped */
    free(u->data);
    free(u->entries);
    free(u);
}

/* Records where a pack's blobs are (in the index, for dedup, and in
 * the list the next segment saves); saves an index segment when the
 * packs not yet listed have grown past INDEX_SEGMENT_ENTRIES.  added:
 * the bytes this add uploaded for it (0 for an interrupted add's). */
static vault_error list_pack(adder *a, const uint8_t pack_id[32],
                             const pack_entry *entries, size_t n_entries,
                             uint64_t added)
{
    done_packs flush = {0};
    pthread_mutex_lock(&a->index_lock);
    done_packs *d = &a->done;
    vault_error rc = done_reserve(d, n_entries);
    if (rc == VAULT_OK) {
        memcpy(d->ids[d->n], pack_id, 32);
        memcpy(d->entries + d->n_entries, entries,
               n_entries * sizeof *entries);
        d->n_entries += n_entries;
        d->starts[++d->n] = d->n_entries;
        for (size_t i = 0; i < n_entries && rc == VAULT_OK; i++) {
            int inserted;
            rc = vlt_index_add(&a->v->index, entries[i].id, pack_id,
                               &entries[i], a->own_flags, &inserted);
        }
        a->r->bytes_added += added;
        if (d->n_entries >= INDEX_SEGMENT_ENTRIES) {
            flush = *d; /* take the list; save it outside the lock */
            memset(d, 0, sizeof *d);
        }
    }
    pthread_mutex_unlock(&a->index_lock);
    if (rc == VAULT_OK)
        rc = flush_index(a, &flush);
    done_free(&flush);
    return rc;
}

/* A pack this add saved: journaled first (synced), so that if the add
 * dies before a segment lists it, the next add lists it instead of
 * uploading it again (repo/upload_journal.h). */
static vault_error pack_saved(adder *a, const upload *u)
{
    vlt_upload_journal_append(a->journal, u->pack_id, u->len, u->entries,
                              u->n_entries);
    return list_pack(a, u->pack_id, u->entries, u->n_entries, u->len);
}

/* An uploader thread's job: saves the pack, then lists it (the index
 * names a pack only once it is whole in the storage). */
static void upload_run(void *ctx, void *state, void *arg)
{
    (void)state;
    adder *a = ctx;
    upload *u = arg;
    if (!vlt_pool_failed(a->uploader)) {
        vault_error rc;
        if (u->stage) {
            backend_stage *stage = u->stage;
            u->stage = NULL; /* freed by the commit, whatever it says */
            rc = vlt_pack_commit(a->v->be, stage, u->pack_id);
        } else {
            rc = vlt_pack_save(a->v->be, u->pack_id, u->data, u->len);
        }
        if (rc == VAULT_OK) {
            free(u->data); /* the memory goes back before the bookkeeping */
            u->data = NULL;
            upload_release(a, u);
            rc = pack_saved(a, u); /* u->len stays: the pack's length */
        }
        if (rc != VAULT_OK) {
            vlt_pool_fail(a->uploader, rc);
            /* workers waiting for room stop waiting */
            pthread_mutex_lock(&a->index_lock);
            pthread_cond_broadcast(&a->upload_room);
            pthread_mutex_unlock(&a->index_lock);
        }
    }
    upload_free(a, u);
}

/* Seals a pack and hands it to the uploaders (waiting while they have as
 * many as they may hold: the memory bound); the worker goes on with a
 * fresh buffer.  Called with the pack's slot locked: while a shared pack
 * waits for room, no second one of its kind is begun.  A failed upload
 * is reported here, so that the worker stops too. */
static vault_error finish_pack(adder *a, pack_slot *slot, int which)
{
    pack_writer *pw = &slot->pw;
    upload *u = calloc(1, sizeof *u);
    if (!u)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    vault_error rc = vlt_pack_writer_seal(pw, u->pack_id);
    if (rc == VAULT_OK && pw->n_entries > 0 &&
        !(u->entries = malloc(pw->n_entries * sizeof *pw->entries)))
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (rc != VAULT_OK) {
        pw->len = 0;
        upload_free(a, u);
        reserve_drop(a, &slot->reserved);
        return rc;
    }
    /* A pack of trees is read by the next listing: the local cache keeps
     * the copy it saves (backend_cache.c). */
    if (which == PACK_OF_TREES)
        vlt_backend_cache_note_tree_pack(a->v->be, u->pack_id);
    memcpy(u->entries, pw->entries, pw->n_entries * sizeof *pw->entries);
    u->n_entries = pw->n_entries;
    u->len = pw->len;
    if (pw->stage) { /* written already: the buffer stays for the next */
        u->stage = pw->stage; /* pw->be is a->v->be */
        pw->stage = NULL;
        pw->len = 0;
    } else {
        u->data = pw->buf;
        pw->buf = NULL;
        pw->len = pw->cap = 0;
    }
    pw->n_entries = 0;
    if (u->data) /* a staged pack is on the storage already */
        upload_hold(a, u, u->len, slot->reserved);
    else
        reserve_drop(a, &slot->reserved);
    slot->reserved = 0;
    rc = vlt_pool_submit(a->uploader, u, 0);
    if (rc != VAULT_OK)
        upload_free(a, u);
    return rc;
}

/* A worker's own state: its packs under construction (unless the workers
 * share them) and compressor.  Trees go into packs of their own
 * (format.md §9 allows it): they are small and read by every listing, so
 * a client's local cache keeps those packs whole (backend_cache.c), and
 * never the data packs. */
typedef struct worker_state {
    pack_slot own[2];    /* by PACK_OF_*, unless adder.packs_shared */
    int own_ready;       /* own[] initialized */
    ZSTD_CCtx *cctx;
    void *cctx_space; /* cctx lives in it (static), or NULL */
    uint8_t *cbuf;    /* compressed blob */
    size_t cbuf_cap;
    vault_error rc;   /* this worker failed: it only counts jobs off */
} worker_state;

/* The size at which a data pack is sealed.  On remote storage the first
 * upload starts once the first pack is sealed, and the link idles until
 * then (on a cold disk, the time to read 16 MiB of small files): the
 * first packs are 1, 2, 4 and 8 MiB, the rest full size.  A local disk
 * has no link to keep busy. */
static size_t pack_target(adder *a, int which)
{
    if (which != PACK_OF_DATA || a->v->be->is_local)
        return PACK_TARGET_BYTES;
    unsigned sealed = atomic_load(&a->data_packs_sealed);
    return sealed >= 4 ? PACK_TARGET_BYTES
                       : (size_t)PACK_TARGET_BYTES >> (4 - sealed);
}

/* Compresses, seals and packs one new blob. */
static vault_error store_job(adder *a, worker_state *w, const job *j)
{
    vault_error rc = VAULT_OK;
    const uint8_t *stored = j->data;
    size_t stored_len = j->len;
    uint8_t flags = 0;
    if (a->level > 0 && j->len > 0) {
        size_t bound = ZSTD_compressBound(j->len);
        if (bound > w->cbuf_cap) {
            uint8_t *nb = realloc(w->cbuf, bound);
            if (!nb)
                return vlt_fail(VAULT_E_NOMEM, "out of memory");
            w->cbuf = nb;
            w->cbuf_cap = bound;
        }
        uint64_t timer = vlt_phase_start();
        size_t n = ZSTD_compressCCtx(w->cctx, w->cbuf, w->cbuf_cap, j->data,
                                     j->len, a->level);
        vlt_phase_stop(VLT_PHASE_COMPRESS, timer);
        /* Keep it only if it shrinks: raw costs no CPU later. */
        if (!ZSTD_isError(n) && n < j->len) {
            stored = w->cbuf;
            stored_len = n;
            flags = BLOB_FLAG_ZSTD;
        }
    }
    if (a->o->dry_run) {
        /* counted as stored (compressed, without the pack's framing),
         * stored nowhere */
        pthread_mutex_lock(&a->index_lock);
        a->r->bytes_added += stored_len;
        pthread_mutex_unlock(&a->index_lock);
        return VAULT_OK;
    }
    int which = j->type == BLOB_TREE ? PACK_OF_TREES : PACK_OF_DATA;
    pack_slot *slot = a->packs_shared ? &a->shared[which] : &w->own[which];
    pack_writer *pw = &slot->pw;
    pthread_mutex_lock(&slot->lock);
    if (!slot->open) {
        /* Data packs on storage that takes objects in pieces (a local
         * disk) are written as they are made: a worker then holds about
         * PACK_STAGE_FLUSH bytes of its pack, not 16 MiB, and the
         * uploaders none.  Trees stay whole: the cache keeps their packs.
         * A shared data pack is counted among the packs held from here
         * (UPLOAD_HELD_MAX). */
        if (which == PACK_OF_DATA && !a->packs_shared) {
            rc = vlt_pack_writer_begin_staged(pw, a->v->keys, a->v->be);
        } else {
            if (which == PACK_OF_DATA)
                slot->reserved = reserve_pack(a, pack_target(a, which));
            rc = vlt_pack_writer_begin(pw, a->v->keys);
        }
        slot->open = rc == VAULT_OK;
        if (rc != VAULT_OK)
            reserve_drop(a, &slot->reserved);
    }
    if (rc == VAULT_OK)
        rc = vlt_pack_writer_add(pw, j->type, j->id, flags, stored,
                                 stored_len, (uint32_t)j->len);
    if (rc == VAULT_OK && pw->len >= pack_target(a, which)) {
        if (which == PACK_OF_DATA)
            atomic_fetch_add(&a->data_packs_sealed, 1);
        rc = finish_pack(a, slot, which);
        slot->open = 0;
    }
    pthread_mutex_unlock(&slot->lock);
    return rc;
}

/* Drops a batch that will not be queued. */
static void batch_free(batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        free(b->jobs[i].data);
    free(b);
}

/* --- workers ------------------------------------------------------------ */

/* A context for compressing at level.  Where the memory zstd may need
 * at that level is small, it is allocated once (a static context): a
 * context zstd manages itself frees its tables after a run of small
 * inputs and allocates them again for the next large one, and on a tree
 * of small and large files that churn cost 12% of add's system time in
 * page faults (measured on a /usr/share copy). */
#define COMPRESSOR_STATIC_MAX (16u * 1024 * 1024)

static ZSTD_CCtx *compressor_create(int level, void **space)
{
    *space = NULL;
    size_t need = level > 0 ? ZSTD_estimateCCtxSize(level) : 0;
    if (need == 0 || need > COMPRESSOR_STATIC_MAX)
        return ZSTD_createCCtx();
    /* 64-byte aligned: what ZSTD_initStaticCCtx asks for at most */
    size_t len = (need + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, len);
    ZSTD_CCtx *c = p ? ZSTD_initStaticCCtx(p, len) : NULL;
    if (!c) {
        free(p);
        return ZSTD_createCCtx();
    }
    *space = p;
    return c;
}

/* The locks of a pair of slots (own or shared); 0, or -1 (none left
 * initialized). */
static int slots_init(pack_slot slots[2])
{
    if (pthread_mutex_init(&slots[PACK_OF_DATA].lock, NULL) != 0)
        return -1;
    if (pthread_mutex_init(&slots[PACK_OF_TREES].lock, NULL) != 0) {
        pthread_mutex_destroy(&slots[PACK_OF_DATA].lock);
        return -1;
    }
    slots[PACK_OF_DATA].open = slots[PACK_OF_TREES].open = 0;
    return 0;
}

/* Seals and hands over the packs begun in slots (no worker adds to them
 * any more); the first failure. */
static vault_error slots_finish(adder *a, pack_slot slots[2])
{
    vault_error rc = VAULT_OK;
    for (int i = PACK_OF_DATA; i <= PACK_OF_TREES && rc == VAULT_OK; i++) {
        pack_slot *slot = &slots[i];
        pthread_mutex_lock(&slot->lock);
        if (slot->open && slot->pw.n_entries > 0)
            rc = finish_pack(a, slot, i);
        reserve_drop(a, &slot->reserved); /* begun, nothing in it */
        slot->open = 0;
        pthread_mutex_unlock(&slot->lock);
    }
    return rc;
}

/* Drops what the slots hold (a pack not finished is not saved) and
 * their locks (slots_init succeeded). */
static void slots_free(pack_slot slots[2])
{
    for (int i = PACK_OF_DATA; i <= PACK_OF_TREES; i++) {
        vlt_pack_writer_free(&slots[i].pw);
        pthread_mutex_destroy(&slots[i].lock);
    }
}

/* Starts a worker: its state, or NULL (the failure recorded; it then only
 * counts its jobs off). */
static void *worker_start(void *ctx)
{
    adder *a = ctx;
    worker_state *w = calloc(1, sizeof *w);
    vault_error rc = VAULT_OK;
    if (!w) {
        vlt_pool_fail(a->pool, vlt_fail(VAULT_E_NOMEM, "out of memory"));
        return NULL;
    }
    w->own_ready = slots_init(w->own) == 0;
    if (!w->own_ready)
        rc = w->rc = vlt_fail(VAULT_E_NOMEM, "cannot create a lock");
    else if (!(w->cctx = compressor_create(a->level, &w->cctx_space)))
        rc = w->rc = vlt_fail(VAULT_E_NOMEM, "zstd: out of memory");
    if (rc != VAULT_OK)
        vlt_pool_fail(a->pool, rc);
    return w;
}

/* Takes a batch: hashes its chunks and hands the IDs back to the walker
 * first (it may be waiting to encode a tree), then stores the new ones. */
static void worker_run(void *ctx, void *state, void *arg)
{
    adder *a = ctx;
    worker_state *w = state;
    batch *b = arg;
    int ok = w && w->rc == VAULT_OK;
    int failed = vlt_pool_failed(a->pool);
    for (size_t i = 0; i < b->n; i++) {
        job *j = &b->jobs[i];
        if (!j->hashed && !failed && ok)
            vlt_chunk_id_compute(a->v->keys, j->type, j->data, j->len,
                                 j->id);
        if (j->id_out)
            memcpy(j->id_out, j->id, CHUNK_ID_BYTES);
    }
    /* The IDs are out: release the walker before the slow part. */
    int wake = 0;
    vlt_pool_lock(a->pool);
    for (size_t i = 0; i < b->n; i++) {
        file_group *g = b->jobs[i].group;
        if (g) {
            assert(g->outstanding > 0);
            wake |= --g->outstanding == 0;
        }
    }
    if (wake)
        vlt_pool_wake(a->pool);
    vlt_pool_unlock(a->pool);
    if (!vlt_pool_failed(a->pool) && vlt_pool_failed(a->uploader))
        vlt_pool_fail(a->pool, vlt_pool_raise(a->uploader)); /* stop now */
    failed = vlt_pool_failed(a->pool);

    if (!failed && ok) {
        int is_new[BATCH_JOBS];
        vault_error rc = VAULT_OK;
        uint64_t timer = vlt_phase_start(); /* CPU only: not the wait */
        pthread_mutex_lock(&a->index_lock);
        for (size_t i = 0; i < b->n && rc == VAULT_OK; i++) {
            job *j = &b->jobs[i];
            is_new[i] = j->hashed;
            if (!j->hashed) {
                rc = vlt_index_add(&a->v->index, j->id, NULL, NULL,
                                   a->own_flags, &is_new[i]);
                if (rc == VAULT_OK && is_new[i])
                    a->r->blobs_added++;
            }
        }
        pthread_mutex_unlock(&a->index_lock);
        vlt_phase_stop(VLT_PHASE_INDEX, timer);
        for (size_t i = 0; i < b->n && rc == VAULT_OK; i++)
            if (is_new[i])
                rc = store_job(a, w, &b->jobs[i]);
        if (rc != VAULT_OK) {
            w->rc = rc;
            vlt_pool_fail(a->pool, rc);
        }
    }
    batch_free(b);
}

/* A worker's end: its last pack saved, its state freed. */
static void worker_stop(void *ctx, void *state)
{
    adder *a = ctx;
    worker_state *w = state;
    if (!w)
        return;
    if (w->rc == VAULT_OK && !a->packs_shared) {
        vault_error rc = slots_finish(a, w->own);
        if (rc != VAULT_OK) {
            w->rc = rc;
            vlt_pool_fail(a->pool, rc);
        }
    }
    if (w->own_ready)
        slots_free(w->own);
    if (w->cctx_space)
        free(w->cctx_space); /* a static context: its memory is all */
    else
        ZSTD_freeCCtx(w->cctx);
    free(w->cbuf);
    free(w);
}

/* --- the walker's side -------------------------------------------------- */

/* Queues the walker's current batch, if any (waits for room). */
static vault_error flush_batch(adder *a)
{
    batch *b = a->cur;
    if (!b || b->n == 0)
        return VAULT_OK;
    a->cur = NULL;
    vlt_pool_lock(a->pool);
    vault_error rc = vlt_pool_submit_locked(a->pool, b, 0);
    /* Counted before any worker can take it (the lock is still held). */
    for (size_t i = 0; rc == VAULT_OK && i < b->n; i++)
        if (b->jobs[i].group)
            b->jobs[i].group->outstanding++;
    vlt_pool_unlock(a->pool);
    if (rc != VAULT_OK)
        batch_free(b);
    return rc;
}

vault_error vlt_add_submit(adder *a, blob_type type, int hashed,
                           const uint8_t id[CHUNK_ID_BYTES], uint8_t *id_out,
                           file_group *group, uint8_t *data, size_t len)
{
    if (!a->cur) {
        if (!(a->cur = malloc(sizeof *a->cur))) {
            free(data);
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        }
        a->cur->n = 0;
        a->cur->bytes = 0;
    }
    batch *b = a->cur;
    job *j = &b->jobs[b->n++];
    j->type = type;
    j->hashed = hashed;
    if (hashed)
        memcpy(j->id, id, CHUNK_ID_BYTES);
    j->id_out = id_out;
    j->group = group;
    j->data = data;
    j->len = len;
    b->bytes += len;
    if (b->n == BATCH_JOBS || b->bytes >= BATCH_BYTES)
        return flush_batch(a);
    return VAULT_OK;
}

vault_error vlt_add_group_wait(adder *a, file_group *g)
{
    vault_error rc = flush_batch(a);
    vlt_pool_wait(a->pool, &g->outstanding, 0, 0);
    return rc;
}

int vlt_add_group_done(adder *a, const file_group *g)
{
    for (size_t i = 0; a->cur && i < a->cur->n; i++)
        if (a->cur->jobs[i].group == g)
            return 0;
    vlt_pool_lock(a->pool);
    int done = g->outstanding == 0;
    vlt_pool_unlock(a->pool);
    return done;
}

vault_error vlt_add_store_blob(adder *a, blob_type type, uint8_t *data,
                               size_t len, uint8_t id[CHUNK_ID_BYTES])
{
    vlt_chunk_id_compute(a->v->keys, type, data, len, id);
    int inserted = 0;
    pthread_mutex_lock(&a->index_lock);
    vault_error rc = vlt_index_add(&a->v->index, id, NULL, NULL,
                                   a->own_flags, &inserted);
    if (rc == VAULT_OK && inserted)
        a->r->blobs_added++;
    pthread_mutex_unlock(&a->index_lock);
    if (rc != VAULT_OK || !inserted) {
        free(data);
        return rc;
    }
    return vlt_add_submit(a, type, 1, id, NULL, NULL, data, len);
}

int vlt_add_content_in_index(adder *a, const uint8_t *ids, uint32_t n)
{
    int ok = 1;
    pthread_mutex_lock(&a->index_lock);
    /* a blob in a pack a prune condemned, or only in copies this member
     * must not trust, is stored anew */
    for (uint32_t i = 0; i < n && ok; i++)
        ok = vlt_index_dedup_find(&a->v->index,
                                  ids + (size_t)i * CHUNK_ID_BYTES);
    pthread_mutex_unlock(&a->index_lock);
    return ok;
}

/* --- an interrupted add's packs ----------------------------------------- */

/* Whether the index knows the pack already: listed by a segment (this
 * add's included: two journals may name one pack) or condemned. */
static int pack_known(void *ctx, const uint8_t pack_id[32])
{
    adder *a = ctx;
    uint32_t number;
    pthread_mutex_lock(&a->index_lock);
    int known = vlt_index_pack_find(&a->v->index, pack_id, &number);
    pthread_mutex_unlock(&a->index_lock);
    return known;
}

static vault_error adopt_pack(void *ctx, const uint8_t pack_id[32],
                              uint64_t pack_len, const pack_entry *entries,
                              size_t n_entries)
{
    (void)pack_len;
    return list_pack(ctx, pack_id, entries, n_entries, 0);
}

vault_error vlt_add_adopt_interrupted(adder *a)
{
    size_t n_packs;
    uint64_t n_bytes;
    vault_error rc = vlt_upload_journal_adopt(a->journal, a->v->be,
                                              pack_known, adopt_pack, a,
                                              &n_packs, &n_bytes);
    if (n_packs > 0)
        vlt_warn("reusing %zu packs (%llu bytes) uploaded by an interrupted "
                 "add",
                 n_packs, (unsigned long long)n_bytes);
    return rc;
}

/* --- start and finish --------------------------------------------------- */

vault_error vlt_add_pipeline_start(adder *a, unsigned n_workers)
{
    if (pthread_mutex_init(&a->index_lock, NULL) != 0)
        return vlt_fail(VAULT_E_NOMEM, "cannot create a lock");
    /* destroyed with the lock by vlt_add_pipeline_free */
    if (pthread_cond_init(&a->upload_room, NULL) != 0)
        return vlt_fail(VAULT_E_NOMEM, "cannot create a condition");
    if (slots_init(a->shared) != 0)
        return vlt_fail(VAULT_E_NOMEM, "cannot create a lock");
    a->shared_ready = 1;
    a->packs_shared = !backend_can_stage(a->v->be);
    a->own_flags = vlt_repo_own_flags(a->v);
    /* The uploaders: as many as the storage takes transfers at once, and
     * one sealed pack waiting for them; the packs held in memory for them
     * are bounded by UPLOAD_HELD_MAX.  Where packs are written as they
     * are made (a local disk), an upload holds no bytes: it is the fsync
     * and the link into place, and each worker keeps packs of its own
     * (no lock between them); else the workers share theirs. */
    unsigned conns = backend_connections(a->v->be);
    vlt_pool_config up = {.threads = conns,
                          .queue_max = 1,
                          .run = upload_run,
                          .ctx = a};
    vault_error urc = vlt_pool_create(&up, &a->uploader);
    if (urc != VAULT_OK)
        return urc;
    vlt_pool_config cfg = {.threads = n_workers,
                           /* the memory bound: batches in flight (up
                            * to BATCH_BYTES and a chunk each); one more
                            * than the workers keeps them busy.  Twice as
                            * deep held 15 MiB more (heaptrack, /usr/share
                            * copy), and add was not faster with it. */
                           .queue_max = (size_t)n_workers + 1,
                           .run = worker_run,
                           .thread_start = worker_start,
                           .thread_stop = worker_stop,
                           .ctx = a};
    vault_error rc = vlt_pool_create(&cfg, &a->pool);
    if (rc == VAULT_OK && vlt_pool_threads(a->pool) < n_workers) {
        (void)vlt_pool_finish(a->pool, 0, VAULT_OK);
        a->pool = NULL;
        rc = vlt_fail(VAULT_E_NOMEM, "cannot start worker threads");
    }
    if (rc != VAULT_OK) {
        (void)vlt_pool_finish(a->uploader, 0, VAULT_OK);
        a->uploader = NULL;
    }
    return rc;
}

vault_error vlt_add_pipeline_finish(adder *a, vault_error rc)
{
    if (rc == VAULT_OK)
        rc = flush_batch(a);
    batch_free(a->cur);
    a->cur = NULL;
    /* A worker's failure is the news: it is why the walker stopped.  The
     * workers hand their last packs to the uploaders as they stop (or,
     * shared, once they all have), so those finish after them. */
    vault_error wrc = vlt_pool_finish(a->pool, 0, VAULT_OK);
    a->pool = NULL;
    if (wrc == VAULT_OK && a->packs_shared)
        wrc = slots_finish(a, a->shared);
    vault_error urc = vlt_pool_finish(a->uploader, 0, VAULT_OK);
    a->uploader = NULL;
    if (wrc != VAULT_OK)
        rc = wrc;
    else if (urc != VAULT_OK)
        rc = urc;
    if (rc == VAULT_OK) {
        rc = flush_index(a, &a->done);
    } else if (rc == VAULT_E_INTERRUPTED) {
        /* Stopped on request, with the storage still there: the packs
         * saved so far are listed now (as restic's partial index), so
         * that the next add of any member and client deduplicates
         * against them; the upload journal covers only this client, and
         * a crash.  A segment no snapshot references yet is the state
         * every add passes through (format spec section 14). */
        char detail[512];
        snprintf(detail, sizeof detail, "%s", vault_last_error());
        vlt_interrupt_shield(1);
        (void)flush_index(a, &a->done); /* else the journal still has them */
        vlt_interrupt_shield(0);
        rc = vlt_fail(rc, "%s", detail);
    }
    return rc;
}

void vlt_add_pipeline_free(adder *a)
{
    assert(!a->pool && !a->uploader);
    done_free(&a->done);
    if (a->shared_ready)
        slots_free(a->shared);
    pthread_mutex_destroy(&a->index_lock);
    pthread_cond_destroy(&a->upload_room);
}
