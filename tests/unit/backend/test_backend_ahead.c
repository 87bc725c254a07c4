/*
 * test_backend_ahead.c - listings asked for ahead (backend/backend_ahead.c):
 * the next list() of the kind takes the answer, once, with no request of
 * its own; the last listing of snapshots/ answers the next ones for a
 * moment, until a snapshot is saved or removed or the answers dropped;
 * listings started together are in flight together; an answer
 * dropped is asked for again; a listing that failed ahead is asked for
 * again (and its failure reported as list() reports it); the wrapper is
 * reached through the cache; every other operation passes through (the
 * conformance suite on a wrapped memory backend).
 */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "backend_conformance.h"
#include "backend_testing.h"
#include "common/internal.h"

/* A wrapped slow memory backend; *slow gets the slow one (to count). */
static backend *open_wrapped(uint64_t delay_us, backend **slow)
{
    backend *mem, *be;
    assert_vault_ok(vlt_backend_memory_open(&mem));
    assert_vault_ok(vlt_backend_slow_open(mem, delay_us, 4, slow));
    assert_vault_ok(vlt_backend_ahead_wrap(*slow, &be));
    return be;
}

static uint64_t lists(backend *slow)
{
    backend_slow_stats s;
    vlt_backend_slow_stats(slow, &s);
    return vlt_backend_slow_total(&s, SLOW_LIST);
}

static size_t count_names(backend *be, backend_kind kind)
{
    name_list l;
    assert_vault_ok(vlt_backend_list_names(be, kind, &l));
    size_t n = l.n;
    free(l.names);
    return n;
}

static void save_some(backend *be, backend_kind kind, unsigned first,
                      unsigned n)
{
    for (unsigned i = first; i < first + n; i++) {
        char name[VAULT_NAME_HEX + 1];
        name_for(i, name);
        assert_vault_ok(backend_save(be, kind, name, (const uint8_t *)"x", 1));
    }
}

static void test_taken_once(void **state)
{
    (void)state;
    backend *slow;
    backend *be = open_wrapped(0, &slow);
    save_some(be, BACKEND_SNAPSHOTS, 0, 3);
    vlt_backend_list_ahead(be, BACKEND_SNAPSHOTS);
    vlt_backend_list_ahead(be, BACKEND_SNAPSHOTS); /* on its way already */
    assert_int_equal(count_names(be, BACKEND_SNAPSHOTS), 3);
    assert_int_equal(lists(slow), 1);
    /* taken: the next listing asks again, and sees what came since */
    save_some(be, BACKEND_SNAPSHOTS, 3, 2);
    assert_int_equal(count_names(be, BACKEND_SNAPSHOTS), 5);
    assert_int_equal(lists(slow), 2);
    /* another kind's listing is not the one asked ahead (snapshots/ is
     * answered by the listing just made: test_recent_snapshots) */
    vlt_backend_list_ahead(be, BACKEND_INDEX);
    assert_int_equal(count_names(be, BACKEND_SNAPSHOTS), 5);
    assert_int_equal(count_names(be, BACKEND_INDEX), 0);
    assert_int_equal(lists(slow), 3);
    backend_close(be);
}

/* The last listing of snapshots/ answers the next ones for a moment (a
 * command resolves "latest", then its operation lists again), and is
 * forgotten by a snapshot saved or removed through the wrapper and by a
 * drop; other kinds are asked every time. */
static void test_recent_snapshots(void **state)
{
    (void)state;
    backend *slow;
    backend *be = open_wrapped(0, &slow);
    save_some(be, BACKEND_SNAPSHOTS, 0, 2);
    save_some(be, BACKEND_INDEX, 0, 2);
    assert_int_equal(count_names(be, BACKEND_SNAPSHOTS), 2);
    assert_int_equal(count_names(be, BACKEND_SNAPSHOTS), 2);
    assert_int_equal(lists(slow), 1);
    /* nor is it asked ahead again */
    vlt_backend_list_ahead(be, BACKEND_SNAPSHOTS);
    assert_int_equal(count_names(be, BACKEND_SNAPSHOTS), 2);
    assert_int_equal(lists(slow), 1);
    /* a save through the wrapper: asked again, and seen */
    save_some(be, BACKEND_SNAPSHOTS, 2, 1);
    assert_int_equal(count_names(be, BACKEND_SNAPSHOTS), 3);
    assert_int_equal(lists(slow), 2);
    /* a removal */
    char name[VAULT_NAME_HEX + 1];
    name_for(0, name);
    assert_vault_ok(backend_remove(be, BACKEND_SNAPSHOTS, name));
    assert_int_equal(count_names(be, BACKEND_SNAPSHOTS), 2);
    assert_int_equal(lists(slow), 3);
    /* a drop */
    vlt_backend_list_ahead_drop(be);
    assert_int_equal(count_names(be, BACKEND_SNAPSHOTS), 2);
    assert_int_equal(lists(slow), 4);
    /* index/ is listed each time */
    assert_int_equal(count_names(be, BACKEND_INDEX), 2);
    assert_int_equal(count_names(be, BACKEND_INDEX), 2);
    assert_int_equal(lists(slow), 6);
    backend_close(be);
}

