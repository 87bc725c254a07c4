/*
 * backend_ahead.c - listings asked for before they are needed, so that
 * their round trips overlap (backend.h: vlt_backend_list_ahead).
 *
 * Opening a remote vault and listing a snapshot asks for the config, then
 * lists keys/, snapshots/, locks/ and index/, one after the other: on a
 * link with 100 ms of latency that is half a second of waiting for
 * answers that do not depend on each other.  This wrapper, put around
 * every remote backend, lets the repository start listings early on a
 * thread of their own; the next list() of that kind takes the answer
 * (waiting for it if it is still on its way) instead of asking again.
 * An answer is used once, and the caller drops what it did not use
 * (vlt_backend_list_ahead_drop) before anything whose correctness needs
 * a fresh listing (an add lists locks/ and index/ after its marker is up:
 * it drops first).  A listing from a few hundred milliseconds earlier is
 * no different from one whose answer took that long to arrive.
 *
 * The same reasoning lets a listing of snapshots/ serve twice: a command
 * lists it to resolve what the user named ("latest", an ID prefix) and
 * the operation it then runs (ls, extract, diff) lists it again to find
 * the snapshot, a round trip in turn for the same answer.  So the last
 * listing of snapshots/ is kept for REUSE_SECONDS after it arrived and
 * answers the lists in that time; a save or removal of a snapshot
 * through this backend, and a drop, forget it.  An answer listed ahead
 * is refused as well once it is older than that (a command that waited
 * on its user meanwhile asks again).  Only snapshots/: index/ and
 * locks/ are listed once per operation, and an add's or a prune's must
 * be made after its marker or mark is up (format spec section 15a).
 *
 * Everything else passes through to the inner backend.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/array.h"
#include "common/internal.h"
#include "common/retry.h"

/* How long a listing's answer counts as a picture of storage now: a few
 * round trips of the slowest link a command waits on, far below how
 * often anyone adds or forgets snapshots. */
#define REUSE_SECONDS 2.0

/* One object of a listing. */
typedef struct listed {
    char name[VAULT_NAME_HEX + 1];
    uint64_t size;
} listed;

/* A listing started ahead: its thread, then its answer. */
typedef struct ahead_list {
    int started;    /* a thread was started (joined when taken) */
    pthread_t thread;
    backend *inner;
    backend_kind kind;
    vault_error rc; /* the listing's answer */
    listed *objects;
    size_t n, cap;
    double arrived; /* monotonic seconds when the answer was complete */
} ahead_list;

/* The last whole listing of snapshots/ (see the top of the file). */
typedef struct recent_list {
    int valid;
    listed *objects;
    size_t n;
    double arrived;
} recent_list;

typedef struct ahead_backend {
    backend base;
    backend *inner;
    ahead_list lists[BACKEND_KIND_COUNT];
    /* Guards recent: saves and removals come from upload threads too. */
    pthread_mutex_t recent_lock;
    recent_list recent;
} ahead_backend;

static const backend_ops ahead_ops;

static ahead_backend *ahead_of(backend *be)
{
    return (ahead_backend *)be;
}

