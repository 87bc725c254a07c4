/*
 * progress.c - the reporter of progress.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/progress.h"
#include "common/retry.h"

void vlt_progress_init(vlt_progress *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &attr);
    pthread_condattr_destroy(&attr);
}

void vlt_progress_destroy(vlt_progress *p)
{
    p->depth = p->depth ? 1 : 0;
    vlt_progress_end(p);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
}

static void report(vlt_progress *p, int done)
{
    vault_progress r = {
        .operation = p->operation,
        .unit = p->unit,
        .files_done = atomic_load(&p->files_done),
        .files_total = atomic_load(&p->files_total),
        .bytes_done = atomic_load(&p->bytes_done),
        .bytes_total = atomic_load(&p->bytes_total),
        .totals_final = atomic_load(&p->totals_final),
        .seconds = vlt_monotonic_seconds() - p->start,
        .done = done,
    };
    char current[VLT_PROGRESS_PATH_MAX];
    pthread_mutex_lock(&p->lock);
    memcpy(current, p->current, sizeof current);
    pthread_mutex_unlock(&p->lock);
    r.current = current;
    p->fn(p->ctx, &r);
}

static void *reporter(void *arg)
{
    vlt_progress *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t ns = (uint64_t)until.tv_nsec +
                      (uint64_t)p->interval_ms * 1000000u;
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        while (!p->stop &&
               pthread_cond_timedwait(&p->wake, &p->lock, &until) != ETIMEDOUT)
            ;
        if (p->stop)
            break;
        pthread_mutex_unlock(&p->lock);
        report(p, 0);
        atomic_store(&p->want_current, 1);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void vlt_progress_begin(vlt_progress *p, const char *operation,
                        const char *unit)
{
    if (p->depth++ || !p->fn)
        return;
    p->operation = operation;
    p->unit = unit;
    atomic_store(&p->files_done, 0);
    atomic_store(&p->files_total, 0);
    atomic_store(&p->bytes_done, 0);
    atomic_store(&p->bytes_total, 0);
    atomic_store(&p->totals_final, 0);
    atomic_store(&p->want_current, 1);
    p->current[0] = '\0';
    p->stop = 0;
    p->start = vlt_monotonic_seconds();
    if (pthread_create(&p->thread, NULL, reporter, p) != 0)
        return; /* no reports: progress is only ever a help */
    atomic_store(&p->running, 1);
}

void vlt_progress_end(vlt_progress *p)
{
    if (p->depth == 0 || --p->depth || !atomic_load(&p->running))
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    p->current[0] = '\0';
    report(p, 1);
    atomic_store(&p->running, 0);
}

void vlt_progress_total(vlt_progress *p, uint64_t files, uint64_t bytes,
                        int final)
{
    if (!vlt_progress_on(p))
        return;
    atomic_fetch_add(&p->files_total, files);
    atomic_fetch_add(&p->bytes_total, bytes);
    if (final)
        atomic_store(&p->totals_final, 1);
}

void vlt_progress_current(vlt_progress *p, const char *path)
{
    if (!vlt_progress_on(p) ||
        !atomic_exchange_explicit(&p->want_current, 0, memory_order_relaxed))
        return;
    pthread_mutex_lock(&p->lock);
    snprintf(p->current, sizeof p->current, "%s", path);
    pthread_mutex_unlock(&p->lock);
}
