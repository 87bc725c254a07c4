/*
 * test_add.c - libvault end to end through the public API: init, open,
 * add, snapshots, ls, extract, include filters, deduplication of a second
 * add, and add's trees of deep and wide directories (archiver.c's waiting
 * directories) with one worker and with several.
 */
#include "vault_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "backend_testing.h"

/* A small source tree: files, an empty file, directories, symlinks. */
#define BIG_LEN (700u * 1024) /* over CHUNKER_MIN_SIZE: more than one chunk */
static void make_source(const char *src)
{
    char p[PATH_MAX];
    make_dir(src);
    test_fmt(p, sizeof p, "%s/a.txt", src);
    test_write_file(p, "hello, vault\n", 13);
    test_fmt(p, sizeof p, "%s/sub", src);
    make_dir(p);
    uint8_t *big = xmalloc(BIG_LEN);
    rng_fill(big, BIG_LEN);
    test_fmt(p, sizeof p, "%s/sub/b.bin", src);
    test_write_file(p, big, BIG_LEN);
    free(big);
    test_fmt(p, sizeof p, "%s/sub/empty", src);
    test_write_file(p, "", 0);
    test_fmt(p, sizeof p, "%s/emptydir", src);
    make_dir(p);
    test_fmt(p, sizeof p, "%s/link", src);
    assert_int_equal(symlink("a.txt", p), 0);
    test_fmt(p, sizeof p, "%s/abslink", src);
    assert_int_equal(symlink("/nonexistent/vault/target", p), 0);
    test_fmt(p, sizeof p, "%s/a.txt", src);
    assert_int_equal(chmod(p, 0640), 0);
}

