/*
 * test_pack.c - packs and the index (format/pack.c): a pack written and
 * read back blob by blob, blobs opened with the wrong key, type, ID or
 * length, the sealed trailer, pack headers of other epochs and of
 * writers, index segments saved, read and loaded (and refused: wrong
 * name, another vault, a later epoch), condemned packs in the
 * in-memory index, and the chunk ID function.  Random and mutated bytes are in test_pack_parse.c.
 */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>

#include "backend_testing.h"
#include "common/internal.h"
#include "crypto/keys.h"
#include "format/pack.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

#define assert_detail_has(text)                                              \
    do {                                                                     \
        if (!strstr(vault_last_error(), (text)))                             \
            fail_msg("detail \"%s\" lacks \"%s\"", vault_last_error(),       \
                     (text));                                                \
    } while (0)

/* A keyring, a memory backend, and one pack of three blobs in it. */
typedef struct pack_fx {
    keyring *k;            /* the vault's secrets (owner) */
    backend *be;           /* memory */
    uint8_t raw[3][20000]; /* the blobs' plaintexts */
    size_t raw_len[3];     /* their lengths */
    blob_type type[3];     /* data, data (compressed), tree */
    pack_entry entries[3]; /* as the writer made them */
    uint8_t pack_id[32];   /* its name */
    uint8_t *pack;         /* its bytes, loaded back */
    size_t pack_len;       /* their length */
} pack_fx;

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

static int pack_setup(void **state)
{
    pack_fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_vault_ok(vlt_keyring_generate(&f->k));
    assert_vault_ok(vlt_backend_memory_open(&f->be));
    f->raw_len[0] = 5;
    memcpy(f->raw[0], "hello", 5);
    f->type[0] = BLOB_DATA;
    f->raw_len[1] = sizeof f->raw[1]; /* compresses well */
    memset(f->raw[1], 'z', f->raw_len[1]);
    f->type[1] = BLOB_DATA;
    f->raw_len[2] = 300;
    fill(f->raw[2], f->raw_len[2], 3);
    f->type[2] = BLOB_TREE;

    pack_writer pw;
    memset(&pw, 0, sizeof pw);
    assert_vault_ok(vlt_pack_writer_begin(&pw, f->k));
    for (int i = 0; i < 3; i++) {
        uint8_t id[CHUNK_ID_BYTES];
        vlt_chunk_id_compute(f->k, f->type[i], f->raw[i], f->raw_len[i], id);
        if (i == 1) {
            uint8_t z[1024];
            size_t zn = ZSTD_compress(z, sizeof z, f->raw[i], f->raw_len[i],
                                      3);
            assert_false(ZSTD_isError(zn));
            assert_vault_ok(vlt_pack_writer_add(&pw, f->type[i], id,
                                                BLOB_FLAG_ZSTD, z, zn,
                                                (uint32_t)f->raw_len[i]));
        } else {
            assert_vault_ok(vlt_pack_writer_add(&pw, f->type[i], id, 0,
                                                f->raw[i], f->raw_len[i],
                                                (uint32_t)f->raw_len[i]));
        }
    }
    assert_int_equal(pw.n_entries, 3);
    memcpy(f->entries, pw.entries, sizeof f->entries);
    assert_vault_ok(vlt_pack_writer_finish(&pw, f->be, f->pack_id));
    size_t saved = pw.len_saved;
    vlt_pack_writer_free(&pw);

    char name[65];
    vlt_hex_encode(f->pack_id, 32, name);
    assert_vault_ok(backend_load(f->be, BACKEND_DATA, name, 0, 0,
                                 PACK_MAX_BYTES, &f->pack, &f->pack_len));
    assert_int_equal(f->pack_len, saved);
    *state = f;
    return 0;
}

static int pack_teardown(void **state)
{
    pack_fx *f = *state;
    free(f->pack);
    backend_close(f->be);
    vlt_keyring_free(f->k);
    free(f);
    return 0;
}

/* Opens entry i of f's pack with key, as a reader would: in the pack,
 * and from a copy opened in place (vlt_blob_open_owned), which must come
 * to the same answer (under ASan: without a leak or a double free). */
static vault_error open_entry(pack_fx *f, const uint8_t key[SECRET_BYTES],
                              const pack_entry *e, uint8_t **out)
{
    vault_error rc = vlt_blob_open(f->k, key, e, f->pack + e->offset,
                                   e->length, NULL, out);
    uint8_t *copy = malloc(e->length), *raw = (uint8_t *)&raw;
    assert_non_null(copy);
    memcpy(copy, f->pack + e->offset, e->length);
    assert_int_equal(vlt_blob_open_owned(f->k, key, e, copy, e->length, NULL,
                                         &raw),
                     rc);
    if (rc == VAULT_OK)
        assert_memory_equal(raw, *out, e->raw_len);
    else
        assert_null(raw);
    free(raw);
    return rc;
}

