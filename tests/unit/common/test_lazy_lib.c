/*
 * test_lazy_lib.c - libraries opened on first use (common/lazy_lib.h):
 * loaded once however many threads ask at once, the table bound once
 * and callable; a library that cannot be opened and one that lacks a
 * function are errors naming the library and why, every time asked,
 * and nothing is bound.  (tests/cli/test_lazy_libs.sh: libcurl and
 * libarchive through the CLI.)
 */
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "common/internal.h"
#include "common/lazy_lib.h"

/* libc: loaded in every process, so the test needs nothing installed. */
#define LIBC_SONAME "libc.so.6"

static atomic_int binds;
static struct {
    __typeof__(strlen) *strlen;
    __typeof__(strcmp) *strcmp;
} libc_table;

static void bind_libc(void *const *addresses)
{
    atomic_fetch_add(&binds, 1);
    libc_table.strlen = (__typeof__(libc_table.strlen))addresses[0];
    libc_table.strcmp = (__typeof__(libc_table.strcmp))addresses[1];
}

static void bind_never(void *const *addresses)
{
    (void)addresses;
    atomic_fetch_add(&binds, 1);
}

static const char *const libc_names[] = {"strlen", "strcmp"};
static void *libc_addresses[2];
static lazy_lib libc_lib = {
    .name = "libc",
    .soname = LIBC_SONAME,
    .needed_for = "counting",
    .names = libc_names,
    .n_names = 2,
    .addresses = libc_addresses,
    .bind = bind_libc,
};

#define RACERS 8

static pthread_barrier_t start_line;
static atomic_int racer_failures;

static void *racer(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start_line);
    if (vlt_lazy_lib_load(&libc_lib) != VAULT_OK ||
        libc_table.strlen("four") != 4)
        atomic_fetch_add(&racer_failures, 1);
    return NULL;
}

static void test_loads_once(void **state)
{
    (void)state;
    atomic_store(&binds, 0);
    pthread_barrier_init(&start_line, NULL, RACERS);
    pthread_t threads[RACERS];
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, racer, NULL), 0);
    for (int i = 0; i < RACERS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start_line);
    assert_int_equal(atomic_load(&racer_failures), 0);
    assert_int_equal(atomic_load(&binds), 1);
    /* later calls find it loaded */
    assert_vault_ok(vlt_lazy_lib_load(&libc_lib));
    assert_int_equal(atomic_load(&binds), 1);
    assert_int_equal(libc_table.strcmp("a", "a"), 0);
}

static void test_library_missing(void **state)
{
    (void)state;
    atomic_store(&binds, 0);
    static const char *const names[] = {"strlen"};
    static void *addresses[1];
    static lazy_lib missing = {
        .name = "libnothing",
        .soname = "libvault-test-no-such-library.so.0",
        .needed_for = "frobbing",
        .names = names,
        .n_names = 1,
        .addresses = addresses,
        .bind = bind_never,
    };
    for (int attempt = 0; attempt < 2; attempt++) {
        vlt_fail(VAULT_E_IO, "an earlier detail");
        assert_vault_code(vlt_lazy_lib_load(&missing), VAULT_E_UNSUPPORTED);
        const char *want = "frobbing needs libnothing "
                           "(libvault-test-no-such-library.so.0): ";
        assert_true(strncmp(vault_last_error(), want, strlen(want)) == 0);
        /* dlerror's reason follows */
        assert_non_null(strstr(vault_last_error(), "No such file"));
    }
    assert_int_equal(atomic_load(&binds), 0);
}

static void test_function_missing(void **state)
{
    (void)state;
    atomic_store(&binds, 0);
    static const char *const names[] = {"strlen", "vlt_test_no_such_function"};
    static void *addresses[2];
    static lazy_lib lacking = {
        .name = "libc",
        .soname = LIBC_SONAME,
        .needed_for = "frobbing",
        .names = names,
        .n_names = 2,
        .addresses = addresses,
        .bind = bind_never,
    };
    for (int attempt = 0; attempt < 2; attempt++) {
        vlt_fail(VAULT_E_IO, "an earlier detail");
        assert_vault_code(vlt_lazy_lib_load(&lacking), VAULT_E_UNSUPPORTED);
        const char *want = "frobbing needs libc (" LIBC_SONAME
                           ") with vlt_test_no_such_function: ";
        assert_true(strncmp(vault_last_error(), want, strlen(want)) == 0);
        assert_non_null(strstr(vault_last_error(), "undefined symbol"));
    }
    assert_int_equal(atomic_load(&binds), 0);
}

int main(void)
{
    test_watchdog("test_lazy_lib", 60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_once),
        cmocka_unit_test(test_library_missing),
        cmocka_unit_test(test_function_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