static void test_roundtrip(void **state)
{
    fx *f = *state;
    char src[PATH_MAX], out[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
    test_fmt(src, sizeof src, "%s/src", f->base);
    make_source(src);

    vault_add_result r;
    fx_add(f, src, 0, &r);
    assert_int_equal(strlen(r.snapshot_id), 64);
    assert_int_equal(r.files, 3);
    assert_int_equal(r.errors, 0);
    assert_true(r.bytes_read == 13 + BIG_LEN);

    /* snapshots */
    vault_snapshot_info *list;
    size_t n;
    assert_vault_ok(vault_snapshots(f->v, &list, &n));
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, r.snapshot_id);
    assert_int_equal(list[0].n_paths, 1);
    assert_string_equal(list[0].paths[0], src);
    assert_string_equal(list[0].hostname, "testhost");
    assert_int_equal(list[0].files, 3);
    vault_snapshots_free(list, n);
    size_t count;
    assert_vault_ok(vault_snapshot_count(f->v, &count));
    assert_int_equal(count, 1);

    /* ls, recursive: every ancestor of src, src and everything below */
    ls_list ls = {0};
    assert_vault_ok(vault_ls(f->v, r.snapshot_id, NULL, 1, ls_collect, &ls));
    size_t expected = 0;
    for (const char *s = src + 1; (s = strchr(s, '/')) != NULL; s++) {
        test_fmt(p, sizeof p, "%.*s", (int)(s - src), src);
        assert_int_equal(ls_get(&ls, p)->type, VAULT_DIR);
        expected++;
    }
    assert_int_equal(ls_get(&ls, src)->type, VAULT_DIR);
    struct {
        const char *rel;
        vault_file_type type;
        uint64_t size;
        const char *target;
    } want[] = {
        {"a.txt", VAULT_FILE, 13, NULL},
        {"sub", VAULT_DIR, 0, NULL},
        {"sub/b.bin", VAULT_FILE, BIG_LEN, NULL},
        {"sub/empty", VAULT_FILE, 0, NULL},
        {"emptydir", VAULT_DIR, 0, NULL},
        {"link", VAULT_SYMLINK, 0, "a.txt"},
        {"abslink", VAULT_SYMLINK, 0, "/nonexistent/vault/target"},
    };
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(want); i++) {
        test_fmt(p, sizeof p, "%s/%s", src, want[i].rel);
        const ls_entry *e = ls_get(&ls, p);
        if (e->type != want[i].type || e->size != want[i].size)
            fail_msg("%s: type %d size %" PRIu64 ", expected %d %" PRIu64, p,
                     e->type, e->size, want[i].type, want[i].size);
        if (want[i].target)
            assert_string_equal(e->target, want[i].target);
    }
    assert_int_equal(ls_get(&ls, src)->mode, 0700);
    test_fmt(p, sizeof p, "%s/a.txt", src);
    assert_int_equal(ls_get(&ls, p)->mode, 0640);
    expected += 1 + VAULT_ARRAY_SIZE(want);
    if (ls.n != expected)
        fail_msg("ls reported %zu entries, expected %zu", ls.n, expected);
    ls_free(&ls);

    /* ls of one directory, not recursive; of a file; of nothing */
    assert_vault_ok(vault_ls(f->v, r.snapshot_id, src, 0, ls_collect, &ls));
    assert_int_equal(ls.n, 5);
    ls_free(&ls);
    test_fmt(p, sizeof p, "%s/sub/b.bin", src);
    assert_vault_ok(vault_ls(f->v, r.snapshot_id, p, 1, ls_collect, &ls));
    assert_int_equal(ls.n, 1);
    assert_string_equal(ls.e[0].path, p);
    assert_true(ls.e[0].size == BIG_LEN);
    ls_free(&ls);
    test_fmt(p, sizeof p, "%s/nope", src);
    assert_vault_code(vault_ls(f->v, r.snapshot_id, p, 1, ls_collect, &ls),
                      VAULT_E_NOT_FOUND);
    test_fmt(p, sizeof p, "%s/a.txt/below", src);
    assert_vault_code(vault_ls(f->v, r.snapshot_id, p, 1, ls_collect, &ls),
                      VAULT_E_NOT_FOUND);
    ls_free(&ls);

    /* extract everything and compare with the source */
    test_fmt(out, sizeof out, "%s/out", f->base);
    err_log log = {0};
    vault_extract_result res;
    vault_error rc = extract_to(f->v, r.snapshot_id, out, 0, NULL, 0, &log,
                                &res);
    if (rc != VAULT_OK) {
        log_print(&log);
        fail_msg("extract: %s: %s", vault_strerror(rc), vault_last_error());
    }
    assert_int_equal(res.files, 3);
    assert_int_equal(res.symlinks, 2);
    assert_int_equal(res.errors, 0);
    assert_true(res.bytes == 13 + BIG_LEN);
    test_fmt(p, sizeof p, "%s%s", out, src);
    assert_int_equal(test_run("diff -r --no-dereference '%s' '%s'", src, p),
                     0);
    struct stat a, b;
    test_fmt(p, sizeof p, "%s/a.txt", src);
    test_fmt(q, sizeof q, "%s%s/a.txt", out, src);
    assert_int_equal(stat(p, &a), 0);
    assert_int_equal(stat(q, &b), 0);
    assert_int_equal(a.st_mode, b.st_mode);
    assert_int_equal(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
    assert_int_equal(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
    char link[64];
    test_fmt(q, sizeof q, "%s%s/abslink", out, src);
    ssize_t ll = readlink(q, link, sizeof link - 1);
    assert_true(ll > 0);
    link[ll] = '\0';
    assert_string_equal(link, "/nonexistent/vault/target");

    /* extracting again over it, without overwrite: each file is there
     * as the snapshot has it, so left alone (a resumed extraction) */
    vault_extract_result res2;
    rc = extract_to(f->v, r.snapshot_id, out, 0, NULL, 0, &log, &res2);
    assert_int_equal(rc, VAULT_OK);
    assert_int_equal(res2.errors, 0);
    assert_true(res2.skipped >= 5);
    assert_int_equal(res2.files, 0);
    log_free(&log);
    /* one that differs is refused */
    test_fmt(q, sizeof q, "%s%s/a.txt", out, src);
    struct timespec moved[2] = {{0, UTIME_OMIT}, {1, 0}};
    assert_int_equal(utimensat(AT_FDCWD, q, moved, 0), 0);
    rc = extract_to(f->v, r.snapshot_id, out, 0, NULL, 0, &log, &res2);
    assert_int_equal(rc, VAULT_E_PARTIAL);
    assert_int_equal(res2.differ, 1);
    assert_int_equal(res2.errors, 1);
    log_free(&log);

    /* an include filter, and an include that is not there */
    char out2[PATH_MAX], inc_sub[PATH_MAX], inc_none[PATH_MAX];
    test_fmt(out2, sizeof out2, "%s/out2", f->base);
    test_fmt(inc_sub, sizeof inc_sub, "%s/sub", src);
    test_fmt(inc_none, sizeof inc_none, "%s/none", src);
    const char *inc[] = {inc_sub, inc_none};
    rc = extract_to(f->v, r.snapshot_id, out2, 0, inc, 2, &log, &res);
    assert_int_equal(rc, VAULT_E_PARTIAL);
    assert_int_equal(log.n, 1);
    assert_int_equal(log_get(&log, inc_none)->code, VAULT_E_NOT_FOUND);
    test_fmt(p, sizeof p, "%s%s/sub/b.bin", out2, src);
    assert_true(exists_nofollow(p));
    test_fmt(p, sizeof p, "%s%s/a.txt", out2, src);
    assert_false(exists_nofollow(p));
    log_free(&log);

    /* the same tree again: everything deduplicates */
    vault_add_result r2;
    fx_add(f, src, 0, &r2);
    assert_string_not_equal(r.snapshot_id, r2.snapshot_id);
    assert_true(r2.bytes_read == 13 + BIG_LEN);
    if (r2.bytes_added > 4096)
        fail_msg("second add of the same files stored %" PRIu64 " bytes",
                 r2.bytes_added);
    char id[65];
    assert_vault_ok(vault_snapshot_resolve(f->v, "latest", id));
    assert_string_equal(id, r2.snapshot_id);
}

static void set_mtime(const char *path, time_t sec)
{
    struct timespec ts[2] = {{0, UTIME_OMIT}, {sec, 0}};
    if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0)
        fail_msg("%s: %s", path, strerror(errno));
}

