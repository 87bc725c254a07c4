/*
 * membership_record.c - encoding, signing and sealing of membership
 * records (format.md §5.2-5.3).
 *
 * body: seq u64 | previous (32; record 0: the vault salt) | epoch u32 | pk_epoch (32) |
 *       write key ID (32) | dedup ID (32) | time i64 | count u32 |
 *       count x (sign_pk (32) | role u8 | added i64 | recipient length
 *       u16 + bytes | envelope count u16 + count x 32) |
 *       signer (32) | sig (64) over everything before signer
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/internal.h"
#include "format/membership_record.h"

#define HEAD_BYTES (8 + 32 + 4 + 32 + 32 + 32 + 8 + 4)
#define TAIL_BYTES (SIGN_PUBLIC_BYTES + SIGNATURE_BYTES)
#define ENTRY_MIN_BYTES (32 + 1 + 8 + 2 + 1 + 2)
#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

void vlt_member_entries_free(member_entry *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++) {
        free(e[i].recipient);
        free(e[i].envelopes);
    }
    free(e);
}

void vlt_membership_record_clear(membership_record *r)
{
    vlt_member_entries_free(r->members, r->n_members);
    memset(r, 0, sizeof *r);
}

vault_error vlt_member_entry_copy(member_entry *dst, const member_entry *src)
{
    *dst = *src;
    dst->recipient = strdup(src->recipient);
    dst->envelopes = malloc(src->n_envelopes ? 32u * src->n_envelopes : 1);
    if (!dst->recipient || !dst->envelopes) {
        free(dst->recipient);
        free(dst->envelopes);
        memset(dst, 0, sizeof *dst);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    if (src->n_envelopes)
        memcpy(dst->envelopes, src->envelopes, 32u * src->n_envelopes);
    return VAULT_OK;
}

void vlt_vault_id_of(const uint8_t founder_pk[SIGN_PUBLIC_BYTES],
                     const uint8_t salt[32], uint8_t vault_id[VAULT_ID_BYTES])
{
    static const char label[] = "vault/v2 vault id";
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, VAULT_ID_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)label, sizeof label - 1);
    crypto_generichash_update(&st, founder_pk, SIGN_PUBLIC_BYTES);
    crypto_generichash_update(&st, salt, 32);
    crypto_generichash_final(&st, vault_id, VAULT_ID_BYTES);
}

void vlt_write_key_id(const uint8_t write_key[SECRET_BYTES], uint8_t out[32])
{
    vlt_kdf(out, write_key, "write key id");
}

void vlt_dedup_id(const uint8_t dedup_secret[SECRET_BYTES], uint8_t out[32])
{
    vlt_kdf(out, dedup_secret, "dedup id");
}

static int entry_cmp(const void *a, const void *b)
{
    return memcmp(((const member_entry *)a)->sign_pk,
                  ((const member_entry *)b)->sign_pk, SIGN_PUBLIC_BYTES);
}

vault_error vlt_membership_record_sign(membership_record *r,
                                       const uint8_t vault_id[VAULT_ID_BYTES],
                                       const uint8_t sign_sk[SIGN_SECRET_BYTES],
                                       uint8_t **body_out, size_t *body_len)
{
    *body_out = NULL;
    if (r->n_members == 0 || r->n_members > MEMBERS_COUNT_MAX)
        return vlt_fail(VAULT_E_INVALID, "membership record: %u members",
                        (unsigned)r->n_members);
    qsort(r->members, r->n_members, sizeof *r->members, entry_cmp);
    size_t len = HEAD_BYTES + TAIL_BYTES;
    for (uint32_t i = 0; i < r->n_members; i++) {
        const member_entry *m = &r->members[i];
        size_t rlen = strlen(m->recipient);
        if (rlen == 0 || rlen > RECIPIENT_MAX ||
            m->n_envelopes > MEMBER_ENVELOPES_MAX)
            return vlt_fail(VAULT_E_INVALID,
                            "membership record: member %s does not fit",
                            m->recipient);
        len += ENTRY_MIN_BYTES - 1 + rlen + 32u * m->n_envelopes;
    }
    if (len > MEMBERS_MAX_BYTES)
        return vlt_fail(VAULT_E_INVALID, "membership record too large");
    uint8_t *b = malloc(len), *p = b;
    if (!b)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    store_le64(p, r->seq), p += 8;
    memcpy(p, r->previous, 32), p += 32;
    store_le32(p, r->epoch), p += 4;
    memcpy(p, r->epoch_pk, 32), p += 32;
    memcpy(p, r->write_key_id, 32), p += 32;
    memcpy(p, r->dedup_id, 32), p += 32;
    store_le64(p, (uint64_t)r->time), p += 8;
    store_le32(p, r->n_members), p += 4;
    for (uint32_t i = 0; i < r->n_members; i++) {
        const member_entry *m = &r->members[i];
        size_t rlen = strlen(m->recipient);
        memcpy(p, m->sign_pk, 32), p += 32;
        *p++ = (uint8_t)m->role;
        store_le64(p, (uint64_t)m->added), p += 8;
        store_le16(p, (uint16_t)rlen), p += 2;
        memcpy(p, m->recipient, rlen), p += rlen;
        store_le16(p, m->n_envelopes), p += 2;
        if (m->n_envelopes)
            memcpy(p, m->envelopes, 32u * m->n_envelopes);
        p += 32u * m->n_envelopes;
    }
    memcpy(r->signer, sign_sk + SIGN_SEED_BYTES, SIGN_PUBLIC_BYTES);
    memcpy(p, r->signer, SIGN_PUBLIC_BYTES), p += SIGN_PUBLIC_BYTES;
    vault_error rc = vlt_sign(sign_sk, SIGN_LABEL_MEMBERS, vault_id, b,
                              (size_t)(p - b), r->sig);
    if (rc != VAULT_OK) {
        free(b);
        return rc;
    }
    memcpy(p, r->sig, SIGNATURE_BYTES);
    *body_out = b;
    *body_len = len;
    return VAULT_OK;
}

#define BAD(what)                                                            \
    do {                                                                     \
        rc = vlt_fail(VAULT_E_CORRUPT, "membership record: %s", what);       \
        goto fail;                                                           \
    } while (0)

static int recipient_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

vault_error vlt_membership_record_decode(const uint8_t *body, size_t len,
                                         membership_record *r)
{
    memset(r, 0, sizeof *r);
    vault_error rc = VAULT_OK;
    if (len < HEAD_BYTES + ENTRY_MIN_BYTES + TAIL_BYTES ||
        len > MEMBERS_MAX_BYTES)
        return vlt_fail(VAULT_E_CORRUPT, "membership record: bad size %zu",
                        len);
    const uint8_t *p = body, *end = body + len - TAIL_BYTES;
    r->seq = load_le64(p), p += 8;
    memcpy(r->previous, p, 32), p += 32;
    r->epoch = load_le32(p), p += 4;
    if (r->epoch >= EPOCHS_MAX)
        return vlt_fail(VAULT_E_CORRUPT, "membership record: epoch %u",
                        (unsigned)r->epoch);
    memcpy(r->epoch_pk, p, 32), p += 32;
    memcpy(r->write_key_id, p, 32), p += 32;
    memcpy(r->dedup_id, p, 32), p += 32;
    r->time = (int64_t)load_le64(p), p += 8;
    uint32_t count = load_le32(p);
    p += 4;
    /* The count is checked against the bytes there before allocating. */
    if (count == 0 || count > MEMBERS_COUNT_MAX ||
        count > (size_t)(end - p) / ENTRY_MIN_BYTES)
        return vlt_fail(VAULT_E_CORRUPT, "membership record: bad member "
                                         "count %u", (unsigned)count);
    r->members = calloc(count, sizeof *r->members);
    char **recipients = calloc(count, sizeof *recipients);
    if (!r->members || !recipients) {
        free(recipients);
        free(r->members);
        r->members = NULL;
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    int owners = 0;
    for (uint32_t i = 0; i < count; i++) {
        member_entry *m = &r->members[i];
        if ((size_t)(end - p) < ENTRY_MIN_BYTES)
            BAD("truncated member");
        memcpy(m->sign_pk, p, 32), p += 32;
        if (i > 0 && memcmp(r->members[i - 1].sign_pk, m->sign_pk, 32) >= 0)
            BAD("members not sorted by signing key or repeated");
        uint8_t role = *p++;
        if (role < ROLE_OWNER || role > ROLE_WRITER)
            BAD("unknown role");
        m->role = (member_role)role;
        owners += role == ROLE_OWNER;
        m->added = (int64_t)load_le64(p), p += 8;
        uint16_t rlen = load_le16(p);
        p += 2;
        if (rlen == 0 || rlen > RECIPIENT_MAX || (size_t)(end - p) < rlen + 2u)
            BAD("bad recipient length");
        if (memchr(p, '\n', rlen) || memchr(p, '\0', rlen))
            BAD("recipient holds a line end or NUL");
        if (!(m->recipient = malloc(rlen + 1u))) {
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
            goto fail;
        }
        memcpy(m->recipient, p, rlen);
        m->recipient[rlen] = '\0';
        recipients[i] = m->recipient;
        p += rlen;
        r->n_members = i + 1;
        uint16_t n_env = load_le16(p);
        p += 2;
        if (n_env > MEMBER_ENVELOPES_MAX || (size_t)(end - p) < 32u * n_env)
            BAD("bad envelope count");
        if (!(m->envelopes = malloc(n_env ? 32u * n_env : 1))) {
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
            goto fail;
        }
        if (n_env)
            memcpy(m->envelopes, p, 32u * n_env);
        m->n_envelopes = n_env;
        p += 32u * n_env;
    }
    if (p != end)
        BAD("trailing bytes after the members");
    if (!owners)
        BAD("no owner");
    qsort(recipients, count, sizeof *recipients, recipient_cmp);
    for (uint32_t i = 1; i < count; i++)
        if (strcmp(recipients[i - 1], recipients[i]) == 0)
            BAD("a recipient is listed twice");
    memcpy(r->signer, end, SIGN_PUBLIC_BYTES);
    memcpy(r->sig, end + SIGN_PUBLIC_BYTES, SIGNATURE_BYTES);
    free(recipients);
    return VAULT_OK;
fail:
    free(recipients);
    vlt_membership_record_clear(r);
    return rc;
}

