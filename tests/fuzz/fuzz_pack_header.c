/*
 * fuzz_pack_header.c - libFuzzer target for what a reader does with a
 * pack before it trusts a blob (vault/src/repo/blob_load.c: pack_key_get,
 * pack_trailer_verify, vlt_repo_load_blob): vlt_pack_key_from_header on the
 * header, vlt_pack_check_trailer on the sealed trailer, then vlt_blob_open
 * (authentication, zstd, chunk ID) on one blob.  One fixed test keyring
 * with two key epochs, so epoch 0 and 1 exist and the others do not.
 *
 * The first input byte picks the mode:
 *   even: the rest is a whole pack as stored.  The target runs the
 *         reader's checks in its order; without this keyring's keys this
 *         exercises the header parse, the epoch lookup, the X25519 with an
 *         arbitrary ephemeral key and the authenticate-then-reject paths.
 *   odd:  the rest is one blob, sealed here into a real pack so that the
 *         code behind the authentication runs on fuzzer-chosen bytes:
 *
 *     0  epoch u32 (written into the header; sealed to that epoch if
 *        the keyring has it, else to epoch 0, which must be refused)
 *     4  type u8 | flags u8 | raw length u32 | chunk ID (32)
 *     42 stored bytes (zstd frame if flags has BLOB_FLAG_ZSTD)
 *
 *   The entry is first held to what entry_decode would let through (the
 *   reader never hands vlt_blob_open anything else).  Mode bits:
 *     bit 1: the target puts the right chunk ID in (it decompresses the
 *            stored bytes itself): vlt_blob_open must then succeed exactly
 *            when the target's own ZSTD_decompress gives raw length bytes.
 *     bit 2: the target flips one stored ciphertext bit: nothing may open.
 *     bit 3: the sealed trailer's count says 2 for its one entry:
 *            vlt_pack_check_trailer must refuse it, so nothing may open.
 *
 * Build: cmake -DVAULT_FUZZ=ON -DCMAKE_C_COMPILER=clang (tests/fuzz/README.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>

#include "format/chunker.h"
#include "format/pack.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define BLOB_AD_LABEL "vault/v1 blob"
#define INDEX_AD_LABEL "vault/v1 pack index"
#define SEALED_PREFIX 42 /* epoch, type, flags, raw length, chunk ID */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static keyring *test_keys; /* two epochs */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    keyring *first;
    if (vault_global_init() != VAULT_OK || vlt_keyring_generate(&first) ||
        vlt_keyring_new_epoch(first, &test_keys))
        abort();
    vlt_keyring_free(first);
    return 0;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * The reader's path over a pack held in memory: header, trailer, then the
 * blob e locates (if e is given).  Returns VAULT_OK only if everything
 * authenticated and the blob opened; *raw is then e->raw_len bytes.
 */
static vault_error read_pack(const uint8_t *pack, size_t len,
                             const pack_entry *e, uint8_t **raw)
{
    *raw = NULL;
    uint8_t key[SECRET_BYTES];
    vault_error rc = vlt_pack_key_from_header(
        test_keys, pack, len < PACK_HEADER_BYTES ? len : PACK_HEADER_BYTES,
        key);
    if (rc != VAULT_OK)
        return rc;
    /* pack_trailer_verify's size and trailer-length checks */
    if (len < PACK_HEADER_BYTES + 4 || len > PACK_MAX_BYTES)
        return VAULT_E_CORRUPT;
    uint32_t trailer_len = le32(pack + len - 4);
    if (trailer_len > len - 4 - PACK_HEADER_BYTES)
        return VAULT_E_CORRUPT;
    rc = vlt_pack_check_trailer(key, pack, pack + len - 4 - trailer_len,
                                trailer_len);
    if (rc != VAULT_OK || !e)
        return rc;
    /* vlt_repo_load_blob loads exactly e->length bytes at e->offset */
    if ((uint64_t)e->offset + e->length > len)
        return VAULT_E_CORRUPT;
    /* One context for every input, as vlt_repo_load_blob reuses them: one
     * that met a bad frame must still be right for the next. */
    static ZSTD_DCtx *dctx;
    if (!dctx)
        dctx = ZSTD_createDCtx();
    rc = vlt_blob_open(test_keys, key, e, pack + e->offset, e->length, dctx,
                       raw);
    sodium_memzero(key, sizeof key);
    if (rc != VAULT_OK && *raw)
        abort(); /* a failed open hands nothing out */
    return rc;
}

/* Mirrors entry_decode's checks (static in pack.c). */
static int entry_plausible(const pack_entry *e)
{
    if (e->type != BLOB_DATA && e->type != BLOB_TREE)
        return 0;
    if (e->flags & ~BLOB_FLAG_ZSTD)
        return 0;
    if (e->raw_len > BLOB_MAX_RAW ||
        (e->type == BLOB_DATA && e->raw_len > CHUNKER_MAX_SIZE))
        return 0;
    if (!(e->flags & BLOB_FLAG_ZSTD) && e->length - BLOB_OVERHEAD != e->raw_len)
        return 0;
    return 1;
}