/* add stores a directory's tree once its files' chunk IDs are in, which
 * may be after the walker has gone on (archiver.c, waiting_dir): a chain
 * deeper than the directories allowed to wait and many sibling
 * directories come back whole, directory metadata too, with one worker
 * and with several. */
static void test_roundtrip_deep_and_wide(void **state)
{
    fx *f = *state;
    enum { DEPTH = 300, WIDE = 600 };
    char src[PATH_MAX], out[PATH_MAX], p[PATH_MAX], text[64];
    test_fmt(src, sizeof src, "%s/src", f->base);
    make_dir(src);
    size_t len = (size_t)snprintf(p, sizeof p, "%s", src);
    for (int level = 0; level < DEPTH; level++) {
        len += (size_t)snprintf(p + len, sizeof p - len, "/d");
        make_dir(p);
        /* Only the deepest file has content: its chunk is still in the
         * walker's unsent batch when every level above is left, so they
         * all wait, more than WAITING_DIRS_MAX of them. */
        char file[PATH_MAX];
        int n = snprintf(text, sizeof text, "level %d\n", level);
        test_fmt(file, sizeof file, "%s/f", p);
        test_write_file(file, text, level == DEPTH - 1 ? (size_t)n : 0);
    }
    for (int i = 0; i < WIDE; i++) {
        test_fmt(p, sizeof p, "%s/w%03d", src, i);
        make_dir(p);
        int n = snprintf(text, sizeof text, "wide %d\n", i);
        char file[PATH_MAX];
        test_fmt(file, sizeof file, "%s/f", p);
        test_write_file(file, text, (size_t)n);
        if (i % 7 == 0) { /* and some with a subdirectory */
            test_fmt(file, sizeof file, "%s/sub", p);
            make_dir(file);
        }
    }
    /* Directory mtimes, distinct and set last (creating moved them). */
    time_t stamp = 1400000000;
    len = (size_t)snprintf(p, sizeof p, "%s", src);
    for (int level = 0; level < DEPTH; level++) {
        len += (size_t)snprintf(p + len, sizeof p - len, "/d");
        set_mtime(p, stamp++);
    }
    for (int i = 0; i < WIDE; i++) {
        test_fmt(p, sizeof p, "%s/w%03d/sub", src, i);
        if (i % 7 == 0)
            set_mtime(p, stamp++);
        test_fmt(p, sizeof p, "%s/w%03d", src, i);
        set_mtime(p, stamp++);
    }
    set_mtime(src, stamp++);
    for (int threads = 1; threads <= 3; threads += 2) {
        vault_add_result r;
        fx_add_threads(f, src, 0, threads, &r);
        assert_int_equal(r.files, DEPTH + WIDE);
        assert_int_equal(r.errors, 0);
        test_fmt(out, sizeof out, "%s/out%d", f->base, threads);
        err_log log = {0};
        vault_extract_result res;
        vault_error rc = extract_to(f->v, r.snapshot_id, out, 0, NULL, 0,
                                    &log, &res);
        if (rc != VAULT_OK) {
            log_print(&log);
            fail_msg("extract: %s: %s", vault_strerror(rc),
                     vault_last_error());
        }
        log_free(&log);
        assert_int_equal(res.files, DEPTH + WIDE);
        test_fmt(p, sizeof p, "%s%s", out, src);
        assert_int_equal(test_run("diff -r '%s' '%s'", src, p), 0);
        assert_int_equal(test_run("cd '%s' && find . -type d -printf "
                                  "'%%p %%T@\\n' | sort > '%s/dirs.src' && "
                                  "cd '%s' && find . -type d -printf "
                                  "'%%p %%T@\\n' | sort > '%s/dirs.out' && "
                                  "cmp '%s/dirs.src' '%s/dirs.out'",
                                  src, f->base, p, f->base, f->base, f->base),
                         0);
    }
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_deep_and_wide, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests_name("vault API: add", tests, NULL, NULL)
               ? 1
               : 0;
}
