/*
 * test_add_sources.c - what vault_add reads, through vault.h: exclude
 * options (patterns both ways, tag files, size), on_item, dry_run (the
 * vault's files unchanged), input_fd as one file and as an archive, and
 * the options refused.
 */
#include "vault_fixture.h"

#include <archive.h>
#include <archive_entry.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *base, const char *rel, const char *text)
{
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/%s", base, rel);
    test_write_file(p, text, strlen(text));
}

static void mkd(const char *base, const char *rel)
{
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/%s", base, rel);
    make_dir(p);
}

/* Snapshot id's entries, recursively. */
static void list_snapshot(fx *f, const char *id, ls_list *l)
{
    memset(l, 0, sizeof *l);
    assert_vault_ok(vault_ls(f->v, id, NULL, 1, ls_collect, l));
}

static int listed(const ls_list *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->e[i].path, path) == 0)
            return 1;
    return 0;
}

typedef struct items {
    size_t n, dirs, unchanged;
} items;

static void count_item(void *ctx, const char *path, int type, uint64_t size,
                       int unchanged)
{
    (void)path;
    (void)size;
    items *it = ctx;
    it->n++;
    it->dirs += type == VAULT_DIR;
    it->unchanged += unchanged != 0;
}

static void init_options(vault_add_options *o, const char *const *paths,
                         size_t n)
{
    vault_add_options_init(o);
    o->paths = paths;
    o->n_paths = n;
    o->cache_dir = "";
    o->hostname = "testhost";
    o->threads = 2;
}

static void test_excludes(void **state)
{
    fx *f = *state;
    char src[PATH_MAX], path[PATH_MAX];
    test_fmt(src, sizeof src, "%s/src", f->base);
    make_dir(src);
    mkd(src, "Music");
    put(src, "Music/a.mp3", "a");
    mkd(src, "cache");
    put(src, "cache/CACHEDIR.TAG",
        "Signature: 8a477f597d28d172789f06886806bc55 more");
    put(src, "cache/blob", "b");
    char big[201];
    memset(big, 'x', 200);
    big[200] = '\0';
    put(src, "big.bin", big);
    put(src, "Notes.TXT", "n");
    put(src, "keep.txt", "k");
    const char *paths[] = {src};
    const char *excludes[] = {"Music/"};
    const char *iexcludes[] = {"*.txt", "!keep.txt"};
    vault_add_options o;
    init_options(&o, paths, 1);
    o.excludes = excludes;
    o.n_excludes = 1;
    o.iexcludes = iexcludes;
    o.n_iexcludes = 2;
    o.exclude_caches = 1;
    o.exclude_larger_than = 199; /* not the tag file's 48 bytes */
    items it = {0};
    o.on_item = count_item;
    o.on_item_ctx = &it;
    vault_add_result r;
    assert_vault_ok(vault_add(f->v, &o, &r));
    assert_int_equal(r.errors, 0);
    ls_list l;
    list_snapshot(f, r.snapshot_id, &l);
    test_fmt(path, sizeof path, "%s/keep.txt", src);
    assert_true(listed(&l, path));
    test_fmt(path, sizeof path, "%s/cache/CACHEDIR.TAG", src);
    assert_true(listed(&l, path));
    static const char *gone[] = {"Music", "Music/a.mp3", "cache/blob",
                                 "big.bin", "Notes.TXT"};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++) {
        test_fmt(path, sizeof path, "%s/%s", src, gone[i]);
        if (listed(&l, path))
            fail_msg("%s was not excluded", gone[i]);
    }
    /* on_item: src, cache (dirs); keep.txt, CACHEDIR.TAG (files) */
    assert_int_equal(it.n, 4);
    assert_int_equal(it.dirs, 2);
    ls_free(&l);

    /* malformed: refused before anything is stored */
    const char *bad[] = {"a/[b"};
    o.excludes = bad;
    assert_vault_code(vault_add(f->v, &o, &r), VAULT_E_INVALID);
    assert_non_null(strstr(vault_last_error(), "a/[b"));
    o.excludes = excludes;
    const char *no_name[] = {":header"};
    o.exclude_if_present = no_name;
    o.n_exclude_if_present = 1;
    assert_vault_code(vault_add(f->v, &o, &r), VAULT_E_INVALID);
}

/* Every file below dir: name, size and mtime, into a text (the vault's
 * files, to see a dry run changed none). */
static void fingerprint(const char *dir, char *out, size_t cap)
{
    char cmd[PATH_MAX + 128];
    test_fmt(cmd, sizeof cmd,
             "cd '%s' && find . -printf '%%p %%s %%T@\\n' | sort | "
             "sha256sum > '%s.fp'", dir, dir);
    assert_int_equal(test_run("%s", cmd), 0);
    char fp[PATH_MAX + 8];
    test_fmt(fp, sizeof fp, "%s.fp", dir);
    size_t len;
    uint8_t *text = test_read_file(fp, &len);
    assert_true(len < cap);
    memcpy(out, text, len);
    out[len] = '\0';
    free(text);
}