vault_error vlt_membership_record_verify(const uint8_t *body, size_t len,
                                         const uint8_t vault_id[VAULT_ID_BYTES])
{
    if (len < TAIL_BYTES)
        return VAULT_E_CORRUPT;
    const uint8_t *signer = body + len - TAIL_BYTES;
    return vlt_sign_verify(signer, SIGN_LABEL_MEMBERS, vault_id, body,
                           len - SIGNATURE_BYTES, signer + SIGN_PUBLIC_BYTES);
}

static void record_key(const uint8_t write_key[SECRET_BYTES],
                       uint8_t key[SECRET_BYTES])
{
    vlt_kdf(key, write_key, "members");
}

vault_error vlt_membership_record_seal(const uint8_t write_key[SECRET_BYTES],
                                       uint32_t epoch, const uint8_t *body,
                                       size_t body_len, uint8_t **out,
                                       size_t *out_len)
{
    *out = NULL;
    size_t total = MEMBERS_HEADER_BYTES + body_len + AEAD_TAG;
    if (body_len > MEMBERS_MAX_BYTES)
        return vlt_fail(VAULT_E_INVALID, "membership record too large");
    uint8_t *file = malloc(total);
    if (!file)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    memcpy(file, MEMBERS_MAGIC, 8);
    store_le32(file + 8, epoch);
    randombytes_buf(file + 12, AEAD_NONCE);
    uint8_t key[SECRET_BYTES];
    record_key(write_key, key);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        file + MEMBERS_HEADER_BYTES, NULL, body, body_len, file,
        MEMBERS_HEADER_BYTES, NULL, file + 12, key);
    sodium_memzero(key, sizeof key);
    *out = file;
    *out_len = total;
    return VAULT_OK;
}

