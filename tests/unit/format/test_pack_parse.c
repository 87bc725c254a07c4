/*
 * test_pack_parse.c - the parsers of pack indexes (the sealed trailer)
 * and of index segments (format/pack.c) against truncated, mutated and random bytes
 * (a fixed-seed generator, so failures repeat), and against authenticated
 * (correctly sealed) but malformed contents: a clean rejection
 * (assert_rejected), never a crash.
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

/* Seals plain as a pack index trailer after a real header and filler, so
 * vlt_pack_read_index authenticates it and then parses it. */
static uint8_t *seal_pack(const keyring *k, const uint8_t *plain,
                          size_t plain_len, size_t filler, size_t *out_len)
{
    size_t trailer = AEAD_NONCE + plain_len + AEAD_TAG;
    size_t len = PACK_HEADER_BYTES + filler + trailer + 4;
    uint8_t *p = xmalloc(len), key[SECRET_BYTES];
    memcpy(p, PACK_MAGIC, 8);
    store_le32(p + 8, k->n_epochs - 1);
    assert_vault_ok(vlt_seal_key_new(vlt_keyring_current(k), "vault/v1 pack", p + 12,
                                 key));
    memset(p + PACK_HEADER_BYTES, 0xAB, filler);
    uint8_t ad[sizeof "vault/v1 pack index" - 1 + PACK_HEADER_BYTES];
    memcpy(ad, "vault/v1 pack index", sizeof "vault/v1 pack index" - 1);
    memcpy(ad + sizeof "vault/v1 pack index" - 1, p, PACK_HEADER_BYTES);
    uint8_t *t = p + PACK_HEADER_BYTES + filler;
    randombytes_buf(t, AEAD_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(t + AEAD_NONCE, NULL, plain,
                                               plain_len, ad, sizeof ad, NULL,
                                               t, key);
    store_le32(p + len - 4, (uint32_t)trailer);
    *out_len = len;
    return p;
}

static void put_entry(uint8_t *p, uint8_t type, uint8_t flags,
                      uint32_t offset, uint32_t length, uint32_t raw_len)
{
    p[0] = type;
    p[1] = flags;
    memset(p + 2, 0x5A, CHUNK_ID_BYTES);
    store_le32(p + 34, offset);
    store_le32(p + 38, length);
    store_le32(p + 42, raw_len);
}

/* Field by field: the struct has padding. */
static int entry_same(const pack_entry *a, const pack_entry *b)
{
    return memcmp(a->id, b->id, CHUNK_ID_BYTES) == 0 && a->type == b->type &&
           a->flags == b->flags && a->offset == b->offset &&
           a->length == b->length && a->raw_len == b->raw_len;
}

static vault_error pack_try(const keyring *k, const uint8_t *bytes,
                            size_t len, size_t *n_out)
{
    uint8_t *copy = xmalloc(len);
    if (len)
        memcpy(copy, bytes, len);
    pack_entry *es = (pack_entry *)0x1;
    size_t n = 99;
    vault_error rc = vlt_pack_read_index(k, copy, len, &es, &n);
    if (rc == VAULT_OK) {
        free(es);
    } else {
        assert_null(es);
        assert_int_equal(n, 0);
    }
    if (n_out)
        *n_out = n;
    free(copy);
    return rc;
}

static void test_parse_pack_index(void **state)
{
    (void)state;
    assert_vault_ok(vault_global_init());
    keyring *k;
    assert_vault_ok(vlt_keyring_generate(&k));
    backend *mem;
    assert_vault_ok(vlt_backend_memory_open(&mem));

    /* a real pack of three blobs */
    pack_writer pw;
    memset(&pw, 0, sizeof pw);
    assert_vault_ok(vlt_pack_writer_begin(&pw, k));
    uint8_t id[32];
    static const char *blobs[] = {"first blob", "second, longer blob",
                                  "\x01\x00\x00\x00\x00"};
    for (int i = 0; i < 3; i++) {
        blob_type type = i == 2 ? BLOB_TREE : BLOB_DATA;
        size_t n = i == 2 ? 5 : strlen(blobs[i]); /* an empty tree */
        vlt_chunk_id_compute(k, type, (const uint8_t *)blobs[i], n, id);
        assert_vault_ok(vlt_pack_writer_add(&pw, type, id, 0,
                                        (const uint8_t *)blobs[i], n,
                                        (uint32_t)n));
    }
    uint8_t pack_id[32];
    assert_vault_ok(vlt_pack_writer_finish(&pw, mem, pack_id));
    char name[65];
    vlt_hex_encode(pack_id, 32, name);
    uint8_t *pack;
    size_t len;
    assert_vault_ok(backend_load(mem, BACKEND_DATA, name, 0, 0, PACK_MAX_BYTES,
                                 &pack, &len));
    pack_entry *es;
    size_t n;
    assert_vault_ok(vlt_pack_read_index(k, pack, len, &es, &n));
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_true(entry_same(&es[i], &pw.entries[i]));
    /* and every blob opens with the key from the header */
    uint8_t key[SECRET_BYTES];
    assert_vault_ok(vlt_pack_key_from_header(k, pack, len, key));
    for (size_t i = 0; i < n; i++) {
        uint8_t *raw;
        assert_vault_ok(vlt_blob_open(k, key, &es[i], pack + es[i].offset,
                                  es[i].length, NULL, &raw));
        free(raw);
    }
    size_t trailer_at = len - 4 - load_le32(pack + len - 4);
    size_t blobs_end = es[2].offset + es[2].length;
    assert_int_equal(blobs_end, trailer_at);
    free(es);
    vlt_pack_writer_free(&pw);

    /* truncations: every one refused */
    for (size_t t = 0; t < len; t++)
        assert_rejected(pack_try(k, pack, t, NULL));
    /* flips: the header and the trailer are authenticated; flips in the
     * blobs are vlt_blob_open's business, not the index's */
    uint8_t *buf = xmalloc(len);
    for (size_t pos = 0; pos < len; pos++) {
        memcpy(buf, pack, len);
        buf[pos] ^= (uint8_t)(1u << (pos % 8));
        vault_error rc = pack_try(k, buf, len, &n);
        if (pos >= PACK_HEADER_BYTES && pos < trailer_at) {
            assert_vault_ok(rc);
            assert_int_equal(n, 3);
        } else {
            assert_rejected(rc);
        }
    }
    /* another member's keys */
    keyring *other;
    assert_vault_ok(vlt_keyring_generate(&other));
    assert_rejected(pack_try(other, pack, len, NULL));
    vlt_keyring_free(other);
    /* random bytes, with and without a plausible header */
    for (int i = 0; i < 2000; i++) {
        size_t m = rng_below(400);
        uint8_t *r = xmalloc(m);
        rng_fill(r, m);
        if (i % 2 && m >= PACK_HEADER_BYTES) {
            memcpy(r, pack, PACK_HEADER_BYTES);
            if (i % 4 == 1 && m >= PACK_HEADER_BYTES + 4)
                store_le32(r + m - 4, (uint32_t)rng_below(m));
        }
        assert_rejected(pack_try(k, r, m, NULL));
        free(r);
    }
    /* trailer lengths around the edges */
    static const uint32_t tl[] = {0, 1, AEAD_NONCE + 4 + AEAD_TAG - 1,
                                  UINT32_MAX, UINT32_MAX - 3};
    memcpy(buf, pack, len);
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(tl); i++) {
        store_le32(buf + len - 4, tl[i]);
        assert_rejected(pack_try(k, buf, len, NULL));
    }
    store_le32(buf + len - 4, (uint32_t)(len - 4 - PACK_HEADER_BYTES + 1));
    assert_rejected(pack_try(k, buf, len, NULL));
    free(buf);
    free(pack);

    /* authenticated but malformed pack indexes */
    uint8_t plain[4 + 3 * PACK_ENTRY_BYTES];
    const size_t filler = 200;
    const uint32_t good_off = PACK_HEADER_BYTES, good_len = 60;
    struct {
        uint8_t type, flags;
        uint32_t off, length, raw;
        int ok;
    } cases[] = {
        {BLOB_DATA, 0, good_off, good_len, good_len - 40, 1},
        {BLOB_TREE, BLOB_FLAG_ZSTD, good_off, good_len, 1000, 1},
        {0, 0, good_off, good_len, good_len - 40, 0},
        {3, 0, good_off, good_len, good_len - 40, 0},
        {0xff, 0, good_off, good_len, good_len - 40, 0},
        {BLOB_DATA, 2, good_off, good_len, good_len - 40, 0},
        {BLOB_DATA, 0x81, good_off, good_len, good_len - 40, 0},
        {BLOB_DATA, 0, 0, good_len, good_len - 40, 0},
        {BLOB_DATA, 0, PACK_HEADER_BYTES - 1, good_len, good_len - 40, 0},
        {BLOB_DATA, 0, good_off, 39, 0, 0},
        {BLOB_DATA, 0, good_off, 0, 0, 0},
        {BLOB_DATA, 0, good_off, (uint32_t)filler + 1, (uint32_t)filler - 39,
         0},
        {BLOB_DATA, 0, UINT32_MAX - 10, good_len, good_len - 40, 0},
        {BLOB_DATA, 0, good_off, UINT32_MAX, UINT32_MAX - 40, 0},
        {BLOB_DATA, 0, good_off, good_len, good_len - 39, 0},
        {BLOB_DATA, BLOB_FLAG_ZSTD, good_off, good_len, 4u * 1024 * 1024 + 1,
         0},
        {BLOB_TREE, BLOB_FLAG_ZSTD, good_off, good_len,
         64u * 1024 * 1024 + 1, 0},
        {BLOB_TREE, BLOB_FLAG_ZSTD, good_off, good_len, UINT32_MAX, 0},
    };
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(cases); i++) {
        store_le32(plain, 1);
        put_entry(plain + 4, cases[i].type, cases[i].flags, cases[i].off,
                  cases[i].length, cases[i].raw);
        uint8_t *p = seal_pack(k, plain, 4 + PACK_ENTRY_BYTES, filler, &len);
        vault_error rc = pack_try(k, p, len, &n);
        if (cases[i].ok) {
            assert_vault_ok(rc);
            assert_int_equal(n, 1);
        } else if (rc != VAULT_E_CORRUPT) {
            fail_msg("pack index case %zu: %s", i, vault_strerror(rc));
        }
        free(p);
    }
    /* counts that disagree with the length, and short bodies */
    static const uint32_t counts[] = {0, 2, 3, UINT32_MAX, 0x80000000u,
                                      0x05900000u};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(counts); i++) {
        store_le32(plain, counts[i]);
        put_entry(plain + 4, BLOB_DATA, 0, good_off, good_len, good_len - 40);
        uint8_t *p = seal_pack(k, plain, 4 + PACK_ENTRY_BYTES, filler, &len);
        assert_vault_code(pack_try(k, p, len, NULL), VAULT_E_CORRUPT);
        free(p);
    }
    store_le32(plain, 0);
    for (size_t m = 0; m <= 4 + PACK_ENTRY_BYTES; m++) {
        uint8_t *p = seal_pack(k, plain, m, filler, &len);
        vault_error rc = pack_try(k, p, len, &n);
        if (m == 4) {
            assert_vault_ok(rc);
            assert_int_equal(n, 0);
        } else {
            assert_vault_code(rc, VAULT_E_CORRUPT);
        }
        free(p);
    }
    /* a pack sealed in an epoch the member does not have */
    store_le32(plain, 0);
    uint8_t *p = seal_pack(k, plain, 4, 0, &len);
    store_le32(p + 8, 5);
    assert_vault_code(pack_try(k, p, len, NULL), VAULT_E_PERMISSION);
    free(p);
    backend_close(mem);
    vlt_keyring_free(k);
}