static void test_dropped_is_asked_again(void **state)
{
    (void)state;
    backend *slow;
    backend *be = open_wrapped(0, &slow);
    save_some(be, BACKEND_LOCKS, 0, 2);
    vlt_backend_list_ahead(be, BACKEND_LOCKS);
    vlt_backend_list_ahead_drop(be);
    uint64_t before = lists(slow); /* the dropped one ran */
    save_some(be, BACKEND_LOCKS, 2, 1);
    assert_int_equal(count_names(be, BACKEND_LOCKS), 3);
    assert_int_equal(lists(slow), before + 1);
    /* closing with one on its way waits for it */
    vlt_backend_list_ahead(be, BACKEND_LOCKS);
    backend_close(be);
}

static void test_started_together_run_together(void **state)
{
    (void)state;
    backend *slow;
    backend *be = open_wrapped(200000, &slow); /* 200 ms a request */
    vlt_backend_list_ahead(be, BACKEND_KEYS);
    vlt_backend_list_ahead(be, BACKEND_SNAPSHOTS);
    vlt_backend_list_ahead(be, BACKEND_INDEX);
    assert_int_equal(count_names(be, BACKEND_KEYS), 0);
    assert_int_equal(count_names(be, BACKEND_SNAPSHOTS), 0);
    assert_int_equal(count_names(be, BACKEND_INDEX), 0);
    backend_slow_stats s;
    vlt_backend_slow_stats(slow, &s);
    assert_int_equal(vlt_backend_slow_total(&s, SLOW_LIST), 3);
    assert_true(s.max_in_flight >= 2);
    backend_close(be);
}

static void test_failed_ahead_is_asked_again(void **state)
{
    (void)state;
    backend *mem, *faulty, *be;
    assert_vault_ok(vlt_backend_memory_open(&mem));
    save_some(mem, BACKEND_INDEX, 0, 4);
    /* the first operation through it (the listing ahead) fails */
    assert_vault_ok(vlt_backend_faulty_open(mem, 1, VAULT_E_IO, 0, &faulty));
    assert_vault_ok(vlt_backend_ahead_wrap(faulty, &be));
    vlt_backend_list_ahead(be, BACKEND_INDEX);
    assert_int_equal(count_names(be, BACKEND_INDEX), 4);
    assert_int_equal(vlt_backend_faulty_count(faulty), 2);
    /* failing for good: the listing's own failure, on this thread */
    backend_close(be);
    assert_vault_ok(vlt_backend_memory_open(&mem));
    assert_vault_ok(vlt_backend_faulty_open(mem, 1, VAULT_E_IO, 1, &faulty));
    assert_vault_ok(vlt_backend_ahead_wrap(faulty, &be));
    vlt_backend_list_ahead(be, BACKEND_INDEX);
    name_list l;
    assert_vault_code(vlt_backend_list_names(be, BACKEND_INDEX, &l),
                      VAULT_E_IO);
    assert_non_null(strstr(vault_last_error(), "injected"));
    backend_close(be);
}

static void test_reached_through_cache(void **state)
{
    (void)state;
    char *dir = test_tempdir();
    backend *slow;
    backend *be = open_wrapped(0, &slow);
    backend *cached;
    assert_vault_ok(vlt_backend_cache_open(be, dir, 1u << 20, &cached));
    save_some(cached, BACKEND_SNAPSHOTS, 0, 2);
    vlt_backend_list_ahead(cached, BACKEND_SNAPSHOTS);
    assert_int_equal(count_names(cached, BACKEND_SNAPSHOTS), 2);
    assert_int_equal(lists(slow), 1);
    backend_close(cached);
    test_rmtree(dir);
}

static vault_error conformance_open(void *ctx, backend **out)
{
    (void)ctx;
    backend *mem;
    vault_error rc = vlt_backend_memory_open(&mem);
    if (rc != VAULT_OK)
        return rc;
    return vlt_backend_ahead_wrap(mem, out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taken_once),
        cmocka_unit_test(test_recent_snapshots),
        cmocka_unit_test(test_dropped_is_asked_again),
        cmocka_unit_test(test_started_together_run_together),
        cmocka_unit_test(test_failed_ahead_is_asked_again),
        cmocka_unit_test(test_reached_through_cache),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    const backend_conformance target = {.name = "ahead (memory)",
                                        .open = conformance_open};
    return failed + backend_conformance_run(&target);
}
