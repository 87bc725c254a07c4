/*
 * test_api.c - the public API's conventions: the version (header, library
 * and CMake's project version agree), options structs whose zero-filled
 * form means the defaults (vault_*_options_init gives exactly that, and
 * each default does what vault.h says), the error codes' values and texts,
 * and which codes are transient.
 *
 * Behaviour is checked through the public API in a fresh temporary
 * directory per test; the private headers are used only to see how a
 * blob was stored.
 */
#include "test_util.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "common/internal.h"
#include "format/chunker.h"
#include "format/pack.h"
#include "repo/repo.h"

/* ---- version --------------------------------------------------------- */

static void version_number_and_string_agree(void **state)
{
    (void)state;
    assert_int_equal(VAULT_VERSION_NUMBER,
                     VAULT_VERSION_MAJOR * 10000 + VAULT_VERSION_MINOR * 100 +
                         VAULT_VERSION_PATCH);
    assert_int_equal(vault_version_number(), VAULT_VERSION_NUMBER);
    assert_string_equal(vault_version_string(), VAULT_VERSION_STRING);
    char want[32];
    test_fmt(want, sizeof want, "%d.%d.%d", VAULT_VERSION_MAJOR,
             VAULT_VERSION_MINOR, VAULT_VERSION_PATCH);
    assert_string_equal(VAULT_VERSION_STRING, want);
}

/* CMake's project(VERSION), passed in by vault/CMakeLists.txt. */
static void version_is_cmake_project_version(void **state)
{
    (void)state;
    assert_string_equal(vault_version_string(), VAULT_PROJECT_VERSION);
}

/* ---- error codes ----------------------------------------------------- */

/* The values are published: they must never change. */
static void new_error_codes_keep_their_values(void **state)
{
    (void)state;
    assert_int_equal(VAULT_E_INTERNAL, 21);
    assert_int_equal(VAULT_E_TIMEOUT, 22);
    assert_int_equal(VAULT_E_NETWORK, 23);
    assert_int_equal(VAULT_E_BUSY, 24);
    assert_int_equal(VAULT_E_AUTH, 25);
    assert_int_equal(VAULT_E_INTERRUPTED, 26);
}

static void strerror_names_every_code(void **state)
{
    (void)state;
    assert_string_equal(vault_strerror(VAULT_E_TIMEOUT), "storage timed out");
    assert_string_equal(vault_strerror(VAULT_E_NETWORK), "network failure");
    assert_string_equal(vault_strerror(VAULT_E_BUSY),
                        "storage busy, try again later");
    assert_string_equal(vault_strerror(VAULT_E_AUTH),
                        "storage refused access");
    /* Every code has a text of its own. */
    for (int a = VAULT_OK; a <= VAULT_E_INTERRUPTED; a++) {
        const char *text = vault_strerror((vault_error)a);
        if (strcmp(text, "unknown error") == 0)
            fail_msg("code %d has no text", a);
        for (int b = VAULT_OK; b < a; b++)
            if (strcmp(text, vault_strerror((vault_error)b)) == 0)
                fail_msg("codes %d and %d share the text \"%s\"", b, a, text);
    }
    assert_string_equal(vault_strerror((vault_error)9999), "unknown error");
}

static void transient_codes_are_timeout_network_busy(void **state)
{
    (void)state;
    for (int c = VAULT_OK; c <= VAULT_E_INTERRUPTED; c++) {
        int want = c == VAULT_E_TIMEOUT || c == VAULT_E_NETWORK ||
                   c == VAULT_E_BUSY;
        if (vault_error_is_transient((vault_error)c) != want)
            fail_msg("vault_error_is_transient(%s) is not %d",
                     vault_strerror((vault_error)c), want);
    }
    assert_int_equal(vault_error_is_transient((vault_error)9999), 0);
}

/* ---- options init ---------------------------------------------------- */

/* init on a struct full of garbage leaves the same bytes as a memset 0:
 * the defaults are the zero-filled struct. */