static int sealed_mode(uint8_t mode, const uint8_t *data, size_t size)
{
    if (size < SEALED_PREFIX)
        return 0;
    uint32_t epoch = le32(data);
    pack_entry e;
    memset(&e, 0, sizeof e);
    e.type = data[4];
    e.flags = data[5];
    e.raw_len = le32(data + 6);
    memcpy(e.id, data + 10, CHUNK_ID_BYTES);
    const uint8_t *stored = data + SEALED_PREFIX;
    size_t stored_len = size - SEALED_PREFIX;
    e.offset = PACK_HEADER_BYTES;
    e.length = (uint32_t)(stored_len + BLOB_OVERHEAD);
    if (!(e.flags & BLOB_FLAG_ZSTD))
        e.raw_len = (uint32_t)stored_len;
    if (!entry_plausible(&e))
        return 0;

    /* What vlt_blob_open should produce, by the target's own means. */
    uint8_t *expect = NULL;
    int expect_ok = 1;
    if (e.flags & BLOB_FLAG_ZSTD) {
        expect = malloc(e.raw_len ? e.raw_len : 1);
        if (!expect)
            abort();
        size_t n = ZSTD_decompress(expect, e.raw_len, stored, stored_len);
        expect_ok = !ZSTD_isError(n) && n == e.raw_len;
    } else {
        expect = malloc(stored_len ? stored_len : 1);
        if (!expect)
            abort();
        memcpy(expect, stored, stored_len);
    }
    if ((mode & 2) && expect_ok)
        vlt_chunk_id_compute(test_keys, (blob_type)e.type, expect, e.raw_len,
                             e.id);

    /* header | blob | trailer (the one entry) | trailer length */
    size_t body = 4 + PACK_ENTRY_BYTES;
    size_t trailer = AEAD_NONCE + body + AEAD_TAG;
    size_t len = PACK_HEADER_BYTES + e.length + trailer + 4;
    uint8_t *pack = malloc(len), key[SECRET_BYTES];
    if (!pack)
        abort();
    memcpy(pack, PACK_MAGIC, 8);
    put_le32(pack + 8, epoch);
    const key_epoch *ep = vlt_keyring_epoch(test_keys, epoch);
    int epoch_known = ep != NULL;
    if (vlt_seal_key_new(ep ? ep : vlt_keyring_epoch(test_keys, 0), "vault/v1 pack",
                     pack + 12, key) != VAULT_OK)
        abort();
    uint8_t ad[sizeof BLOB_AD_LABEL + CHUNK_ID_BYTES];
    memcpy(ad, BLOB_AD_LABEL, sizeof BLOB_AD_LABEL - 1);
    ad[sizeof BLOB_AD_LABEL - 1] = e.type;
    memcpy(ad + sizeof BLOB_AD_LABEL, e.id, CHUNK_ID_BYTES);
    uint8_t *b = pack + PACK_HEADER_BYTES;
    randombytes_buf(b, AEAD_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(b + AEAD_NONCE, NULL, stored,
                                               stored_len, ad, sizeof ad,
                                               NULL, b, key);
    if (mode & 4)
        b[AEAD_NONCE + stored_len / 2] ^= 0x10; /* tag or ciphertext */
    uint8_t plain[4 + PACK_ENTRY_BYTES];
    put_le32(plain, mode & 8 ? 2 : 1);
    plain[4] = e.type;
    plain[5] = e.flags;
    memcpy(plain + 6, e.id, CHUNK_ID_BYTES);
    put_le32(plain + 38, e.offset);
    put_le32(plain + 42, e.length);
    put_le32(plain + 46, e.raw_len);
    uint8_t iad[sizeof INDEX_AD_LABEL - 1 + PACK_HEADER_BYTES];
    memcpy(iad, INDEX_AD_LABEL, sizeof INDEX_AD_LABEL - 1);
    memcpy(iad + sizeof INDEX_AD_LABEL - 1, pack, PACK_HEADER_BYTES);
    uint8_t *t = b + e.length;
    randombytes_buf(t, AEAD_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(t + AEAD_NONCE, NULL, plain,
                                               body, iad, sizeof iad, NULL, t,
                                               key);
    put_le32(pack + len - 4, (uint32_t)trailer);
    sodium_memzero(key, sizeof key);

    uint8_t *raw = NULL;
    vault_error rc = read_pack(pack, len, &e, &raw);
    if (rc == VAULT_OK) {
        /* Opened: the key, the bytes and the ID were all right. */
        if (!epoch_known || (mode & 12) || !expect_ok ||
            memcmp(raw, expect, e.raw_len) != 0) {
            fprintf(stderr, "vlt_blob_open accepted a blob it should not\n");
            abort();
        }
    } else if (epoch_known && !(mode & 12) && (mode & 2) && expect_ok) {
        fprintf(stderr, "a well-formed blob did not open: %s: %s\n",
                vault_strerror(rc), vault_last_error());
        abort();
    }
    free(raw);
    free(expect);
    free(pack);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > (1u << 20))
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    if (mode & 1)
        return sealed_mode(mode, data, size);
    /* A stored pack: sealed by some other keyring, it cannot get past
     * vlt_pack_check_trailer here. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size); /* so ASan sees the exact extent */
    uint8_t *raw = NULL;
    if (read_pack(copy, size, NULL, &raw) == VAULT_OK) {
        fprintf(stderr, "a foreign pack authenticated\n");
        abort();
    }
    free(copy);
    return 0;
}