static void test_dry_run(void **state)
{
    fx *f = *state;
    char src[PATH_MAX], before[128], after[128];
    test_fmt(src, sizeof src, "%s/src", f->base);
    make_dir(src);
    put(src, "a", "some content to store");
    const char *paths[] = {src};
    vault_add_options o;
    init_options(&o, paths, 1);
    o.dry_run = 1;
    fingerprint(f->vault, before, sizeof before);
    vault_add_result r;
    assert_vault_ok(vault_add(f->v, &o, &r));
    assert_int_equal(r.files, 1);
    assert_true(r.bytes_added > 0); /* what it would store */
    assert_int_equal(r.snapshot_id[0], '\0');
    fingerprint(f->vault, after, sizeof after);
    assert_string_equal(before, after);
    vault_snapshot_info *list;
    size_t n;
    assert_vault_ok(vault_snapshots(f->v, &list, &n));
    assert_int_equal(n, 0);
    vault_snapshots_free(list, n);
    /* the index forgot the dry run's blobs: a real add stores them */
    o.dry_run = 0;
    assert_vault_ok(vault_add(f->v, &o, &r));
    assert_true(r.blobs_added >= 2);
}

/* A pipe holding text, its read end returned. */
static int pipe_of(const void *data, size_t len)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_true(len < 60000); /* fits the pipe: no writer thread */
    assert_int_equal(write(fds[1], data, len), (ssize_t)len);
    close(fds[1]);
    return fds[0];
}

static void test_input_fd(void **state)
{
    fx *f = *state;
    static const char dump[] = "CREATE TABLE t (x int);\n";
    vault_add_options o;
    init_options(&o, NULL, 0);
    o.stdin_filename = "db/dump.sql";
    o.input_fd = pipe_of(dump, sizeof dump - 1);
    vault_add_result r;
    assert_vault_ok(vault_add(f->v, &o, &r));
    close(o.input_fd);
    assert_int_equal(r.files, 1);
    assert_int_equal(r.bytes_total, sizeof dump - 1);
    ls_list l;
    list_snapshot(f, r.snapshot_id, &l);
    const ls_entry *e = ls_get(&l, "/db/dump.sql");
    assert_int_equal(e->size, sizeof dump - 1);
    assert_int_equal(e->mode, 0600);
    ls_free(&l);

    /* an archive, built in memory by libarchive */
    static char tarbuf[16384];
    size_t used = 0;
    struct archive *w = archive_write_new();
    archive_write_set_format_pax_restricted(w);
    archive_write_set_bytes_in_last_block(w, 1);
    assert_int_equal(archive_write_open_memory(w, tarbuf, sizeof tarbuf,
                                               &used),
                     ARCHIVE_OK);
    struct archive_entry *e1 = archive_entry_new();
    archive_entry_set_pathname(e1, "/etc/x.conf");
    archive_entry_set_filetype(e1, AE_IFREG);
    archive_entry_set_perm(e1, 04755);
    archive_entry_set_uid(e1, 1234);
    archive_entry_set_size(e1, 5);
    archive_entry_xattr_add_entry(e1, "user.k", "v", 1);
    assert_int_equal(archive_write_header(w, e1), ARCHIVE_OK);
    assert_int_equal(archive_write_data(w, "hello", 5), 5);
    archive_entry_clear(e1);
    archive_entry_set_pathname(e1, "etc/../../evil");
    archive_entry_set_filetype(e1, AE_IFREG);
    archive_entry_set_size(e1, 0);
    assert_int_equal(archive_write_header(w, e1), ARCHIVE_OK);
    archive_entry_free(e1);
    archive_write_free(w);
    init_options(&o, NULL, 0);
    o.tar = "-";
    o.input_fd = pipe_of(tarbuf, used);
    uint64_t reported = 0;
    o.on_error = NULL;
    assert_vault_ok(vault_add(f->v, &o, &r));
    close(o.input_fd);
    reported = r.errors;
    assert_int_equal(reported, 1); /* the ".." name */
    list_snapshot(f, r.snapshot_id, &l);
    assert_int_equal(l.n, 2); /* /etc, /etc/x.conf */
    e = ls_get(&l, "/etc/x.conf");
    assert_int_equal(e->size, 5);
    assert_int_equal(e->mode, 04755);
    ls_free(&l);
    vault_snapshot_info *list;
    size_t n;
    assert_vault_ok(vault_snapshots(f->v, &list, &n));
    assert_string_equal(list[n - 1].paths[0], "-");
    vault_snapshots_free(list, n);

    /* refused */
    init_options(&o, NULL, 0);
    o.stdin_filename = "../x";
    assert_vault_code(vault_add(f->v, &o, &r), VAULT_E_INVALID);
    o.stdin_filename = "x";
    o.tar = "-";
    assert_vault_code(vault_add(f->v, &o, &r), VAULT_E_INVALID);
    o.tar = NULL;
    const char *excl[] = {"*"};
    o.excludes = excl;
    o.n_excludes = 1;
    assert_vault_code(vault_add(f->v, &o, &r), VAULT_E_INVALID);
    init_options(&o, NULL, 0);
    assert_vault_code(vault_add(f->v, &o, &r), VAULT_E_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_excludes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dry_run, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_input_fd, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