#define EXPECT_INIT_IS_ZERO(type, init)                                      \
    do {                                                                     \
        type got, zero;                                                      \
        memset(&got, 0xa5, sizeof got);                                      \
        memset(&zero, 0, sizeof zero);                                       \
        init(&got);                                                          \
        if (memcmp(&got, &zero, sizeof got) != 0)                            \
            fail_msg("%s leaves a field non-zero", #init);                   \
    } while (0)

static void options_init_is_zero_fill(void **state)
{
    (void)state;
    EXPECT_INIT_IS_ZERO(vault_add_options, vault_add_options_init);
    EXPECT_INIT_IS_ZERO(vault_extract_options, vault_extract_options_init);
    EXPECT_INIT_IS_ZERO(vault_check_options, vault_check_options_init);
    EXPECT_INIT_IS_ZERO(vault_forget_options, vault_forget_options_init);
    EXPECT_INIT_IS_ZERO(vault_prune_options, vault_prune_options_init);
}

/* ---- what the zero-filled options do --------------------------------- */

typedef struct fx {
    char *base;           /* the test's temporary directory */
    char vault[PATH_MAX]; /* base/vault */
    char src[PATH_MAX];   /* base/src */
    vault_identity_t *id; /* the owner */
    vault_t *v;           /* open as the owner */
} fx;

static int setup(void **state)
{
    assert_vault_ok(vault_global_init());
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char *tmp = test_tempdir();
    f->base = realpath(tmp, NULL); /* add records canonical paths */
    assert_non_null(f->base);
    free(tmp);
    test_fmt(f->vault, sizeof f->vault, "%s/vault", f->base);
    test_fmt(f->src, sizeof f->src, "%s/src", f->base);
    assert_int_equal(mkdir(f->src, 0755), 0);
    assert_vault_ok(vault_identity_generate(&f->id));
    assert_vault_ok(vault_init(f->vault, vault_identity_recipient(f->id)));
    assert_vault_ok(vault_open(f->vault, f->id, &f->v));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    vault_close(f->v);
    vault_identity_free(f->id);
    test_rmtree(f->base);
    free(f);
    return 0;
}

/* len bytes of text from a small vocabulary, different for each seed:
 * compressible, and differently so at different zstd levels. */
static uint8_t *make_text(size_t len, uint32_t seed)
{
    static const char *const words[] = {
        "vault ", "snapshot ", "pack ", "blob ", "tree ", "index ",
        "envelope ", "member ", "prune ", "chunk ", "\n", "key ",
        "epoch ", "seal ", "add ", "extract "};
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    uint32_t x = seed * 2654435761u + 1;
    size_t used = 0;
    while (used < len) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        const char *w = words[x % VAULT_ARRAY_SIZE(words)];
        size_t n = strlen(w);
        if (n > len - used)
            n = len - used;
        memcpy(buf + used, w, n);
        used += n;
    }
    return buf;
}

static void add_must_not_fail(void *ctx, const char *path, const char *detail)
{
    (void)ctx;
    fail_msg("add reported %s: %s", path, detail);
}

/* Adds src/name (holding data) alone with o, whose other fields are the
 * caller's. */
static void add_file(fx *f, vault_add_options *o, const char *name,
                     const uint8_t *data, size_t len, vault_add_result *r)
{
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/%s", f->src, name);
    test_write_file(p, data, len);
    const char *paths[] = {p};
    o->paths = paths;
    o->n_paths = 1;
    o->cache_dir = "";
    o->hostname = "testhost";
    o->on_error = add_must_not_fail;
    assert_vault_ok(vault_add(f->v, o, r));
    o->paths = NULL;
}

/* How the blob holding data (one chunk: below CHUNKER_MIN_SIZE) is
 * stored. */
static pack_entry stored_entry(fx *f, const uint8_t *data, size_t len)
{
    assert_true(len < CHUNKER_MIN_SIZE);
    vlt_repo_forget_index(f->v);
    assert_vault_ok(vlt_repo_load_index(f->v));
    uint8_t id[CHUNK_ID_BYTES];
    vlt_chunk_id_compute(f->v->keys, BLOB_DATA, data, len, id);
    const index_slot *s = vlt_index_find(&f->v->index, id);
    assert_non_null(s);
    pack_entry e;
    vlt_index_slot_entry(&f->v->index, s, &e);
    return e;
}

static size_t zstd_size(const uint8_t *data, size_t len, int level)
{
    size_t cap = ZSTD_compressBound(len);
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    size_t n = ZSTD_compress(out, cap, data, len, level);
    assert_false(ZSTD_isError(n));
    free(out);
    return n;
}

/* compression 0 is VAULT_COMPRESSION_DEFAULT_LEVEL; VAULT_COMPRESSION_OFF
 * stores blobs as they are; levels 1..MAX are taken as given. */