static void test_pack_roundtrip(void **state)
{
    pack_fx *f = *state;
    char name[65];
    vlt_hex_encode(f->pack_id, 32, name);
    assert_vault_ok(
        vlt_object_check_name(BACKEND_DATA, name, f->pack, f->pack_len));
    assert_memory_equal(f->pack, PACK_MAGIC, 8);
    assert_int_equal(load_le32(f->pack + 8), 0); /* epoch 0 */

    pack_entry *es;
    size_t n;
    assert_vault_ok(vlt_pack_read_index(f->k, f->pack, f->pack_len, &es, &n));
    assert_int_equal(n, 3);
    uint8_t key[SECRET_BYTES];
    assert_vault_ok(
        vlt_pack_key_from_header(f->k, f->pack, PACK_HEADER_BYTES, key));
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    assert_non_null(dctx);
    uint32_t offset = PACK_HEADER_BYTES;
    for (size_t i = 0; i < n; i++) {
        assert_memory_equal(es[i].id, f->entries[i].id, CHUNK_ID_BYTES);
        assert_int_equal(es[i].type, f->type[i]);
        assert_int_equal(es[i].flags, i == 1 ? BLOB_FLAG_ZSTD : 0);
        assert_int_equal(es[i].offset, offset); /* blobs follow each other */
        assert_int_equal(es[i].length, f->entries[i].length);
        assert_int_equal(es[i].raw_len, f->raw_len[i]);
        offset += es[i].length;
        for (int with_dctx = 0; with_dctx < 2; with_dctx++) {
            uint8_t *raw = NULL;
            assert_vault_ok(vlt_blob_open(f->k, key, &es[i],
                                          f->pack + es[i].offset,
                                          es[i].length,
                                          with_dctx ? dctx : NULL, &raw));
            assert_memory_equal(raw, f->raw[i], f->raw_len[i]);
            free(raw);
            /* in place, compressed (1) and stored as is (0, 2) */
            uint8_t *copy = malloc(es[i].length);
            assert_non_null(copy);
            memcpy(copy, f->pack + es[i].offset, es[i].length);
            assert_vault_ok(vlt_blob_open_owned(f->k, key, &es[i], copy,
                                                es[i].length,
                                                with_dctx ? dctx : NULL,
                                                &raw));
            assert_memory_equal(raw, f->raw[i], f->raw_len[i]);
            free(raw);
        }
    }
    assert_int_equal(es[1].length, f->entries[1].length);
    assert_true(es[1].length < f->raw_len[1]); /* it was compressed */
    /* The trailer starts where the blobs end. */
    uint32_t trailer = load_le32(f->pack + f->pack_len - 4);
    assert_int_equal(offset + trailer + 4, f->pack_len);
    assert_vault_ok(vlt_pack_check_trailer(key, f->pack, f->pack + offset,
                                           trailer));
    ZSTD_freeDCtx(dctx);
    free(es);
}

static void test_blob_open_refusals(void **state)
{
    pack_fx *f = *state;
    uint8_t key[SECRET_BYTES], *out = (uint8_t *)&out;
    assert_vault_ok(
        vlt_pack_key_from_header(f->k, f->pack, PACK_HEADER_BYTES, key));
    for (int i = 0; i < 3; i++) {
        pack_entry e = f->entries[i];
        /* A wrong key. */
        uint8_t wrong[SECRET_BYTES];
        memcpy(wrong, key, sizeof wrong);
        wrong[0] ^= 1;
        assert_vault_code(open_entry(f, wrong, &e, &out), VAULT_E_CORRUPT);
        assert_null(out);
        assert_detail_has("authentication failed");
        /* The associated data binds the type and the chunk ID. */
        e.type = f->type[i] == BLOB_DATA ? BLOB_TREE : BLOB_DATA;
        assert_vault_code(open_entry(f, key, &e, &out), VAULT_E_CORRUPT);
        assert_detail_has("authentication failed");
        e = f->entries[i];
        e.id[31] ^= 0x80;
        assert_vault_code(open_entry(f, key, &e, &out), VAULT_E_CORRUPT);
        assert_detail_has("authentication failed");
        /* A length other than the entry's, or below the overhead. */
        e = f->entries[i];
        assert_vault_code(vlt_blob_open(f->k, key, &e, f->pack + e.offset,
                                        e.length - 1, NULL, &out),
                          VAULT_E_CORRUPT);
        assert_detail_has("wrong length");
        uint8_t *copy = malloc(e.length);
        assert_non_null(copy);
        memcpy(copy, f->pack + e.offset, e.length);
        assert_vault_code(vlt_blob_open_owned(f->k, key, &e, copy,
                                              e.length - 1, NULL, &out),
                          VAULT_E_CORRUPT); /* copy freed: ASan sees it */
        assert_detail_has("wrong length");
        e.length = BLOB_OVERHEAD - 1;
        assert_vault_code(vlt_blob_open(f->k, key, &e, f->pack + e.offset,
                                        e.length, NULL, &out),
                          VAULT_E_CORRUPT);
        assert_detail_has("wrong length");
        /* Any byte of the blob changed. */
        e = f->entries[i];
        for (uint32_t at = 0; at < e.length; at += 7) {
            f->pack[e.offset + at] ^= 0x10;
            assert_vault_code(open_entry(f, key, &e, &out), VAULT_E_CORRUPT);
            f->pack[e.offset + at] ^= 0x10;
        }
        assert_vault_ok(open_entry(f, key, &e, &out));
        free(out);
    }
    /* A compressed blob whose raw length is wrong. */
    pack_entry e = f->entries[1];
    e.raw_len--;
    assert_vault_code(open_entry(f, key, &e, &out), VAULT_E_CORRUPT);
    assert_detail_has("bad compressed data");
    assert_null(out);

    /* Sealed under an ID that is not its content's (a member forging):
     * authenticates, and is still refused. */
    pack_writer pw;
    memset(&pw, 0, sizeof pw);
    uint8_t forged[CHUNK_ID_BYTES], pack_id[32];
    vlt_chunk_id_compute(f->k, BLOB_DATA, (const uint8_t *)"other", 5, forged);
    assert_vault_ok(vlt_pack_writer_begin(&pw, f->k));
    assert_vault_ok(vlt_pack_writer_add(&pw, BLOB_DATA, forged, 0,
                                        (const uint8_t *)"hello", 5, 5));
    pack_entry fe = pw.entries[0];
    uint8_t fkey[SECRET_BYTES];
    memcpy(fkey, pw.key, sizeof fkey);
    assert_vault_code(vlt_blob_open(f->k, fkey, &fe, pw.buf + fe.offset,
                                    fe.length, NULL, &out),
                      VAULT_E_CORRUPT);
    assert_detail_has("does not match its chunk ID");
    assert_vault_ok(vlt_pack_writer_finish(&pw, f->be, pack_id));
    vlt_pack_writer_free(&pw);
    sodium_memzero(fkey, sizeof fkey);
}

