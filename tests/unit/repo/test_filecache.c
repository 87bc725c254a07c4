/*
 * test_filecache.c - the local files cache (repo/filecache.c): what one
 * run records the next run finds, only for exactly the same file (size,
 * mtime, ctime, inode, device); a cache that is another vault's or
 * another member's, damaged, truncated or of an old format is ignored,
 * never trusted; no directory or no signing key means no cache; the file
 * shows no path nor chunk ID in clear.
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
#include "crypto/sign.h"
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

/* magic, then the first block's nonce and sealed length */
#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define HEADER (8 + NONCE + 4)
#define TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

static void flip_tag(uint8_t *p, size_t *len)
{
    p[*len - 1] ^= 1;
}
static void flip_nonce(uint8_t *p, size_t *len)
{
    (void)len;
    p[8 + 4] ^= 1;
}
static void flip_sealed(uint8_t *p, size_t *len)
{
    (void)len;
    p[HEADER + 4] ^= 1; /* the first record's path, sealed */
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
static void clear_magic(uint8_t *p, size_t *len)
{
    (void)len;
    p[7] = '2'; /* VFCACHE2: the records in clear, MAC keyed by D */
}
static void too_short(uint8_t *p, size_t *len)
{
    (void)p;
    *len = HEADER + TAG - 1;
}

static void test_cache_damaged_ignored(void **state)
{
    cache_fx *f = *state;
    void (*damage[])(uint8_t *, size_t *) = {
        flip_tag, flip_nonce, flip_sealed, truncate_one, old_magic,
        clear_magic, too_short};
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

#define AD_BYTES (8 + VAULT_ID_BYTES + SECRET_BYTES + 9)

/* The key and additional data the cache's one block (its first and last)
 * is sealed with (filecache.c). */
static void cache_key_ad(const keyring *k, uint8_t key[SECRET_BYTES],
                         uint8_t ad[AD_BYTES])
{
    vlt_kdf(key, k->sign_seed, "files cache v2");
    memcpy(ad, "VFCACHE4", 8);
    memcpy(ad + 8, k->vault_id, VAULT_ID_BYTES);
    vlt_kdf(ad + 8 + VAULT_ID_BYTES, k->dedup_secret, "files cache");
    store_le64(ad + 8 + VAULT_ID_BYTES + SECRET_BYTES, 0); /* block 0 */
    ad[AD_BYTES - 1] = 1;                                  /* the last */
}

/* Writes records as the cache file, one block sealed right for k. */
static void write_sealed(const char *file, const keyring *k,
                         const uint8_t *records, size_t len)
{
    uint8_t key[SECRET_BYTES], ad[AD_BYTES];
    cache_key_ad(k, key, ad);
    uint8_t *q = malloc(HEADER + len + TAG);
    assert_non_null(q);
    memcpy(q, "VFCACHE4", 8);
    randombytes_buf(q + 8, NONCE);
    store_le32(q + 8 + NONCE, (uint32_t)(len + TAG));
    crypto_aead_xchacha20poly1305_ietf_encrypt(q + HEADER, NULL, records,
                                               len, ad, sizeof ad, NULL,
                                               q + 8, key);
    test_write_file(file, q, HEADER + len + TAG);
    free(q);
    sodium_memzero(key, sizeof key);
}

/* A record whose lengths lie, sealed right (the cache file is the
 * user's own, but a bug must not read out of bounds). */
static void test_cache_bad_record_ignored(void **state)
{
    cache_fx *f = *state;
    save_three(f);
    size_t len;
    uint8_t *p = test_read_file(f->file, &len);
    uint8_t key[SECRET_BYTES], ad[AD_BYTES];
    cache_key_ad(f->k, key, ad);
    size_t plain_len = len - HEADER - TAG;
    uint8_t *plain = malloc(plain_len);
    assert_non_null(plain);
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
                         plain, NULL, NULL, p + HEADER, len - HEADER, ad,
                         sizeof ad, p + 8, key),
                     0);
    uint8_t *q = malloc(plain_len);
    assert_non_null(q);
    const uint32_t bad_path_lens[] = {0, PATH_MAX + 1, UINT32_MAX};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad_path_lens); i++) {
        memcpy(q, plain, plain_len);
        store_le32(q, bad_path_lens[i]);
        write_sealed(f->file, f->k, q, plain_len);
        assert_false(finds_a(f, f->k));
    }
    /* The first record's ID count too large for the file. */
    memcpy(q, plain, plain_len);
    store_le32(q + 4 + 6 + 52, 1000);
    write_sealed(f->file, f->k, q, plain_len);
    assert_false(finds_a(f, f->k));
    /* The same records sealed right again: trusted. */
    write_sealed(f->file, f->k, plain, plain_len);
    assert_true(finds_a(f, f->k));
    free(q);
    free(plain);
    free(p);
    sodium_memzero(key, sizeof key);
}

