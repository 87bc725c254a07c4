/*
 * test_filecache.c - the local files cache (repo/filecache.c): what one
 * run records the next run finds, only for exactly the same file (size,
 * mtime, ctime, inode, device); a cache that is another vault's, damaged,
 * truncated or of the old format is ignored, never trusted; no directory
 * means no cache.
 */
#include "test_util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "common/internal.h"
#include "crypto/keys.h"
#include "repo/filecache.h"

typedef struct cache_fx {
    char *dir;            /* the cache directory (a fresh temporary one) */
    keyring *k;           /* the vault's secrets */
    char file[PATH_MAX];  /* where its cache file lives: dir/<vault id>/files */
} cache_fx;

static int cache_setup(void **state)
{
    cache_fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = test_tempdir();
    assert_vault_ok(vlt_keyring_generate(&f->k));
    char hex[65];
    vlt_hex_encode(f->k->vault_id, VAULT_ID_BYTES, hex);
    test_fmt(f->file, sizeof f->file, "%s/%s/files", f->dir, hex);
    *state = f;
    return 0;
}

static int cache_teardown(void **state)
{
    cache_fx *f = *state;
    vlt_keyring_free(f->k);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static const filecache_key KEY_A = {
    .size = 1234, .inode = 77, .device = 2049,
    .mtime_sec = 1700000000, .mtime_nsec = 5,
    .ctime_sec = 1700000001, .ctime_nsec = 6,
};

/* n chunk IDs, different for every seed. */
static void ids_for(uint8_t *ids, uint32_t n, uint8_t seed)
{
    for (uint32_t i = 0; i < n * CHUNK_ID_BYTES; i++)
        ids[i] = (uint8_t)(seed + i);
}

/* Records a (3 IDs, no xattrs), b (1 ID, xattrs) and an empty file. */
static void record_three(filecache *c)
{
    uint8_t ids[3 * CHUNK_ID_BYTES];
    ids_for(ids, 3, 1);
    assert_vault_ok(vlt_filecache_record(c, "/src/a", &KEY_A, ids, 3, 0));
    filecache_key kb = KEY_A;
    kb.inode = 78;
    ids_for(ids, 1, 9);
    assert_vault_ok(vlt_filecache_record(c, "/src/b", &kb, ids, 1, 1));
    filecache_key ke = KEY_A;
    ke.size = 0;
    ke.inode = 79;
    assert_vault_ok(vlt_filecache_record(c, "/src/empty", &ke, NULL, 0, 0));
}

/* Opens the cache and checks whether a was found. */
static int finds_a(cache_fx *f, const keyring *k)
{
    filecache *c = NULL;
    assert_vault_ok(vlt_filecache_open(f->dir, k, &c));
    uint32_t n = 0;
    int xattrs = -1;
    const uint8_t *ids = vlt_filecache_lookup(c, "/src/a", &KEY_A, &n, &xattrs);
    int found = ids != NULL;
    if (found) {
        uint8_t want[3 * CHUNK_ID_BYTES];
        ids_for(want, 3, 1);
        assert_int_equal(n, 3);
        assert_int_equal(xattrs, 0);
        assert_memory_equal(ids, want, sizeof want);
    }
    vlt_filecache_free(c);
    return found;
}

static void save_three(cache_fx *f)
{
    filecache *c = NULL;
    assert_vault_ok(vlt_filecache_open(f->dir, f->k, &c));
    record_three(c);
    assert_vault_ok(vlt_filecache_save(c));
    vlt_filecache_free(c);
}

static void test_cache_roundtrip(void **state)
{
    cache_fx *f = *state;
    assert_false(finds_a(f, f->k)); /* nothing yet */
    save_three(f);
    struct stat st;
    assert_int_equal(stat(f->file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    filecache *c = NULL;
    assert_vault_ok(vlt_filecache_open(f->dir, f->k, &c));
    uint32_t n = 0;
    int xattrs = -1;
    uint8_t want[3 * CHUNK_ID_BYTES];
    const uint8_t *ids = vlt_filecache_lookup(c, "/src/a", &KEY_A, &n, &xattrs);
    assert_non_null(ids);
    ids_for(want, 3, 1);
    assert_int_equal(n, 3);
    assert_int_equal(xattrs, 0);
    assert_memory_equal(ids, want, 3 * CHUNK_ID_BYTES);
    filecache_key kb = KEY_A;
    kb.inode = 78;
    ids = vlt_filecache_lookup(c, "/src/b", &kb, &n, &xattrs);
    assert_non_null(ids);
    ids_for(want, 1, 9);
    assert_int_equal(n, 1);
    assert_int_equal(xattrs, 1);
    assert_memory_equal(ids, want, CHUNK_ID_BYTES);
    filecache_key ke = KEY_A;
    ke.size = 0;
    ke.inode = 79;
    assert_non_null(vlt_filecache_lookup(c, "/src/empty", &ke, &n, &xattrs));
    assert_int_equal(n, 0);
    /* Paths not recorded, and prefixes of recorded ones. */
    assert_null(vlt_filecache_lookup(c, "/src/c", &KEY_A, &n, &xattrs));
    assert_null(vlt_filecache_lookup(c, "/src/", &KEY_A, &n, &xattrs));
    assert_null(vlt_filecache_lookup(c, "/src/a/", &KEY_A, &n, &xattrs));

    /* This run records only b: the next run knows only b. */
    assert_vault_ok(vlt_filecache_record(c, "/src/b", &kb, want, 1, 1));
    assert_vault_ok(vlt_filecache_save(c));
    /* The old records still answer until the handle is closed. */
    assert_non_null(vlt_filecache_lookup(c, "/src/a", &KEY_A, &n, &xattrs));
    vlt_filecache_free(c);
    assert_false(finds_a(f, f->k));
    assert_vault_ok(vlt_filecache_open(f->dir, f->k, &c));
    assert_non_null(vlt_filecache_lookup(c, "/src/b", &kb, &n, &xattrs));
    /* A run that records nothing leaves the file as it is. */
    assert_vault_ok(vlt_filecache_save(c));
    vlt_filecache_free(c);
    assert_vault_ok(vlt_filecache_open(f->dir, f->k, &c));
    assert_non_null(vlt_filecache_lookup(c, "/src/b", &kb, &n, &xattrs));
    vlt_filecache_free(c);
    vlt_filecache_free(NULL);
}

static void test_cache_changed_file_misses(void **state)
{
    cache_fx *f = *state;
    save_three(f);
    filecache *c = NULL;
    assert_vault_ok(vlt_filecache_open(f->dir, f->k, &c));
    uint32_t n;
    int xattrs;
    assert_non_null(vlt_filecache_lookup(c, "/src/a", &KEY_A, &n, &xattrs));
    /* Any one field different: the file may have changed, read it. */
    for (int field = 0; field < 7; field++) {
        filecache_key k = KEY_A;
        switch (field) {
        case 0: k.size++; break;
        case 1: k.inode++; break;
        case 2: k.device++; break;
        case 3: k.mtime_sec++; break;
        case 4: k.mtime_nsec++; break;
        case 5: k.ctime_sec--; break;
        case 6: k.ctime_nsec++; break;
        }
        if (vlt_filecache_lookup(c, "/src/a", &k, &n, &xattrs))
            fail_msg("a change of field %d still hit the cache", field);
    }
    vlt_filecache_free(c);
}

/* Rewrites the cache file through fn(bytes, &len). */
static void rewrite(cache_fx *f, void (*fn)(uint8_t *p, size_t *len))
{
    size_t len;
    uint8_t *p = test_read_file(f->file, &len);
    uint8_t *q = realloc(p, len + 64);
    assert_non_null(q);
    fn(q, &len);
    test_write_file(f->file, q, len);
    free(q);
}

static void flip_mac(uint8_t *p, size_t *len)
{
    p[*len - 1] ^= 1;
}
static void flip_path(uint8_t *p, size_t *len)
{
    (void)len;
    p[8 + 4] ^= 1; /* the first record's path: "/src/a" -> ".src/a" */
}
static void truncate_one(uint8_t *p, size_t *len)
{
    (void)p;
    (*len)--;
}
static void old_magic(uint8_t *p, size_t *len)
{
    (void)len;
    p[7] = '1'; /* VFCACHE1 */
}
static void too_short(uint8_t *p, size_t *len)
{
    (void)p;
    *len = 8 + 31;
}

static void test_cache_damaged_ignored(void **state)
{
    cache_fx *f = *state;
    void (*damage[])(uint8_t *, size_t *) = {flip_mac, flip_path,
                                             truncate_one, old_magic,
                                             too_short};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(damage); i++) {
        save_three(f);
        assert_true(finds_a(f, f->k));
        rewrite(f, damage[i]);
        if (finds_a(f, f->k))
            fail_msg("damage %zu: the cache was still trusted", i);
        /* A run over an ignored cache writes a good one again. */
        save_three(f);
        assert_true(finds_a(f, f->k));
    }
}

/* A record whose lengths lie, under a correct MAC (the cache file is the
 * user's own, but a bug must not read out of bounds). */
static void test_cache_bad_record_ignored(void **state)
{
    cache_fx *f = *state;
    save_three(f);
    size_t len;
    uint8_t *p = test_read_file(f->file, &len);
    uint8_t key[SECRET_BYTES];
    vlt_kdf(key, f->k->dedup_secret, "files cache");
    const uint32_t bad_path_lens[] = {0, PATH_MAX + 1, UINT32_MAX};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad_path_lens); i++) {
        uint8_t *q = malloc(len);
        assert_non_null(q);
        memcpy(q, p, len);
        store_le32(q + 8, bad_path_lens[i]);
        crypto_generichash(q + len - 32, 32, q, len - 32, key, sizeof key);
        test_write_file(f->file, q, len);
        assert_false(finds_a(f, f->k));
        free(q);
    }
    /* The first record's ID count too large for the file. */
    uint8_t *q = malloc(len);
    assert_non_null(q);
    memcpy(q, p, len);
    store_le32(q + 8 + 4 + 6 + 52, 1000);
    crypto_generichash(q + len - 32, 32, q, len - 32, key, sizeof key);
    test_write_file(f->file, q, len);
    assert_false(finds_a(f, f->k));
    /* The same bytes with the MAC made right again: trusted. */
    memcpy(q, p, len);
    test_write_file(f->file, q, len);
    assert_true(finds_a(f, f->k));
    free(q);
    free(p);
    sodium_memzero(key, sizeof key);
}