/* With timing on, a blob that fails to open still ends its phase: the
 * next open on the thread is counted (it was not, the thread's timer
 * depth left raised by the failure). */
static void test_blob_open_failure_timed(void **state)
{
    pack_fx *f = *state;
    uint8_t key[SECRET_BYTES], *out = NULL;
    assert_vault_ok(
        vlt_pack_key_from_header(f->k, f->pack, PACK_HEADER_BYTES, key));
    vault_phase_timing_enable();
    pack_entry e = f->entries[1];
    e.raw_len--; /* decompression fails */
    assert_vault_code(open_entry(f, key, &e, &out), VAULT_E_CORRUPT);
    uint8_t wrong[SECRET_BYTES];
    memcpy(wrong, key, sizeof wrong);
    wrong[0] ^= 1; /* authentication fails */
    assert_vault_code(open_entry(f, wrong, &f->entries[0], &out),
                      VAULT_E_CORRUPT);
    assert_vault_ok(open_entry(f, key, &f->entries[0], &out));
    free(out);
    vault_phase_time times[32];
    size_t n = vault_phase_times(times, 32);
    uint64_t opens = 0;
    for (size_t i = 0; i < n && i < 32; i++)
        if (strncmp(times[i].name, "open blobs", 10) == 0)
            opens = times[i].calls;
    assert_int_equal(opens, 3 * 2); /* open_entry opens each twice */
}

static void test_pack_headers(void **state)
{
    pack_fx *f = *state;
    uint8_t key[SECRET_BYTES], header[PACK_HEADER_BYTES];
    memcpy(header, f->pack, sizeof header);
    assert_vault_code(vlt_pack_key_from_header(f->k, header,
                                               PACK_HEADER_BYTES - 1, key),
                      VAULT_E_CORRUPT);
    assert_detail_has("not a pack");
    header[0] = 'X';
    assert_vault_code(
        vlt_pack_key_from_header(f->k, header, sizeof header, key),
        VAULT_E_CORRUPT);
    /* An epoch this member does not hold (added after it was unshared). */
    memcpy(header, f->pack, sizeof header);
    store_le32(header + 8, 1);
    assert_vault_code(
        vlt_pack_key_from_header(f->k, header, sizeof header, key),
        VAULT_E_PERMISSION);
    assert_detail_has("key epoch 1");
    /* A writer holds the epoch but cannot open packs. */
    keyring *writer = NULL;
    assert_vault_ok(vlt_keyring_new_epoch(f->k, &writer));
    writer->role = ROLE_WRITER;
    for (uint32_t e = 0; e < writer->n_epochs; e++) {
        sodium_memzero(writer->epochs[e].read_sk, X25519_BYTES);
        writer->epochs[e].has_read_sk = 0;
    }
    assert_vault_code(
        vlt_pack_key_from_header(writer, f->pack, PACK_HEADER_BYTES, key),
        VAULT_E_PERMISSION);
    pack_entry *es = (pack_entry *)&es;
    size_t n = 99;
    assert_vault_code(
        vlt_pack_read_index(writer, f->pack, f->pack_len, &es, &n),
        VAULT_E_PERMISSION);
    assert_null(es);
    assert_int_equal(n, 0);
    vlt_keyring_free(writer);
    /* Another vault's member: the key opens nothing. */
    keyring *other = NULL;
    assert_vault_ok(vlt_keyring_generate(&other));
    assert_vault_code(
        vlt_pack_read_index(other, f->pack, f->pack_len, &es, &n),
        VAULT_E_CORRUPT);
    assert_detail_has("authentication failed");
    vlt_keyring_free(other);
}

