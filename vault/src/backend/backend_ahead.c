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
 * Everything else passes through to the inner backend.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/array.h"
#include "common/internal.h"

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
} ahead_list;

typedef struct ahead_backend {
    backend base;
    backend *inner;
    ahead_list lists[BACKEND_KIND_COUNT];
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
    return NULL;
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
}

static vault_error ahead_list_kind(backend *be, backend_kind kind,
                                   backend_list_fn fn, void *ctx, int *stopped)
{
    ahead_backend *a = ahead_of(be);
    if ((unsigned)kind >= BACKEND_KIND_COUNT || !a->lists[kind].started)
        return backend_list(a->inner, kind, fn, ctx, stopped);
    ahead_list *slot = &a->lists[kind];
    take(slot);
    ahead_list l = *slot;
    memset(slot, 0, sizeof *slot);
    if (stopped)
        *stopped = 0;
    vault_error rc = l.rc;
    if (rc != VAULT_OK) {
        /* asked again: the failure is retried and reported as list()
         * does it, on this thread (whose detail the caller reads) */
        free(l.objects);
        return backend_list(a->inner, kind, fn, ctx, stopped);
    }
    for (size_t i = 0; i < l.n; i++) {
        int stop = fn(ctx, l.objects[i].name, l.objects[i].size);
        if (stop) {
            if (stopped)
                *stopped = stop;
            break;
        }
    }
    free(l.objects);
    return VAULT_OK;
}

static vault_error ahead_save(backend *be, backend_kind kind,
                              const char *name, const uint8_t *data,
                              size_t len)
{
    return backend_save(ahead_of(be)->inner, kind, name, data, len);
}

static vault_error ahead_save_new(backend *be, backend_kind kind,
                                  const char *name, const uint8_t *data,
                                  size_t len)
{
    return backend_save_new(ahead_of(be)->inner, kind, name, data, len);
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
    return backend_remove(ahead_of(be)->inner, kind, name);
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
    backend_close(a->inner);
    free(a);
}

static const backend_ops ahead_ops = {
    .save = ahead_save,
    .save_new = ahead_save_new,
    .load = ahead_load,
    .stat = ahead_stat,
    .list = ahead_list_kind,
    .remove = ahead_remove,
    .close = ahead_close,
    .clean = ahead_clean,
    .check_deletable = ahead_check_deletable,
};

vault_error vlt_backend_ahead_wrap(backend *inner, backend **out)
{
    *out = NULL;
    ahead_backend *a = calloc(1, sizeof *a);
    if (!a) {
        backend_close(inner);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    a->base.ops = &ahead_ops;
    a->base.connections = inner->connections;
    a->base.is_local = inner->is_local;
    a->inner = inner;
    *out = &a->base;
    return VAULT_OK;
}
