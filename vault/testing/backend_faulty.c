/*
 * backend_faulty.c - a wrapping backend that fails the Nth operation, for
 * tests (after SQLite's test_vfs.c and curl's torture mode).
 *
 * Every save, load, stat, list and remove takes the next number from an
 * atomic counter, starting at 1, and so does each stage_begin,
 * stage_write and stage_commit where the inner backend writes in pieces
 * (a failed commit drops the temporary, as the inner one's would).
 * Operation fail_at (and, if sticky, every later one) fails with
 * fail_code before the inner backend is called, so a failed save stores
 * nothing and a failed remove removes nothing: the state the caller sees
 * is exactly the state of a backend that refused.
 *
 * In kill mode (vlt_backend_faulty_open_kill) operation fail_at does not fail:
 * it raise(SIGKILL)s the process, before the inner backend is called or
 * as soon as it returned, so that a fork()ed child dies exactly there.
 */
#include <assert.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "backend_testing.h"
#include "common/internal.h"

/* What operation fail_at does. */
typedef enum faulty_mode {
    FAULTY_FAIL = 0,        /* fails with fail_code */
    FAULTY_KILL_BEFORE = 1, /* SIGKILL before the inner backend runs it */
    FAULTY_KILL_AFTER = 2   /* SIGKILL once the inner backend returned */
} faulty_mode;

typedef struct faulty_backend {
    backend base;              /* first: the ops dispatch on it */
    backend_ops table;         /* faulty_ops, less what inner cannot do */
    backend *inner;            /* the wrapped backend, owned */
    uint64_t fail_at;          /* the first operation to fail; 0: none */
    vault_error fail_code;     /* what a failing operation returns */
    int sticky;                /* fail every operation after fail_at too */
    faulty_mode mode;          /* fail, or kill the process */
    atomic_uint_least64_t ops; /* operations started so far */
} faulty_backend;

static faulty_backend *faulty_of(backend *be)
{
    return (faulty_backend *)be;
}

/* Dies here and now, as a crash would. */
static void faulty_kill(void)
{
    raise(SIGKILL);
    abort(); /* not reached: SIGKILL cannot be caught */
}

/* Counts an operation (its number in *n); VAULT_OK if it may run, else
 * the injected fault. */
static vault_error faulty_tick(faulty_backend *fb, const char *what,
                               uint64_t *n_out)
{
    uint64_t n = atomic_fetch_add(&fb->ops, 1) + 1;
    *n_out = n;
    if (fb->mode != FAULTY_FAIL) {
        if (fb->mode == FAULTY_KILL_BEFORE && n == fb->fail_at)
            faulty_kill();
        return VAULT_OK;
    }
    if (fb->fail_at == 0 || n < fb->fail_at || (n > fb->fail_at && !fb->sticky))
        return VAULT_OK;
    return vlt_fail(fb->fail_code,
                    "injected fault at operation %" PRIu64 " (%s)", n, what);
}

/* Operation n returned rc from the inner backend; passes it on, unless
 * the process is to die right after it. */
static vault_error faulty_done(const faulty_backend *fb, uint64_t n,
                               vault_error rc)
{
    if (fb->mode == FAULTY_KILL_AFTER && n == fb->fail_at)
        faulty_kill();
    return rc;
}

static vault_error faulty_save(backend *be, backend_kind kind, const char *name,
                               const uint8_t *data, size_t len)
{
    faulty_backend *fb = faulty_of(be);
    uint64_t n;
    vault_error rc = faulty_tick(fb, "save", &n);
    if (rc != VAULT_OK)
        return rc;
    return faulty_done(fb, n, backend_save(fb->inner, kind, name, data, len));
}

static vault_error faulty_load(backend *be, backend_kind kind, const char *name,
                               uint64_t offset, size_t len, size_t max_len,
                               uint8_t **out, size_t *out_len)
{
    faulty_backend *fb = faulty_of(be);
    *out = NULL;
    *out_len = 0;
    uint64_t n;
    vault_error rc = faulty_tick(fb, "load", &n);
    if (rc != VAULT_OK)
        return rc;
    return faulty_done(fb, n,
                       backend_load(fb->inner, kind, name, offset, len,
                                    max_len, out, out_len));
}

static vault_error faulty_stat(backend *be, backend_kind kind, const char *name,
                               uint64_t *size)
{
    faulty_backend *fb = faulty_of(be);
    *size = 0;
    uint64_t n;
    vault_error rc = faulty_tick(fb, "stat", &n);
    if (rc != VAULT_OK)
        return rc;
    return faulty_done(fb, n, backend_stat(fb->inner, kind, name, size));
}

static vault_error faulty_list(backend *be, backend_kind kind,
                               backend_list_fn fn, void *ctx, int *stopped)
{
    faulty_backend *fb = faulty_of(be);
    if (stopped)
        *stopped = 0;
    uint64_t n;
    vault_error rc = faulty_tick(fb, "list", &n);
    if (rc != VAULT_OK)
        return rc;
    return faulty_done(fb, n, backend_list(fb->inner, kind, fn, ctx, stopped));
}