static void test_pack_trailer(void **state)
{
    pack_fx *f = *state;
    uint8_t key[SECRET_BYTES];
    assert_vault_ok(
        vlt_pack_key_from_header(f->k, f->pack, PACK_HEADER_BYTES, key));
    uint32_t trailer = load_le32(f->pack + f->pack_len - 4);
    uint8_t *t = f->pack + f->pack_len - 4 - trailer;
    assert_int_equal(trailer, AEAD_NONCE + 4 + 3 * PACK_ENTRY_BYTES + AEAD_TAG);
    assert_vault_ok(vlt_pack_check_trailer(key, f->pack, t, trailer));
    /* Every trailer byte is authenticated, and so is the header. */
    for (uint32_t i = 0; i < trailer; i++) {
        t[i] ^= 0x04;
        assert_vault_code(vlt_pack_check_trailer(key, f->pack, t, trailer),
                          VAULT_E_CORRUPT);
        t[i] ^= 0x04;
    }
    uint8_t header[PACK_HEADER_BYTES];
    memcpy(header, f->pack, sizeof header);
    header[20] ^= 1;
    assert_vault_code(vlt_pack_check_trailer(key, header, t, trailer),
                      VAULT_E_CORRUPT);
    assert_detail_has("authentication failed");
    assert_vault_code(vlt_pack_check_trailer(key, f->pack, t,
                                             AEAD_NONCE + 3 + AEAD_TAG),
                      VAULT_E_CORRUPT);
    assert_detail_has("bad trailer length");

    /* vlt_pack_read_index: the length field, and a truncated pack. */
    pack_entry *es;
    size_t n;
    uint8_t *copy = malloc(f->pack_len);
    assert_non_null(copy);
    memcpy(copy, f->pack, f->pack_len);
    const uint32_t bad_lengths[] = {0, AEAD_NONCE + 3 + AEAD_TAG,
                                    (uint32_t)(f->pack_len - 4 -
                                               PACK_HEADER_BYTES + 1),
                                    UINT32_MAX};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad_lengths); i++) {
        store_le32(copy + f->pack_len - 4, bad_lengths[i]);
        assert_vault_code(
            vlt_pack_read_index(f->k, copy, f->pack_len, &es, &n),
            VAULT_E_CORRUPT);
        assert_detail_has("bad trailer length");
    }
    assert_vault_code(vlt_pack_read_index(f->k, f->pack, PACK_HEADER_BYTES + 3,
                                          &es, &n),
                      VAULT_E_CORRUPT);
    assert_detail_has("truncated");
    assert_vault_code(vlt_pack_read_index(f->k, f->pack, f->pack_len - 1, &es,
                                          &n),
                      VAULT_E_CORRUPT);
    free(copy);
}

/* ---- index segments ------------------------------------------------------ */

#define SEEN_MAX 16
typedef struct seen_entries {
    uint8_t pack_ids[SEEN_MAX][32]; /* the pack of each entry */
    pack_entry e[SEEN_MAX];         /* the entries, in order */
    size_t n;                       /* how many */
    size_t fail_at;                 /* return fail_code at this call (1-based) */
    vault_error fail_code;          /* what to return then */
} seen_entries;

static vault_error seen_fn(void *ctx, const uint8_t pack_id[32],
                           const pack_entry *e)
{
    seen_entries *s = ctx;
    assert_true(s->n < SEEN_MAX);
    memcpy(s->pack_ids[s->n], pack_id, 32);
    s->e[s->n] = *e;
    s->n++;
    return s->n == s->fail_at ? s->fail_code : VAULT_OK;
}

static int entry_same(const pack_entry *a, const pack_entry *b)
{
    return memcmp(a->id, b->id, CHUNK_ID_BYTES) == 0 && a->type == b->type &&
           a->flags == b->flags && a->offset == b->offset &&
           a->length == b->length && a->raw_len == b->raw_len;
}

/* The one index segment in be; fails unless there is exactly one. */
static void only_segment(backend *be, char name[65])
{
    name_list names;
    assert_vault_ok(vlt_backend_list_names(be, BACKEND_INDEX, &names));
    assert_int_equal(names.n, 1);
    memcpy(name, names.names[0], 65);
    free(names.names);
}

/* Saves f's pack as two packs (entries 0 and 1..2) in one segment. */
static void save_segment(pack_fx *f, const keyring *k, char name[65])
{
    uint8_t ids[64];
    memcpy(ids, f->pack_id, 32);
    memset(ids + 32, 0xab, 32);
    size_t starts[3] = {0, 1, 3};
    assert_vault_ok(vlt_index_segment_save(f->be, k, ids, 2, starts,
                                           f->entries));
    only_segment(f->be, name);
}

/* The loader's questions, answered for tests. */
typedef struct report_log {
    size_t n;
    char last[128];
} report_log;

static void count_report(void *ctx, const char *name, const char *detail)
{
    report_log *l = ctx;
    l->n++;
    snprintf(l->last, sizeof l->last, "%s", detail);
    assert_non_null(strstr(detail, name));
}

static int flags_trusted(void *ctx, const uint8_t author[SIGN_PUBLIC_BYTES])
{
    (void)ctx;
    (void)author;
    return SLOT_TRUSTED;
}

static int flags_forged(void *ctx, const uint8_t author[SIGN_PUBLIC_BYTES])
{
    (void)ctx;
    (void)author;
    return -1;
}

