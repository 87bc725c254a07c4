/*
 * pack.c - sealed blobs in packs, and index segments.
 *
 * Pack (format spec "Packs"):
 *
 *   0   "VAULTPK1"
 *   8   epoch u32
 *   12  ephemeral X25519 public key E (32)
 *   44  blob*: nonce (24) || XChaCha20-Poly1305(pack key, nonce,
 *              AD = "vault/v1 blob" || type u8 || chunk ID, stored bytes)
 *   ..  trailer: nonce (24) || XChaCha20-Poly1305(pack key, nonce,
 *              AD = "vault/v1 pack index" || bytes 0..43, pack index)
 *   -4  trailer length u32
 *
 *   pack key = seal key of the epoch with label "vault/v1 pack" (keys.h)
 *   pack index = count u32 || count × entry
 *   entry (46) = type u8 | flags u8 | chunk ID (32) | offset u32 |
 *                length u32 | raw length u32
 *
 * Index segment (format spec "Index segments", format.md §10, §12 (authored objects)):
 *
 *   0   "VAULTIX2"
 *   8   epoch u32
 *   12  nonce (24)
 *   36  XChaCha20-Poly1305(KDF(write key of epoch, "index"), nonce,
 *              AD = bytes 0..35, author (32) | sig (64) | body)
 *   body = packs u32 || per pack: pack ID (32) | count u32 | count × entry
 *   sig = Sign(author, "vault/v2 index", body)
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "common/array.h"
#include "common/idset.h"
#include "common/internal.h"
#include "common/phase_timer.h"
#include "crypto/aead.h"
#include "crypto/digest.h"
#include "format/authored.h"
#include "format/chunker.h"
#include "format/pack.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define BLOB_AD_LABEL "vault/v1 blob"
#define PACK_INDEX_AD_LABEL "vault/v1 pack index"
#define BLOB_AD_BYTES (sizeof BLOB_AD_LABEL - 1 + 1 + CHUNK_ID_BYTES)
#define INDEX_HEADER_BYTES 36

void vlt_chunk_id_compute(const keyring *k, blob_type type, const uint8_t *data,
                          size_t len, uint8_t id[CHUNK_ID_BYTES])
{
    uint8_t t = (uint8_t)type;
    uint64_t timer = vlt_phase_start();
    vlt_hmac_sha256(k->chunk_id_key, SECRET_BYTES, &t, 1, data, len, id);
    vlt_phase_stop(VLT_PHASE_CHUNK_ID, timer);
}

void vlt_object_name(const uint8_t *data, size_t len, char name[65])
{
    uint8_t h[SHA256_BYTES];
    vlt_sha256(data, len, h);
    vlt_hex_encode(h, sizeof h, name);
}

vault_error vlt_object_check_name(backend_kind kind, const char *name,
                                  const uint8_t *data, size_t len)
{
    char actual[65];
    vlt_object_name(data, len, actual);
    if (strcmp(actual, name) != 0)
        return vlt_fail(VAULT_E_CORRUPT,
                        "%s/%s: content does not match its name "
                        "(damaged or tampered)",
                        vlt_backend_kind_name(kind), name);
    return VAULT_OK;
}

static void blob_ad(uint8_t ad[BLOB_AD_BYTES], uint8_t type,
                    const uint8_t id[CHUNK_ID_BYTES])
{
    memcpy(ad, BLOB_AD_LABEL, sizeof BLOB_AD_LABEL - 1);
    ad[sizeof BLOB_AD_LABEL - 1] = type;
    memcpy(ad + sizeof BLOB_AD_LABEL, id, CHUNK_ID_BYTES);
}

void vlt_pack_entry_encode(uint8_t *p, const pack_entry *e)
{
    p[0] = e->type;
    p[1] = e->flags;
    memcpy(p + 2, e->id, CHUNK_ID_BYTES);
    store_le32(p + 34, e->offset);
    store_le32(p + 38, e->length);
    store_le32(p + 42, e->raw_len);
}

/* Decodes an entry and checks what can be checked without the pack. */
int vlt_pack_entry_decode(const uint8_t *p, pack_entry *e)
{
    e->type = p[0];
    e->flags = p[1];
    memcpy(e->id, p + 2, CHUNK_ID_BYTES);
    e->offset = load_le32(p + 34);
    e->length = load_le32(p + 38);
    e->raw_len = load_le32(p + 42);
    if (e->type != BLOB_DATA && e->type != BLOB_TREE)
        return 0;
    if (e->flags & ~BLOB_FLAG_ZSTD)
        return 0;
    if (e->offset < PACK_HEADER_BYTES || e->length < BLOB_OVERHEAD ||
        (uint64_t)e->offset + e->length > PACK_MAX_BYTES)
        return 0;
    if (e->raw_len > BLOB_MAX_RAW ||
        (e->type == BLOB_DATA && e->raw_len > CHUNKER_MAX_SIZE))
        return 0;
    /* A raw blob stores exactly its plaintext. */
    if (!(e->flags & BLOB_FLAG_ZSTD) && e->length - BLOB_OVERHEAD != e->raw_len)
        return 0;
    return 1;
}

/* ---------------------------------------------------------------------- */

/* The end of what buf holds: where the next bytes go. */
static uint8_t *pw_end(pack_writer *pw)
{
    return pw->buf + (pw->len - pw->flushed);
}

