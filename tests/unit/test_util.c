/*
 * test_util.c - helpers for the cmocka unit tests.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

char *test_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/vault-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpl))
        fail_msg("mkdtemp %s failed", tmpl);
    char *dir = strdup(tmpl);
    assert_non_null(dir);
    return dir;
}

void test_rmtree(char *dir)
{
    if (!dir)
        return;
    if (test_run("rm -rf '%s'", dir) != 0)
        fail_msg("rm -rf %s failed", dir);
    free(dir);
}

int test_run(const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int status = system(cmd);
    if (status == -1 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

uint8_t *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    size_t cap = 1 << 16, used = 0;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    size_t n;
    while ((n = fread(buf + used, 1, cap - used, f)) > 0) {
        used += n;
        if (used == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    *len = used;
    return buf;
}

void test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot create %s", path);
    if (len && fwrite(data, 1, len, f) != len)
        fail_msg("cannot write %s", path);
    if (fclose(f) != 0)
        fail_msg("cannot close %s", path);
}

void test_fmt(char *buf, size_t size, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(buf, size, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size)
        fail_msg("path too long for the test's buffer");
}

static char watchdog_msg[128];

static void on_alarm(int sig)
{
    (void)sig;
    ssize_t w = write(STDERR_FILENO, watchdog_msg, strlen(watchdog_msg));
    (void)w;
    _exit(3);
}

void test_watchdog(const char *name, unsigned seconds)
{
    snprintf(watchdog_msg, sizeof watchdog_msg, "%s: TIMEOUT - a hang\n",
             name);
    signal(SIGALRM, on_alarm);
    alarm(seconds);
}

/* ---- a backend that intercepts saves ----------------------------------- */

typedef struct wrap_backend {
    backend base; /* first: the ops dispatch on it */
    backend *inner;
    int owns_inner;
    test_save_fn save_fn;
    max_align_t ctx[]; /* the test's */
} wrap_backend;

static wrap_backend *wrap_of(backend *be)
{
    return (wrap_backend *)be;
}

static vault_error wrap_save(backend *be, backend_kind kind, const char *name,
                             const uint8_t *data, size_t len)
{
    wrap_backend *w = wrap_of(be);
    if (w->save_fn)
        return w->save_fn(w->ctx, w->inner, kind, name, data, len);
    return backend_save(w->inner, kind, name, data, len);
}

static vault_error wrap_load(backend *be, backend_kind kind, const char *name,
                             uint64_t offset, size_t len, size_t max_len,
                             uint8_t **out, size_t *out_len)
{
    return backend_load(wrap_of(be)->inner, kind, name, offset, len, max_len,
                        out, out_len);
}

static vault_error wrap_stat(backend *be, backend_kind kind, const char *name,
                             uint64_t *size)
{
    return backend_stat(wrap_of(be)->inner, kind, name, size);
}

static vault_error wrap_list(backend *be, backend_kind kind,
                             backend_list_fn fn, void *ctx, int *stopped)
{
    return backend_list(wrap_of(be)->inner, kind, fn, ctx, stopped);
}

static vault_error wrap_remove(backend *be, backend_kind kind,
                               const char *name)
{
    return backend_remove(wrap_of(be)->inner, kind, name);
}

static void wrap_close(backend *be)
{
    if (wrap_of(be)->owns_inner)
        backend_close(wrap_of(be)->inner);
    free(be);
}

static const backend_ops wrap_ops = {
    .save = wrap_save,
    .load = wrap_load,
    .stat = wrap_stat,
    .list = wrap_list,
    .remove = wrap_remove,
    .close = wrap_close,
};

backend *test_backend_wrap(backend *inner, int owns_inner,
                           test_save_fn save_fn, size_t ctx_size)
{
    wrap_backend *w = calloc(1, sizeof *w + ctx_size);
    if (!w)
        return NULL;
    w->base.ops = &wrap_ops;
    w->base.is_local = inner->is_local;
    w->inner = inner;
    w->owns_inner = owns_inner;
    w->save_fn = save_fn;
    return &w->base;
}

void *test_backend_ctx(backend *be)
{
    return wrap_of(be)->ctx;
}
