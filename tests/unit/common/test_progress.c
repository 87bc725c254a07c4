/*
 * test_progress.c - the progress counters and their reporter
 * (common/progress.h): nothing runs without a function; counters added
 * from several threads add up in the last report, which comes once and
 * says done; a nested operation keeps the outer one; the current path is
 * handed over when asked for; totals become final.
 */
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/progress.h"

typedef struct seen {
    atomic_int reports, finals;
    vault_progress last; /* the last report, its strings not kept */
    char operation[32], current[64];
    pthread_mutex_t lock;
} seen;

static void record(void *ctx, const vault_progress *p)
{
    seen *s = ctx;
    pthread_mutex_lock(&s->lock);
    s->last = *p;
    snprintf(s->operation, sizeof s->operation, "%s", p->operation);
    if (p->current[0])
        snprintf(s->current, sizeof s->current, "%s", p->current);
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(&s->reports, 1);
    if (p->done)
        atomic_fetch_add(&s->finals, 1);
}

/* p reporting to s every interval_ms. */
static void watch(vlt_progress *p, seen *s, unsigned interval_ms)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    vlt_progress_init(p);
    p->fn = record;
    p->ctx = s;
    p->interval_ms = interval_ms;
}

static void test_off_without_function(void **state)
{
    (void)state;
    vlt_progress p;
    vlt_progress_init(&p);
    vlt_progress_begin(&p, "add", "files");
    assert_false(vlt_progress_on(&p));
    vlt_progress_add(&p, 1, 10);
    vlt_progress_current(&p, "/x");
    vlt_progress_end(&p);
    assert_int_equal(atomic_load(&p.files_done), 0);
    vlt_progress_destroy(&p);
}

#define THREADS 4
#define ADDS 10000

static void *adder_thread(void *arg)
{
    vlt_progress *p = arg;
    for (int i = 0; i < ADDS; i++) {
        vlt_progress_add(p, 1, 3);
        vlt_progress_current(p, "/some/file");
    }
    return NULL;
}

static void test_counts_from_threads(void **state)
{
    (void)state;
    seen s;
    vlt_progress p;
    watch(&p, &s, 5);
    vlt_progress_begin(&p, "extract", "files");
    assert_true(vlt_progress_on(&p));
    vlt_progress_total(&p, THREADS * ADDS, 0, 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, adder_thread, &p), 0);
    usleep(30000); /* a few reports while they add */
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    vlt_progress_total(&p, 0, 0, 1);
    vlt_progress_end(&p);
    assert_false(vlt_progress_on(&p));
    assert_int_equal(atomic_load(&s.finals), 1);
    assert_true(atomic_load(&s.reports) >= 2);
    assert_true(s.last.done);
    assert_true(s.last.totals_final);
    assert_int_equal(s.last.files_done, THREADS * ADDS);
    assert_int_equal(s.last.files_total, THREADS * ADDS);
    assert_int_equal(s.last.bytes_done, 3ull * THREADS * ADDS);
    assert_string_equal(s.operation, "extract");
    assert_string_equal(s.current, "/some/file");
    vlt_progress_destroy(&p);
    pthread_mutex_destroy(&s.lock);
}

static void test_nested_keeps_outer(void **state)
{
    (void)state;
    seen s;
    vlt_progress p;
    watch(&p, &s, 1000);
    vlt_progress_begin(&p, "copy", "files");
    vlt_progress_begin(&p, "add", "files"); /* copy's own add */
    vlt_progress_add(&p, 2, 0);
    vlt_progress_end(&p);
    assert_true(vlt_progress_on(&p)); /* still copying */
    vlt_progress_add(&p, 1, 0);
    vlt_progress_end(&p);
    assert_int_equal(atomic_load(&s.finals), 1);
    assert_string_equal(s.operation, "copy");
    assert_int_equal(s.last.files_done, 3);
    /* an end without a begin changes nothing */
    vlt_progress_end(&p);
    assert_int_equal(atomic_load(&s.finals), 1);
    vlt_progress_destroy(&p);
    pthread_mutex_destroy(&s.lock);
}

static void test_destroy_ends_a_running_operation(void **state)
{
    (void)state;
    seen s;
    vlt_progress p;
    watch(&p, &s, 1000);
    vlt_progress_begin(&p, "add", "files");
    vlt_progress_begin(&p, "add", "files");
    vlt_progress_destroy(&p); /* the reporter is joined, not leaked */
    assert_int_equal(atomic_load(&s.finals), 1);
    pthread_mutex_destroy(&s.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_without_function),
        cmocka_unit_test(test_counts_from_threads),
        cmocka_unit_test(test_nested_keeps_outer),
        cmocka_unit_test(test_destroy_ends_a_running_operation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
