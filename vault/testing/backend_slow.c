/*
 * backend_slow.c - a wrapping backend that makes every request take a set
 * time, as a remote storage does, and counts what goes through it: the
 * requests and bytes of each operation and object kind, and the most
 * requests that were in flight at once.  Tests assert on the counts
 * (never on times); benchmarks measure the wall time of a slow link.
 *
 * At most `parallel` requests sleep at once (a server's connection
 * limit): the others wait for a slot first, so that a change which
 * overlaps requests shows in the wall time only as far as the link
 * would let it.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend_testing.h"
#include "common/internal.h"

typedef struct slow_backend {
    backend base;      /* first: the ops dispatch on it */
    backend *inner;    /* the wrapped backend, owned */
    uint64_t delay_us; /* each request's latency */
    unsigned parallel; /* requests sleeping at once at most */
    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t slot;
    unsigned sleeping;  /* requests in their latency now */
    unsigned in_flight; /* requests started and not yet returned */
    backend_slow_stats stats;
} slow_backend;

static slow_backend *slow_of(backend *be)
{
    return (slow_backend *)be;
}

/* The request's latency: waits for a slot, then sleeps delay_us. */
static void slow_wait(slow_backend *sb)
{
    if (sb->delay_us == 0)
        return;
    pthread_mutex_lock(&sb->mu);
    while (sb->sleeping >= sb->parallel)
        pthread_cond_wait(&sb->slot, &sb->mu);
    sb->sleeping++;
    pthread_mutex_unlock(&sb->mu);
    struct timespec ts = {.tv_sec = (time_t)(sb->delay_us / 1000000),
                          .tv_nsec = (long)(sb->delay_us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&sb->mu);
    sb->sleeping--;
    pthread_cond_signal(&sb->slot);
    pthread_mutex_unlock(&sb->mu);
}

/* Counts a request of op on kind as started (a save of save_len
 * bytes); then its latency. */
static void slow_begin(slow_backend *sb, backend_slow_op op, backend_kind kind,
                       uint64_t save_len)
{
    pthread_mutex_lock(&sb->mu);
    if ((unsigned)kind < BACKEND_KIND_COUNT)
        sb->stats.requests[op][kind]++;
    if (++sb->in_flight > sb->stats.max_in_flight)
        sb->stats.max_in_flight = sb->in_flight;
    if (op == SLOW_SAVE) {
        unsigned saves = ++sb->stats.saves_in_flight;
        if (saves > sb->stats.max_saves_in_flight)
            sb->stats.max_saves_in_flight = saves;
        sb->stats.save_bytes_in_flight += save_len;
        if (sb->stats.save_bytes_in_flight > sb->stats.max_save_bytes_in_flight)
            sb->stats.max_save_bytes_in_flight = sb->stats.save_bytes_in_flight;
    }
    pthread_mutex_unlock(&sb->mu);
    slow_wait(sb);
}

/* Counts a request as done, with the bytes it moved (a save: all it
 * was given, moved or not). */
static void slow_end(slow_backend *sb, backend_slow_op op, backend_kind kind,
                     uint64_t bytes)
{
    pthread_mutex_lock(&sb->mu);
    if ((unsigned)kind < BACKEND_KIND_COUNT)
        sb->stats.bytes[op][kind] += bytes;
    sb->in_flight--;
    if (op == SLOW_SAVE) {
        sb->stats.saves_in_flight--;
        sb->stats.save_bytes_in_flight -= bytes;
    }
    pthread_mutex_unlock(&sb->mu);
}

static vault_error slow_save(backend *be, backend_kind kind, const char *name,
                             const uint8_t *data, size_t len)
{
    slow_backend *sb = slow_of(be);
    slow_begin(sb, SLOW_SAVE, kind, len);
    vault_error rc = backend_save(sb->inner, kind, name, data, len);
    slow_end(sb, SLOW_SAVE, kind, len);
    return rc;
}

static vault_error slow_load(backend *be, backend_kind kind, const char *name,
                             uint64_t offset, size_t len, size_t max_len,
                             uint8_t **out, size_t *out_len)
{
    slow_backend *sb = slow_of(be);
    slow_begin(sb, SLOW_LOAD, kind, 0);
    vault_error rc = backend_load(sb->inner, kind, name, offset, len, max_len,
                                  out, out_len);
    slow_end(sb, SLOW_LOAD, kind, rc == VAULT_OK ? *out_len : 0);
    return rc;
}

static vault_error slow_stat(backend *be, backend_kind kind, const char *name,
                             uint64_t *size)
{
    slow_backend *sb = slow_of(be);
    slow_begin(sb, SLOW_STAT, kind, 0);
    vault_error rc = backend_stat(sb->inner, kind, name, size);
    slow_end(sb, SLOW_STAT, kind, 0);
    return rc;
}

static vault_error slow_list(backend *be, backend_kind kind,
                             backend_list_fn fn, void *ctx, int *stopped)
{
    slow_backend *sb = slow_of(be);
    /* One request for the whole listing (a REST server answers it in
     * one response); fn may call the backend, which counts on its own. */
    slow_begin(sb, SLOW_LIST, kind, 0);
    slow_end(sb, SLOW_LIST, kind, 0);
    return backend_list(sb->inner, kind, fn, ctx, stopped);
}

static vault_error slow_remove(backend *be, backend_kind kind,
                               const char *name)
{
    slow_backend *sb = slow_of(be);
    slow_begin(sb, SLOW_REMOVE, kind, 0);
    vault_error rc = backend_remove(sb->inner, kind, name);
    slow_end(sb, SLOW_REMOVE, kind, 0);
    return rc;
}

static vault_error slow_clean(backend *be, uint64_t older_than,
                              uint64_t *removed)
{
    return backend_clean(slow_of(be)->inner, older_than, removed);
}

static vault_error slow_check_deletable(backend *be)
{
    return backend_check_deletable(slow_of(be)->inner);
}

static void slow_close(backend *be)
{
    slow_backend *sb = slow_of(be);
    backend_close(sb->inner);
    pthread_cond_destroy(&sb->slot);
    pthread_mutex_destroy(&sb->mu);
    free(sb);
}

static const backend_ops slow_ops = {
    .save = slow_save,
    .load = slow_load,
    .stat = slow_stat,
    .list = slow_list,
    .remove = slow_remove,
    .close = slow_close,
    .clean = slow_clean,
    .check_deletable = slow_check_deletable,
};

vault_error vlt_backend_slow_open(backend *inner, uint64_t delay_us,
                                  unsigned parallel, backend **out)
{
    *out = NULL;
    if (!inner)
        return vlt_fail(VAULT_E_INVALID, "slow backend: no inner backend");
    slow_backend *sb = calloc(1, sizeof *sb);
    if (!sb || pthread_mutex_init(&sb->mu, NULL) != 0) {
        free(sb);
        backend_close(inner);
        return vlt_fail(VAULT_E_NOMEM, "slow backend: out of memory");
    }
    if (pthread_cond_init(&sb->slot, NULL) != 0) {
        pthread_mutex_destroy(&sb->mu);
        free(sb);
        backend_close(inner);
        return vlt_fail(VAULT_E_NOMEM, "slow backend: out of memory");
    }
    sb->base.ops = &slow_ops;
    sb->base.connections = parallel ? parallel : 1;
    /* Stands in for a remote server, but caching it would hide the
     * requests the tests count: as local as what it wraps. */
    sb->base.is_local = inner->is_local;
    sb->inner = inner;
    sb->delay_us = delay_us;
    sb->parallel = parallel ? parallel : 1;
    *out = &sb->base;
    return VAULT_OK;
}

void vlt_backend_slow_stats(backend *be, backend_slow_stats *out)
{
    assert(be && be->ops == &slow_ops);
    slow_backend *sb = slow_of(be);
    pthread_mutex_lock(&sb->mu);
    *out = sb->stats;
    pthread_mutex_unlock(&sb->mu);
}

void vlt_backend_slow_reset(backend *be)
{
    assert(be && be->ops == &slow_ops);
    slow_backend *sb = slow_of(be);
    pthread_mutex_lock(&sb->mu);
    unsigned saves = sb->stats.saves_in_flight;
    uint64_t save_bytes = sb->stats.save_bytes_in_flight;
    memset(&sb->stats, 0, sizeof sb->stats);
    sb->stats.saves_in_flight = saves;
    sb->stats.save_bytes_in_flight = save_bytes;
    pthread_mutex_unlock(&sb->mu);
}

uint64_t vlt_backend_slow_total(const backend_slow_stats *s, backend_slow_op op)
{
    uint64_t n = 0;
    for (int k = 0; k < BACKEND_KIND_COUNT; k++)
        n += s->requests[op][k];
    return n;
}
