/*
 * pool.c - worker threads and one bounded job queue (see pool.h).
 *
 * The queue is a ring of queue_max pointers allocated once: queuing a
 * job allocates nothing.  Condition variables are signalled only when
 * someone waits on them (idle, room_waiters, waiters), so a busy pool
 * costs one lock per job taken and one per job queued.
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>

#include "common/first_error.h"
#include "common/internal.h"
#include "common/pool.h"

struct vlt_pool {
    vlt_pool_config cfg;      /* as created */
    pthread_mutex_t mu;       /* guards everything below but failure */
    pthread_cond_t work;      /* a job was queued, or stopping */
    pthread_cond_t room;      /* the queue has room, or a failure */
    pthread_cond_t progress;  /* a job ended, or vlt_pool_wake */
    void **ring;              /* queue_max slots */
    size_t head, len;         /* the queued jobs: ring[head ..] */
    size_t unfinished;        /* jobs queued or running */
    unsigned idle;            /* workers waiting for work */
    unsigned room_waiters;    /* producers waiting for room */
    unsigned waiters;         /* threads in vlt_pool_wait or finish */
    int stopping;             /* workers exit once the queue is empty */
    vlt_first_error failure;  /* lock-free (first_error.h) */
    pthread_t *threads;       /* cfg.threads slots */
    unsigned n_threads;       /* started */
};

/* The first queued job, taken off the queue (mu held), or NULL. */
static void *pop(vlt_pool *p)
{
    if (p->len == 0)
        return NULL;
    void *job = p->ring[p->head];
    p->head = (p->head + 1) % p->cfg.queue_max;
    p->len--;
    if (p->room_waiters)
        pthread_cond_signal(&p->room);
    return job;
}

/* Runs job with state, the lock released meanwhile (mu held on entry
 * and on return), and counts it off. */
static void run_unlocked(vlt_pool *p, void *state, void *job)
{
    pthread_mutex_unlock(&p->mu);
    p->cfg.run(p->cfg.ctx, state, job);
    pthread_mutex_lock(&p->mu);
    assert(p->unfinished > 0);
    p->unfinished--;
    if (p->waiters)
        pthread_cond_broadcast(&p->progress);
}

static void *worker_main(void *arg)
{
    vlt_pool *p = arg;
    void *state = p->cfg.thread_start ? p->cfg.thread_start(p->cfg.ctx)
                                      : NULL;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        void *job = pop(p);
        if (job) {
            run_unlocked(p, state, job);
            continue;
        }
        if (p->stopping)
            break;
        p->idle++;
        pthread_cond_wait(&p->work, &p->mu);
        p->idle--;
    }
    pthread_mutex_unlock(&p->mu);
    if (p->cfg.thread_stop)
        p->cfg.thread_stop(p->cfg.ctx, state);
    return NULL;
}

vault_error vlt_pool_create(const vlt_pool_config *cfg, vlt_pool **out)
{
    *out = NULL;
    assert(cfg->threads > 0 && cfg->queue_max > 0 && cfg->run);
    vlt_pool *p = calloc(1, sizeof *p);
    if (!p)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    p->cfg = *cfg;
    vlt_first_error_init(&p->failure);
    p->ring = calloc(cfg->queue_max, sizeof *p->ring);
    p->threads = calloc(cfg->threads, sizeof *p->threads);
    int have_mu = 0, have_work = 0, have_room = 0, have_progress = 0;
    if (p->ring && p->threads) {
        have_mu = pthread_mutex_init(&p->mu, NULL) == 0;
        have_work = have_mu && pthread_cond_init(&p->work, NULL) == 0;
        have_room = have_work && pthread_cond_init(&p->room, NULL) == 0;
        have_progress =
            have_room && pthread_cond_init(&p->progress, NULL) == 0;
    }
    /* Before any worker starts: thread_start may need it (to fail). */
    *out = p;
    for (unsigned i = 0; have_progress && i < cfg->threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
            break;
        p->n_threads++;
    }
    if (p->n_threads)
        return VAULT_OK;
    *out = NULL;
    if (have_progress)
        pthread_cond_destroy(&p->progress);
    if (have_room)
        pthread_cond_destroy(&p->room);
    if (have_work)
        pthread_cond_destroy(&p->work);
    if (have_mu)
        pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->ring);
    free(p);
    return vlt_fail(VAULT_E_NOMEM, "cannot start worker threads");
}

unsigned vlt_pool_threads(const vlt_pool *p)
{
    return p->n_threads;
}

void vlt_pool_lock(vlt_pool *p)
{
    pthread_mutex_lock(&p->mu);
}

void vlt_pool_unlock(vlt_pool *p)
{
    pthread_mutex_unlock(&p->mu);
}

void vlt_pool_wake(vlt_pool *p)
{
    if (p->waiters)
        pthread_cond_broadcast(&p->progress);
}

vault_error vlt_pool_submit_locked(vlt_pool *p, void *job, int help)
{
    assert(!p->stopping);
    while (p->len == p->cfg.queue_max && !vlt_pool_failed(p)) {
        if (help) {
            run_unlocked(p, NULL, pop(p));
        } else {
            p->room_waiters++;
            pthread_cond_wait(&p->room, &p->mu);
            p->room_waiters--;
        }
    }
    if (vlt_pool_failed(p))
        return vlt_pool_raise(p);
    p->ring[(p->head + p->len) % p->cfg.queue_max] = job;
    p->len++;
    p->unfinished++;
    if (p->idle)
        pthread_cond_signal(&p->work);
    return VAULT_OK;
}

vault_error vlt_pool_submit(vlt_pool *p, void *job, int help)
{
    pthread_mutex_lock(&p->mu);
    vault_error rc = vlt_pool_submit_locked(p, job, help);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* vlt_pool_wait with mu held. */
static void wait_locked(vlt_pool *p, const size_t *count, size_t floor,
                        int help)
{
    while (*count > floor) {
        void *job = help ? pop(p) : NULL;
        if (job) {
            run_unlocked(p, NULL, job);
        } else {
            p->waiters++;
            pthread_cond_wait(&p->progress, &p->mu);
            p->waiters--;
        }
    }
}

void vlt_pool_wait(vlt_pool *p, const size_t *count, size_t floor,
                   int help)
{
    pthread_mutex_lock(&p->mu);
    wait_locked(p, count, floor, help);
    pthread_mutex_unlock(&p->mu);
}

void vlt_pool_fail(vlt_pool *p, vault_error rc)
{
    if (!vlt_first_error_set(&p->failure, rc))
        return;
    /* Under the lock: a producer that saw no failure is then either not
     * yet waiting (and will see it) or waiting (and is woken). */
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->room);
    pthread_mutex_unlock(&p->mu);
}

int vlt_pool_failed(const vlt_pool *p)
{
    return vlt_first_error_code(&p->failure) != VAULT_OK;
}

vault_error vlt_pool_raise(const vlt_pool *p)
{
    return vlt_first_error_raise(&p->failure);
}

vault_error vlt_pool_finish(vlt_pool *p, int help, vault_error rc)
{
    if (!p)
        return rc;
    pthread_mutex_lock(&p->mu);
    wait_locked(p, &p->unfinished, 0, help);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    if (rc == VAULT_OK)
        rc = vlt_pool_raise(p);
    pthread_cond_destroy(&p->progress);
    pthread_cond_destroy(&p->room);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->ring);
    free(p);
    return rc;
}