static void test_index_segment_roundtrip(void **state)
{
    pack_fx *f = *state;
    report_log reports = {0};
    char name[65];
    save_segment(f, f->k, name);
    seen_entries s = {0};
    index_segment_info info = {.skipped = 7};
    assert_vault_ok(
        vlt_index_segment_read(f->be, f->k, name, seen_fn, &s, &info));
    assert_int_equal(info.skipped, 0);
    /* signed by the keyring's member */
    assert_memory_equal(info.author, f->k->sign_pk, SIGN_PUBLIC_BYTES);
    assert_int_equal(s.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_true(entry_same(&s.e[i], &f->entries[i]));
        uint8_t want[32];
        memset(want, 0xab, 32);
        assert_memory_equal(s.pack_ids[i], i == 0 ? f->pack_id : want, 32);
    }
    /* A non-OK return from fn stops the walk and is returned. */
    seen_entries stop = {.fail_at = 2, .fail_code = VAULT_E_IO};
    assert_vault_code(
        vlt_index_segment_read(f->be, f->k, name, seen_fn, &stop, NULL),
        VAULT_E_IO);
    assert_int_equal(stop.n, 2);

    /* Loaded into the in-memory index. */
    vault_index ix;
    vlt_index_init(&ix);
    assert_vault_ok(vlt_index_load(&ix, f->be, f->k, flags_trusted, NULL,
                                   count_report, &reports));
    assert_int_equal(reports.n, 0);
    assert_int_equal(ix.n_segments, 1);
    assert_int_equal(ix.n_packs, 2);
    for (size_t i = 0; i < 3; i++) {
        const index_slot *slot = vlt_index_find(&ix, f->entries[i].id);
        assert_non_null(slot);
        pack_entry e;
        vlt_index_slot_entry(&ix, slot, &e);
        assert_true(entry_same(&e, &f->entries[i]));
        assert_memory_equal(ix.packs[slot->pack], s.pack_ids[i], 32);
        assert_false(vlt_index_slot_condemned(&ix, slot));
        assert_true(vlt_index_slot_trusted(slot));
        assert_false(vlt_index_slot_own(slot));
        assert_int_equal(vlt_index_copies(&ix, f->entries[i].id, NULL, 0),
                         1);
    }
    uint8_t absent[CHUNK_ID_BYTES] = {1};
    assert_null(vlt_index_find(&ix, absent));
    vlt_index_free(&ix);

    /* A missing segment. */
    char missing[65];
    memcpy(missing, name, 65);
    missing[0] = missing[0] == '0' ? '1' : '0';
    assert_vault_code(
        vlt_index_segment_read(f->be, f->k, missing, seen_fn, &s, NULL),
        VAULT_E_NOT_FOUND);
}

