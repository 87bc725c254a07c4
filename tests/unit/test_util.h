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

#include "backend/backend.h"
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
/* snprintf that fails the test when buf is too small. */
void test_fmt(char *buf, size_t size, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
/* A hang is a failure: after seconds (0: never), the process says
 * "<name>: TIMEOUT - a hang" and exits 3.  alarm(0) stops it. */
void test_watchdog(const char *name, unsigned seconds);

/*
 * A backend in front of inner for tests that intercept saves: every save
 * goes to save_fn (NULL: straight on), which may pass it on with
 * backend_save(inner, ...); everything else goes straight to inner.  It
 * carries ctx_size zeroed bytes of the test's own (test_backend_ctx).
 * Closing it closes inner too when owns_inner.  NULL: out of memory.
 */
typedef vault_error (*test_save_fn)(void *ctx, backend *inner,
                                    backend_kind kind, const char *name,
                                    const uint8_t *data, size_t len);
backend *test_backend_wrap(backend *inner, int owns_inner,
                           test_save_fn save_fn, size_t ctx_size);
void *test_backend_ctx(backend *be);

#endif
