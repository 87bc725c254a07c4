/*
 * test_add_journal.c - the upload journal (repo/upload_journal.h): an add
 * that fails after some packs landed leaves them to the next add, which
 * lists them instead of uploading them again; a damaged journal is read
 * up to the damage, with a warning; a journal a live add holds is left
 * alone.
 */
#include "vault_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>


#define FILES 4
#define FILE_BYTES (12u * 1024 * 1024) /* random: three or four packs */
#define PACKS_LANDED 2                /* before the storage goes away */

/* A storage that takes PACKS_LANDED packs, then fails every save. */
typedef struct dying {
    atomic_uint data_saves;    /* packs that landed */
    atomic_ullong data_bytes;  /* their bytes */
} dying;

static vault_error dying_save(void *ctx, backend *inner, backend_kind kind,
                              const char *name, const uint8_t *data,
                              size_t len)
{
    dying *d = ctx;
    if (kind == BACKEND_DATA) {
        if (atomic_fetch_add(&d->data_saves, 1) >= PACKS_LANDED) {
            atomic_fetch_sub(&d->data_saves, 1);
            return vlt_fail(VAULT_E_IO, "data/%s: injected: storage gone",
                            name);
        }
        atomic_fetch_add(&d->data_bytes, len);
    } else if (kind == BACKEND_INDEX) {
        return vlt_fail(VAULT_E_IO, "index/%s: injected: storage gone", name);
    }
    return backend_save(inner, kind, name, data, len);
}

typedef struct jfx {
    fx *f;
    char src[PATH_MAX];   /* the tree added */
    char cache[PATH_MAX]; /* the client cache */
    uint64_t source_bytes;
} jfx;

typedef struct warnings {
    char text[8192];
} warnings;

static void collect_warning(const char *message, void *ctx)
{
    warnings *w = ctx;
    size_t used = strlen(w->text);
    snprintf(w->text + used, sizeof w->text - used, "%s\n", message);
}

static void make_tree(jfx *j)
{
    test_fmt(j->src, sizeof j->src, "%s/src", j->f->base);
    test_fmt(j->cache, sizeof j->cache, "%s/cache", j->f->base);
    make_dir(j->src);
    uint8_t *buf = xmalloc(FILE_BYTES);
    for (int i = 0; i < FILES; i++) {
        char p[PATH_MAX];
        test_fmt(p, sizeof p, "%s/f%d.bin", j->src, i);
        rng_fill(buf, FILE_BYTES);
        test_write_file(p, buf, FILE_BYTES);
    }
    free(buf);
    j->source_bytes = (uint64_t)FILES * FILE_BYTES;
}

static vault_error add_with(jfx *j, vault_t *v, vault_add_result *r)
{
    const char *paths[] = {j->src};
    vault_add_options o;
    memset(&o, 0, sizeof o);
    o.paths = paths;
    o.n_paths = 1;
    o.compression = VAULT_COMPRESSION_OFF;
    o.threads = 1;
    o.cache_dir = j->cache;
    o.hostname = "testhost";
    return vault_add(v, &o, r);
}

/* An add through a storage that dies after PACKS_LANDED packs: it fails;
 * the bytes that landed are returned. */
static uint64_t failed_add(jfx *j)
{
    backend *local;
    assert_vault_ok(vlt_backend_local_open(j->f->vault, 0, &local));
    backend *be = test_backend_wrap(local, 1, dying_save, sizeof(dying));
    assert_non_null(be);
    dying *d = test_backend_ctx(be);
    atomic_init(&d->data_saves, 0);
    atomic_init(&d->data_bytes, 0);
    vault_t *v;
    assert_vault_ok(vlt_repo_open_backend(be, j->f->vault, j->f->id, &v));
    vault_add_result r;
    vault_error rc = add_with(j, v, &r);
    assert_int_equal(rc, VAULT_E_IO);
    assert_int_equal(atomic_load(&d->data_saves), PACKS_LANDED);
    uint64_t landed = atomic_load(&d->data_bytes);
    vault_close(v);
    return landed;
}