static void add_compression_zero_is_default_level(void **state)
{
    fx *f = *state;
    const size_t len = 64 * 1024;
    uint8_t *dflt = make_text(len, 1), *off = make_text(len, 2),
            *fast = make_text(len, 3), *best = make_text(len, 5);
    size_t at_default = zstd_size(dflt, len, VAULT_COMPRESSION_DEFAULT_LEVEL);
    /* The data tells the levels apart, or the test proves nothing. */
    assert_int_not_equal(at_default, zstd_size(dflt, len, 1));
    assert_int_not_equal(at_default,
                         zstd_size(dflt, len, VAULT_COMPRESSION_MAX_LEVEL));

    vault_add_options o;
    vault_add_result r;
    vault_add_options_init(&o);
    add_file(f, &o, "default", dflt, len, &r);
    pack_entry e = stored_entry(f, dflt, len);
    assert_true(e.flags & BLOB_FLAG_ZSTD);
    assert_int_equal(e.length, at_default + BLOB_OVERHEAD);

    vault_add_options_init(&o);
    o.compression = VAULT_COMPRESSION_OFF;
    add_file(f, &o, "off", off, len, &r);
    e = stored_entry(f, off, len);
    assert_false(e.flags & BLOB_FLAG_ZSTD);
    assert_int_equal(e.length, len + BLOB_OVERHEAD);

    vault_add_options_init(&o);
    o.compression = 1;
    add_file(f, &o, "fast", fast, len, &r);
    e = stored_entry(f, fast, len);
    assert_true(e.flags & BLOB_FLAG_ZSTD);
    assert_int_equal(e.length, zstd_size(fast, len, 1) + BLOB_OVERHEAD);

    /* A level whose context is too large to allocate up front
     * (add_pipeline.c, COMPRESSOR_STATIC_MAX) still compresses at it. */
    vault_add_options_init(&o);
    o.compression = VAULT_COMPRESSION_MAX_LEVEL;
    add_file(f, &o, "best", best, len, &r);
    e = stored_entry(f, best, len);
    assert_true(e.flags & BLOB_FLAG_ZSTD);
    assert_int_equal(e.length, zstd_size(best, len, VAULT_COMPRESSION_MAX_LEVEL) +
                                   BLOB_OVERHEAD);

    /* Neither "off" nor a level: refused. */
    const char *paths[] = {f->src};
    vault_add_options_init(&o);
    o.paths = paths;
    o.n_paths = 1;
    o.cache_dir = "";
    o.compression = VAULT_COMPRESSION_OFF - 1;
    assert_vault_code(vault_add(f->v, &o, &r), VAULT_E_INVALID);
    o.compression = VAULT_COMPRESSION_MAX_LEVEL + 1;
    assert_vault_code(vault_add(f->v, &o, &r), VAULT_E_INVALID);
    free(dflt);
    free(off);
    free(fast);
    free(best);
}

/* Zero-filled extract options name no output: refused, and tar_fd is
 * used only with tar set. */
static void extract_zero_needs_a_target(void **state)
{
    fx *f = *state;
    uint8_t *data = make_text(1000, 4);
    vault_add_options ao;
    vault_add_result ar;
    vault_add_options_init(&ao);
    add_file(f, &ao, "x", data, 1000, &ar);

    vault_extract_options o;
    vault_extract_result r;
    vault_extract_options_init(&o);
    assert_vault_code(vault_extract(f->v, ar.snapshot_id, &o, &r),
                      VAULT_E_INVALID);
    o.tar = 1;
    o.tar_fd = -1;
    assert_vault_code(vault_extract(f->v, ar.snapshot_id, &o, &r),
                      VAULT_E_INVALID);

    /* tar_fd without tar: a directory restore, the descriptor untouched. */
    char tarp[PATH_MAX], out[PATH_MAX];
    test_fmt(tarp, sizeof tarp, "%s/out.tar", f->base);
    test_fmt(out, sizeof out, "%s/out", f->base);
    int fd = open(tarp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    vault_extract_options_init(&o);
    o.target_dir = out;
    o.tar_fd = fd;
    assert_vault_ok(vault_extract(f->v, ar.snapshot_id, &o, &r));
    assert_int_equal(r.files, 1);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 0);

    /* With tar: the stream goes to tar_fd. */
    vault_extract_options_init(&o);
    o.tar = 1;
    o.tar_fd = fd;
    assert_vault_ok(vault_extract(f->v, ar.snapshot_id, &o, &r));
    assert_int_equal(r.files, 1);
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(st.st_size > 1000);
    close(fd);
    free(data);
}

/* Zero-filled check options check as NULL options do: no pack read. */
static void check_zero_is_no_options(void **state)
{
    fx *f = *state;
    uint8_t *data = make_text(1000, 5);
    vault_add_options ao;
    vault_add_result ar;
    vault_add_options_init(&ao);
    add_file(f, &ao, "x", data, 1000, &ar);
    vault_check_options o;
    vault_check_options_init(&o);
    vault_check_result with, without;
    assert_vault_ok(vault_check(f->v, &o, &with));
    assert_vault_ok(vault_check(f->v, NULL, &without));
    assert_int_equal(with.packs_read, 0);
    assert_int_equal(with.blobs_read, 0);
    assert_int_equal(with.packs, without.packs);
    assert_int_equal(with.trees, without.trees);
    assert_int_equal(with.blobs, without.blobs);
    free(data);
}

