/*
 * test_util.h - helpers for the cmocka unit tests.
 */
#ifndef VAULT_TEST_UTIL_H
#define VAULT_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vault.h"

/* Asserts a vault call's result, printing the library's detail on failure. */
#define assert_vault_ok(expr)                                                \
    do {                                                                     \
        vault_error rc_ = (expr);                                            \
        if (rc_ != VAULT_OK)                                                 \
            fail_msg("%s: %s (%d): %s", #expr, vault_strerror(rc_), rc_,     \
                     vault_last_error());                                    \
    } while (0)
#define assert_vault_code(expr, code)                                        \
    do {                                                                     \
        vault_error rc_ = (expr);                                            \
        if (rc_ != (code))                                                   \
            fail_msg("%s: expected %s, got %s (%d): %s", #expr,              \
                     vault_strerror(code), vault_strerror(rc_), rc_,         \
                     vault_last_error());                                    \
    } while (0)

/* A fresh temporary directory (mkdtemp under $TMPDIR or /tmp), malloc'ed. */
char *test_tempdir(void);
/* rm -rf of a directory made by test_tempdir; frees the name. */
void test_rmtree(char *dir);
/* Runs a shell command, returns its exit status (-1 if it did not exit). */
int test_run(const char *fmt, ...);
/* Reads a whole file; fails the test if it cannot. */
uint8_t *test_read_file(const char *path, size_t *len);
void test_write_file(const char *path, const void *data, size_t len);

#endif
