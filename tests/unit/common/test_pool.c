/*
 * test_pool.c - the worker pool (common/pool.h) and "first failure wins"
 * (common/first_error.h): every job runs exactly once, the queue bound
 * holds, a helping producer runs jobs itself, waiting on a caller's
 * count, per-worker state, and which failure is kept.
 */
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/first_error.h"
#include "common/internal.h"
#include "common/pool.h"

#define JOBS 2000

typedef struct fixture {
    vlt_pool *pool;
    atomic_int runs[JOBS];   /* times each job ran */
    atomic_int on_caller;    /* jobs run with state NULL (helping) */
    atomic_int started, stopped; /* thread_start / thread_stop calls */
    atomic_int running;      /* jobs running now */
    int max_running;         /* the most at once (under the pool's lock) */
    size_t left;             /* jobs not done, under the pool's lock */
    int fail_at;             /* this job fails (-1: none) */
    unsigned sleep_us;       /* each job takes this long */
} fixture;

static int job_ids[JOBS];

static void *start(void *ctx)
{
    fixture *f = ctx;
    atomic_fetch_add(&f->started, 1);
    return f; /* any non-NULL state */
}

static void stop(void *ctx, void *state)
{
    fixture *f = ctx;
    assert_ptr_equal(state, f);
    atomic_fetch_add(&f->stopped, 1);
}

static void run(void *ctx, void *state, void *job)
{
    fixture *f = ctx;
    int id = *(int *)job;
    if (!state)
        atomic_fetch_add(&f->on_caller, 1);
    int now = atomic_fetch_add(&f->running, 1) + 1;
    if (f->sleep_us)
        usleep(f->sleep_us);
    atomic_fetch_add(&f->runs[id], 1);
    if (id == f->fail_at)
        vlt_pool_fail(f->pool, vlt_fail(VAULT_E_IO, "job %d failed", id));
    else if (f->fail_at >= 0 && id > f->fail_at && vlt_pool_failed(f->pool))
        vlt_pool_fail(f->pool, vlt_fail(VAULT_E_CORRUPT, "later %d", id));
    atomic_fetch_sub(&f->running, 1);
    vlt_pool_lock(f->pool);
    if (now > f->max_running)
        f->max_running = now;
    f->left--;
    vlt_pool_wake(f->pool);
    vlt_pool_unlock(f->pool);
}

static fixture *fixture_new(unsigned threads, size_t queue_max)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->fail_at = -1;
    f->left = JOBS;
    for (int i = 0; i < JOBS; i++)
        job_ids[i] = i;
    vlt_pool_config cfg = {.threads = threads,
                           .queue_max = queue_max,
                           .run = run,
                           .thread_start = start,
                           .thread_stop = stop,
                           .ctx = f};
    assert_vault_ok(vlt_pool_create(&cfg, &f->pool));
    assert_int_equal(vlt_pool_threads(f->pool), threads);
    return f;
}

static void test_every_job_once(void **state)
{
    (void)state;
    for (int help = 0; help < 2; help++) {
        fixture *f = fixture_new(3, 4);
        for (int i = 0; i < JOBS; i++)
            assert_vault_ok(vlt_pool_submit(f->pool, &job_ids[i], help));
        assert_vault_ok(vlt_pool_finish(f->pool, help, VAULT_OK));
        for (int i = 0; i < JOBS; i++)
            assert_int_equal(atomic_load(&f->runs[i]), 1);
        assert_int_equal(atomic_load(&f->started), 3);
        assert_int_equal(atomic_load(&f->stopped), 3);
        if (!help)
            assert_int_equal(atomic_load(&f->on_caller), 0);
        free(f);
    }
}

