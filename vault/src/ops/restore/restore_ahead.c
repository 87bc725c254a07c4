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
 * BYTES of plaintext, at most BLOBS_WINDOW_COUNT chunks); the source
 * loads a window in ranges merged by pack (many files a request, several
 * requests at once).  A new window is planned when the restore walk
 * reaches the first directory of the last one, so at most two windows
 * are held ahead of the files being written.
 *
 * The walk ahead holds no decoded tree: per level only the IDs of the
 * subdirectories still to visit (32 bytes each).  It reads each tree
 * from what the source loaded ahead (peek_tree), and has the source load
 * a directory's subtrees, many a request, as it enters it; the restore
 * walk then takes them from there.  It is only ever a help: a tree it
 * cannot read is skipped (the restore walk reports it), and whatever it
 * did not load ahead, the files load themselves.
 */
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "ops/restore/restore_internal.h"
#include "repo/blob_load.h"
#include "repo/tree_walk.h"

/* Plaintext of small files loaded ahead per window. */
#define RESTORE_WINDOW_BYTES (8u * 1024 * 1024)

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
    /* Plan the next window once the restore walk has entered this many
     * directories. */
    uint64_t trigger;
    int done; /* the walk ahead has visited every directory */
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
        vault_error rc = src->peek_tree(src->ctx, id, &t);
        if (rc != VAULT_OK) {
            vlt_tree_clear(&t);
            memset(&t, 0, sizeof t);
            rc = src->load_tree(src->ctx, id, &t);
        }
        if (rc != VAULT_OK) {
            /* The restore walk meets it too, and reports it; its
             * directories are not entered there either. */
            vlt_tree_clear(&t);
            continue;
        }
        int ok = enter(r, a, &t);
        vlt_tree_clear(&t);
        return ok;
    }
    return 0;
}

/* Gathers the next window and has the source load it; returns the
 * directory (counted as a->entered) its first chunk belongs to, or
 * UINT64_MAX when there was nothing left. */
static uint64_t plan_window(restorer *r, restore_ahead *a)
{
    const restore_source *src = r->src;
    uint8_t(*ids)[CHUNK_ID_BYTES] = malloc(BLOBS_WINDOW_COUNT * sizeof *ids);
    if (!ids) {
        a->done = 1;
        return UINT64_MAX;
    }
    size_t n = 0;
    uint64_t bytes = 0, first = UINT64_MAX;
    while (n < BLOBS_WINDOW_COUNT && bytes < RESTORE_WINDOW_BYTES) {
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
        src->prefetch_load(src->ctx, src->prefetch(src->ctx, ids, n, 0));
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
    a->trigger = 1;
}

void vlt_restore_ahead_step(restorer *r)
{
    restore_ahead *a = r->ahead;
    if (!a)
        return;
    /* Two windows at most: the one being written and the next. */
    for (int planned = 0; planned < 2 && r->walk_entered >= a->trigger;
         planned++) {
        if (a->done && a->at == a->n_pending) {
            a->trigger = UINT64_MAX;
            break;
        }
        a->trigger = plan_window(r, a);
    }
}

void vlt_restore_ahead_free(restorer *r)
{
    restore_ahead *a = r->ahead;
    if (!a)
        return;
    for (size_t i = 0; i < a->n_levels; i++)
        level_free(&a->levels[i]);
    free(a->levels);
    free(a->pending);
    free(a);
    r->ahead = NULL;
}
