/*
 * restore_ahead.c - loading the small files' content ahead of the restore
 * walk, in windows that span many directories.
 *
 * Asking for each directory's small files when the walk enters it costs a
 * round trip (or a few, one per pack) per directory: thousands of
 * requests for a tree of thousands of small folders, each waited for on
 * a link with latency.  Here a second walk runs ahead of the restore
 * walk, in the same depth-first order, and gathers the chunks of the
 * small files of as many directories as fill a window (RESTORE_WINDOW_
 * BYTES of plaintext, at most RESTORE_WINDOW_BLOBS chunks); the source
 * loads a window in ranges merged by pack (many files a request, several
 * requests at once, the packs it opens meanwhile) and holds the chunks
 * as stored until their files take them.  Windows are planned so that two lie ahead of the
 * restore walk (their first directories not reached yet).  Threads of
 * their own load the windows, two at once, while the walk goes on and
 * the workers write the files of the earlier ones; a file whose chunks are
 * being loaded waits for them (the loader never waits for a file, so
 * this cannot deadlock).
 *
 * The walk ahead holds no decoded tree: per level only the IDs of the
 * subdirectories still to visit (32 bytes each).  It reads each tree
 * from what the source loaded ahead (peek_tree), and has the source load
 * a directory's subtrees, many a request, as it enters it; the restore
 * walk then takes them from there.  It is only ever a help: a tree it
 * finds not loaded is skipped with what lies below it (the restore walk
 * reads it, and reports it if it cannot), and whatever it did not load
 * ahead, the files load themselves.
 */
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/pool.h"
#include "ops/restore/restore_internal.h"
#include "repo/blob_load.h"
#include "repo/repo.h"
#include "repo/tree_walk.h"

/* Small files' plaintext loaded ahead per window, and their chunks.  A
 * window's chunks are held as stored until their files take them (at
 * most this many bytes and BLOB_OVERHEAD per chunk, under half of it
 * for text).  Windows this large read the packs that add wrote side by
 * side in few ranges each (add fills two or three packs at once, so
 * consecutive files lie in different packs): a request or two per pack
 * and window, where windows of 4 MiB cut each pack into a dozen.  The
 * windows ahead and the one the files take from fit REPO_PREFETCH_BYTES
 * even when nothing compresses (else loaded chunks would be dropped
 * before use). */
#define RESTORE_WINDOW_BYTES (10u * 1024 * 1024)
#define RESTORE_WINDOW_BLOBS 1024

/* Windows planned ahead of the restore walk (not reached by it yet). */
#define AHEAD_WINDOWS 2
_Static_assert((AHEAD_WINDOWS + 1) * ((uint64_t)RESTORE_WINDOW_BYTES +
                                      RESTORE_WINDOW_BLOBS * BLOB_OVERHEAD) <=
                   REPO_PREFETCH_BYTES,
               "the windows in use fit what the vault holds loaded ahead");
_Static_assert((AHEAD_WINDOWS + 1) * RESTORE_WINDOW_BLOBS <=
                       REPO_PREFETCH_BLOBS &&
                   RESTORE_WINDOW_BLOBS <= REPO_PREFETCH_PLAN_BLOBS,
               "as many chunks as the vault holds loaded ahead");
/* Windows loading at once: while one waits for its last range, the next
 * one's ranges are on their way. */
#define AHEAD_LOADERS 2
/* Windows planned but not loading yet, at most. */
#define AHEAD_QUEUE 4

/* One directory of the walk ahead: its subdirectories, next to visit at
 * next. */
typedef struct ahead_level {
    uint8_t (*subtrees)[CHUNK_ID_BYTES];
    size_t n, next;
} ahead_level;

struct restore_ahead {
    ahead_level *levels;
    size_t n_levels, cap_levels;
    uint64_t entered; /* directories the walk ahead entered (the root: 1) */
    /* The chunks of the small files of the last directory entered; from
     * at on, not in a window yet. */
    uint8_t (*pending)[CHUNK_ID_BYTES];
    size_t n_pending, at;
    /* The first directory (as counted in entered) of each window planned
     * that the restore walk has not reached yet. */
    uint64_t ahead[AHEAD_WINDOWS];
    size_t n_ahead;
    int done; /* the walk ahead has visited every directory */
    /* The loaders (common/pool.h), whose jobs are plans.  Without them
     * (no thread could start) plans load on the walk's thread. */
    vlt_pool *loaders;
};

static void level_free(ahead_level *l)
{
    free(l->subtrees);
    memset(l, 0, sizeof *l);
}

/* Enters directory t (already read): its small files' chunks become the
 * pending ones, its subdirectories a new level, whose trees the source
 * loads ahead.  0 when out of memory (the walk ahead ends). */
static int enter(restorer *r, restore_ahead *a, const tree *t)
{
    if (VLT_ARRAY_GROW(&a->levels, &a->cap_levels, a->n_levels + 1) != 0)
        return 0;
    ahead_level *l = &a->levels[a->n_levels];
    memset(l, 0, sizeof *l);
    l->n = vlt_tree_ahead(t, 1, 0, SIZE_MAX, &l->subtrees);
    a->n_levels++;
    free(a->pending);
    a->at = 0;
    a->n_pending = vlt_tree_ahead(t, 0, RESTORE_PREFETCH_FILE, SIZE_MAX,
                                  &a->pending);
    a->entered++;
    const restore_source *src = r->src;
    for (size_t at = 0; at < l->n; at += BLOBS_WINDOW_COUNT) {
        size_t n = l->n - at < BLOBS_WINDOW_COUNT ? l->n - at
                                                   : BLOBS_WINDOW_COUNT;
        src->prefetch_load(src->ctx, src->prefetch(src->ctx, l->subtrees + at,
                                                   n, 1));
    }
    return 1;
}