/* Whether needle (n bytes) occurs in p (len bytes). */
static int contains(const uint8_t *p, size_t len, const void *needle, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(p + i, needle, n) == 0)
            return 1;
    return 0;
}

/* Neither a path nor a chunk ID is in the file in clear. */
static void test_cache_sealed(void **state)
{
    cache_fx *f = *state;
    save_three(f);
    size_t len;
    uint8_t *p = test_read_file(f->file, &len);
    assert_false(contains(p, len, "/src", 4));
    assert_false(contains(p, len, "src/a", 5));
    uint8_t ids[3 * CHUNK_ID_BYTES];
    ids_for(ids, 3, 1);
    for (size_t i = 0; i + 8 <= sizeof ids; i += 8)
        assert_false(contains(p, len, ids + i, 8));
    /* nor the sizes or inodes as the records store them */
    uint8_t inode[8];
    store_le64(inode, KEY_A.inode);
    assert_false(contains(p, len, inode, 8));
    free(p);
}

/* Many files: the cache is in blocks, every record is found again in
 * any order of lookups (blocks opened again as needed), and blocks moved,
 * dropped or cut off make the whole cache ignored. */
#define MANY 5000
static void many_path(char *buf, size_t size, int i)
{
    test_fmt(buf, size, "/data/dir%03d/file-%05d.txt", i % 97, i);
}

static int finds_all(cache_fx *f)
{
    filecache *c = NULL;
    assert_vault_ok(vlt_filecache_open(f->dir, f->k, &c));
    int found = 0;
    for (int j = 0; j < MANY; j++) {
        int i = (int)(((uint64_t)j * 7919) % MANY); /* not in order */
        char path[64];
        many_path(path, sizeof path, i);
        filecache_key key = KEY_A;
        key.inode = (uint64_t)i;
        uint32_t n = 0;
        int xattrs;
        const uint8_t *ids = vlt_filecache_lookup(c, path, &key, &n, &xattrs);
        if (!ids)
            continue;
        uint8_t want[3 * CHUNK_ID_BYTES];
        ids_for(want, 3, (uint8_t)i);
        assert_int_equal(n, 3);
        assert_memory_equal(ids, want, sizeof want);
        found++;
    }
    vlt_filecache_free(c);
    return found;
}

/* The file's blocks: offset and size of each (magic first). */
static size_t blocks_of(const uint8_t *p, size_t len, size_t at[], size_t sz[],
                        size_t max)
{
    size_t n = 0;
    for (size_t off = 8; off < len && n < max;) {
        size_t size = HEADER - 8 + load_le32(p + off + NONCE);
        at[n] = off;
        sz[n++] = size;
        off += size;
    }
    return n;
}

