/*
 * test_util.c - helpers for the cmocka unit tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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