static int collect(void *ctx, const char *name, uint64_t size)
{
    ahead_list *l = ctx;
    if (strlen(name) > VAULT_NAME_HEX)
        return 1; /* not kept here: the listing is asked again by list(),
                     whose caller sees the name as storage gave it */
    if (VLT_ARRAY_GROW(&l->objects, &l->cap, l->n + 1) != 0)
        return 1;
    listed *o = &l->objects[l->n++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->size = size;
    return 0;
}

static void *list_main(void *arg)
{
    ahead_list *l = arg;
    int stopped = 0;
    l->rc = backend_list(l->inner, l->kind, collect, l, &stopped);
    if (l->rc == VAULT_OK && stopped) /* out of memory, or a name too */
        l->rc = VAULT_E_NOMEM;         /* long to keep: asked again */
    l->arrived = vlt_monotonic_seconds();
    return NULL;
}

static int fresh(double arrived)
{
    return vlt_monotonic_seconds() - arrived <= REUSE_SECONDS;
}

static void recent_forget(ahead_backend *a)
{
    pthread_mutex_lock(&a->recent_lock);
    free(a->recent.objects);
    memset(&a->recent, 0, sizeof a->recent);
    pthread_mutex_unlock(&a->recent_lock);
}

/* Keeps a whole listing of snapshots/ (objects, n: taken over) as the
 * recent one. */
static void recent_keep(ahead_backend *a, listed *objects, size_t n,
                        double arrived)
{
    pthread_mutex_lock(&a->recent_lock);
    free(a->recent.objects);
    a->recent = (recent_list){.valid = 1, .objects = objects, .n = n,
                              .arrived = arrived};
    pthread_mutex_unlock(&a->recent_lock);
}

/* A copy of the recent listing of kind if there is one young enough:
 * 1 with *objects (malloc'ed) and *n set. */
static int recent_copy(ahead_backend *a, backend_kind kind, listed **objects,
                       size_t *n)
{
    if (kind != BACKEND_SNAPSHOTS)
        return 0;
    int got = 0;
    pthread_mutex_lock(&a->recent_lock);
    if (a->recent.valid && fresh(a->recent.arrived)) {
        size_t bytes = (a->recent.n ? a->recent.n : 1) * sizeof(listed);
        *objects = malloc(bytes);
        if (*objects) {
            if (a->recent.n)
                memcpy(*objects, a->recent.objects,
                       a->recent.n * sizeof(listed));
            *n = a->recent.n;
            got = 1;
        }
    }
    pthread_mutex_unlock(&a->recent_lock);
    return got;
}

/* Waits for the listing; its answer stays in *l for the caller, who
 * frees l->objects. */
static void take(ahead_list *l)
{
    pthread_join(l->thread, NULL);
    l->started = 0;
}

static void drop(ahead_list *l)
{
    if (!l->started)
        return;
    take(l);
    free(l->objects);
    memset(l, 0, sizeof *l);
}

void vlt_backend_list_ahead(backend *be, backend_kind kind)
{
    while (be && vlt_backend_is_cache(be))
        be = vlt_backend_cache_inner(be);
    if (!be || be->ops != &ahead_ops || (unsigned)kind >= BACKEND_KIND_COUNT)
        return;
    ahead_backend *a = ahead_of(be);
    ahead_list *l = &a->lists[kind];
    if (l->started)
        return;
    listed *objects;
    size_t n;
    if (recent_copy(a, kind, &objects, &n)) { /* the answer is here */
        free(objects);
        return;
    }
    memset(l, 0, sizeof *l);
    l->inner = a->inner;
    l->kind = kind;
    /* Without a thread, list() asks as it would have. */
    if (pthread_create(&l->thread, NULL, list_main, l) == 0)
        l->started = 1;
}

void vlt_backend_list_ahead_drop(backend *be)
{
    while (be && vlt_backend_is_cache(be))
        be = vlt_backend_cache_inner(be);
    if (!be || be->ops != &ahead_ops)
        return;
    ahead_backend *a = ahead_of(be);
    for (size_t k = 0; k < BACKEND_KIND_COUNT; k++)
        drop(&a->lists[k]);
    recent_forget(a);
}

/* Hands the objects of a listing to fn, as list() does; frees them, or
 * keeps them as the recent listing of snapshots/ when whole. */
static vault_error replay(ahead_backend *a, backend_kind kind, listed *objects,
                          size_t n, double arrived, int keep,
                          backend_list_fn fn, void *ctx, int *stopped)
{
    if (stopped)
        *stopped = 0;
    for (size_t i = 0; i < n; i++) {
        int stop = fn(ctx, objects[i].name, objects[i].size);
        if (stop) {
            if (stopped)
                *stopped = stop;
            break;
        }
    }
    if (keep && kind == BACKEND_SNAPSHOTS)
        recent_keep(a, objects, n, arrived);
    else
        free(objects);
    return VAULT_OK;
}

/* list()'s callback when the listing is asked now: the caller's, with
 * every object noted for the recent listing. */
typedef struct tee_ctx {
    backend_list_fn fn;
    void *ctx;
    ahead_list l; /* what was listed */
    int whole;    /* every object was noted */
} tee_ctx;

static int tee(void *ctx, const char *name, uint64_t size)
{
    tee_ctx *t = ctx;
    if (t->whole && collect(&t->l, name, size) != 0)
        t->whole = 0;
    int stop = t->fn(t->ctx, name, size);
    if (stop)
        t->whole = 0;
    return stop;
}

/* A listing of snapshots/ asked now, kept as the recent one when whole. */
static vault_error list_keeping(ahead_backend *a, backend_kind kind,
                                backend_list_fn fn, void *ctx, int *stopped)
{
    tee_ctx t = {.fn = fn, .ctx = ctx, .whole = 1};
    vault_error rc = backend_list(a->inner, kind, tee, &t, stopped);
    if (rc == VAULT_OK && t.whole)
        recent_keep(a, t.l.objects, t.l.n, vlt_monotonic_seconds());
    else
        free(t.l.objects);
    return rc;
}

static vault_error ahead_list_kind(backend *be, backend_kind kind,
                                   backend_list_fn fn, void *ctx, int *stopped)
{
    ahead_backend *a = ahead_of(be);
    if ((unsigned)kind >= BACKEND_KIND_COUNT)
        return backend_list(a->inner, kind, fn, ctx, stopped);
    listed *objects;
    size_t n;
    if (recent_copy(a, kind, &objects, &n))
        return replay(a, kind, objects, n, 0, 0, fn, ctx, stopped);
    if (!a->lists[kind].started)
        return kind == BACKEND_SNAPSHOTS
                   ? list_keeping(a, kind, fn, ctx, stopped)
                   : backend_list(a->inner, kind, fn, ctx, stopped);
    ahead_list *slot = &a->lists[kind];
    take(slot);
    ahead_list l = *slot;
    memset(slot, 0, sizeof *slot);
    if (l.rc != VAULT_OK || !fresh(l.arrived)) {
        /* asked again: a failure is retried and reported as list() does
         * it, on this thread (whose detail the caller reads); an answer
         * that waited too long for its caller is out of date */
        free(l.objects);
        return kind == BACKEND_SNAPSHOTS
                   ? list_keeping(a, kind, fn, ctx, stopped)
                   : backend_list(a->inner, kind, fn, ctx, stopped);
    }
    return replay(a, kind, l.objects, l.n, l.arrived, 1, fn, ctx, stopped);
}

/* A listing kept from before a change of snapshots/ through this
 * backend would not show it (forgotten once the change is made, so that
 * a listing during it is not kept either). */
static void changing(backend *be, backend_kind kind)
{
    if (kind == BACKEND_SNAPSHOTS)
        recent_forget(ahead_of(be));
}

static vault_error ahead_save(backend *be, backend_kind kind,
                              const char *name, const uint8_t *data,
                              size_t len)
{
    vault_error rc = backend_save(ahead_of(be)->inner, kind, name, data, len);
    changing(be, kind);
    return rc;
}

static vault_error ahead_save_new(backend *be, backend_kind kind,
                                  const char *name, const uint8_t *data,
                                  size_t len)
{
    vault_error rc =
        backend_save_new(ahead_of(be)->inner, kind, name, data, len);
    changing(be, kind);
    return rc;
}

static vault_error ahead_load(backend *be, backend_kind kind,
                              const char *name, uint64_t offset, size_t len,
                              size_t max_len, uint8_t **out, size_t *out_len)
{
    return backend_load(ahead_of(be)->inner, kind, name, offset, len, max_len,
                        out, out_len);
}

static vault_error ahead_stat(backend *be, backend_kind kind,
                              const char *name, uint64_t *size)
{
    return backend_stat(ahead_of(be)->inner, kind, name, size);
}

static vault_error ahead_remove(backend *be, backend_kind kind,
                                const char *name)
{
    vault_error rc = backend_remove(ahead_of(be)->inner, kind, name);
    changing(be, kind);
    return rc;
}

static vault_error ahead_discard(backend *be, backend_kind kind,
                                 const char *name)
{
    vault_error rc = backend_discard(ahead_of(be)->inner, kind, name);
    changing(be, kind);
    return rc;
}

static vault_error ahead_clean(backend *be, uint64_t older_than,
                               uint64_t *removed)
{
    return backend_clean(ahead_of(be)->inner, older_than, removed);
}

static vault_error ahead_check_deletable(backend *be)
{
    return backend_check_deletable(ahead_of(be)->inner);
}

static void ahead_close(backend *be)
{
    ahead_backend *a = ahead_of(be);
    for (size_t k = 0; k < BACKEND_KIND_COUNT; k++)
        drop(&a->lists[k]);
    recent_forget(a);
    pthread_mutex_destroy(&a->recent_lock);
    backend_close(a->inner);
    free(a);
}

static double ahead_answer_wait(backend *be)
{
    return backend_answer_wait(ahead_of(be)->inner);
}

static const backend_ops ahead_ops = {
    .save = ahead_save,
    .save_new = ahead_save_new,
    .discard = ahead_discard,
    .load = ahead_load,
    .stat = ahead_stat,
    .list = ahead_list_kind,
    .remove = ahead_remove,
    .close = ahead_close,
    .clean = ahead_clean,
    .check_deletable = ahead_check_deletable,
    .answer_wait = ahead_answer_wait,
};

vault_error vlt_backend_ahead_wrap(backend *inner, backend **out)
{
    *out = NULL;
    ahead_backend *a = calloc(1, sizeof *a);
    if (!a) {
        backend_close(inner);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&a->recent_lock, NULL);
    a->base.ops = &ahead_ops;
    a->base.connections = inner->connections;
    a->base.is_local = inner->is_local;
    a->inner = inner;
    *out = &a->base;
    return VAULT_OK;
}