/* The journals in the cache's pending folder: their count, and the
 * path of one in path. */
static size_t journals(const jfx *j, char *path, size_t size)
{
    DIR *d = opendir(j->cache);
    assert_non_null(d);
    char pending[PATH_MAX] = "";
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strlen(e->d_name) == 64)
            test_fmt(pending, sizeof pending, "%s/%s/pending", j->cache,
                     e->d_name);
    closedir(d);
    assert_true(pending[0]);
    size_t n = 0;
    d = opendir(pending);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        n++;
        if (path)
            test_fmt(path, size, "%s/%s", pending, e->d_name);
    }
    closedir(d);
    return n;
}

/* The snapshot extracts identical to the source, and check passes. */
static void expect_whole(jfx *j, const char *snapshot)
{
    char out[PATH_MAX], p[PATH_MAX];
    test_fmt(out, sizeof out, "%s/out", j->f->base);
    err_log log = {0};
    vault_extract_result res;
    vault_error rc = extract_to(j->f->v, snapshot, out, 0, NULL, 0, &log,
                                &res);
    if (rc != VAULT_OK) {
        log_print(&log);
        fail_msg("extract: %s: %s", vault_strerror(rc), vault_last_error());
    }
    log_free(&log);
    test_fmt(p, sizeof p, "%s%s", out, j->src);
    assert_int_equal(test_run("diff -r '%s' '%s'", j->src, p), 0);
    rm_rf(out);
    vault_check_options o;
    vault_check_options_init(&o);
    o.read_data = 1;
    vault_check_result cr;
    assert_vault_ok(vault_check(j->f->v, &o, &cr));
    assert_int_equal(cr.problems, 0);
}

/* The vault opened afresh, an add of the source whose warnings go to w. */
static void add_again(jfx *j, warnings *w, vault_add_result *r)
{
    memset(w, 0, sizeof *w);
    vault_set_warning_handler(collect_warning, w);
    fx_reopen(j->f);
    assert_vault_ok(add_with(j, j->f->v, r));
    vault_set_warning_handler(NULL, NULL);
}

/* Flips one bit of the byte at offset (from the end if negative) of the
 * one journal, whose path goes to path. */
static void spoil_journal(const jfx *j, long offset, char path[PATH_MAX])
{
    assert_int_equal(journals(j, path, PATH_MAX), 1);
    size_t len;
    uint8_t *data = test_read_file(path, &len);
    data[offset < 0 ? len - (size_t)-offset : (size_t)offset] ^= 1;
    test_write_file(path, data, len);
    free(data);
}

static void setup_jfx(void **state, jfx *j)
{
    memset(j, 0, sizeof *j);
    j->f = *state;
    make_tree(j);
}

/* The packs that landed before the failure are listed by the next add,
 * not uploaded again. */
static void test_interrupted_add_is_reused(void **state)
{
    jfx j;
    setup_jfx(state, &j);
    uint64_t landed = failed_add(&j);
    assert_true(landed > 2 * (uint64_t)PACK_TARGET_BYTES - 1);
    assert_int_equal(journals(&j, NULL, 0), 1);

    warnings w;
    vault_add_result r;
    add_again(&j, &w, &r);
    char expect[128];
    test_fmt(expect, sizeof expect,
             "reusing %d packs (%llu bytes) uploaded by an interrupted add",
             PACKS_LANDED, (unsigned long long)landed);
    if (!strstr(w.text, expect))
        fail_msg("no \"%s\" among the warnings:\n%s", expect, w.text);
    /* only what had not landed went up */
    print_message("landed %llu bytes; the next add added %llu of %llu\n",
                  (unsigned long long)landed,
                  (unsigned long long)r.bytes_added,
                  (unsigned long long)j.source_bytes);
    assert_true(r.bytes_added + landed < j.source_bytes + 1024 * 1024);
    assert_true(r.bytes_added < j.source_bytes - PACK_TARGET_BYTES);
    /* the journals are gone: both packs are listed */
    assert_int_equal(journals(&j, NULL, 0), 0);

    fx_reopen(j.f);
    expect_whole(&j, r.snapshot_id);
    vault_check_result cr;
    assert_vault_ok(vault_check(j.f->v, NULL, &cr));
    assert_int_equal(cr.unindexed_packs, 0);
}