static void test_cache_blocks(void **state)
{
    cache_fx *f = *state;
    filecache *c = NULL;
    assert_vault_ok(vlt_filecache_open(f->dir, f->k, &c));
    for (int i = 0; i < MANY; i++) {
        char path[64];
        uint8_t ids[3 * CHUNK_ID_BYTES];
        many_path(path, sizeof path, i);
        ids_for(ids, 3, (uint8_t)i);
        filecache_key key = KEY_A;
        key.inode = (uint64_t)i;
        assert_vault_ok(vlt_filecache_record(c, path, &key, ids, 3, 0));
    }
    assert_vault_ok(vlt_filecache_save(c));
    vlt_filecache_free(c);
    assert_int_equal(finds_all(f), MANY);

    size_t len;
    uint8_t *p = test_read_file(f->file, &len);
    size_t at[64], sz[64];
    size_t n = blocks_of(p, len, at, sz, 64);
    assert_true(n >= 8); /* about 64 KiB each */
    uint8_t *q = malloc(len);
    assert_non_null(q);
    /* blocks 1 and 2 swapped */
    memcpy(q, p, at[1]);
    memcpy(q + at[1], p + at[2], sz[2]);
    memcpy(q + at[1] + sz[2], p + at[1], sz[1]);
    memcpy(q + at[3], p + at[3], len - at[3]);
    test_write_file(f->file, q, len);
    assert_int_equal(finds_all(f), 0);
    /* block 1 left out */
    memcpy(q, p, at[1]);
    memcpy(q + at[1], p + at[2], len - at[2]);
    test_write_file(f->file, q, len - sz[1]);
    assert_int_equal(finds_all(f), 0);
    /* the last block cut off: the one before is not marked last */
    test_write_file(f->file, p, at[n - 1]);
    assert_int_equal(finds_all(f), 0);
    /* whole again */
    test_write_file(f->file, p, len);
    assert_int_equal(finds_all(f), MANY);
    free(q);
    free(p);
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
    /* The same keyring in a new epoch (same member) still finds it... */
    keyring *member = NULL;
    assert_vault_ok(vlt_keyring_new_epoch(f->k, &member));
    assert_true(finds_a(f, member));
    /* ...but another member of the same vault (same dedup secret, its
     * own signing key) neither reads it nor fails: it starts afresh, and
     * what it writes the first member ignores in turn. */
    vlt_sign_keypair_generate(member->sign_seed, member->sign_pk,
                              member->sign_sk);
    member->role = ROLE_WRITER;
    assert_false(finds_a(f, member));
    filecache *c = NULL;
    assert_vault_ok(vlt_filecache_open(f->dir, member, &c));
    record_three(c);
    assert_vault_ok(vlt_filecache_save(c));
    vlt_filecache_free(c);
    assert_true(finds_a(f, member));
    assert_false(finds_a(f, f->k));
    /* A member without a signing key uses no cache: none read, none
     * written. */
    save_three(f);
    member->has_sign_key = 0;
    memcpy(member->sign_seed, f->k->sign_seed, SIGN_SEED_BYTES);
    assert_false(finds_a(f, member));
    assert_vault_ok(vlt_filecache_open(f->dir, member, &c));
    assert_vault_ok(vlt_filecache_record(c, "/src/z", &KEY_A, NULL, 0, 0));
    assert_vault_ok(vlt_filecache_save(c));
    vlt_filecache_free(c);
    assert_true(finds_a(f, f->k)); /* the file is as the owner left it */
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
        cmocka_unit_test_setup_teardown(test_cache_sealed, cache_setup,
                                        cache_teardown),
        cmocka_unit_test_setup_teardown(test_cache_other_vault, cache_setup,
                                        cache_teardown),
        cmocka_unit_test_setup_teardown(test_cache_disabled, cache_setup,
                                        cache_teardown),
        cmocka_unit_test_setup_teardown(test_cache_blocks, cache_setup,
                                        cache_teardown),
    };
    return cmocka_run_group_tests_name("files cache", tests, NULL, NULL) ? 1
                                                                         : 0;
}
