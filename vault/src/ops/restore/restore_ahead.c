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
#include <pthread.h>
#include <stdatomic.h>
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
                       REPO_PREFETCH_BLOBS_LOCAL &&
                   RESTORE_WINDOW_BLOBS <= REPO_PREFETCH_PLAN_BLOBS,
               "as many chunks as the vault holds loaded ahead");
/* Windows loading at once: while one waits for its last range, the next
 * one's ranges are on their way. */
#define AHEAD_LOADERS 2
/* Windows planned but not loading yet, at most. */
#define AHEAD_QUEUE 4

/* On remote storage (the source offers chunk_stored and prefetch_fits)
 * every round trip counts, and windows are cut otherwise:
 *
 * - by what they hold as stored, RESTORE_WINDOW_STORED bytes and
 *   _STORED_BLOBS chunks: 2 to 3 times the plaintext bounds above for
 *   text, so that each pack is cut into fewer ranges (/usr/share/doc over
 *   REST: 61 requests where plaintext windows made 102);
 * - as many ahead as fit REPO_PREFETCH_BYTES beside what is held
 *   (prefetch_fits), up to AHEAD_WINDOWS_REMOTE, planned by the loaders
 *   too as each finishes: the walk may be waiting for a file meanwhile,
 *   and the link would sit idle until it enters a directory;
 * - loaded AHEAD_LOADERS_REMOTE at once, so that a window planned while
 *   others wait for their last ranges starts at once (their ranges share
 *   the handle's backend_connections loaders, repo/blob_load.c);
 * - with files up to RESTORE_PREFETCH_FILE_REMOTE: a large file's
 *   chunks are read in the same merged ranges as its neighbours', not in
 *   ranges of its own one after another (a file takes its chunks in
 *   order, whichever window holds them).
 *
 * Where answers take a round trip of 10 ms or more (restore_source.far),
 * windows are larger still, RESTORE_WINDOW_STORED_FAR: at 100 ms, /usr/
 * share/doc over REST took 32 requests rather than 41, in 1.33 s rather
 * than 1.46 (medians of 4).  Nearer, they arrive faster than the files
 * take them, and would only hold more memory (71 MiB rather than 58
 * on loopback, in the same time).
 *
 * On this machine's disk the bounds above stay: memory was measured for
 * them, and requests cost no round trip. */
#define RESTORE_WINDOW_STORED (10u * 1024 * 1024)
#define RESTORE_WINDOW_STORED_FAR (16u * 1024 * 1024)
/* Files up to this size are loaded ahead on remote storage: a larger
 * one would take its chunks faster than windows are planned for it, and
 * those it loads alone would be loaded again by a window. */
#define RESTORE_PREFETCH_FILE_REMOTE (16u * 1024 * 1024)
#define RESTORE_WINDOW_STORED_BLOBS 2048
#define AHEAD_WINDOWS_REMOTE 8
#define AHEAD_LOADERS_REMOTE 4
_Static_assert(RESTORE_WINDOW_STORED +
                           (uint64_t)RESTORE_WINDOW_STORED_BLOBS *
                               BLOB_OVERHEAD <=
                       REPO_PREFETCH_BYTES / 2 &&
                   RESTORE_WINDOW_STORED_FAR +
                           (uint64_t)RESTORE_WINDOW_STORED_BLOBS *
                               BLOB_OVERHEAD <=
                       REPO_PREFETCH_BYTES_FAR / 2 &&
                   RESTORE_WINDOW_STORED_BLOBS <= REPO_PREFETCH_PLAN_BLOBS &&
                   RESTORE_WINDOW_STORED_BLOBS <= REPO_PREFETCH_BLOBS,
               "a window fits one prefetch plan");