static void test_index_segment_refusals(void **state)
{
    pack_fx *f = *state;
    char name[65], wrong[65];
    save_segment(f, f->k, name);
    uint8_t *bytes;
    size_t len;
    assert_vault_ok(backend_load(f->be, BACKEND_INDEX, name, 0, 0,
                                 INDEX_MAX_BYTES, &bytes, &len));
    assert_memory_equal(bytes, INDEX_MAGIC, 8);
    assert_int_equal(load_le32(bytes + 8), 0);

    /* Under a name that is not its hash: refused, fn never called. */
    memcpy(wrong, name, 65);
    wrong[63] = wrong[63] == 'f' ? 'e' : 'f';
    assert_vault_ok(backend_save(f->be, BACKEND_INDEX, wrong, bytes, len));
    seen_entries s = {0};
    assert_vault_code(
        vlt_index_segment_read(f->be, f->k, wrong, seen_fn, &s, NULL),
        VAULT_E_CORRUPT);
    assert_detail_has("does not match its name");
    assert_int_equal(s.n, 0);
    /* The load reports it by name and goes on with the others (issue
     * #10: junk in index/ must not stop ls, extract, check or add). */
    report_log reports = {0};
    vault_index ix;
    vlt_index_init(&ix);
    assert_vault_ok(vlt_index_load(&ix, f->be, f->k, flags_trusted, NULL,
                                   count_report, &reports));
    assert_int_equal(reports.n, 1);
    assert_non_null(strstr(reports.last, wrong));
    assert_non_null(vlt_index_find(&ix, f->entries[0].id));
    assert_int_equal(ix.n_segments, 1);
    vlt_index_free(&ix);
    assert_vault_ok(backend_remove(f->be, BACKEND_INDEX, wrong));

    /* Junk under a name that is its hash: reported and skipped too. */
    static const char junk[] = "not an index segment at all";
    char junk_name[65];
    vlt_object_name((const uint8_t *)junk, sizeof junk, junk_name);
    assert_vault_ok(backend_save(f->be, BACKEND_INDEX, junk_name,
                                 (const uint8_t *)junk, sizeof junk));
    reports.n = 0;
    vlt_index_init(&ix);
    assert_vault_ok(vlt_index_load(&ix, f->be, f->k, flags_trusted, NULL,
                                   count_report, &reports));
    assert_int_equal(reports.n, 1);
    assert_non_null(strstr(reports.last, junk_name));
    assert_non_null(vlt_index_find(&ix, f->entries[0].id));
    vlt_index_free(&ix);
    assert_vault_ok(backend_remove(f->be, BACKEND_INDEX, junk_name));

    /* By an author who is not a member: forged, reported, skipped. */
    reports.n = 0;
    vlt_index_init(&ix);
    assert_vault_ok(vlt_index_load(&ix, f->be, f->k, flags_forged, NULL,
                                   count_report, &reports));
    assert_int_equal(reports.n, 1);
    assert_non_null(strstr(reports.last, "forged"));
    assert_null(vlt_index_find(&ix, f->entries[0].id));
    assert_int_equal(ix.n_slots, 0);
    vlt_index_free(&ix);

    /* A signature that does not verify: the plaintext re-sealed with
     * another key named as its author. */
    {
        uint8_t key[SECRET_BYTES];
        vlt_kdf(key, vlt_keyring_current(f->k)->write_key, "index");
        size_t plain_len = len - 36 - AEAD_TAG;
        uint8_t *plain = malloc(plain_len), *forged = malloc(len);
        assert_non_null(plain);
        assert_non_null(forged);
        assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
                             plain, NULL, NULL, bytes + 36, len - 36, bytes,
                             36, bytes + 12, key),
                         0);
        plain[0] ^= 1; /* another author */
        memcpy(forged, bytes, 36);
        crypto_aead_xchacha20poly1305_ietf_encrypt(forged + 36, NULL, plain,
                                                   plain_len, forged, 36,
                                                   NULL, forged + 12, key);
        char forged_name[65];
        vlt_object_name(forged, len, forged_name);
        assert_vault_ok(
            backend_save(f->be, BACKEND_INDEX, forged_name, forged, len));
        s.n = 0;
        assert_vault_code(vlt_index_segment_read(f->be, f->k, forged_name,
                                                 seen_fn, &s, NULL),
                          VAULT_E_CORRUPT);
        assert_detail_has("signature does not verify");
        assert_int_equal(s.n, 0);
        assert_vault_ok(backend_remove(f->be, BACKEND_INDEX, forged_name));
        free(plain);
        free(forged);
    }

    /* Another vault's member cannot authenticate it. */
    keyring *other = NULL;
    assert_vault_ok(vlt_keyring_generate(&other));
    assert_vault_code(
        vlt_index_segment_read(f->be, other, name, seen_fn, &s, NULL),
        VAULT_E_CORRUPT);
    assert_detail_has("authentication failed");
    assert_int_equal(s.n, 0);
    vlt_keyring_free(other);

    /* Sealed in a later epoch: skipped, not an error. */
    keyring *later = NULL;
    assert_vault_ok(vlt_keyring_new_epoch(f->k, &later));
    assert_vault_ok(backend_remove(f->be, BACKEND_INDEX, name));
    save_segment(f, later, name);
    index_segment_info info;
    assert_vault_ok(
        vlt_index_segment_read(f->be, f->k, name, seen_fn, &s, &info));
    assert_int_equal(info.skipped, 1);
    assert_int_equal(s.n, 0);
    assert_vault_ok(
        vlt_index_segment_read(f->be, later, name, seen_fn, &s, &info));
    assert_int_equal(info.skipped, 0);
    assert_int_equal(s.n, 3);
    vlt_index_init(&ix);
    reports.n = 0;
    assert_vault_ok(vlt_index_load(&ix, f->be, f->k, flags_trusted, NULL,
                                   count_report, &reports));
    assert_int_equal(reports.n, 0);
    assert_null(vlt_index_find(&ix, f->entries[0].id));
    vlt_index_free(&ix);
    vlt_keyring_free(later);
    free(bytes);
}