static vault_error pw_reserve(pack_writer *pw, size_t more)
{
    size_t held = pw->len - pw->flushed;
    if (pw->cap - held >= more)
        return VAULT_OK;
    /* A pack's usual size at once (or what a staged one holds before it
     * writes): it rarely grows after that. */
    size_t need = held + more;
    size_t usual = pw->stage ? 2 * PACK_STAGE_FLUSH
                             : PACK_TARGET_BYTES + (1u << 20);
    if (need < usual)
        need = usual;
    if (need < held || vlt_array_reserve(&pw->buf, &pw->cap, need, 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "pack: out of memory");
    return VAULT_OK;
}

/* A staged pack: what buf holds goes to the stage (and into the name). */
static vault_error pw_flush(pack_writer *pw)
{
    size_t held = pw->len - pw->flushed;
    if (!pw->stage || held == 0)
        return VAULT_OK;
    vault_error rc = backend_stage_write(pw->be, pw->stage, pw->buf, held);
    if (rc != VAULT_OK)
        return rc;
    uint64_t timer = vlt_phase_start();
    vlt_sha256_update(&pw->name, pw->buf, held);
    vlt_phase_stop(VLT_PHASE_NAME, timer);
    pw->flushed = pw->len;
    return VAULT_OK;
}

vault_error vlt_pack_writer_begin(pack_writer *pw, const keyring *k)
{
    pw->flushed = 0;
    vault_error rc = pw_reserve(pw, PACK_HEADER_BYTES);
    if (rc != VAULT_OK)
        return rc;
    const key_epoch *ep = vlt_keyring_current(k);
    pw->epoch = k->n_epochs - 1;
    memcpy(pw->buf, PACK_MAGIC, 8);
    store_le32(pw->buf + 8, pw->epoch);
    rc = vlt_seal_key_new(ep, "vault/v1 pack", pw->buf + 12, pw->key);
    if (rc != VAULT_OK)
        return rc;
    memcpy(pw->header, pw->buf, PACK_HEADER_BYTES);
    pw->len = PACK_HEADER_BYTES;
    pw->n_entries = 0;
    return VAULT_OK;
}

/* Drops a staged pack not taken (never sealed, or a failure since). */
static void pw_drop_stage(pack_writer *pw)
{
    if (pw->naming) {
        uint8_t unused[SHA256_BYTES];
        vlt_sha256_final(&pw->name, unused); /* frees its context */
        pw->naming = 0;
    }
    if (pw->stage) {
        backend_stage_abort(pw->be, pw->stage);
        pw->stage = NULL;
    }
}

vault_error vlt_pack_writer_begin_staged(pack_writer *pw, const keyring *k,
                                         backend *be)
{
    pw_drop_stage(pw);
    vault_error rc = backend_stage_begin(be, BACKEND_DATA, &pw->stage);
    if (rc != VAULT_OK)
        return rc;
    pw->be = be;
    rc = vlt_pack_writer_begin(pw, k);
    if (rc != VAULT_OK) {
        pw_drop_stage(pw);
        return rc;
    }
    vlt_sha256_init(&pw->name);
    pw->naming = 1;
    return VAULT_OK;
}

vault_error vlt_pack_writer_add(pack_writer *pw, blob_type type,
                                const uint8_t id[CHUNK_ID_BYTES], uint8_t flags,
                                const uint8_t *stored, size_t stored_len,
                                uint32_t raw_len)
{
    size_t need = stored_len + BLOB_OVERHEAD;
    if (stored_len > BLOB_MAX_RAW || pw->len + need > PACK_MAX_BYTES - 4096)
        return vlt_fail(VAULT_E_INTERNAL, "pack: blob too large");
    vault_error rc = pw_reserve(pw, need);
    if (rc != VAULT_OK)
        return rc;
    if (VLT_ARRAY_GROW(&pw->entries, &pw->cap_entries, pw->n_entries + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "pack: out of memory");
    uint8_t ad[BLOB_AD_BYTES];
    blob_ad(ad, (uint8_t)type, id);
    uint8_t *nonce = pw_end(pw);
    uint64_t timer = vlt_phase_start();
    randombytes_buf(nonce, AEAD_NONCE);
    vlt_aead_seal(nonce + AEAD_NONCE, stored, stored_len, ad, sizeof ad, nonce,
                  pw->key);
    vlt_phase_stop(VLT_PHASE_SEAL, timer);
    pack_entry *e = &pw->entries[pw->n_entries++];
    memcpy(e->id, id, CHUNK_ID_BYTES);
    e->type = (uint8_t)type;
    e->flags = flags;
    e->offset = (uint32_t)pw->len;
    e->length = (uint32_t)need;
    e->raw_len = raw_len;
    pw->len += need;
    if (pw->stage && pw->len - pw->flushed >= PACK_STAGE_FLUSH)
        return pw_flush(pw);
    return VAULT_OK;
}

uint64_t vlt_pack_trailer_bytes(uint64_t n)
{
    return AEAD_NONCE + 4 + n * PACK_ENTRY_BYTES + AEAD_TAG;
}

vault_error vlt_pack_writer_seal(pack_writer *pw, uint8_t pack_id[32])
{
    size_t body = 4 + pw->n_entries * PACK_ENTRY_BYTES;
    size_t trailer = (size_t)vlt_pack_trailer_bytes(pw->n_entries);
    vault_error rc = pw_reserve(pw, trailer + 4);
    if (rc != VAULT_OK)
        return rc;
    uint8_t *plain = malloc(body);
    if (!plain)
        return vlt_fail(VAULT_E_NOMEM, "pack: out of memory");
    store_le32(plain, (uint32_t)pw->n_entries);
    for (size_t i = 0; i < pw->n_entries; i++)
        vlt_pack_entry_encode(plain + 4 + i * PACK_ENTRY_BYTES,
                              &pw->entries[i]);
    uint8_t ad[sizeof PACK_INDEX_AD_LABEL - 1 + PACK_HEADER_BYTES];
    memcpy(ad, PACK_INDEX_AD_LABEL, sizeof PACK_INDEX_AD_LABEL - 1);
    memcpy(ad + sizeof PACK_INDEX_AD_LABEL - 1, pw->header, PACK_HEADER_BYTES);
    uint8_t *nonce = pw_end(pw);
    randombytes_buf(nonce, AEAD_NONCE);
    vlt_aead_seal(nonce + AEAD_NONCE, plain, body, ad, sizeof ad, nonce,
                  pw->key);
    free(plain);
    pw->len += trailer;
    store_le32(pw_end(pw), (uint32_t)trailer);
    pw->len += 4;

    if (pw->stage) {
        rc = pw_flush(pw);
        if (rc != VAULT_OK)
            return rc; /* the stage goes with the writer (free) */
        vlt_sha256_final(&pw->name, pack_id);
        pw->naming = 0;
    } else {
        uint64_t timer = vlt_phase_start();
        vlt_sha256(pw->buf, pw->len, pack_id);
        vlt_phase_stop(VLT_PHASE_NAME, timer);
    }
    pw->len_saved = pw->len;
    sodium_memzero(pw->key, sizeof pw->key);
    return VAULT_OK;
}

vault_error vlt_pack_save(backend *be, const uint8_t pack_id[32],
                          const uint8_t *data, size_t len)
{
    char name[65];
    vlt_hex_encode(pack_id, 32, name);
    /* Every blob and the trailer are sealed under nonces just drawn
     * (pack_writer): the name is new, storage need not be asked first. */
    vault_error rc = backend_save_new(be, BACKEND_DATA, name, data, len);
    if (rc == VAULT_E_EXISTS)
        rc = VAULT_OK; /* identical bytes: someone saved it already */
    return rc;
}

vault_error vlt_pack_commit(backend *be, backend_stage *stage,
                            const uint8_t pack_id[32])
{
    char name[65];
    vlt_hex_encode(pack_id, 32, name);
    vault_error rc = backend_stage_commit(be, stage, name);
    if (rc == VAULT_E_EXISTS)
        rc = VAULT_OK; /* identical bytes: someone saved it already */
    return rc;
}

vault_error vlt_pack_writer_finish(pack_writer *pw, backend *be,
                                   uint8_t pack_id[32])
{
    vault_error rc = vlt_pack_writer_seal(pw, pack_id);
    if (rc == VAULT_OK && pw->stage) {
        backend_stage *stage = pw->stage;
        pw->stage = NULL;
        rc = vlt_pack_commit(pw->be, stage, pack_id);
    } else if (rc == VAULT_OK) {
        rc = vlt_pack_save(be, pack_id, pw->buf, pw->len);
    }
    pw->len = 0;
    pw->flushed = 0;
    return rc;
}

void vlt_pack_writer_free(pack_writer *pw)
{
    pw_drop_stage(pw);
    free(pw->buf);
    free(pw->entries);
    sodium_memzero(pw->key, sizeof pw->key);
    memset(pw, 0, sizeof *pw);
}

vault_error vlt_pack_key_from_header(const keyring *k, const uint8_t *header,
                                     size_t len, uint8_t key[SECRET_BYTES])
{
    if (len < PACK_HEADER_BYTES || memcmp(header, PACK_MAGIC, 8) != 0)
        return vlt_fail(VAULT_E_CORRUPT, "not a pack");
    uint32_t epoch = load_le32(header + 8);
    const key_epoch *ep = vlt_keyring_epoch(k, epoch);
    if (!ep)
        return vlt_fail(VAULT_E_PERMISSION,
                        "sealed in key epoch %u, which this member "
                        "does not have",
                        (unsigned)epoch);
    return vlt_seal_key_open(ep, "vault/v1 pack", header + 12, key);
}

/* vlt_blob_open's decryption and decompression into *raw (e->raw_len
 * bytes, malloc'ed), without the chunk ID check.  owned: NULL, or blob
 * itself, malloc'ed and taken (freed, or returned as *raw): it is then
 * decrypted in place, which saves a buffer of the blob's size per blob
 * (allocating and first touching those were a tenth of extract's CPU
 * time). */
static vault_error blob_unseal(const uint8_t key[SECRET_BYTES],
                               const pack_entry *e, const uint8_t *blob,
                               uint8_t *owned, size_t len, ZSTD_DCtx *dctx,
                               uint8_t **raw)
{
    size_t stored_len = len - BLOB_OVERHEAD;
    uint8_t *stored = owned ? owned + AEAD_NONCE
                            : malloc(stored_len ? stored_len : 1);
    if (!stored)
        return vlt_fail(VAULT_E_NOMEM, "blob: out of memory");
    uint8_t ad[BLOB_AD_BYTES];
    blob_ad(ad, e->type, e->id);
    vault_error rc = VAULT_OK;
    uint8_t *plain = NULL;
    if (vlt_aead_open(stored, blob + AEAD_NONCE, len - AEAD_NONCE, ad,
                      sizeof ad, blob, key) != 0) {
        rc = vlt_fail(VAULT_E_CORRUPT, "blob: authentication failed");
    } else if (!(e->flags & BLOB_FLAG_ZSTD)) {
        if (!owned) {
            *raw = stored;
            return VAULT_OK;
        }
        memmove(owned, stored, stored_len);
        *raw = owned;
        return VAULT_OK;
    } else if ((plain = malloc(e->raw_len ? e->raw_len : 1)) == NULL) {
        rc = vlt_fail(VAULT_E_NOMEM, "blob: out of memory");
    } else {
        size_t n = dctx ? ZSTD_decompressDCtx(dctx, plain, e->raw_len,
                                              stored, stored_len)
                        : ZSTD_decompress(plain, e->raw_len, stored,
                                          stored_len);
        if (ZSTD_isError(n) &&
            ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
            rc = vlt_fail(VAULT_E_NOMEM, "blob: out of memory");
        else if (ZSTD_isError(n) || n != e->raw_len)
            rc = vlt_fail(VAULT_E_CORRUPT, "blob: bad compressed data");
    }
    free(owned ? owned : stored);
    if (rc != VAULT_OK) {
        free(plain);
        return rc;
    }
    *raw = plain;
    return VAULT_OK;
}

/* vlt_blob_open and vlt_blob_open_owned. */
static vault_error blob_open(const keyring *k, const uint8_t key[SECRET_BYTES],
                             const pack_entry *e, const uint8_t *blob,
                             uint8_t *owned, size_t len, ZSTD_DCtx *dctx,
                             uint8_t **out)
{
    *out = NULL;
    if (len != e->length || len < BLOB_OVERHEAD) {
        free(owned);
        return vlt_fail(VAULT_E_CORRUPT, "blob: wrong length");
    }
    uint8_t *raw = NULL;
    uint64_t timer = vlt_phase_start(); /* the ID check counts apart */
    vault_error rc = blob_unseal(key, e, blob, owned, len, dctx, &raw);
    vlt_phase_stop(VLT_PHASE_OPEN, timer);
    if (rc != VAULT_OK)
        return rc;
    uint8_t id[CHUNK_ID_BYTES];
    vlt_chunk_id_compute(k, (blob_type)e->type, raw, e->raw_len, id);
    if (sodium_memcmp(id, e->id, CHUNK_ID_BYTES) != 0) {
        free(raw);
        return vlt_fail(VAULT_E_CORRUPT, "blob: content does not match "
                                         "its chunk ID");
    }
    *out = raw;
    return VAULT_OK;
}

vault_error vlt_blob_open(const keyring *k, const uint8_t key[SECRET_BYTES],
                          const pack_entry *e, const uint8_t *blob, size_t len,
                          ZSTD_DCtx *dctx, uint8_t **out)
{
    return blob_open(k, key, e, blob, NULL, len, dctx, out);
}

vault_error vlt_blob_open_owned(const keyring *k,
                                const uint8_t key[SECRET_BYTES],
                                const pack_entry *e, uint8_t *blob,
                                size_t len, ZSTD_DCtx *dctx, uint8_t **out)
{
    return blob_open(k, key, e, blob, blob, len, dctx, out);
}

vault_error vlt_pack_check_trailer(const uint8_t key[SECRET_BYTES],
                                   const uint8_t header[PACK_HEADER_BYTES],
                                   const uint8_t *trailer, size_t trailer_len)
{
    if (trailer_len < AEAD_NONCE + 4 + AEAD_TAG)
        return vlt_fail(VAULT_E_CORRUPT, "pack: bad trailer length");
    size_t body = trailer_len - AEAD_NONCE - AEAD_TAG;
    uint8_t *plain = malloc(body);
    if (!plain)
        return vlt_fail(VAULT_E_NOMEM, "pack: out of memory");
    uint8_t ad[sizeof PACK_INDEX_AD_LABEL - 1 + PACK_HEADER_BYTES];
    memcpy(ad, PACK_INDEX_AD_LABEL, sizeof PACK_INDEX_AD_LABEL - 1);
    memcpy(ad + sizeof PACK_INDEX_AD_LABEL - 1, header, PACK_HEADER_BYTES);
    int bad =
        vlt_aead_open(plain, trailer + AEAD_NONCE, trailer_len - AEAD_NONCE, ad,
                      sizeof ad, trailer, key);
    int count_ok = !bad && (uint64_t)load_le32(plain) * PACK_ENTRY_BYTES ==
                               body - 4;
    free(plain);
    if (bad)
        return vlt_fail(VAULT_E_CORRUPT,
                        "pack index: authentication failed");
    if (!count_ok)
        return vlt_fail(VAULT_E_CORRUPT, "pack index: bad count");
    return VAULT_OK;
}

vault_error vlt_pack_read_index(const keyring *k, const uint8_t *pack, size_t len,
                                pack_entry **entries, size_t *n_entries)
{
    *entries = NULL;
    *n_entries = 0;
    uint8_t key[SECRET_BYTES];
    vault_error rc = vlt_pack_key_from_header(k, pack, len, key);
    if (rc != VAULT_OK)
        return rc;
    if (len < PACK_HEADER_BYTES + 4)
        return vlt_fail(VAULT_E_CORRUPT, "pack: truncated");
    uint32_t trailer = load_le32(pack + len - 4);
    if (trailer < AEAD_NONCE + 4 + AEAD_TAG ||
        trailer > len - 4 - PACK_HEADER_BYTES)
        return vlt_fail(VAULT_E_CORRUPT, "pack: bad trailer length");
    const uint8_t *t = pack + len - 4 - trailer;
    size_t body = trailer - AEAD_NONCE - AEAD_TAG;
    uint8_t *plain = malloc(body);
    if (!plain)
        return vlt_fail(VAULT_E_NOMEM, "pack: out of memory");
    uint8_t ad[sizeof PACK_INDEX_AD_LABEL - 1 + PACK_HEADER_BYTES];
    memcpy(ad, PACK_INDEX_AD_LABEL, sizeof PACK_INDEX_AD_LABEL - 1);
    memcpy(ad + sizeof PACK_INDEX_AD_LABEL - 1, pack, PACK_HEADER_BYTES);
    if (vlt_aead_open(plain, t + AEAD_NONCE, trailer - AEAD_NONCE, ad,
                      sizeof ad, t, key) != 0) {
        free(plain);
        sodium_memzero(key, sizeof key);
        return vlt_fail(VAULT_E_CORRUPT, "pack index: authentication "
                                         "failed");
    }
    sodium_memzero(key, sizeof key);
    uint32_t n = load_le32(plain);
    if ((uint64_t)n * PACK_ENTRY_BYTES != body - 4) {
        free(plain);
        return vlt_fail(VAULT_E_CORRUPT, "pack index: bad count");
    }
    pack_entry *es = calloc(n ? n : 1, sizeof *es);
    if (!es) {
        free(plain);
        return vlt_fail(VAULT_E_NOMEM, "pack: out of memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!vlt_pack_entry_decode(plain + 4 + (size_t)i * PACK_ENTRY_BYTES,
                                   &es[i]) ||
            (uint64_t)es[i].offset + es[i].length > len - 4 - trailer) {
            free(plain);
            free(es);
            return vlt_fail(VAULT_E_CORRUPT, "pack index: bad entry %u",
                            (unsigned)i);
        }
    }
    free(plain);
    *entries = es;
    *n_entries = n;
    return VAULT_OK;
}

/* --- the in-memory index ------------------------------------------------ */

void vlt_index_init(vault_index *ix)
{
    memset(ix, 0, sizeof *ix);
}

void vlt_index_free(vault_index *ix)
{
    free(ix->base_condemned);
    free(ix->slots);
    free(ix->table);
    free(ix->alts);
    free(ix->alt_table);
    free(ix->packs);
    free(ix->pack_condemned);
    free(ix->pack_table);
    memset(ix, 0, sizeof *ix);
}

/* The index keeps its own table rather than a vlt_idset (common/idset.h):
 * its IDs live inside the 48-byte slots that also say where each blob
 * is, and it is the largest structure a vault handle holds (one slot per
 * blob), so a set's separate array of IDs would cost 32 bytes more per
 * blob.  Its tables hash with vlt_id_hash, as sets do, so a writer member
 * cannot make probes long (see idset.h). */
static vault_error table_grow(uint32_t **table, size_t *size, size_t count,
                              const uint8_t *(*key_of)(const vault_index *,
                                                       uint32_t),
                              const vault_index *ix)
{
    /* Keep the load at most 1/2 so probes stay short. */
    if (*size && count * 2 < *size)
        return VAULT_OK;
    size_t nsize = *size ? *size * 2 : 1024;
    while (count * 2 >= nsize)
        nsize *= 2;
    uint32_t *nt = calloc(nsize, sizeof *nt);
    if (!nt)
        return vlt_fail(VAULT_E_NOMEM, "index: out of memory");
    for (size_t i = 0; i < *size; i++) {
        uint32_t v = (*table)[i];
        if (!v)
            continue;
        size_t h = vlt_id_hash(key_of(ix, v - 1)) & (nsize - 1);
        while (nt[h])
            h = (h + 1) & (nsize - 1);
        nt[h] = v;
    }
    free(*table);
    *table = nt;
    *size = nsize;
    return VAULT_OK;
}

/* Puts value into a table whose key is key (room is there: grown). */
static void table_put(uint32_t *table, size_t size, const uint8_t *key,
                      uint32_t value)
{
    size_t mask = size - 1;
    size_t h = vlt_id_hash(key) & mask;
    while (table[h])
        h = (h + 1) & mask;
    table[h] = value;
}

static const uint8_t *slot_key(const vault_index *ix, uint32_t i)
{
    return ix->slots[i].id;
}

static const uint8_t *alt_key(const vault_index *ix, uint32_t i)
{
    return ix->slots[ix->alts[i].slot].id;
}

static const uint8_t *pack_key_of(const vault_index *ix, uint32_t i)
{
    return ix->packs[i];
}

static index_slot *slot_find(const vault_index *ix,
                             const uint8_t id[CHUNK_ID_BYTES])
{
    if (!ix->table_size)
        return NULL;
    size_t mask = ix->table_size - 1;
    for (size_t h = vlt_id_hash(id) & mask;; h = (h + 1) & mask) {
        uint32_t v = ix->table[h];
        if (!v)
            return NULL;
        if (memcmp(ix->slots[v - 1].id, id, CHUNK_ID_BYTES) == 0)
            return &ix->slots[v - 1];
    }
}

/* The alt_table cell of a duplicated ID (its first alt + 1), or NULL. */
static uint32_t *alt_head(const vault_index *ix,
                          const uint8_t id[CHUNK_ID_BYTES])
{
    if (!ix->alt_table_size)
        return NULL;
    size_t mask = ix->alt_table_size - 1;
    for (size_t h = vlt_id_hash(id) & mask;; h = (h + 1) & mask) {
        uint32_t v = ix->alt_table[h];
        if (!v)
            return NULL;
        if (memcmp(alt_key(ix, v - 1), id, CHUNK_ID_BYTES) == 0)
            return &ix->alt_table[h];
    }
}

static uint64_t bloom_hash(const uint8_t seed[16],
                           const uint8_t id[CHUNK_ID_BYTES])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, id, CHUNK_ID_BYTES, seed);
    return load_le64(h);
}