static void test_helping_producer_runs_jobs(void **state)
{
    (void)state;
    fixture *f = fixture_new(1, 1);
    f->sleep_us = 200; /* the one worker falls behind */
    for (int i = 0; i < 200; i++)
        assert_vault_ok(vlt_pool_submit(f->pool, &job_ids[i], 1));
    assert_vault_ok(vlt_pool_finish(f->pool, 1, VAULT_OK));
    assert_true(atomic_load(&f->on_caller) > 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(atomic_load(&f->runs[i]), 1);
    /* one worker, plus the producer: never more at once */
    assert_true(f->max_running <= 2);
    free(f);
}

static void test_wait_on_count(void **state)
{
    (void)state;
    fixture *f = fixture_new(2, 8);
    for (int i = 0; i < JOBS; i++) {
        vlt_pool_lock(f->pool);
        assert_vault_ok(vlt_pool_submit_locked(f->pool, &job_ids[i], 0));
        vlt_pool_unlock(f->pool);
        if (i == JOBS / 2) {
            vlt_pool_wait(f->pool, &f->left, JOBS - (size_t)i - 1, 0);
            for (int k = 0; k <= i; k++)
                assert_int_equal(atomic_load(&f->runs[k]), 1);
        }
    }
    vlt_pool_wait(f->pool, &f->left, 0, 1);
    assert_int_equal(f->left, 0);
    assert_vault_ok(vlt_pool_finish(f->pool, 0, VAULT_OK));
    free(f);
}

static void test_first_failure_wins(void **state)
{
    (void)state;
    fixture *f = fixture_new(2, 2);
    f->fail_at = 10;
    vault_error rc = VAULT_OK;
    int queued = 0;
    for (int i = 0; i < JOBS && rc == VAULT_OK; i++) {
        rc = vlt_pool_submit(f->pool, &job_ids[i], 0);
        queued += rc == VAULT_OK;
    }
    /* Refused after the failure, with its detail, on this thread. */
    assert_int_equal(rc, VAULT_E_IO);
    assert_string_equal(vault_last_error(), "job 10 failed");
    assert_true(queued < JOBS);
    /* A failure of the caller's own comes first... */
    vlt_fail(VAULT_E_NOMEM, "mine");
    assert_int_equal(vlt_pool_finish(f->pool, 0, VAULT_E_NOMEM),
                     VAULT_E_NOMEM);
    assert_string_equal(vault_last_error(), "mine");
    /* ...and every job queued still ran (so counts are kept). */
    for (int i = 0; i < queued; i++)
        assert_int_equal(atomic_load(&f->runs[i]), 1);
    free(f);

    f = fixture_new(2, 2);
    f->fail_at = 0;
    rc = vlt_pool_submit(f->pool, &job_ids[0], 0);
    assert_vault_ok(rc);
    assert_int_equal(vlt_pool_finish(f->pool, 0, VAULT_OK), VAULT_E_IO);
    assert_string_equal(vault_last_error(), "job 0 failed");
    free(f);
}

/* Threads race to record; exactly one wins and the detail is its own. */
typedef struct racer {
    vlt_first_error *fe;
    int id;
    int won;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    vault_error code = r->id % 2 ? VAULT_E_INVALID : VAULT_E_IO;
    vault_error rc = vlt_fail(code, "racer %d", r->id);
    r->won = vlt_first_error_set(r->fe, rc);
    return NULL;
}

static void test_first_error(void **state)
{
    (void)state;
    vlt_first_error fe;
    vlt_first_error_init(&fe);
    assert_int_equal(vlt_first_error_code(&fe), VAULT_OK);
    assert_vault_ok(vlt_first_error_raise(&fe));
    assert_int_equal(vlt_first_error_set(&fe, VAULT_OK), 0);

    racer rs[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        rs[i] = (racer){&fe, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
    }
    int winner = -1;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        if (rs[i].won) {
            assert_int_equal(winner, -1);
            winner = i;
        }
    }
    assert_true(winner >= 0);
    vlt_fail(VAULT_E_NOMEM, "this thread's own");
    assert_int_equal(vlt_first_error_raise(&fe),
                     winner % 2 ? VAULT_E_INVALID : VAULT_E_IO);
    char want[32];
    test_fmt(want, sizeof want, "racer %d", winner);
    assert_string_equal(vault_last_error(), want);
}

int main(void)
{
    test_watchdog("test_pool", 120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_job_once),
        cmocka_unit_test(test_helping_producer_runs_jobs),
        cmocka_unit_test(test_wait_on_count),
        cmocka_unit_test(test_first_failure_wins),
        cmocka_unit_test(test_first_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