static vault_error count_entry(void *ctx, const uint8_t pack_id[32],
                               const pack_entry *e)
{
    (void)pack_id;
    (void)e;
    ++*(size_t *)ctx;
    return VAULT_OK;
}

static void count_report(void *ctx, const char *name, const char *detail)
{
    (void)name;
    (void)detail;
    ++*(size_t *)ctx;
}

static int flags_trusted(void *ctx, const uint8_t author[SIGN_PUBLIC_BYTES])
{
    (void)ctx;
    (void)author;
    return SLOT_TRUSTED;
}

/* Saves bytes as an index segment under the SHA-256 of its bytes (so the
 * parser itself runs) in a fresh memory backend and parses it; the whole
 * index load must agree: a refused segment is reported and adds
 * nothing, an accepted one all its entries. */
static vault_error segment_try(const keyring *k, const uint8_t *bytes,
                               size_t len, size_t *n_entries)
{
    backend *mem;
    assert_vault_ok(vlt_backend_memory_open(&mem));
    char name[65];
    vlt_object_name(bytes, len, name);
    assert_vault_ok(backend_save(mem, BACKEND_INDEX, name, bytes, len));
    size_t n = 0;
    vault_error rc =
        vlt_index_segment_read(mem, k, name, count_entry, &n, NULL);
    char detail[512];
    snprintf(detail, sizeof detail, "%s", vault_last_error());
    vault_index ix;
    vlt_index_init(&ix);
    size_t reports = 0;
    assert_vault_ok(vlt_index_load(&ix, mem, k, flags_trusted, NULL,
                                   count_report, &reports));
    assert_int_equal(reports, rc == VAULT_OK ? 0 : 1);
    if (rc != VAULT_OK)
        assert_int_equal(ix.n_slots, 0);
    if (n_entries)
        *n_entries = rc == VAULT_OK ? ix.n_slots : n;
    vlt_index_free(&ix);
    backend_close(mem);
    if (rc != VAULT_OK)
        return vlt_fail(rc, "%s", detail);
    return rc;
}