/* Double hashing: probe i is bit (h + i * step) mod bits. */
#define BLOOM_STEP(h) ((((h) >> 32) | ((h) << 32)) | 1)

/* Whether id may be in base b (0: surely not). */
static int bloom_test(const index_base *b, const uint8_t id[CHUNK_ID_BYTES])
{
    if (!b->bloom_bits)
        return 1;
    uint64_t h = bloom_hash(b->bloom_seed, id), step = BLOOM_STEP(h);
    for (unsigned i = 0; i < b->bloom_k; i++, h += step) {
        uint64_t bit = h % b->bloom_bits;
        if (!(b->bloom[bit / 8] & (1u << (bit % 8))))
            return 0;
    }
    return 1;
}

void vlt_index_bloom_set(uint8_t *bloom, uint64_t bits, unsigned k,
                         const uint8_t seed[16],
                         const uint8_t id[CHUNK_ID_BYTES])
{
    uint64_t h = bloom_hash(seed, id), step = BLOOM_STEP(h);
    for (unsigned i = 0; i < k; i++, h += step) {
        uint64_t bit = h % bits;
        bloom[bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
}

uint64_t vlt_index_fence_key(const uint8_t id[CHUNK_ID_BYTES])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | id[i];
    return v;
}

/* The first fence entry whose prefix is above key (strict) or at least
 * key (not strict). */
static size_t fence_search(const index_base *b, uint64_t key, int strict)
{
    size_t lo = 0, hi = b->n_fence;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t f = load_le64(b->fence + 8 * mid);
        if (f < key || (strict && f == key))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The base's copies of id (adjacent): the first in *first, how many
 * returned.  The fence narrows the search to the slots between two
 * fence entries (one page for IDs that are hashes; a member listing
 * many IDs of one prefix only widens its own range). */
static size_t base_copies(const index_base *b, const uint8_t id[CHUNK_ID_BYTES],
                          const index_slot **first)
{
    if (!b->n_slots || !bloom_test(b, id))
        return 0;
    uint64_t key = vlt_index_fence_key(id);
    size_t f = fence_search(b, key, 0), g = fence_search(b, key, 1);
    size_t lo = f ? (f - 1) * INDEX_FENCE_STEP : 0;
    size_t hi = g * INDEX_FENCE_STEP < b->n_slots ? g * INDEX_FENCE_STEP
                                                  : b->n_slots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(b->slots[mid].id, id, CHUNK_ID_BYTES) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t n = 0;
    while (lo + n < b->n_slots && n < INDEX_MAX_COPIES &&
           memcmp(b->slots[lo + n].id, id, CHUNK_ID_BYTES) == 0)
        n++;
    *first = &b->slots[lo];
    if (b->trim && (atomic_fetch_add_explicit(b->lookups, 1,
                                              memory_order_relaxed) %
                    INDEX_BASE_TRIM_EVERY) == INDEX_BASE_TRIM_EVERY - 1)
        b->trim(b->trim_ctx);
    return n;
}

const index_slot *vlt_index_find(const vault_index *ix,
                                 const uint8_t id[CHUNK_ID_BYTES])
{
    if (!ix->base.n_slots)
        return slot_find(ix, id);
    const index_slot *best;
    return vlt_index_copies(ix, id, &best, 1) ? best : NULL;
}

/* The slot numbers of every copy of the ID whose best copy is first,
 * best first; returns how many (at most INDEX_MAX_COPIES). */
static size_t copy_slots(const vault_index *ix, const index_slot *first,
                         uint32_t out[INDEX_MAX_COPIES])
{
    out[0] = (uint32_t)(first - ix->slots);
    size_t n = 1;
    if (!(first->raw_len & SLOT_ALTS))
        return n;
    const uint32_t *head = alt_head(ix, first->id);
    for (uint32_t a = head ? *head : 0; a && n < INDEX_MAX_COPIES;
         a = ix->alts[a - 1].next)
        out[n++] = ix->alts[a - 1].slot;
    return n;
}

static int copy_rank(const vault_index *ix, const index_slot *s);

/* Sorts an ID's copies by rank, higher first, stably (insertion sort: at
 * most 2 * INDEX_MAX_COPIES), each rank worked out once. */
static void copies_rank_sort(const vault_index *ix, const index_slot **all,
                             size_t n)
{
    int rank[2 * INDEX_MAX_COPIES];
    assert(n <= 2 * INDEX_MAX_COPIES);
    for (size_t i = 0; i < n; i++) {
        const index_slot *t = all[i];
        int r = copy_rank(ix, t);
        size_t j = i;
        for (; j > 0 && rank[j - 1] < r; j--) {
            all[j] = all[j - 1];
            rank[j] = rank[j - 1];
        }
        all[j] = t;
        rank[j] = r;
    }
}

size_t vlt_index_copies(const vault_index *ix, const uint8_t id[CHUNK_ID_BYTES],
                        const index_slot **out, size_t max)
{
    const index_slot *all[2 * INDEX_MAX_COPIES];
    const index_slot *base;
    size_t n_base = base_copies(&ix->base, id, &base), n = n_base;
    for (size_t i = 0; i < n_base; i++)
        all[i] = &base[i];
    const index_slot *first = slot_find(ix, id);
    if (first) {
        uint32_t slots[INDEX_MAX_COPIES];
        size_t more = copy_slots(ix, first, slots);
        for (size_t i = 0; i < more; i++)
            all[n++] = &ix->slots[slots[i]];
    }
    /* The in-memory copies are in rank order already.  The base's come
     * first (loaded earlier; within a rank in the order loaded), and the
     * rank, which condemned packs change, orders them all. */
    if (n_base)
        copies_rank_sort(ix, all, n);
    if (n > INDEX_MAX_COPIES)
        n = INDEX_MAX_COPIES;
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = all[i];
    return n;
}

/* The base's pack number of pack_id (binary search: its packs are
 * sorted), or 0. */
static int base_pack_find(const index_base *b, const uint8_t pack_id[32],
                          uint32_t *number)
{
    size_t lo = 0, hi = b->n_packs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(b->packs[mid], pack_id, 32);
        if (c == 0) {
            *number = (uint32_t)mid;
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int vlt_index_pack_find(const vault_index *ix, const uint8_t pack_id[32],
                        uint32_t *number)
{
    if (base_pack_find(&ix->base, pack_id, number))
        return 1;
    if (!ix->pack_table_size)
        return 0;
    size_t mask = ix->pack_table_size - 1;
    for (size_t h = vlt_id_hash(pack_id) & mask;; h = (h + 1) & mask) {
        uint32_t v = ix->pack_table[h];
        if (!v)
            return 0;
        if (memcmp(ix->packs[v - 1], pack_id, 32) == 0) {
            *number = (uint32_t)ix->base.n_packs + v - 1;
            return 1;
        }
    }
}

static vault_error pack_number(vault_index *ix, const uint8_t *pack_id,
                               uint32_t *number)
{
    if (vlt_index_pack_find(ix, pack_id, number))
        return VAULT_OK;
    if (ix->base.n_packs + ix->n_packs >= UINT32_MAX - 1)
        return vlt_fail(VAULT_E_NOMEM, "index: too many packs");
    vault_error rc = table_grow(&ix->pack_table, &ix->pack_table_size,
                                ix->n_packs + 1, pack_key_of, ix);
    if (rc != VAULT_OK)
        return rc;
    /* Two arrays of one capacity: both grow alike, so the second's copy
     * of the capacity ends equal to the first's. */
    size_t cap_flags = ix->cap_packs;
    if (VLT_ARRAY_GROW(&ix->pack_condemned, &cap_flags, ix->n_packs + 1) != 0 ||
        VLT_ARRAY_GROW(&ix->packs, &ix->cap_packs, ix->n_packs + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "index: out of memory");
    assert(cap_flags == ix->cap_packs);
    memcpy(ix->packs[ix->n_packs], pack_id, 32);
    ix->pack_condemned[ix->n_packs] = 0;
    table_put(ix->pack_table, ix->pack_table_size, pack_id,
              (uint32_t)ix->n_packs + 1);
    *number = (uint32_t)(ix->base.n_packs + ix->n_packs++);
    return VAULT_OK;
}

size_t vlt_index_n_packs(const vault_index *ix)
{
    return ix->base.n_packs + ix->n_packs;
}

const uint8_t *vlt_index_pack_id(const vault_index *ix, uint32_t p)
{
    if (p < ix->base.n_packs)
        return ix->base.packs[p];
    return ix->packs[p - ix->base.n_packs];
}

size_t vlt_index_n_slots_all(const vault_index *ix)
{
    return ix->base.n_slots + ix->n_slots;
}

const index_slot *vlt_index_slot_at(const vault_index *ix, size_t i)
{
    if (i < ix->base.n_slots)
        return &ix->base.slots[i];
    return &ix->slots[i - ix->base.n_slots];
}

void vlt_index_release(const vault_index *ix)
{
    if (ix->base.trim)
        ix->base.trim(ix->base.trim_ctx);
}

size_t vlt_index_slot_number(const vault_index *ix, const index_slot *s)
{
    if (ix->base.n_slots && s >= ix->base.slots &&
        s < ix->base.slots + ix->base.n_slots)
        return (size_t)(s - ix->base.slots);
    return ix->base.n_slots + (size_t)(s - ix->slots);
}

/* Whether pack number p is condemned by a prune mark. */
static int pack_condemned(const vault_index *ix, uint32_t p)
{
    if (p < ix->base.n_packs)
        return ix->base_condemned && ix->base_condemned[p];
    return ix->pack_condemned[p - ix->base.n_packs];
}

#define SLOT_COPY_FLAGS (SLOT_TRUSTED | SLOT_OWN)

static void slot_fill(index_slot *s, uint32_t pack, const pack_entry *e,
                      uint32_t flags)
{
    s->pack = pack;
    s->offset = e->offset;
    s->length_type = e->length | (uint32_t)e->type << 28 |
                     (uint32_t)(e->flags & BLOB_FLAG_ZSTD) << 30;
    s->raw_len = e->raw_len | (flags & SLOT_COPY_FLAGS) |
                 (s->raw_len & SLOT_ALTS);
}

void vlt_index_slot_make(index_slot *s, const uint8_t id[CHUNK_ID_BYTES],
                         uint32_t pack, const pack_entry *e, uint32_t flags)
{
    memset(s, 0, sizeof *s);
    memcpy(s->id, id, CHUNK_ID_BYTES);
    slot_fill(s, pack, e, flags);
}

int vlt_index_slot_same_place(const index_slot *a, const index_slot *b)
{
    return a->pack == b->pack && a->offset == b->offset &&
           a->length_type == b->length_type &&
           (a->raw_len & SLOT_RAW_MASK) == (b->raw_len & SLOT_RAW_MASK);
}

int vlt_index_slot_condemned(const vault_index *ix, const index_slot *s)
{
    return s->pack != INDEX_PENDING && pack_condemned(ix, s->pack);
}

int vlt_index_slot_trusted(const index_slot *s)
{
    return (s->raw_len & SLOT_TRUSTED) != 0;
}

int vlt_index_slot_own(const index_slot *s)
{
    return (s->raw_len & SLOT_OWN) != 0;
}

int vlt_index_slot_dedup(const vault_index *ix, const index_slot *s)
{
    if (s->pack == INDEX_PENDING)
        return 1;
    return (s->raw_len & SLOT_COPY_FLAGS) && !pack_condemned(ix, s->pack);
}

int vlt_index_dedup_find(const vault_index *ix,
                         const uint8_t id[CHUNK_ID_BYTES])
{
    const index_slot *c[INDEX_MAX_COPIES];
    size_t n = vlt_index_copies(ix, id, c, INDEX_MAX_COPIES);
    for (size_t i = 0; i < n && i < INDEX_MAX_COPIES; i++)
        if (vlt_index_slot_dedup(ix, c[i]))
            return 1;
    return 0;
}

/* Order of copies: trusted first, then not condemned (a pending copy is
 * not), then the opener's own. */
static int copy_rank(const vault_index *ix, const index_slot *s)
{
    return ((s->raw_len & SLOT_TRUSTED) ? 4 : 0) +
           (vlt_index_slot_condemned(ix, s) ? 0 : 2) +
           ((s->raw_len & SLOT_OWN) ? 1 : 0);
}

/* Puts the contents of an ID's copies in rank order over its slots (the
 * table's slot first), and SLOT_ALTS on the first when there are more. */
static void copies_sort(vault_index *ix, const uint32_t *slots, size_t n)
{
    index_slot c[INDEX_MAX_COPIES];
    const index_slot *order[INDEX_MAX_COPIES];
    for (size_t i = 0; i < n; i++) {
        c[i] = ix->slots[slots[i]];
        c[i].raw_len &= ~SLOT_ALTS;
        order[i] = &c[i];
    }
    copies_rank_sort(ix, order, n);
    for (size_t i = 0; i < n; i++)
        ix->slots[slots[i]] = *order[i];
    if (n > 1)
        ix->slots[slots[0]].raw_len |= SLOT_ALTS;
}

/* Room for one more slot: the slots array and, for a new ID, the table. */
static vault_error slot_reserve(vault_index *ix)
{
    if (ix->n_slots >= UINT32_MAX - 1)
        return vlt_fail(VAULT_E_NOMEM, "index: too many entries");
    if (VLT_ARRAY_GROW(&ix->slots, &ix->cap_slots, ix->n_slots + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "index: out of memory");
    return VAULT_OK;
}

/* A new slot for id (pack_id NULL: pending); its number in *number. */
static vault_error slot_new(vault_index *ix, const uint8_t id[CHUNK_ID_BYTES],
                            uint32_t pack, const pack_entry *e,
                            uint32_t flags, uint32_t *number)
{
    vault_error rc = slot_reserve(ix);
    if (rc != VAULT_OK)
        return rc;
    index_slot *s = &ix->slots[ix->n_slots];
    memset(s, 0, sizeof *s);
    memcpy(s->id, id, CHUNK_ID_BYTES);
    if (pack != INDEX_PENDING) {
        slot_fill(s, pack, e, flags);
    } else {
        s->pack = INDEX_PENDING;
        s->raw_len = flags & SLOT_COPY_FLAGS;
    }
    *number = (uint32_t)ix->n_slots++;
    return VAULT_OK;
}

/* Adds one more copy to an ID whose copies are slots[0..n). */
static vault_error copy_append(vault_index *ix, uint32_t *slots, size_t n,
                               uint32_t pack, const pack_entry *e,
                               uint32_t flags)
{
    /* a copy: adding a slot may move ix->slots */
    uint8_t id[CHUNK_ID_BYTES];
    memcpy(id, ix->slots[slots[0]].id, CHUNK_ID_BYTES);
    if (n == INDEX_MAX_COPIES) {
        /* Full: the new copy takes the last's place if it ranks higher
         * (a hostile member listing one ID many times cannot crowd out
         * the copies that matter). */
        index_slot t = ix->slots[slots[n - 1]];
        slot_fill(&t, pack, e, flags);
        if (pack == INDEX_PENDING) {
            t.pack = INDEX_PENDING;
            t.raw_len = (flags & SLOT_COPY_FLAGS);
        }
        if (copy_rank(ix, &t) > copy_rank(ix, &ix->slots[slots[n - 1]])) {
            ix->slots[slots[n - 1]] = t;
            copies_sort(ix, slots, n);
        }
        return VAULT_OK;
    }
    if (ix->n_alts >= UINT32_MAX - 1)
        return vlt_fail(VAULT_E_NOMEM, "index: too many entries");
    uint32_t *head = alt_head(ix, id);
    if (!head) {
        vault_error rc = table_grow(&ix->alt_table, &ix->alt_table_size,
                                    ix->n_alt_ids + 1, alt_key, ix);
        if (rc != VAULT_OK)
            return rc;
    }
    if (VLT_ARRAY_GROW(&ix->alts, &ix->cap_alts, ix->n_alts + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "index: out of memory");
    uint32_t number;
    vault_error rc = slot_new(ix, id, pack, e, flags, &number);
    if (rc != VAULT_OK)
        return rc;
    index_alt *a = &ix->alts[ix->n_alts];
    a->slot = number;
    a->next = 0;
    if (head) {
        /* at the chain's end: the sort below puts contents in order */
        uint32_t last = *head;
        while (ix->alts[last - 1].next)
            last = ix->alts[last - 1].next;
        ix->alts[last - 1].next = (uint32_t)ix->n_alts + 1;
    } else {
        table_put(ix->alt_table, ix->alt_table_size, id,
                  (uint32_t)ix->n_alts + 1);
        ix->n_alt_ids++;
    }
    ix->n_alts++;
    slots[n++] = number;
    copies_sort(ix, slots, n);
    return VAULT_OK;
}

static int same_place(const index_slot *s, uint32_t pack, const pack_entry *e)
{
    index_slot t = *s;
    slot_fill(&t, pack, e, 0);
    return vlt_index_slot_same_place(s, &t);
}

vault_error vlt_index_add(vault_index *ix, const uint8_t id[CHUNK_ID_BYTES],
                          const uint8_t *pack_id, const pack_entry *e,
                          uint32_t flags, int *inserted)
{
    *inserted = 0;
    uint32_t pack = INDEX_PENDING;
    if (pack_id) {
        vault_error rc = pack_number(ix, pack_id, &pack);
        if (rc != VAULT_OK)
            return rc;
    }
    /* The base cannot change: a request is not stored when a base copy
     * serves, and a copy the base holds already (with these flags) is
     * not added again. */
    const index_slot *base;
    size_t n_base = base_copies(&ix->base, id, &base);
    for (size_t i = 0; i < n_base; i++) {
        if (pack == INDEX_PENDING ? vlt_index_slot_dedup(ix, &base[i])
                                  : same_place(&base[i], pack, e) &&
                                        (flags & ~base[i].raw_len &
                                         SLOT_COPY_FLAGS) == 0)
            return VAULT_OK;
    }
    index_slot *found = slot_find(ix, id);
    if (!found) {
        vault_error rc = table_grow(&ix->table, &ix->table_size,
                                    ix->n_slots - ix->n_alts + 1, slot_key,
                                    ix);
        uint32_t number = 0;
        if (rc == VAULT_OK)
            rc = slot_new(ix, id, pack, e, flags, &number);
        if (rc != VAULT_OK)
            return rc;
        table_put(ix->table, ix->table_size, id, number + 1);
        *inserted = 1;
        return VAULT_OK;
    }
    uint32_t slots[INDEX_MAX_COPIES];
    size_t n = copy_slots(ix, found, slots);
    if (pack == INDEX_PENDING) {
        /* a request to store: not when some copy serves */
        for (size_t i = 0; i < n; i++)
            if (vlt_index_slot_dedup(ix, &ix->slots[slots[i]]))
                return VAULT_OK;
        *inserted = 1;
        return copy_append(ix, slots, n, pack, e, flags);
    }
    for (size_t i = 0; i < n; i++) {
        index_slot *s = &ix->slots[slots[i]];
        if (s->pack == INDEX_PENDING) {
            /* the copy this handle asked for */
            slot_fill(s, pack, e, flags | (s->raw_len & SLOT_COPY_FLAGS));
            copies_sort(ix, slots, n);
            return VAULT_OK;
        }
        if (same_place(s, pack, e)) {
            s->raw_len |= flags & SLOT_COPY_FLAGS;
            copies_sort(ix, slots, n);
            return VAULT_OK;
        }
    }
    return copy_append(ix, slots, n, pack, e, flags);
}

void vlt_index_slot_entry(const vault_index *ix, const index_slot *s,
                          pack_entry *e)
{
    (void)ix;
    memcpy(e->id, s->id, CHUNK_ID_BYTES);
    e->offset = s->offset;
    e->length = s->length_type & 0x0fffffffu;
    e->type = (uint8_t)((s->length_type >> 28) & 3);
    e->flags = (uint8_t)((s->length_type >> 30) & 1);
    e->raw_len = s->raw_len & SLOT_RAW_MASK;
}

vault_error vlt_index_condemn_pack(vault_index *ix, const uint8_t pack_id[32])
{
    uint32_t number;
    vault_error rc = pack_number(ix, pack_id, &number);
    if (rc != VAULT_OK)
        return rc;
    if (number >= ix->base.n_packs) {
        ix->pack_condemned[number - ix->base.n_packs] = 1;
        return VAULT_OK;
    }
    if (!ix->base_condemned &&
        !(ix->base_condemned = calloc(ix->base.n_packs, 1)))
        return vlt_fail(VAULT_E_NOMEM, "index: out of memory");
    ix->base_condemned[number] = 1;
    return VAULT_OK;
}

vault_error vlt_index_attach_base(vault_index *ix, const index_base *base)
{
    if (ix->n_packs || ix->n_slots)
        return vlt_fail(VAULT_E_INTERNAL,
                        "index: a base goes under an empty index");
    ix->base = *base;
    return VAULT_OK;
}

static void index_key(const keyring *k, uint32_t epoch,
                      uint8_t key[SECRET_BYTES])
{
    vlt_kdf(key, vlt_keyring_epoch(k, epoch)->write_key, "index");
}

vault_error vlt_index_segment_save(backend *be, const keyring *k,
                                   const uint8_t *pack_ids, size_t n_packs,
                                   const size_t *starts,
                                   const pack_entry *entries)
{
    size_t n_entries = starts[n_packs];
    size_t body = 4 + n_packs * 36 + n_entries * PACK_ENTRY_BYTES;
    size_t plain_len = INDEX_AUTHOR_BYTES + body;
    size_t total = INDEX_HEADER_BYTES + plain_len + AEAD_TAG;
    if (total > INDEX_MAX_BYTES)
        return vlt_fail(VAULT_E_INTERNAL, "index segment too large");
    uint8_t *plain = malloc(plain_len);
    uint8_t *file = malloc(total);
    if (!plain || !file) {
        free(plain);
        free(file);
        return vlt_fail(VAULT_E_NOMEM, "index: out of memory");
    }
    uint8_t *p = plain + INDEX_AUTHOR_BYTES;
    store_le32(p, (uint32_t)n_packs);
    p += 4;
    for (size_t i = 0; i < n_packs; i++) {
        memcpy(p, pack_ids + i * 32, 32);
        store_le32(p + 32, (uint32_t)(starts[i + 1] - starts[i]));
        p += 36;
        for (size_t j = starts[i]; j < starts[i + 1]; j++) {
            vlt_pack_entry_encode(p, &entries[j]);
            p += PACK_ENTRY_BYTES;
        }
    }
    vault_error rc = vlt_authored_sign(k, SIGN_LABEL_INDEX,
                                       "an index segment", plain, plain_len);
    if (rc != VAULT_OK) {
        free(plain);
        free(file);
        return rc;
    }
    uint32_t epoch = k->n_epochs - 1;
    memcpy(file, INDEX_MAGIC, 8);
    store_le32(file + 8, epoch);
    randombytes_buf(file + 12, AEAD_NONCE);
    uint8_t key[SECRET_BYTES];
    index_key(k, epoch, key);
    vlt_aead_seal(file + INDEX_HEADER_BYTES, plain, plain_len, file,
                  INDEX_HEADER_BYTES, file + 12, key);
    sodium_memzero(key, sizeof key);
    free(plain);
    char name[65];
    vlt_object_name(file, total, name);
    /* sealed under the nonce just drawn: a name nobody has */
    rc = backend_save_new(be, BACKEND_INDEX, name, file, total);
    free(file);
    return rc;
}


/* Parses an authenticated segment's body in full; only when all of it is
 * valid are the entries handed to fn, in order, so that a damaged
 * segment contributes nothing. */
static vault_error segment_entries(const char *name, const uint8_t *plain,
                                   size_t body, index_entry_fn fn, void *ctx)
{
    for (int pass = 0; pass < 2; pass++) {
        const uint8_t *p = plain, *end = plain + body;
        uint32_t n_packs = load_le32(p);
        p += 4;
        for (uint32_t i = 0; i < n_packs; i++) {
            if ((size_t)(end - p) < 36)
                return vlt_fail(VAULT_E_CORRUPT, "index/%s: truncated",
                                name);
            const uint8_t *pack_id = p;
            uint32_t n = load_le32(p + 32);
            p += 36;
            if ((uint64_t)n * PACK_ENTRY_BYTES > (size_t)(end - p))
                return vlt_fail(VAULT_E_CORRUPT, "index/%s: truncated",
                                name);
            for (uint32_t j = 0; j < n; j++, p += PACK_ENTRY_BYTES) {
                pack_entry e;
                if (!vlt_pack_entry_decode(p, &e))
                    return vlt_fail(VAULT_E_CORRUPT,
                                    "index/%s: bad entry", name);
                if (pass == 1) {
                    vault_error rc = fn(ctx, pack_id, &e);
                    if (rc != VAULT_OK)
                        return rc;
                }
            }
        }
        if (p != end)
            return vlt_fail(VAULT_E_CORRUPT, "index/%s: trailing bytes",
                            name);
    }
    return VAULT_OK;
}

static vault_error segment_parse(const keyring *k, const char *name,
                                 const uint8_t *file, size_t len,
                                 index_entry_fn fn, void *ctx,
                                 index_segment_info *info)
{
    vault_error rc = vlt_object_check_name(BACKEND_INDEX, name, file, len);
    if (rc != VAULT_OK)
        return rc;
    if (len < INDEX_HEADER_BYTES + INDEX_AUTHOR_BYTES + 4 + AEAD_TAG ||
        memcmp(file, INDEX_MAGIC, 8) != 0)
        return vlt_fail(VAULT_E_CORRUPT, "index/%s: not an index segment",
                        name);
    uint32_t epoch = load_le32(file + 8);
    if (!vlt_keyring_epoch(k, epoch)) {
        /* A later epoch than ours: it indexes data sealed out of this
         * member's reach (it was unshared). */
        info->skipped = 1;
        return VAULT_OK;
    }
    size_t plain_len = len - INDEX_HEADER_BYTES - AEAD_TAG;
    uint8_t *plain = malloc(plain_len);
    if (!plain)
        return vlt_fail(VAULT_E_NOMEM, "index: out of memory");
    uint8_t key[SECRET_BYTES];
    index_key(k, epoch, key);
    int bad = vlt_aead_open(plain, file + INDEX_HEADER_BYTES,
                            len - INDEX_HEADER_BYTES, file, INDEX_HEADER_BYTES,
                            file + 12, key);
    sodium_memzero(key, sizeof key);
    if (bad) {
        free(plain);
        return vlt_fail(VAULT_E_CORRUPT,
                        "index/%s: authentication failed", name);
    }
    const uint8_t *body = plain + INDEX_AUTHOR_BYTES;
    size_t body_len = plain_len - INDEX_AUTHOR_BYTES;
    rc = vlt_authored_verify(k, SIGN_LABEL_INDEX, "index", name, plain,
                             plain_len);
    if (rc == VAULT_OK) {
        memcpy(info->author, plain, SIGN_PUBLIC_BYTES);
        rc = segment_entries(name, body, body_len, fn, ctx);
    }
    free(plain);
    return rc;
}

vault_error vlt_index_segment_read(backend *be, const keyring *k,
                                   const char *name, index_entry_fn fn,
                                   void *ctx, index_segment_info *info)
{
    index_segment_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    uint8_t *file;
    size_t len;
    vault_error rc = backend_load(be, BACKEND_INDEX, name, 0, 0,
                                  INDEX_MAX_BYTES, &file, &len);
    if (rc != VAULT_OK)
        return rc;
    rc = segment_parse(k, name, file, len, fn, ctx, info);
    free(file);
    return rc;
}

/* vlt_index_load's state while it reads one segment. */
typedef struct index_loader {
    vault_index *ix;
    const char *name;
    index_segment_info info;
    index_author_fn author_of;
    void *author_ctx;
    int flags; /* of the segment's entries; -1 forged */
    int flags_known;
} index_loader;

static vault_error index_add_entry(void *ctx, const uint8_t pack_id[32],
                                   const pack_entry *e)
{
    index_loader *l = ctx;
    if (!l->flags_known) {
        /* the author is verified before the first entry comes */
        l->flags = l->author_of ? l->author_of(l->author_ctx, l->info.author)
                                : 0;
        l->flags_known = 1;
    }
    if (l->flags < 0)
        return vlt_fail(VAULT_E_CORRUPT,
                        "index/%s: forged: its author is not a member of "
                        "the vault",
                        l->name);
    int inserted;
    return vlt_index_add(l->ix, e->id, pack_id, e, (uint32_t)l->flags,
                         &inserted);
}

vault_error vlt_index_load(vault_index *ix, backend *be, const keyring *k,
                           index_author_fn author_of, void *author_ctx,
                           index_report_fn report, void *report_ctx)
{
    name_list names;
    vault_error rc = vlt_backend_list_names(be, BACKEND_INDEX, &names);
    if (rc == VAULT_OK)
        rc = vlt_index_load_names(ix, be, k, &names, author_of, author_ctx,
                                  report, report_ctx);
    free(names.names);
    return rc;
}

vault_error vlt_index_load_names(vault_index *ix, backend *be, const keyring *k,
                                 const name_list *names,
                                 index_author_fn author_of, void *author_ctx,
                                 index_report_fn report, void *report_ctx)
{
    vault_error rc = VAULT_OK;
    for (size_t i = 0; rc == VAULT_OK && i < names->n; i++) {
        index_loader l = {ix, names->names[i], {0}, author_of, author_ctx, 0,
                          0};
        rc = vlt_index_segment_read(be, k, names->names[i], index_add_entry,
                                    &l, &l.info);
        if (rc == VAULT_E_NOT_FOUND) {
            /* replaced by a prune since the listing: its successor holds
             * the same entries (format spec "Pruning without locks") */
            rc = VAULT_OK;
            continue;
        }
        if (rc == VAULT_E_CORRUPT || rc == VAULT_E_UNSUPPORTED) {
            /* Damaged, junk or forged: it contributes nothing (a damaged
             * segment calls back for no entry, a forged one stops at its
             * first), and the rest of the index still serves. */
            if (report)
                report(report_ctx, names->names[i], vault_last_error());
            rc = VAULT_OK;
            continue;
        }
        if (rc == VAULT_OK && !l.info.skipped)
            ix->n_segments++;
    }
    return rc;
}