static void test_cache_other_vault(void **state)
{
    cache_fx *f = *state;
    save_three(f);
    /* Another vault has its own file... */
    keyring *other = NULL;
    assert_vault_ok(vlt_keyring_generate(&other));
    assert_false(finds_a(f, other));
    /* ...and this vault's file copied into its place is not trusted. */
    char hex[65], path[PATH_MAX];
    vlt_hex_encode(other->vault_id, VAULT_ID_BYTES, hex);
    test_fmt(path, sizeof path, "%s/%s", f->dir, hex);
    mkdir(path, 0700);
    test_fmt(path, sizeof path, "%s/%s/files", f->dir, hex);
    size_t len;
    uint8_t *p = test_read_file(f->file, &len);
    test_write_file(path, p, len);
    free(p);
    assert_false(finds_a(f, other));
    /* Another member of the same vault (same dedup secret) shares it. */
    keyring *member = NULL;
    assert_vault_ok(vlt_keyring_new_epoch(f->k, &member));
    member->role = ROLE_WRITER;
    assert_true(finds_a(f, member));
    vlt_keyring_free(member);
    vlt_keyring_free(other);
}

static void test_cache_disabled(void **state)
{
    cache_fx *f = *state;
    const char *dirs[] = {NULL, ""};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(dirs); i++) {
        filecache *c = NULL;
        assert_vault_ok(vlt_filecache_open(dirs[i], f->k, &c));
        assert_non_null(c);
        record_three(c);
        assert_vault_ok(vlt_filecache_save(c));
        uint32_t n;
        int xattrs;
        assert_null(vlt_filecache_lookup(c, "/src/a", &KEY_A, &n, &xattrs));
        vlt_filecache_free(c);
    }
    /* Nothing was written anywhere in the cache directory. */
    assert_int_equal(test_run("test -z \"$(ls -A '%s')\"", f->dir), 0);
    /* A cache directory that cannot be made: no cache, no error. */
    char file[PATH_MAX];
    test_fmt(file, sizeof file, "%s/plain", f->dir);
    test_write_file(file, "x", 1);
    filecache *c = NULL;
    assert_vault_ok(vlt_filecache_open(file, f->k, &c));
    record_three(c);
    assert_vault_code(vlt_filecache_save(c), VAULT_E_IO);
    vlt_filecache_free(c);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cache_roundtrip, cache_setup,
                                        cache_teardown),
        cmocka_unit_test_setup_teardown(test_cache_changed_file_misses,
                                        cache_setup, cache_teardown),
        cmocka_unit_test_setup_teardown(test_cache_damaged_ignored,
                                        cache_setup, cache_teardown),
        cmocka_unit_test_setup_teardown(test_cache_bad_record_ignored,
                                        cache_setup, cache_teardown),
        cmocka_unit_test_setup_teardown(test_cache_other_vault, cache_setup,
                                        cache_teardown),
        cmocka_unit_test_setup_teardown(test_cache_disabled, cache_setup,
                                        cache_teardown),
    };
    return cmocka_run_group_tests_name("files cache", tests, NULL, NULL) ? 1
                                                                         : 0;
}