/* Zero-filled forget options ask for nothing, which vault_forget
 * refuses rather than guess. */
static void forget_zero_asks_for_nothing(void **state)
{
    fx *f = *state;
    vault_forget_options o;
    vault_forget_options_init(&o);
    vault_forget_result r;
    assert_vault_code(vault_forget(f->v, &o, &r), VAULT_E_INVALID);
    vault_forget_result_free(&r);
    assert_null(r.storage);
}

/* max_unused_percent 0 is VAULT_PRUNE_MAX_UNUSED_DEFAULT;
 * VAULT_PRUNE_MAX_UNUSED_NONE tolerates no unused space at all. */
static void prune_zero_is_default_max_unused(void **state)
{
    fx *f = *state;
    /* One pack holding a big blob that stays used and a small one that
     * becomes unused: about 1% of the pack unused. */
    const size_t big_len = 100 * 1024, small_len = 1000;
    uint8_t *big = make_text(big_len, 6), *small = make_text(small_len, 7);
    char big_path[PATH_MAX], small_path[PATH_MAX];
    test_fmt(big_path, sizeof big_path, "%s/big", f->src);
    test_fmt(small_path, sizeof small_path, "%s/small", f->src);
    test_write_file(big_path, big, big_len);
    test_write_file(small_path, small, small_len);
    const char *both[] = {big_path, small_path}, *one[] = {big_path};
    vault_add_options ao;
    vault_add_options_init(&ao);
    ao.compression = VAULT_COMPRESSION_OFF;
    ao.threads = 1; /* one worker: one pack */
    ao.cache_dir = "";
    ao.on_error = add_must_not_fail;
    ao.paths = both;
    ao.n_paths = 2;
    vault_add_result first, second;
    assert_vault_ok(vault_add(f->v, &ao, &first));
    ao.paths = one;
    ao.n_paths = 1;
    assert_vault_ok(vault_add(f->v, &ao, &second));
    const char *forget_ids[] = {first.snapshot_id};
    vault_forget_options fo;
    vault_forget_options_init(&fo);
    fo.snapshots = forget_ids;
    fo.n_snapshots = 1;
    vault_forget_result fr;
    assert_vault_ok(vault_forget(f->v, &fo, &fr));
    assert_int_equal(fr.n_removed, 1);
    vault_forget_result_free(&fr);

    vault_prune_options o;
    vault_prune_result zero, dflt, none;
    vault_prune_options_init(&o);
    o.dry_run = 1;
    assert_vault_ok(vault_prune(f->v, &o, &zero));
    o.max_unused_percent = VAULT_PRUNE_MAX_UNUSED_DEFAULT;
    assert_vault_ok(vault_prune(f->v, &o, &dflt));
    o.max_unused_percent = VAULT_PRUNE_MAX_UNUSED_NONE;
    assert_vault_ok(vault_prune(f->v, &o, &none));
    assert_int_equal(zero.packs_repacked, dflt.packs_repacked);
    assert_int_equal(zero.blobs_repacked, dflt.blobs_repacked);
    assert_int_equal(zero.packs_unused, dflt.packs_unused);
    assert_int_equal(zero.packs_repacked, 0);
    assert_true(none.packs_repacked > 0);
    vault_prune_result_free(&zero);
    vault_prune_result_free(&dflt);
    vault_prune_result_free(&none);

    o.max_unused_percent = 101;
    assert_vault_code(vault_prune(f->v, &o, &none), VAULT_E_INVALID);
    vault_prune_result_free(&none);
    o.max_unused_percent = VAULT_PRUNE_MAX_UNUSED_NONE - 1;
    assert_vault_code(vault_prune(f->v, &o, &none), VAULT_E_INVALID);
    vault_prune_result_free(&none);
    free(big);
    free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_number_and_string_agree),
        cmocka_unit_test(version_is_cmake_project_version),
        cmocka_unit_test(new_error_codes_keep_their_values),
        cmocka_unit_test(strerror_names_every_code),
        cmocka_unit_test(transient_codes_are_timeout_network_busy),
        cmocka_unit_test(options_init_is_zero_fill),
        cmocka_unit_test_setup_teardown(add_compression_zero_is_default_level,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(extract_zero_needs_a_target, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(check_zero_is_no_options, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(forget_zero_asks_for_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(prune_zero_is_default_max_unused,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