/* A damaged or foreign segment: refused with a clean error, or - for a
 * key epoch the member does not hold - skipped, adding nothing. */
static void segment_refused(const keyring *k, const uint8_t *bytes,
                            size_t len)
{
    size_t n = 0;
    vault_error rc = segment_try(k, bytes, len, &n);
    if (rc == VAULT_OK && n == 0 && len >= 12 &&
        memcmp(bytes, INDEX_MAGIC, 8) == 0 &&
        !vlt_keyring_epoch(k, load_le32(bytes + 8)))
        return;
    assert_rejected(rc);
}

/* Seals plain (author | sig | body) as a segment of epoch. */
static uint8_t *seal_plain(const keyring *k, uint32_t epoch,
                           const uint8_t *plain, size_t plain_len,
                           size_t *out_len)
{
    size_t len = 36 + plain_len + AEAD_TAG;
    uint8_t *p = xmalloc(len), key[SECRET_BYTES];
    memcpy(p, INDEX_MAGIC, 8);
    store_le32(p + 8, epoch);
    randombytes_buf(p + 12, AEAD_NONCE);
    vlt_kdf(key, vlt_keyring_current(k)->write_key, "index");
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + 36, NULL, plain, plain_len,
                                               p, 36, NULL, p + 12, key);
    *out_len = len;
    return p;
}