/* A record that fails authentication ends the reading there: the packs
 * before it are reused, a warning names the file, the add succeeds. */
static void test_tampered_journal_is_read_up_to_the_damage(void **state)
{
    jfx j;
    setup_jfx(state, &j);
    uint64_t landed = failed_add(&j);
    char path[PATH_MAX];
    /* The second record's last byte (its tag): the file's last byte. */
    spoil_journal(&j, -1, path);

    warnings w;
    vault_add_result r;
    add_again(&j, &w, &r);
    if (!strstr(w.text, path) || !strstr(w.text, "fails authentication"))
        fail_msg("no warning naming %s:\n%s", path, w.text);
    if (!strstr(w.text, "reusing 1 packs"))
        fail_msg("the first record was not reused:\n%s", w.text);
    /* one pack reused, the other uploaded again */
    assert_true(r.bytes_added + landed / 2 < j.source_bytes + 2 * 1024 * 1024);
    assert_true(r.bytes_added + landed > j.source_bytes);
    assert_int_equal(journals(&j, NULL, 0), 0);
    fx_reopen(j.f);
    expect_whole(&j, r.snapshot_id);

    /* Garbage as a journal: a warning, no crash, the add goes on. */
    test_write_file(path, "VUPJRNL1\xff\xff\xff\x7f", 12);
    add_again(&j, &w, &r);
    if (!strstr(w.text, path))
        fail_msg("no warning naming %s:\n%s", path, w.text);
}

/* A journal none of whose records opens (another member's on this
 * machine, say) is neither used nor deleted. */
static void test_foreign_journal_is_kept(void **state)
{
    jfx j;
    setup_jfx(state, &j);
    (void)failed_add(&j);
    char path[PATH_MAX];
    /* the first record's first sealed byte */
    spoil_journal(&j, 8 + 4 + 24, path);

    warnings w;
    vault_add_result r;
    add_again(&j, &w, &r);
    if (!strstr(w.text, path) || !strstr(w.text, "fails authentication"))
        fail_msg("no warning naming %s:\n%s", path, w.text);
    assert_null(strstr(w.text, "reusing"));
    assert_true(r.bytes_added > j.source_bytes);
    assert_int_equal(journals(&j, NULL, 0), 1);
}

/* A journal whose add still runs (its lock held) is not taken. */
static void test_live_journal_is_left_alone(void **state)
{
    jfx j;
    setup_jfx(state, &j);
    (void)failed_add(&j);
    char path[PATH_MAX];
    assert_int_equal(journals(&j, path, sizeof path), 1);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0); /* as its add would */

    warnings w;
    vault_add_result r;
    add_again(&j, &w, &r);
    assert_null(strstr(w.text, "reusing"));
    assert_true(r.bytes_added > j.source_bytes);
    assert_int_equal(journals(&j, NULL, 0), 1); /* still there */
    close(fd);

    /* Its add gone, the next add takes it: its packs are listed (their
     * blobs are stored twice now, which prune sorts out), and it goes. */
    add_again(&j, &w, &r);
    if (!strstr(w.text, "reusing 2 packs"))
        fail_msg("the released journal was not taken:\n%s", w.text);
    assert_int_equal(journals(&j, NULL, 0), 0);
    fx_reopen(j.f);
    vault_check_result cr;
    assert_vault_ok(vault_check(j.f->v, NULL, &cr));
    assert_int_equal(cr.unindexed_packs, 0);
}

/* With the files cache off there is no journal either. */
static void test_no_cache_no_journal(void **state)
{
    jfx j;
    setup_jfx(state, &j);
    vault_add_result r;
    fx_add(j.f, j.src, 0, &r);
    struct stat st;
    assert_int_not_equal(stat(j.cache, &st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_interrupted_add_is_reused,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_tampered_journal_is_read_up_to_the_damage, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_journal_is_kept,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_live_journal_is_left_alone,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_cache_no_journal, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