#define AHEAD_WINDOWS_MAX AHEAD_WINDOWS_REMOTE
_Static_assert(AHEAD_WINDOWS <= AHEAD_WINDOWS_MAX, "room for the windows");

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
    uint64_t ahead[AHEAD_WINDOWS_MAX];
    size_t n_ahead;
    /* A window's bounds (RESTORE_WINDOW_* or RESTORE_WINDOW_STORED_*),
     * and the windows kept ahead. */
    uint64_t window_bytes;
    size_t window_blobs, n_windows;
    int by_stored; /* window_bytes counts chunks as stored */
    uint64_t file_max; /* files up to this size are loaded ahead */
    int done; /* the walk ahead has visited every directory */
    /* The loaders (common/pool.h), whose jobs are plans.  Without them
     * (no thread could start) plans load on the walk's thread. */
    vlt_pool *loaders;
    /* Guards everything above: the walk's thread plans as it enters
     * directories, and (from_loaders) a loader that finished a plan
     * plans the next ones, so that the link is not idle while the walk
     * waits for a file. */
    pthread_mutex_t lock;
    int from_loaders;
    int stopping;          /* vlt_restore_ahead_free: loaders plan no more */
    atomic_size_t queued;  /* plans submitted that no loader took yet */
    atomic_size_t loading; /* plans submitted and not loaded yet */
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
    a->n_pending = vlt_tree_ahead(t, 0, a->file_max, SIZE_MAX,
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

static void plan_some(restorer *r, restore_ahead *a, int loader);

static void loader_run(void *ctx, void *state, void *plan)
{
    (void)state;
    restorer *r = ctx;
    restore_ahead *a = r->ahead;
    atomic_fetch_sub(&a->queued, 1);
    r->src->prefetch_load(r->src->ctx, plan);
    atomic_fetch_sub(&a->loading, 1);
    /* Never waits for the lock: whoever holds it is planning already. */
    if (a->from_loaders && pthread_mutex_trylock(&a->lock) == 0) {
        if (!a->stopping)
            plan_some(r, a, 1);
        pthread_mutex_unlock(&a->lock);
    }
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
    /* loaders never fail; submit waits for room in the queue on the
     * walk's thread (which so keeps ahead of the walk no further than
     * the loaders go), never on a loader's (may_plan) */
    atomic_fetch_add(&a->queued, 1);
    atomic_fetch_add(&a->loading, 1);
    if (!a->loaders || vlt_pool_submit(a->loaders, plan, 0) != VAULT_OK) {
        atomic_fetch_sub(&a->queued, 1);
        r->src->prefetch_load(r->src->ctx, plan);
        atomic_fetch_sub(&a->loading, 1);
    }
}

/* Gathers the next window and has the source load it; returns the
 * directory (counted as a->entered) its first chunk belongs to, or
 * UINT64_MAX when there was nothing left. */
static uint64_t plan_window(restorer *r, restore_ahead *a)
{
    const restore_source *src = r->src;
    uint8_t(*ids)[CHUNK_ID_BYTES] = malloc(a->window_blobs * sizeof *ids);
    if (!ids) {
        a->done = 1;
        return UINT64_MAX;
    }
    size_t n = 0;
    uint64_t bytes = 0, first = UINT64_MAX;
    while (n < a->window_blobs && bytes < a->window_bytes) {
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
        if (a->by_stored && src->chunk_stored(src->ctx, id, &len) != VAULT_OK) {
            a->at++;
            continue;
        }
        if (n > 0 && bytes + len > a->window_bytes)
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
    a->by_stored = src->chunk_stored != NULL;
    a->window_bytes = RESTORE_WINDOW_BYTES;
    a->window_blobs = RESTORE_WINDOW_BLOBS;
    a->n_windows = AHEAD_WINDOWS;
    unsigned n_loaders = AHEAD_LOADERS;
    a->file_max = RESTORE_PREFETCH_FILE;
    if (a->by_stored) {
        a->window_bytes =
            src->far ? RESTORE_WINDOW_STORED_FAR : RESTORE_WINDOW_STORED;
        a->window_blobs = RESTORE_WINDOW_STORED_BLOBS;
        a->n_windows = AHEAD_WINDOWS_REMOTE;
        n_loaders = AHEAD_LOADERS_REMOTE;
        a->file_max = RESTORE_PREFETCH_FILE_REMOTE;
    }
    if (!enter(r, a, root) || pthread_mutex_init(&a->lock, NULL) != 0) {
        for (size_t i = 0; i < a->n_levels; i++)
            level_free(&a->levels[i]);
        free(a->levels);
        free(a->pending);
        free(a);
        return;
    }
    atomic_init(&a->queued, 0);
    atomic_init(&a->loading, 0);
    r->ahead = a;
    vlt_pool_config cfg = {.threads = n_loaders,
                           .queue_max = AHEAD_QUEUE,
                           .run = loader_run,
                           .ctx = r};
    if (vlt_pool_create(&cfg, &a->loaders) != VAULT_OK)
        a->loaders = NULL;
    /* with one loader, planning on it could not wait for its queue */
    a->from_loaders = a->by_stored && src->prefetch_fits && n_loaders > 1 &&
                      a->loaders;
}

/* Whether one more window may be planned now (a->lock held): fewer
 * than n_windows lie ahead of the restore walk, the loaders' queue has
 * room when a loader plans (which must not wait for it), the source holds what
 * is loaded ahead without dropping any - or else nothing is loading and
 * no window lies ahead: what is held then is for the files being
 * restored, or chunks their files loaded alone before a window came
 * (planned again, and never taken), and one more window goes on as the
 * source makes room (dropping the oldest), as it did with a fixed
 * number of windows ahead. */
static int may_plan(restorer *r, restore_ahead *a, int loader)
{
    if (a->done && a->at == a->n_pending)
        return 0;
    uint64_t walked = atomic_load(&r->walk_entered);
    size_t kept = 0;
    for (size_t i = 0; i < a->n_ahead; i++)
        if (a->ahead[i] > walked)
            a->ahead[kept++] = a->ahead[i];
    a->n_ahead = kept;
    if (a->n_ahead >= a->n_windows)
        return 0;
    if (loader && atomic_load(&a->queued) >= AHEAD_QUEUE)
        return 0;
    const restore_source *src = r->src;
    return !src->prefetch_fits ||
           src->prefetch_fits(src->ctx, a->window_bytes, a->window_blobs) ||
           (a->n_ahead == 0 && atomic_load(&a->loading) == 0);
}

/* Plans windows while may_plan, n_windows at most (windows of one large
 * directory all start at it, and then do not count as ahead). */
static void plan_some(restorer *r, restore_ahead *a, int loader)
{
    for (size_t planned = 0; planned < a->n_windows && may_plan(r, a, loader);
         planned++) {
        uint64_t first = plan_window(r, a);
        if (first == UINT64_MAX)
            break;
        if (first > atomic_load(&r->walk_entered))
            a->ahead[a->n_ahead++] = first;
    }
}

void vlt_restore_ahead_step(restorer *r)
{
    restore_ahead *a = r->ahead;
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    plan_some(r, a, 0);
    pthread_mutex_unlock(&a->lock);
}

void vlt_restore_ahead_free(restorer *r)
{
    restore_ahead *a = r->ahead;
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = 1;
    pthread_mutex_unlock(&a->lock);
    /* every plan queued is loaded: its places are taken */
    (void)vlt_pool_finish(a->loaders, 0, VAULT_OK);
    pthread_mutex_destroy(&a->lock);
    for (size_t i = 0; i < a->n_levels; i++)
        level_free(&a->levels[i]);
    free(a->levels);
    free(a->pending);
    free(a);
    r->ahead = NULL;
}
