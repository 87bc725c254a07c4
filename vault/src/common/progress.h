/*
 * progress.h - counters of a long operation and the thread that reports
 * them (vault_set_progress).  Private.
 *
 * The operation's threads add to atomic counters (cheap: no lock, no
 * call); a reporter thread, started by vlt_progress_begin only when a
 * caller asked for reports, reads them every interval and calls the
 * caller's function, so a walker blocked on I/O does not freeze the
 * status line.  The current path is copied only when the reporter has
 * asked for one since the last copy: one atomic load per file
 * otherwise.
 */
#ifndef VAULT_PROGRESS_H
#define VAULT_PROGRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "vault.h"

#define VLT_PROGRESS_PATH_MAX 512

typedef struct vlt_progress {
    vault_progress_fn fn; /* NULL: no reports, every call below is cheap */
    void *ctx;
    unsigned interval_ms;
    const char *operation, *unit;
    _Atomic uint64_t files_done, files_total, bytes_done, bytes_total;
    atomic_int totals_final;
    atomic_int want_current; /* the reporter wants a fresh path */
    atomic_int running;      /* between begin and end, with a reporter */
    pthread_mutex_t lock;    /* current, stop; the reporter's sleep */
    pthread_cond_t wake;
    int stop;
    char current[VLT_PROGRESS_PATH_MAX];
    double start;
    unsigned depth; /* begins not yet ended (the operation's thread) */
    pthread_t thread;
} vlt_progress;

void vlt_progress_init(vlt_progress *p);
void vlt_progress_destroy(vlt_progress *p);
/* Starts reporting operation, whose items are unit ("files", "packs";
 * string literals), if a function is set.  Nested begins keep the outer
 * operation. */
void vlt_progress_begin(vlt_progress *p, const char *operation,
                        const char *unit);
/* The last report (done), and the reporter stopped. */
void vlt_progress_end(vlt_progress *p);
/* Whether reports are being made (the counters are read). */
static inline int vlt_progress_on(const vlt_progress *p)
{
    return atomic_load_explicit(&p->running, memory_order_relaxed);
}
static inline void vlt_progress_add(vlt_progress *p, uint64_t files,
                                    uint64_t bytes)
{
    if (!vlt_progress_on(p))
        return;
    atomic_fetch_add_explicit(&p->files_done, files, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->bytes_done, bytes, memory_order_relaxed);
}
/* Adds to the totals; final: they are complete. */
void vlt_progress_total(vlt_progress *p, uint64_t files, uint64_t bytes,
                        int final);
/* path is being worked on (copied if the reporter wants it). */
void vlt_progress_current(vlt_progress *p, const char *path);

#endif
