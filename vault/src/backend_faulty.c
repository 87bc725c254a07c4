/*
 * backend_faulty.c - a wrapping backend that fails the Nth operation, for
 * tests (after SQLite's test_vfs.c and curl's torture mode).
 *
 * Every save, load, stat, list and remove takes the next number from an
 * atomic counter, starting at 1.  Operation fail_at (and, if sticky, every
 * later one) fails with fail_code before the inner backend is called, so
 * a failed save stores nothing and a failed remove removes nothing: the
 * state the caller sees is exactly the state of a backend that refused.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "backend.h"
#include "internal.h"

typedef struct faulty_backend {
    backend base;              /* first: the ops dispatch on it */
    backend *inner;            /* the wrapped backend, owned */
    uint64_t fail_at;          /* the first operation to fail; 0: none */
    vault_error fail_code;     /* what a failing operation returns */
    int sticky;                /* fail every operation after fail_at too */
    atomic_uint_least64_t ops; /* operations started so far */
} faulty_backend;

static faulty_backend *faulty_of(backend *be)
{
    return (faulty_backend *)be;
}

/* Counts an operation; VAULT_OK if it may run, else the injected fault. */
static vault_error faulty_tick(faulty_backend *fb, const char *what)
{
    uint64_t n = atomic_fetch_add(&fb->ops, 1) + 1;
    if (fb->fail_at == 0 || n < fb->fail_at || (n > fb->fail_at && !fb->sticky))
        return VAULT_OK;
    return vault_fail(fb->fail_code,
                      "injected fault at operation %" PRIu64 " (%s)", n, what);
}

static vault_error faulty_save(backend *be, backend_kind kind, const char *name,
                               const uint8_t *data, size_t len)
{
    faulty_backend *fb = faulty_of(be);
    vault_error rc = faulty_tick(fb, "save");
    if (rc != VAULT_OK)
        return rc;
    return backend_save(fb->inner, kind, name, data, len);
}

static vault_error faulty_load(backend *be, backend_kind kind, const char *name,
                               uint64_t offset, size_t len, size_t max_len,
                               uint8_t **out, size_t *out_len)
{
    faulty_backend *fb = faulty_of(be);
    *out = NULL;
    *out_len = 0;
    vault_error rc = faulty_tick(fb, "load");
    if (rc != VAULT_OK)
        return rc;
    return backend_load(fb->inner, kind, name, offset, len, max_len, out,
                        out_len);
}

static vault_error faulty_stat(backend *be, backend_kind kind, const char *name,
                               uint64_t *size)
{
    faulty_backend *fb = faulty_of(be);
    *size = 0;
    vault_error rc = faulty_tick(fb, "stat");
    if (rc != VAULT_OK)
        return rc;
    return backend_stat(fb->inner, kind, name, size);
}

static vault_error faulty_list(backend *be, backend_kind kind,
                               backend_list_fn fn, void *ctx, int *stopped)
{
    faulty_backend *fb = faulty_of(be);
    if (stopped)
        *stopped = 0;
    vault_error rc = faulty_tick(fb, "list");
    if (rc != VAULT_OK)
        return rc;
    return backend_list(fb->inner, kind, fn, ctx, stopped);
}

static vault_error faulty_remove(backend *be, backend_kind kind,
                                 const char *name)
{
    faulty_backend *fb = faulty_of(be);
    vault_error rc = faulty_tick(fb, "remove");
    if (rc != VAULT_OK)
        return rc;
    return backend_remove(fb->inner, kind, name);
}

static void faulty_close(backend *be)
{
    faulty_backend *fb = faulty_of(be);
    backend_close(fb->inner);
    free(fb);
}

static const backend_ops faulty_ops = {
    .save = faulty_save,
    .load = faulty_load,
    .stat = faulty_stat,
    .list = faulty_list,
    .remove = faulty_remove,
    .close = faulty_close,
};

vault_error backend_faulty_open(backend *inner, uint64_t fail_at,
                                vault_error fail_code, int sticky,
                                backend **out)
{
    *out = NULL;
    if (!inner)
        return vault_fail(VAULT_E_INVALID, "faulty backend: no inner backend");
    if (fail_at != 0 && fail_code == VAULT_OK) {
        backend_close(inner);
        return vault_fail(VAULT_E_INVALID,
                          "faulty backend: a fault needs an error code");
    }
    faulty_backend *fb = malloc(sizeof *fb);
    if (!fb) {
        backend_close(inner);
        return vault_fail(VAULT_E_NOMEM, "faulty backend: out of memory");
    }
    fb->base.ops = &faulty_ops;
    fb->inner = inner;
    fb->fail_at = fail_at;
    fb->fail_code = fail_code;
    fb->sticky = sticky;
    atomic_init(&fb->ops, 0);
    *out = &fb->base;
    return VAULT_OK;
}

uint64_t backend_faulty_count(const backend *be)
{
    assert(be && be->ops == &faulty_ops);
    const faulty_backend *fb = (const faulty_backend *)be;
    return atomic_load(&fb->ops);
}