static void test_index_condemned(void **state)
{
    (void)state;
    uint8_t pack_a[32], pack_b[32], pack_c[32];
    memset(pack_a, 0xaa, 32);
    memset(pack_b, 0xbb, 32);
    memset(pack_c, 0xcc, 32);
    pack_entry x = {.type = BLOB_DATA, .offset = 44, .length = 45,
                    .raw_len = 5};
    memset(x.id, 1, CHUNK_ID_BYTES);
    pack_entry y = x, z = x;
    y.id[0] = 2;
    z.id[0] = 3;
    const uint32_t mine = SLOT_TRUSTED | SLOT_OWN; /* an owner's adds */
    int inserted = -1;
    vault_index ix;
    vlt_index_init(&ix);
    assert_vault_ok(vlt_index_condemn_pack(&ix, pack_a));

    /* In a condemned pack: found, but marked. */
    assert_vault_ok(vlt_index_add(&ix, x.id, pack_a, &x, SLOT_TRUSTED,
                                  &inserted));
    assert_int_equal(inserted, 1);
    const index_slot *s = vlt_index_find(&ix, x.id);
    assert_non_null(s);
    assert_true(vlt_index_slot_condemned(&ix, s));
    assert_false(vlt_index_dedup_find(&ix, x.id));
    /* An add does not deduplicate against it: it stores it anew, and the
     * pending copy comes first. */
    assert_vault_ok(vlt_index_add(&ix, x.id, NULL, NULL, mine, &inserted));
    assert_int_equal(inserted, 1);
    s = vlt_index_find(&ix, x.id);
    assert_int_equal(s->pack, INDEX_PENDING);
    assert_false(vlt_index_slot_condemned(&ix, s));
    /* A second request waits for the pending copy. */
    assert_vault_ok(vlt_index_add(&ix, x.id, NULL, NULL, mine, &inserted));
    assert_int_equal(inserted, 0);
    /* ...and the new copy's pack completes the pending entry; the
     * condemned copy stays behind it (readers may still need it). */
    x.offset = 1000;
    assert_vault_ok(vlt_index_add(&ix, x.id, pack_b, &x, mine, &inserted));
    assert_int_equal(inserted, 0);
    s = vlt_index_find(&ix, x.id);
    assert_memory_equal(ix.packs[s->pack], pack_b, 32);
    assert_int_equal(s->offset, 1000);
    const index_slot *c[INDEX_MAX_COPIES];
    assert_int_equal(vlt_index_copies(&ix, x.id, c, INDEX_MAX_COPIES), 2);
    assert_ptr_equal(c[0], s);
    assert_memory_equal(ix.packs[c[1]->pack], pack_a, 32);

    /* A condemned copy comes after one in a healthy pack, whatever the
     * order they were listed in. */
    assert_vault_ok(vlt_index_add(&ix, y.id, pack_a, &y, SLOT_TRUSTED,
                                  &inserted));
    assert_int_equal(inserted, 1);
    assert_vault_ok(vlt_index_add(&ix, y.id, pack_b, &y, SLOT_TRUSTED,
                                  &inserted));
    s = vlt_index_find(&ix, y.id);
    assert_memory_equal(ix.packs[s->pack], pack_b, 32);
    assert_false(vlt_index_slot_condemned(&ix, s));
    /* the same place again adds no copy */
    assert_vault_ok(vlt_index_add(&ix, y.id, pack_a, &y, SLOT_TRUSTED,
                                  &inserted));
    s = vlt_index_find(&ix, y.id);
    assert_memory_equal(ix.packs[s->pack], pack_b, 32);
    assert_int_equal(vlt_index_copies(&ix, y.id, c, INDEX_MAX_COPIES), 2);

    /* Of equal copies the first listed comes first; an add deduplicates. */
    assert_vault_ok(vlt_index_add(&ix, z.id, pack_b, &z, SLOT_TRUSTED,
                                  &inserted));
    assert_vault_ok(vlt_index_add(&ix, z.id, pack_c, &z, SLOT_TRUSTED,
                                  &inserted));
    assert_vault_ok(vlt_index_add(&ix, z.id, NULL, NULL, mine, &inserted));
    assert_int_equal(inserted, 0);
    s = vlt_index_find(&ix, z.id);
    assert_memory_equal(ix.packs[s->pack], pack_b, 32);
    assert_int_equal(ix.n_slots, 6);
    assert_int_equal(ix.n_packs, 3);
    vlt_index_free(&ix);
}

/* Format version 2: chunk ID = HMAC-SHA-256(K_id, type || plaintext),
 * here with K_id = 32 bytes 0x42 (expected values from Python's hmac). */
static void test_chunk_id(void **state)
{
    (void)state;
    keyring *k = NULL;
    assert_vault_ok(vlt_keyring_generate(&k));
    memset(k->chunk_id_key, 0x42, sizeof k->chunk_id_key);
    const uint8_t *msg = (const uint8_t *)"hello chunk";
    uint8_t id[CHUNK_ID_BYTES];
    char hex[2 * CHUNK_ID_BYTES + 1];
    vlt_chunk_id_compute(k, BLOB_DATA, msg, 11, id);
    vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
    assert_string_equal(hex, "353c10bc86cd2b7446953d12813320ca"
                             "199687cde59adfc799ba8f9e3a67d833");
    /* The type is part of the message: a tree never shares a data ID. */
    vlt_chunk_id_compute(k, BLOB_TREE, msg, 11, id);
    vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
    assert_string_equal(hex, "5ba1eeddf9c00c16315c9c7261f94b4b"
                             "7da784570206cee18ad8f74ff8b21d5c");
    vlt_keyring_free(k);
}

/* format.md §15-15a: owners and readers deduplicate only against trusted
 * copies, writers against trusted copies and their own; lookups yield
 * every copy, trusted first. */