/* Signs body as k's member and seals it, as vlt_index_segment_save. */
static uint8_t *seal_segment(const keyring *k, uint32_t epoch,
                             const uint8_t *body, size_t body_len,
                             size_t *out_len)
{
    uint8_t *plain = xmalloc(INDEX_AUTHOR_BYTES + body_len);
    memcpy(plain, k->sign_pk, SIGN_PUBLIC_BYTES);
    if (body_len)
        memcpy(plain + INDEX_AUTHOR_BYTES, body, body_len);
    assert_vault_ok(vlt_sign(k->sign_sk, SIGN_LABEL_INDEX, k->vault_id,
                             plain + INDEX_AUTHOR_BYTES, body_len,
                             plain + SIGN_PUBLIC_BYTES));
    uint8_t *p = seal_plain(k, epoch, plain, INDEX_AUTHOR_BYTES + body_len,
                            out_len);
    free(plain);
    return p;
}

static void test_parse_index_segments(void **state)
{
    (void)state;
    assert_vault_ok(vault_global_init());
    keyring *k;
    assert_vault_ok(vlt_keyring_generate(&k));

    /* a real segment: two packs, three entries */
    uint8_t pack_ids[64];
    rng_fill(pack_ids, sizeof pack_ids);
    pack_entry es[3];
    memset(es, 0, sizeof es);
    for (int i = 0; i < 3; i++) {
        rng_fill(es[i].id, CHUNK_ID_BYTES);
        es[i].type = i == 2 ? BLOB_TREE : BLOB_DATA;
        es[i].offset = PACK_HEADER_BYTES + 100 * (uint32_t)i;
        es[i].length = 90;
        es[i].raw_len = 50;
    }
    size_t starts[3] = {0, 2, 3};
    backend *mem;
    assert_vault_ok(vlt_backend_memory_open(&mem));
    assert_vault_ok(vlt_index_segment_save(mem, k, pack_ids, 2, starts, es));
    vault_index ix;
    vlt_index_init(&ix);
    assert_vault_ok(vlt_index_load(&ix, mem, k, flags_trusted, NULL, NULL,
                                   NULL));
    assert_int_equal(ix.n_slots, 3);
    assert_int_equal(ix.n_packs, 2);
    for (int i = 0; i < 3; i++) {
        const index_slot *s = vlt_index_find(&ix, es[i].id);
        assert_non_null(s);
        pack_entry e;
        vlt_index_slot_entry(&ix, s, &e);
        assert_true(entry_same(&e, &es[i]));
        assert_memory_equal(ix.packs[s->pack], pack_ids + (i == 2) * 32, 32);
    }
    vlt_index_free(&ix);
    backend_close(mem);

    /* rebuild the same segment by hand, to have its bytes */
    size_t body_len = 4 + 2 * 36 + 3 * PACK_ENTRY_BYTES;
    uint8_t *body = xmalloc(body_len), *w = body;
    store_le32(w, 2);
    w += 4;
    for (size_t pk = 0; pk < 2; pk++) {
        memcpy(w, pack_ids + 32 * pk, 32);
        store_le32(w + 32, (uint32_t)(starts[pk + 1] - starts[pk]));
        w += 36;
        for (size_t j = starts[pk]; j < starts[pk + 1]; j++) {
            w[0] = es[j].type;
            w[1] = es[j].flags;
            memcpy(w + 2, es[j].id, 32);
            store_le32(w + 34, es[j].offset);
            store_le32(w + 38, es[j].length);
            store_le32(w + 42, es[j].raw_len);
            w += PACK_ENTRY_BYTES;
        }
    }
    assert_int_equal((size_t)(w - body), body_len);
    size_t len, n;
    uint8_t *seg_bytes = seal_segment(k, 0, body, body_len, &len);
    assert_vault_ok(segment_try(k, seg_bytes, len, &n));
    assert_int_equal(n, 3);

    /* truncations and flips (each saved under its own true name) */
    for (size_t t = 0; t < len; t++)
        segment_refused(k, seg_bytes, t);
    uint8_t *buf = xmalloc(len);
    for (size_t pos = 0; pos < len; pos++) {
        memcpy(buf, seg_bytes, len);
        buf[pos] ^= (uint8_t)(1u << (pos % 8));
        segment_refused(k, buf, len);
    }
    free(buf);
    /* the real bytes under a name that is not theirs */
    assert_vault_ok(vlt_backend_memory_open(&mem));
    char wrong[65];
    memset(wrong, 'a', 64);
    wrong[64] = '\0';
    assert_vault_ok(backend_save(mem, BACKEND_INDEX, wrong, seg_bytes, len));
    size_t reports = 0;
    vlt_index_init(&ix);
    assert_vault_ok(vlt_index_load(&ix, mem, k, flags_trusted, NULL,
                                   count_report, &reports));
    assert_int_equal(reports, 1);
    assert_int_equal(ix.n_slots, 0);
    vlt_index_free(&ix);
    backend_close(mem);
    /* signed by someone else than the author it names, or not signed */
    {
        uint8_t *plain = xmalloc(INDEX_AUTHOR_BYTES + body_len);
        memcpy(plain, k->sign_pk, SIGN_PUBLIC_BYTES);
        memset(plain + SIGN_PUBLIC_BYTES, 0, SIGNATURE_BYTES);
        memcpy(plain + INDEX_AUTHOR_BYTES, body, body_len);
        uint8_t *p = seal_plain(k, 0, plain, INDEX_AUTHOR_BYTES + body_len,
                                &len);
        assert_vault_code(segment_try(k, p, len, &n), VAULT_E_CORRUPT);
        assert_non_null(strstr(vault_last_error(), "signature does not verify"));
        free(p);
        keyring *other;
        assert_vault_ok(vlt_keyring_generate(&other));
        assert_vault_ok(vlt_sign(other->sign_sk, SIGN_LABEL_INDEX,
                                 k->vault_id, body, body_len,
                                 plain + SIGN_PUBLIC_BYTES));
        p = seal_plain(k, 0, plain, INDEX_AUTHOR_BYTES + body_len, &len);
        assert_vault_code(segment_try(k, p, len, &n), VAULT_E_CORRUPT);
        free(p);
        /* the other vault's ID under the same key: not this vault's */
        assert_vault_ok(vlt_sign(k->sign_sk, SIGN_LABEL_INDEX,
                                 other->vault_id, body, body_len,
                                 plain + SIGN_PUBLIC_BYTES));
        p = seal_plain(k, 0, plain, INDEX_AUTHOR_BYTES + body_len, &len);
        assert_vault_code(segment_try(k, p, len, &n), VAULT_E_CORRUPT);
        free(p);
        /* a plaintext too short to hold an author */
        p = seal_plain(k, 0, plain, INDEX_AUTHOR_BYTES - 1, &len);
        assert_rejected(segment_try(k, p, len, &n));
        free(p);
        vlt_keyring_free(other);
        free(plain);
    }
    /* random bytes, with and without the magic */
    for (int i = 0; i < 1500; i++) {
        size_t m = rng_below(300);
        uint8_t *r = xmalloc(m);
        rng_fill(r, m);
        if (i % 2 && m >= 12) {
            memcpy(r, INDEX_MAGIC, 8);
            store_le32(r + 8, 0);
        }
        segment_refused(k, r, m);
        free(r);
    }

    /* authenticated but malformed bodies */
    uint8_t hb[4 + 36 + 2 * PACK_ENTRY_BYTES + 8];
    memset(hb, 0, sizeof hb);
    struct {
        uint32_t n_packs, n_entries;
        size_t body_len;
        uint8_t entry_type;
        vault_error want;
    } cases[] = {
        {0, 0, 4, BLOB_DATA, VAULT_OK},
        {0, 0, 0, BLOB_DATA, VAULT_E_CORRUPT},
        {0, 0, 3, BLOB_DATA, VAULT_E_CORRUPT},
        {0, 0, 5, BLOB_DATA, VAULT_E_CORRUPT},         /* trailing */
        {1, 0, 4, BLOB_DATA, VAULT_E_CORRUPT},         /* no pack */
        {1, 0, 4 + 35, BLOB_DATA, VAULT_E_CORRUPT},    /* short pack */
        {1, 0, 4 + 36, BLOB_DATA, VAULT_OK},           /* empty pack */
        {1, 1, 4 + 36, BLOB_DATA, VAULT_E_CORRUPT},    /* no entry */
        {1, 1, 4 + 36 + 45, BLOB_DATA, VAULT_E_CORRUPT},
        {1, 1, 4 + 36 + 46, BLOB_DATA, VAULT_OK},
        {1, 1, 4 + 36 + 47, BLOB_DATA, VAULT_E_CORRUPT},
        {1, 2, 4 + 36 + 92, BLOB_DATA, VAULT_OK},
        {1, 1, 4 + 36 + 46, 0, VAULT_E_CORRUPT},
        {1, 1, 4 + 36 + 46, 9, VAULT_E_CORRUPT},
        {1, UINT32_MAX, 4 + 36 + 92, BLOB_DATA, VAULT_E_CORRUPT},
        {1, 0x05900000u, 4 + 36 + 92, BLOB_DATA, VAULT_E_CORRUPT},
        {UINT32_MAX, 0, 4 + 36, BLOB_DATA, VAULT_E_CORRUPT},
        {UINT32_MAX, 2, 4 + 36 + 92, BLOB_DATA, VAULT_E_CORRUPT},
    };
    uint8_t *p;
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(cases); i++) {
        memset(hb, 0, sizeof hb);
        store_le32(hb, cases[i].n_packs);
        memset(hb + 4, 0x11, 32);
        store_le32(hb + 36, cases[i].n_entries);
        for (int j = 0; j < 2; j++) {
            uint8_t *e = hb + 40 + j * PACK_ENTRY_BYTES;
            e[0] = cases[i].entry_type;
            memset(e + 2, 0x30 + j, 32);
            store_le32(e + 34, PACK_HEADER_BYTES);
            store_le32(e + 38, 50);
            store_le32(e + 42, 10);
        }
        p = seal_segment(k, 0, hb, cases[i].body_len, &len);
        vault_error rc = segment_try(k, p, len, &n);
        if (rc != cases[i].want)
            fail_msg("segment case %zu: %s, expected %s: %s", i,
                     vault_strerror(rc), vault_strerror(cases[i].want),
                     vault_last_error());
        free(p);
    }
    /* an epoch the member does not hold (and a real body) */
    p = seal_segment(k, 3, body, body_len, &len);
    segment_refused(k, p, len);
    free(p);
    free(seg_bytes);
    free(body);
    vlt_keyring_free(k);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_pack_index),
        cmocka_unit_test(test_parse_index_segments),
    };
    return cmocka_run_group_tests_name("parsers: packs and index", tests, NULL, NULL)
               ? 1
               : 0;
}