vault_error vlt_membership_record_epoch(const uint8_t *data, size_t len,
                                        uint32_t *epoch)
{
    if (len < MEMBERS_HEADER_BYTES + AEAD_TAG ||
        memcmp(data, MEMBERS_MAGIC, 8) != 0)
        return vlt_fail(VAULT_E_CORRUPT, "not a membership record");
    *epoch = load_le32(data + 8);
    return VAULT_OK;
}

vault_error vlt_membership_record_open(const uint8_t write_key[SECRET_BYTES],
                                       const uint8_t *data, size_t len,
                                       uint8_t **body, size_t *body_len)
{
    *body = NULL;
    uint32_t epoch;
    vault_error rc = vlt_membership_record_epoch(data, len, &epoch);
    if (rc != VAULT_OK)
        return rc;
    size_t n = len - MEMBERS_HEADER_BYTES - AEAD_TAG;
    uint8_t *plain = malloc(n ? n : 1);
    if (!plain)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    uint8_t key[SECRET_BYTES];
    record_key(write_key, key);
    int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
        plain, NULL, NULL, data + MEMBERS_HEADER_BYTES,
        len - MEMBERS_HEADER_BYTES, data, MEMBERS_HEADER_BYTES, data + 12, key);
    sodium_memzero(key, sizeof key);
    if (bad) {
        free(plain);
        return VAULT_E_CORRUPT;
    }
    *body = plain;
    *body_len = n;
    return VAULT_OK;
}