static vault_error faulty_remove(backend *be, backend_kind kind,
                                 const char *name)
{
    faulty_backend *fb = faulty_of(be);
    uint64_t n;
    vault_error rc = faulty_tick(fb, "remove", &n);
    if (rc != VAULT_OK)
        return rc;
    return faulty_done(fb, n, backend_remove(fb->inner, kind, name));
}

/* Housekeeping passes through uncounted: the operation numbers that tests
 * fail or kill at stay those of the objects an operation reads and
 * writes. */
static vault_error faulty_clean(backend *be, uint64_t older_than,
                                uint64_t *removed)
{
    return backend_clean(faulty_of(be)->inner, older_than, removed);
}

static void faulty_close(backend *be)
{
    faulty_backend *fb = faulty_of(be);
    backend_close(fb->inner);
    free(fb);
}

/* The inner backend's stage, and whose operations it counts. */
struct backend_stage {
    faulty_backend *fb;
    backend_stage *inner;
};

static vault_error faulty_stage_begin(backend *be, backend_kind kind,
                                      backend_stage **out)
{
    faulty_backend *fb = faulty_of(be);
    *out = NULL;
    uint64_t n;
    vault_error rc = faulty_tick(fb, "stage_begin", &n);
    if (rc != VAULT_OK)
        return rc;
    backend_stage *st = malloc(sizeof *st);
    if (!st)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    st->fb = fb;
    rc = backend_stage_begin(fb->inner, kind, &st->inner);
    if (rc != VAULT_OK) {
        free(st);
        return faulty_done(fb, n, rc);
    }
    *out = st;
    return faulty_done(fb, n, rc);
}

static vault_error faulty_stage_write(backend_stage *st, const uint8_t *data,
                                      size_t len)
{
    uint64_t n;
    vault_error rc = faulty_tick(st->fb, "stage_write", &n);
    if (rc != VAULT_OK)
        return rc;
    return faulty_done(st->fb, n,
                       backend_stage_write(st->fb->inner, st->inner, data,
                                           len));
}

static void faulty_stage_abort(backend_stage *st)
{
    if (!st)
        return;
    backend_stage_abort(st->fb->inner, st->inner);
    free(st);
}

static vault_error faulty_stage_commit(backend_stage *st, const char *name)
{
    faulty_backend *fb = st->fb;
    uint64_t n;
    vault_error rc = faulty_tick(fb, "stage_commit", &n);
    if (rc != VAULT_OK) {
        faulty_stage_abort(st);
        return rc;
    }
    backend_stage *inner = st->inner;
    free(st);
    return faulty_done(fb, n, backend_stage_commit(fb->inner, inner, name));
}

static const backend_ops faulty_ops = {
    .save = faulty_save,
    .load = faulty_load,
    .stat = faulty_stat,
    .list = faulty_list,
    .remove = faulty_remove,
    .close = faulty_close,
    .clean = faulty_clean,
    .stage_begin = faulty_stage_begin,
    .stage_write = faulty_stage_write,
    .stage_commit = faulty_stage_commit,
    .stage_abort = faulty_stage_abort,
};

vault_error vlt_backend_faulty_open(backend *inner, uint64_t fail_at,
                                    vault_error fail_code, int sticky,
                                    backend **out)
{
    *out = NULL;
    if (!inner)
        return vlt_fail(VAULT_E_INVALID, "faulty backend: no inner backend");
    if (fail_at != 0 && fail_code == VAULT_OK) {
        backend_close(inner);
        return vlt_fail(VAULT_E_INVALID,
                        "faulty backend: a fault needs an error code");
    }
    faulty_backend *fb = malloc(sizeof *fb);
    if (!fb) {
        backend_close(inner);
        return vlt_fail(VAULT_E_NOMEM, "faulty backend: out of memory");
    }
    fb->table = faulty_ops;
    if (!backend_can_stage(inner)) /* then neither can the wrapper */
        fb->table.stage_begin = NULL;
    fb->base.ops = &fb->table;
    fb->base.is_local = inner->is_local;
    fb->base.connections = inner->connections;
    fb->inner = inner;
    fb->fail_at = fail_at;
    fb->fail_code = fail_code;
    fb->sticky = sticky;
    fb->mode = FAULTY_FAIL;
    atomic_init(&fb->ops, 0);
    *out = &fb->base;
    return VAULT_OK;
}

vault_error vlt_backend_faulty_open_kill(backend *inner, uint64_t kill_at,
                                         int after, backend **out)
{
    /* VAULT_E_INTERNAL only passes the fault-needs-a-code check: kill
     * mode never returns an injected code. */
    vault_error rc = vlt_backend_faulty_open(inner, kill_at, VAULT_E_INTERNAL, 0,
                                             out);
    if (rc == VAULT_OK)
        faulty_of(*out)->mode = after ? FAULTY_KILL_AFTER : FAULTY_KILL_BEFORE;
    return rc;
}

uint64_t vlt_backend_faulty_count(const backend *be)
{
    assert(be && be->ops->close == faulty_close);
    const faulty_backend *fb = (const faulty_backend *)be;
    return atomic_load(&fb->ops);
}