/* Goes on to the next directory in the restore walk's order; 0 when
 * there is none. */
static int advance(restorer *r, restore_ahead *a)
{
    const restore_source *src = r->src;
    while (a->n_levels > 0) {
        ahead_level *l = &a->levels[a->n_levels - 1];
        if (l->next == l->n || a->n_levels >= RESTORE_MAX_DEPTH) {
            level_free(l);
            a->n_levels--;
            continue;
        }
        const uint8_t *id = l->subtrees[l->next++];
        tree t;
        memset(&t, 0, sizeof t);
        if (src->peek_tree(src->ctx, id, &t) != VAULT_OK) {
            /* Not loaded ahead (its load failed, or the restore walk took
             * it already): skipped, with what lies below it.  Loading it
             * here would ask for it twice; the restore walk reads it and
             * its files load themselves. */
            vlt_tree_clear(&t);
            continue;
        }
        int ok = enter(r, a, &t);
        vlt_tree_clear(&t);
        return ok;
    }
    return 0;
}

static void loader_run(void *ctx, void *state, void *plan)
{
    (void)state;
    const restorer *r = ctx;
    r->src->prefetch_load(r->src->ctx, plan);
}

/* Has plan loaded: by the loaders, or here without them. */
static void load(restorer *r, restore_ahead *a, void *plan)
{
    if (!plan)
        return;
    if (a->loaders && r->src->prefetch_promise) {
        /* A file the walk queues before a loader takes the plan waits
         * for it: else it loads its chunks alone, and a chunk that files
         * share (identical files) is dropped from the plan by the
         * first. */
        r->src->prefetch_promise(r->src->ctx, plan);
    }
    /* loaders never fail: submit only waits for room */
    if (!a->loaders || vlt_pool_submit(a->loaders, plan, 0) != VAULT_OK)
        r->src->prefetch_load(r->src->ctx, plan);
}

/* Gathers the next window and has the source load it; returns the
 * directory (counted as a->entered) its first chunk belongs to, or
 * UINT64_MAX when there was nothing left. */
static uint64_t plan_window(restorer *r, restore_ahead *a)
{
    const restore_source *src = r->src;
    uint8_t(*ids)[CHUNK_ID_BYTES] = malloc(RESTORE_WINDOW_BLOBS * sizeof *ids);
    if (!ids) {
        a->done = 1;
        return UINT64_MAX;
    }
    size_t n = 0;
    uint64_t bytes = 0, first = UINT64_MAX;
    while (n < RESTORE_WINDOW_BLOBS && bytes < RESTORE_WINDOW_BYTES) {
        if (a->at == a->n_pending) {
            if (a->done || !advance(r, a)) {
                a->done = 1;
                break;
            }
            continue;
        }
        const uint8_t *id = a->pending[a->at];
        uint32_t len = 0;
        int zero = 0;
        if (src->chunk_size &&
            src->chunk_size(src->ctx, id, &len, &zero) != VAULT_OK) {
            a->at++; /* not in the index: its file reports it */
            continue;
        }
        if (zero) {
            a->at++;
            continue;
        }

        if (n > 0 && bytes + len > RESTORE_WINDOW_BYTES)
            break;
        memcpy(ids[n++], id, CHUNK_ID_BYTES);
        bytes += len;
        a->at++;
        if (first == UINT64_MAX)
            first = a->entered;
    }
    if (n > 0)
        load(r, a, src->prefetch(src->ctx, ids, n, 0));
    free(ids);
    return first;
}

void vlt_restore_ahead_start(restorer *r, const tree *root)
{
    const restore_source *src = r->src;
    if (!src->prefetch || !src->prefetch_load || !src->peek_tree ||
        r->n_inc > 0)
        return; /* without includes only: most might not be wanted */
    restore_ahead *a = calloc(1, sizeof *a);
    if (!a)
        return;
    if (!enter(r, a, root)) {
        free(a->pending);
        free(a);
        return;
    }
    r->ahead = a;
    vlt_pool_config cfg = {.threads = AHEAD_LOADERS,
                           .queue_max = AHEAD_QUEUE,
                           .run = loader_run,
                           .ctx = r};
    if (vlt_pool_create(&cfg, &a->loaders) != VAULT_OK)
        a->loaders = NULL;
}

void vlt_restore_ahead_step(restorer *r)
{
    restore_ahead *a = r->ahead;
    if (!a)
        return;
    size_t kept = 0;
    for (size_t i = 0; i < a->n_ahead; i++)
        if (a->ahead[i] > r->walk_entered)
            a->ahead[kept++] = a->ahead[i];
    a->n_ahead = kept;
    /* AHEAD_WINDOWS at most, and as many a step (windows of one large
     * directory all start at it) */
    for (int planned = 0; planned < AHEAD_WINDOWS &&
                          a->n_ahead < AHEAD_WINDOWS &&
                          !(a->done && a->at == a->n_pending);
         planned++) {
        uint64_t first = plan_window(r, a);
        if (first == UINT64_MAX)
            break;
        if (first > r->walk_entered)
            a->ahead[a->n_ahead++] = first;
    }
}

void vlt_restore_ahead_free(restorer *r)
{
    restore_ahead *a = r->ahead;
    if (!a)
        return;
    /* every plan queued is loaded: its places are taken */
    (void)vlt_pool_finish(a->loaders, 0, VAULT_OK);
    for (size_t i = 0; i < a->n_levels; i++)
        level_free(&a->levels[i]);
    free(a->levels);
    free(a->pending);
    free(a);
    r->ahead = NULL;
}
