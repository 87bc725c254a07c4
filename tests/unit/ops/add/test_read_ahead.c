/*
 * test_read_ahead.c - a first add's data read-ahead (source_fs.c, "data
 * read-ahead"), through the file system source itself:
 *   - it goes through the files in the walk's own order and, at every
 *     step of the walk, has asked for exactly its window past the files
 *     the walk has reached (never more), up to the last file; files left
 *     out (a pattern), empty ones and other entries count on neither side;
 *   - closing the source while it waits for the walk ends it;
 *   - with a files cache that knows files (an add that skips unchanged
 *     ones) nothing is read ahead.
 */
#include "vault_fixture.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ops/add/add_source.h"
#include "repo/filecache.h"
#include "repo/repo.h"

#define FILE_BYTES 4096u
#define WINDOW 10000u

/* src/: three folders of six files, one holding a folder of three; a
 * file left out by a pattern, an empty file, a symlink; 23 files counted. */
#define FILES_COUNTED 22u

/* A file of 512 to 4095 bytes, its size from its name (sizes that differ
 * make the bytes asked for tell the order the files were taken in);
 * empty: 0 bytes. */
static void put(const char *base, const char *rel, int empty)
{
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/%s", base, rel);
    size_t len = 0;
    for (const char *c = rel; !empty && *c; c++)
        len = len * 131 + (unsigned char)*c;
    if (!empty)
        len = 512 + len % (FILE_BYTES - 512);
    uint8_t data[FILE_BYTES];
    memset(data, rel[0], sizeof data);
    test_write_file(p, data, len);
}

static void make_tree(fx *f, char src[PATH_MAX])
{
    test_fmt(src, PATH_MAX, "%s/src", f->base);
    make_dir(src);
    char p[PATH_MAX];
    const char *dirs[] = {"a", "b", "b/sub", "c"};
    for (size_t i = 0; i < 4; i++) {
        test_fmt(p, sizeof p, "%s/%s", src, dirs[i]);
        make_dir(p);
    }
    for (int d = 0; d < 3; d++)
        for (int i = 0; i < 6; i++) {
            char rel[32];
            snprintf(rel, sizeof rel, "%c/f%02d", "abc"[d], i);
            put(src, rel, 0);
        }
    put(src, "b/sub/g0", 0);
    put(src, "b/sub/g1", 0);
    put(src, "b/sub/g2", 0);
    put(src, "a/f02.skip", 0); /* left out */
    put(src, "c/empty", 1);
    put(src, "top", 0); /* the root's last entry */
    test_fmt(p, sizeof p, "%s/a/link", src);
    assert_int_equal(symlink("f00", p), 0);
}

static void no_report(void *ctx, const char *path, const char *detail)
{
    (void)ctx;
    fail_msg("reported %s: %s", path, detail);
}

static const char *const excludes[] = {"*.skip"};

/* The tree made and the options that walk it (the source keeps a
 * pointer to them while it is open). */
typedef struct walk_setup {
    char dir[PATH_MAX];
    const char *paths[1];
    vault_add_options o;
} walk_setup;

static void setup(fx *f, walk_setup *ws)
{
    make_tree(f, ws->dir);
    ws->paths[0] = ws->dir;
    vault_add_options_init(&ws->o);
    ws->o.paths = ws->paths;
    ws->o.n_paths = 1;
    ws->o.excludes = excludes;
    ws->o.n_excludes = 1;
}

/* The sizes of the regular files a walk reached, in its order. */
typedef struct walk_sizes {
    uint64_t size[64];
    size_t n;
    uint64_t total;
} walk_sizes;

/* Where the read-ahead stops with reached bytes reached: after the
 * first file that ends at or past reached + WINDOW, or at the end. */
static uint64_t window_end(const walk_sizes *w, uint64_t reached)
{
    uint64_t at = 0;
    for (size_t i = 0; i < w->n && at < reached + WINDOW; i++)
        at += w->size[i];
    return at;
}

/* Waits (10 s at most) until the read-ahead has asked for at least
 * want bytes; returns what it has asked for. */
static uint64_t asked_at_least(const add_source *src, uint64_t want)
{
    uint64_t asked = 0;
    for (int i = 0; i < 10000; i++) {
        asked = vlt_add_source_fs_asked(src);
        if (asked >= want)
            break;
        usleep(1000);
    }
    return asked;
}

/* Walks src to its end, the regular files' sizes into *seen.  expect
 * (NULL: none) is an earlier walk of the same tree: the files come in
 * its order, and at each the read-ahead has asked for exactly up to
 * window_end. */