static void test_index_copies_and_dedup(void **state)
{
    (void)state;
    uint8_t pack_w[32], pack_o[32], pack_x[32];
    memset(pack_w, 0x11, 32);
    memset(pack_o, 0x22, 32);
    memset(pack_x, 0x33, 32);
    pack_entry e = {.type = BLOB_DATA, .offset = 44, .length = 45,
                    .raw_len = 5};
    memset(e.id, 7, CHUNK_ID_BYTES);
    int inserted;
    const index_slot *c[INDEX_MAX_COPIES];

    /* As an owner: a writer's copy (no flags) does not serve. */
    vault_index ix;
    vlt_index_init(&ix);
    assert_vault_ok(vlt_index_add(&ix, e.id, pack_w, &e, 0, &inserted));
    assert_false(vlt_index_dedup_find(&ix, e.id));
    assert_vault_ok(vlt_index_add(&ix, e.id, NULL, NULL,
                                  SLOT_TRUSTED | SLOT_OWN, &inserted));
    assert_int_equal(inserted, 1);
    assert_vault_ok(vlt_index_add(&ix, e.id, pack_o, &e,
                                  SLOT_TRUSTED | SLOT_OWN, &inserted));
    assert_int_equal(vlt_index_copies(&ix, e.id, c, INDEX_MAX_COPIES), 2);
    assert_memory_equal(ix.packs[c[0]->pack], pack_o, 32);
    assert_true(vlt_index_slot_trusted(c[0]));
    assert_memory_equal(ix.packs[c[1]->pack], pack_w, 32);
    assert_false(vlt_index_slot_trusted(c[1]));
    assert_true(vlt_index_dedup_find(&ix, e.id));
    /* a third copy from another writer goes last */
    e.offset = 500;
    assert_vault_ok(vlt_index_add(&ix, e.id, pack_x, &e, 0, &inserted));
    assert_int_equal(vlt_index_copies(&ix, e.id, c, INDEX_MAX_COPIES), 3);
    assert_memory_equal(ix.packs[c[0]->pack], pack_o, 32);
    assert_memory_equal(ix.packs[c[2]->pack], pack_x, 32);
    /* only the first copy carries SLOT_ALTS; the raw length is clean */
    pack_entry got;
    for (size_t i = 0; i < 3; i++) {
        vlt_index_slot_entry(&ix, c[i], &got);
        assert_int_equal(got.raw_len, 5);
    }
    vlt_index_free(&ix);

    /* As a writer: its own copy serves it; a trusted copy listed later
     * comes first. */
    e.offset = 44;
    vlt_index_init(&ix);
    assert_vault_ok(vlt_index_add(&ix, e.id, pack_w, &e, SLOT_OWN,
                                  &inserted));
    assert_true(vlt_index_dedup_find(&ix, e.id));
    assert_vault_ok(vlt_index_add(&ix, e.id, NULL, NULL, SLOT_OWN,
                                  &inserted));
    assert_int_equal(inserted, 0);
    assert_vault_ok(vlt_index_add(&ix, e.id, pack_o, &e, SLOT_TRUSTED,
                                  &inserted));
    assert_int_equal(vlt_index_copies(&ix, e.id, c, INDEX_MAX_COPIES), 2);
    assert_memory_equal(ix.packs[c[0]->pack], pack_o, 32);
    assert_true(vlt_index_slot_own(c[1]));
    /* listed again by a trusted segment at the same place: one copy,
     * now trusted */
    assert_vault_ok(vlt_index_add(&ix, e.id, pack_w, &e, SLOT_TRUSTED,
                                  &inserted));
    assert_int_equal(vlt_index_copies(&ix, e.id, c, INDEX_MAX_COPIES), 2);
    assert_true(vlt_index_slot_trusted(c[1]));
    vlt_index_free(&ix);
}

/* A member listing one ID many times cannot make the index grow without
 * bound for it, nor crowd out a trusted copy. */
static void test_index_copies_bounded(void **state)
{
    (void)state;
    pack_entry e = {.type = BLOB_DATA, .offset = 44, .length = 45,
                    .raw_len = 5};
    memset(e.id, 9, CHUNK_ID_BYTES);
    uint8_t pack[32];
    int inserted;
    vault_index ix;
    vlt_index_init(&ix);
    for (int i = 0; i < 100; i++) {
        memset(pack, i + 1, 32);
        assert_vault_ok(vlt_index_add(&ix, e.id, pack, &e, 0, &inserted));
    }
    const index_slot *c[INDEX_MAX_COPIES];
    assert_int_equal(vlt_index_copies(&ix, e.id, c, INDEX_MAX_COPIES),
                     INDEX_MAX_COPIES);
    assert_int_equal(ix.n_slots, INDEX_MAX_COPIES);
    memset(pack, 0xee, 32);
    assert_vault_ok(vlt_index_add(&ix, e.id, pack, &e, SLOT_TRUSTED,
                                  &inserted));
    assert_int_equal(vlt_index_copies(&ix, e.id, c, INDEX_MAX_COPIES),
                     INDEX_MAX_COPIES);
    assert_memory_equal(ix.packs[c[0]->pack], pack, 32);
    assert_true(vlt_index_slot_trusted(c[0]));
    /* other IDs are unaffected, and found at once */
    pack_entry f = e;
    f.id[0] = 1;
    assert_vault_ok(vlt_index_add(&ix, f.id, pack, &f, 0, &inserted));
    assert_int_equal(vlt_index_copies(&ix, f.id, c, INDEX_MAX_COPIES), 1);
    vlt_index_free(&ix);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pack_roundtrip, pack_setup,
                                        pack_teardown),
        cmocka_unit_test_setup_teardown(test_blob_open_failure_timed,
                                        pack_setup, pack_teardown),
        cmocka_unit_test_setup_teardown(test_blob_open_refusals, pack_setup,
                                        pack_teardown),
        cmocka_unit_test_setup_teardown(test_pack_headers, pack_setup,
                                        pack_teardown),
        cmocka_unit_test_setup_teardown(test_pack_trailer, pack_setup,
                                        pack_teardown),
        cmocka_unit_test_setup_teardown(test_index_segment_roundtrip,
                                        pack_setup, pack_teardown),
        cmocka_unit_test_setup_teardown(test_index_segment_refusals,
                                        pack_setup, pack_teardown),
        cmocka_unit_test(test_index_condemned),
        cmocka_unit_test(test_chunk_id),
        cmocka_unit_test(test_index_copies_and_dedup),
        cmocka_unit_test(test_index_copies_bounded),
    };
    return cmocka_run_group_tests_name("packs and index", tests, NULL, NULL)
               ? 1
               : 0;
}
