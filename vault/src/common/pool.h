/*
 * pool.h - a fixed set of worker threads running jobs from one bounded
 * queue.  Private.  Used by `add` (hashing and packing chunk batches;
 * metadata read-ahead; uploading packs) and by `extract` (restoring
 * files).
 *
 * A job is the caller's pointer; the pool runs run(ctx, state, job) on a
 * worker, state being what thread_start returned on that worker.  The
 * queue is bounded, which bounds the memory in flight: vlt_pool_submit
 * waits while it is full - or, with help, runs queued jobs on the calling
 * thread meanwhile (state NULL), so that the submitting thread (a walker
 * producing jobs) is never idle while work is waiting.
 *
 * The pool's lock guards its queue, and callers may use it to guard
 * their own bookkeeping about jobs (vlt_pool_lock): counters that jobs
 * decrement when done, and that vlt_pool_wait waits on.  A job changing
 * such a counter calls vlt_pool_wake so that waiters look again; a job's
 * end wakes them too.
 *
 * Errors: the first failure any thread reports (vlt_pool_fail) is kept,
 * with its detail message (common/first_error.h); later ones are dropped.
 * After it, submit refuses new jobs; the jobs already queued still run
 * (they check vlt_pool_failed to skip their work) so that everything the
 * caller waits on is counted off.  vlt_pool_finish raises it on the
 * calling thread unless the caller has a failure of its own.
 *
 *     vlt_pool *p;
 *     vlt_pool_config cfg = {.threads = n, .queue_max = 2 * n,
 *                            .run = run_job, .ctx = me};
 *     rc = vlt_pool_create(&cfg, &p);
 *     ... rc = vlt_pool_submit(p, job, 0);   (job stays the caller's on
 *                                             failure)
 *     rc = vlt_pool_finish(p, 0, rc);         (every job run, threads
 *                                             joined, pool freed)
 *
 * Thread rules: finish is for one thread (the owner); submit and wait
 * for any thread but the pool's own workers (add's workers all feed its
 * uploader pool); lock, unlock, wake, fail and failed for any thread.
 */
#ifndef VAULT_POOL_H
#define VAULT_POOL_H

#include <stddef.h>

#include "vault.h"

typedef struct vlt_pool vlt_pool;

typedef struct vlt_pool_config {
    unsigned threads;    /* workers wanted, >= 1 (fewer may start) */
    size_t queue_max;    /* jobs waiting at most, >= 1 */
    /* Runs one job; called without the pool's lock.  state: the
     * worker's (thread_start), or NULL on a helping thread. */
    void (*run)(void *ctx, void *state, void *job);
    /* Optional: called on each worker as it starts; its result is that
     * worker's state.  It reports its own failures with vlt_pool_fail
     * (run is still called for every job the worker takes). */
    void *(*thread_start)(void *ctx);
    /* Optional: called on each worker after the queue is drained for
     * good, with its state (to flush and free it). */
    void (*thread_stop)(void *ctx, void *state);
    void *ctx; /* handed to the three functions above */
} vlt_pool_config;

/* Starts the workers.  Fewer than cfg->threads may start (the system is
 * short of threads): vlt_pool_threads says how many.  None: an error,
 * and *out is NULL.  *out is set before the first worker starts, so that
 * thread_start can reach the pool through the caller's state. */
vault_error vlt_pool_create(const vlt_pool_config *cfg, vlt_pool **out);

/* Workers running. */
unsigned vlt_pool_threads(const vlt_pool *p);

/* Queues job.  While the queue is full, waits - or with help runs queued
 * jobs on the calling thread.  Returns VAULT_OK, or the pool's failure
 * (raised on this thread; job was not queued and is still the
 * caller's). */
vault_error vlt_pool_submit(vlt_pool *p, void *job, int help);
/* As vlt_pool_submit, called with the pool's lock held (so that the
 * caller can count the job in its own state in the same critical
 * section, after it was queued and before any worker can take it).
 * The lock may be released and taken again while it waits or helps. */
vault_error vlt_pool_submit_locked(vlt_pool *p, void *job, int help);

/* The pool's lock: guards the queue and whatever the caller keeps about
 * its jobs.  Not to be held across submit, wait or finish (except
 * submit_locked) nor when calling vlt_pool_fail. */
void vlt_pool_lock(vlt_pool *p);
void vlt_pool_unlock(vlt_pool *p);

/* With the lock held: a count that vlt_pool_wait may be waiting on
 * changed. */
void vlt_pool_wake(vlt_pool *p);

/* Waits until *count (guarded by the pool's lock) is at most floor;
 * with help, runs queued jobs on the calling thread meanwhile.  Takes
 * the lock itself. */
void vlt_pool_wait(vlt_pool *p, const size_t *count, size_t floor,
                   int help);

/* Records rc (with this thread's detail) unless a failure was recorded
 * first, and wakes a producer waiting for room.  Any thread, without
 * the lock. */
void vlt_pool_fail(vlt_pool *p, vault_error rc);
/* Whether a failure was recorded (cheap: no lock). */
int vlt_pool_failed(const vlt_pool *p);
/* The failure raised on this thread (see first_error.h), or VAULT_OK. */
vault_error vlt_pool_raise(const vlt_pool *p);

/* Runs every queued job (with help, the calling thread takes part),
 * waits for the running ones, stops the workers (thread_stop on each),
 * joins them and frees p (which may be NULL).  rc: the caller's result
 * so far.  Returns rc if it is a failure (its detail left alone), else
 * the pool's failure raised on this thread, else VAULT_OK. */
vault_error vlt_pool_finish(vlt_pool *p, int help, vault_error rc);

#endif
