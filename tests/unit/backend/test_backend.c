/*
 * test_backend.c - the helpers every backend shares (backend.c): kind
 * names, object name checks, the labels and ranges of error details.
 * Each backend's own test runs the conformance suite
 * (backend_conformance.h): test_backend_local.c, test_backend_memory.c,
 * test_backend_faulty.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "test_util.h"

#include "backend_conformance.h"
#include "backend_testing.h"
#include "common/internal.h"

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(vlt_backend_kind_name(BACKEND_CONFIG), "config");
    assert_string_equal(vlt_backend_kind_name(BACKEND_KEYS), "keys");
    assert_string_equal(vlt_backend_kind_name(BACKEND_DATA), "data");
    assert_string_equal(vlt_backend_kind_name(BACKEND_INDEX), "index");
    assert_string_equal(vlt_backend_kind_name(BACKEND_SNAPSHOTS), "snapshots");
    assert_string_equal(vlt_backend_kind_name(BACKEND_LOCKS), "locks");
    assert_null(vlt_backend_kind_name((backend_kind)BACKEND_KIND_COUNT));
    assert_null(vlt_backend_kind_name((backend_kind)-1));
}

static void test_name_valid(void **state)
{
    (void)state;
    char name[VAULT_NAME_HEX + 2];
    memset(name, 'a', VAULT_NAME_HEX);
    name[VAULT_NAME_HEX] = '\0';
    assert_true(vlt_backend_name_valid(name));
    assert_true(vlt_backend_name_valid(
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    assert_false(vlt_backend_name_valid(NULL));
    assert_false(vlt_backend_name_valid(""));
    assert_false(vlt_backend_name_valid("."));
    assert_false(vlt_backend_name_valid(".."));
    /* One character off each edge of the two hex ranges. */
    const char bad[] = {'/', ':', '`', 'g', 'A', 'F', ' ', '\n', '.', '-'};
    for (size_t i = 0; i < sizeof bad; i++) {
        for (size_t at = 0; at < VAULT_NAME_HEX; at += 63) {
            memset(name, 'a', VAULT_NAME_HEX);
            name[VAULT_NAME_HEX] = '\0';
            name[at] = bad[i];
            assert_false(vlt_backend_name_valid(name));
        }
    }
    memset(name, 'a', VAULT_NAME_HEX + 1);
    name[VAULT_NAME_HEX + 1] = '\0'; /* 65 */
    assert_false(vlt_backend_name_valid(name));
    name[VAULT_NAME_HEX - 1] = '\0'; /* 63 */
    assert_false(vlt_backend_name_valid(name));
    memset(name, 'a', VAULT_NAME_HEX);
    name[VAULT_NAME_HEX] = '\n'; /* trailing newline */
    name[VAULT_NAME_HEX + 1] = '\0';
    assert_false(vlt_backend_name_valid(name));
}

static void test_label_and_range(void **state)
{
    (void)state;
    char name[VAULT_NAME_HEX + 1], label[BACKEND_LABEL_MAX], want[100];
    name_with_prefix("3f", 1, name);
    vlt_backend_label(BACKEND_DATA, name, label);
    snprintf(want, sizeof want, "data/3f/%s", name);
    assert_string_equal(label, want);
    vlt_backend_label(BACKEND_SNAPSHOTS, name, label);
    snprintf(want, sizeof want, "snapshots/%s", name);
    assert_string_equal(label, want);
    vlt_backend_label(BACKEND_CONFIG, "", label);
    assert_string_equal(label, "config");

    size_t n = 99;
    assert_vault_ok(vlt_backend_check_range("x", 10, 0, 0, 10, &n));
    assert_int_equal(n, 10);
    assert_vault_ok(vlt_backend_check_range("x", 10, 10, 0, 0, &n));
    assert_int_equal(n, 0);
    assert_vault_ok(vlt_backend_check_range("x", 10, 3, 7, 7, &n));
    assert_int_equal(n, 7);
    /* No wrap-around of offset + len. */
    assert_vault_code(vlt_backend_check_range("x", 10, UINT64_MAX, 1, 10, &n),
                      VAULT_E_CORRUPT);
    assert_int_equal(n, 0);
    assert_vault_code(vlt_backend_check_range("x", 10, 1, SIZE_MAX, SIZE_MAX, &n),
                      VAULT_E_CORRUPT);
    assert_vault_code(vlt_backend_check_range("x", 10, 11, 0, 10, &n),
                      VAULT_E_CORRUPT);
    assert_vault_code(vlt_backend_check_range("obj", 10, 0, 0, 9, &n),
                      VAULT_E_CORRUPT);
    assert_detail_has("obj: 10 bytes to load, more than the limit of 9");

    assert_vault_code(vlt_backend_check((backend_kind)9, name), VAULT_E_INVALID);
    assert_detail_has("unknown object kind 9");
    assert_vault_code(vlt_backend_check(BACKEND_KEYS, NULL), VAULT_E_INVALID);
    assert_detail_has("keys: no object name");
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_label_and_range),
    };
    return cmocka_run_group_tests_name("backend helpers", tests, NULL, NULL)
               ? 1
               : 0;
}