static void walk(add_source *src, walk_sizes *seen, const walk_sizes *expect)
{
    memset(seen, 0, sizeof *seen);
    for (;;) {
        add_item it;
        assert_vault_ok(src->next(src->ctx, &it));
        if (it.kind == ADD_ITEM_END)
            break;
        if (it.kind != ADD_ITEM_NODE)
            continue;
        if (it.node.type == NODE_FILE && it.node.size > 0) {
            assert_null(strstr(it.path, ".skip"));
            assert_true(seen->n < 64);
            seen->size[seen->n++] = it.node.size;
            seen->total += it.node.size;
        }
        if (expect && it.node.type == NODE_FILE && it.node.size > 0) {
            assert_true(seen->n <= expect->n);
            assert_int_equal(it.node.size, expect->size[seen->n - 1]);
            uint64_t want = window_end(expect, seen->total);
            uint64_t asked = asked_at_least(src, want);
            if (asked != want)
                fail_msg("at %s (%llu bytes reached): %llu bytes asked for, "
                         "expected %llu",
                         it.path, (unsigned long long)seen->total,
                         (unsigned long long)asked,
                         (unsigned long long)want);
        }
        vlt_tree_node_clear(&it.node);
    }
}

static void test_window_follows_the_walk(void **state)
{
    fx *f = *state;
    walk_setup ws;
    setup(f, &ws);
    /* the walk's order and sizes, with the default window (the walk is
     * the same with any) */
    add_source src;
    assert_vault_ok(vlt_add_source_fs_open(&ws.o, NULL, no_report, NULL, &src));
    walk_sizes w;
    walk(&src, &w, NULL);
    vlt_add_source_fs_close(&src);
    assert_int_equal(w.n, FILES_COUNTED);
    assert_true(w.total > 2 * WINDOW);

    vlt_add_source_fs_set_window(WINDOW);
    assert_vault_ok(vlt_add_source_fs_open(&ws.o, NULL, no_report, NULL, &src));
    /* before the walk's first step: one window */
    assert_int_equal(asked_at_least(&src, window_end(&w, 0)),
                     window_end(&w, 0));
    walk_sizes seen;
    walk(&src, &seen, &w);
    assert_int_equal(seen.n, FILES_COUNTED);
    assert_int_equal(vlt_add_source_fs_asked(&src), w.total);
    vlt_add_source_fs_close(&src);
    vlt_add_source_fs_set_window(0);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_close_ends_a_waiting_read_ahead(void **state)
{
    fx *f = *state;
    walk_setup ws;
    setup(f, &ws);
    vlt_add_source_fs_set_window(WINDOW);
    add_source src;
    assert_vault_ok(vlt_add_source_fs_open(&ws.o, NULL, no_report, NULL, &src));
    /* a window asked for, and waiting for the walk, which never moves */
    uint64_t asked = asked_at_least(&src, WINDOW);
    assert_true(asked >= WINDOW && asked < WINDOW + FILE_BYTES);
    usleep(20000);
    assert_int_equal(vlt_add_source_fs_asked(&src), asked);
    double t0 = now_s();
    vlt_add_source_fs_close(&src);
    assert_true(now_s() - t0 < 5.0);
    vlt_add_source_fs_set_window(0);
}

static void test_no_read_ahead_when_the_cache_knows_files(void **state)
{
    fx *f = *state;
    walk_setup ws;
    setup(f, &ws);
    char cache_dir[PATH_MAX];
    test_fmt(cache_dir, sizeof cache_dir, "%s/cache", f->base);
    make_dir(cache_dir);
    /* a files cache that knows one file from an earlier add */
    filecache *c;
    assert_vault_ok(vlt_filecache_open(cache_dir, f->v->keys, &c));
    assert_int_equal(vlt_filecache_known(c), 0);
    filecache_key key = {.size = 1, .inode = 2, .device = 3};
    uint8_t id[32] = {1};
    assert_vault_ok(vlt_filecache_record(c, "/elsewhere", &key, id, 1, 0));
    assert_vault_ok(vlt_filecache_save(c));
    vlt_filecache_free(c);
    assert_vault_ok(vlt_filecache_open(cache_dir, f->v->keys, &c));
    assert_int_equal(vlt_filecache_known(c), 1);

    vlt_add_source_fs_set_window(WINDOW);
    add_source src;
    assert_vault_ok(vlt_add_source_fs_open(&ws.o, c, no_report, NULL, &src));
    walk_sizes w;
    walk(&src, &w, NULL);
    assert_int_equal(w.n, FILES_COUNTED);
    usleep(20000);
    assert_int_equal(vlt_add_source_fs_asked(&src), 0);
    vlt_add_source_fs_close(&src);
    vlt_filecache_free(c);
    vlt_add_source_fs_set_window(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_window_follows_the_walk,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_close_ends_a_waiting_read_ahead,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_no_read_ahead_when_the_cache_knows_files, fx_setup,
            fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
