/*
 * test_membership_record.c - membership records `VAULTMB2`
 * (format/membership_record.c, format.md §5.2-5.3): a signed body that
 * decodes to what was encoded, sealing with the epoch's write key, and
 * hostile bytes - every truncation, every byte flipped, counts and
 * lengths that lie, unsorted or repeated members, no owner - refused
 * cleanly, with limits checked before anything is allocated.
 */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/internal.h"
#include "format/membership_record.h"

#define HEAD_BYTES (8 + 32 + 4 + 32 + 32 + 32 + 8 + 4)

static const char R1[] =
    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
static const char R2[] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHrM3vRZpE0dD7jj"
                         "WdxI9i2v2b2p1WkRrAxX3WvTq3y9";

#define assert_detail_has(text)                                              \
    do {                                                                     \
        if (!strstr(vault_last_error(), (text)))                             \
            fail_msg("detail \"%s\" lacks \"%s\"", vault_last_error(),       \
                     (text));                                                \
    } while (0)

typedef struct sample {
    keyring *k;
    char r1[sizeof R1], r2[sizeof R2];
    uint8_t envs[3][32];
    member_entry m[2];
    membership_record r;
} sample;

/* A record of two members (an owner, the signer; a writer). */
static void sample_make(sample *s)
{
    memset(s, 0, sizeof *s);
    assert_vault_ok(vlt_keyring_generate(&s->k));
    memcpy(s->r1, R1, sizeof R1);
    memcpy(s->r2, R2, sizeof R2);
    randombytes_buf(s->envs, sizeof s->envs);
    s->m[0] = (member_entry){.role = ROLE_OWNER, .added = 1700000000,
                             .recipient = s->r1, .envelopes = s->envs,
                             .n_envelopes = 2};
    memcpy(s->m[0].sign_pk, s->k->sign_pk, 32);
    s->m[1] = (member_entry){.role = ROLE_WRITER, .added = 1700000100,
                             .recipient = s->r2, .envelopes = s->envs + 2,
                             .n_envelopes = 1};
    randombytes_buf(s->m[1].sign_pk, 32);
    s->r = (membership_record){.seq = 7, .epoch = 2, .time = 1700000200,
                               .members = s->m, .n_members = 2};
    randombytes_buf(s->r.previous, 32);
    randombytes_buf(s->r.epoch_pk, 32);
    vlt_write_key_id(s->k->epochs[0].write_key, s->r.write_key_id);
    vlt_dedup_id(s->k->dedup_secret, s->r.dedup_id);
}

static uint8_t *sample_body(sample *s, size_t *len)
{
    uint8_t *body;
    assert_vault_ok(vlt_membership_record_sign(&s->r, s->k->vault_id,
                                               s->k->sign_sk, &body, len));
    return body;
}

static void test_roundtrip(void **state)
{
    (void)state;
    sample s;
    sample_make(&s);
    size_t len;
    uint8_t *body = sample_body(&s, &len);
    assert_memory_equal(s.r.signer, s.k->sign_pk, 32);
    membership_record d;
    assert_vault_ok(vlt_membership_record_decode(body, len, &d));
    assert_int_equal(d.seq, 7);
    assert_int_equal(d.epoch, 2);
    assert_int_equal(d.time, 1700000200);
    assert_memory_equal(d.previous, s.r.previous, 32);
    assert_memory_equal(d.epoch_pk, s.r.epoch_pk, 32);
    assert_memory_equal(d.write_key_id, s.r.write_key_id, 32);
    assert_memory_equal(d.dedup_id, s.r.dedup_id, 32);
    assert_memory_equal(d.signer, s.k->sign_pk, 32);
    assert_int_equal(d.n_members, 2);
    for (uint32_t i = 0; i < 2; i++) {
        /* sorted by signing key: s.m was sorted in place by the signer */
        assert_memory_equal(d.members[i].sign_pk, s.m[i].sign_pk, 32);
        assert_int_equal(d.members[i].role, s.m[i].role);
        assert_int_equal(d.members[i].added, s.m[i].added);
        assert_string_equal(d.members[i].recipient, s.m[i].recipient);
        assert_int_equal(d.members[i].n_envelopes, s.m[i].n_envelopes);
        assert_memory_equal(d.members[i].envelopes, s.m[i].envelopes,
                            32u * s.m[i].n_envelopes);
    }
    assert_true(memcmp(d.members[0].sign_pk, d.members[1].sign_pk, 32) < 0);
    vlt_membership_record_clear(&d);
    assert_vault_ok(vlt_membership_record_verify(body, len, s.k->vault_id));
    /* Another vault's ID: the signature means nothing there. */
    uint8_t other[32];
    randombytes_buf(other, sizeof other);
    assert_vault_code(vlt_membership_record_verify(body, len, other),
                      VAULT_E_CORRUPT);
    /* Every single bit of the signed bytes matters. */
    for (size_t i = 0; i < len; i++) {
        body[i] ^= 0x10;
        assert_vault_code(vlt_membership_record_verify(body, len,
                                                       s.k->vault_id),
                          VAULT_E_CORRUPT);
        body[i] ^= 0x10;
    }

    /* Sealed: opens with the write key, not with another; the header is
     * authenticated too. */
    uint8_t *obj, *open;
    size_t obj_len, open_len;
    uint32_t epoch;
    assert_vault_ok(vlt_membership_record_seal(s.k->epochs[0].write_key, 2,
                                               body, len, &obj, &obj_len));
    assert_memory_equal(obj, MEMBERS_MAGIC, 8);
    assert_vault_ok(vlt_membership_record_epoch(obj, obj_len, &epoch));
    assert_int_equal(epoch, 2);
    assert_vault_ok(vlt_membership_record_open(s.k->epochs[0].write_key, obj,
                                               obj_len, &open, &open_len));
    assert_int_equal(open_len, len);
    assert_memory_equal(open, body, len);
    free(open);
    uint8_t wrong[32];
    randombytes_buf(wrong, sizeof wrong);
    assert_vault_code(vlt_membership_record_open(wrong, obj, obj_len, &open,
                                                 &open_len),
                      VAULT_E_CORRUPT);
    assert_null(open);
    for (size_t i = 0; i < obj_len; i += 7) {
        obj[i] ^= 1;
        vault_error rc = vlt_membership_record_open(
            s.k->epochs[0].write_key, obj, obj_len, &open, &open_len);
        assert_int_equal(rc, VAULT_E_CORRUPT);
        obj[i] ^= 1;
    }
    for (size_t n = 0; n < obj_len; n += 5)
        assert_vault_code(vlt_membership_record_open(s.k->epochs[0].write_key,
                                                     obj, n, &open, &open_len),
                          VAULT_E_CORRUPT);
    free(obj);
    free(body);
    vlt_keyring_free(s.k);
}

static vault_error decode_try(const uint8_t *body, size_t len)
{
    membership_record d;
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, body, len);
    vault_error rc = vlt_membership_record_decode(copy, len, &d);
    if (rc == VAULT_OK)
        vlt_membership_record_clear(&d);
    else
        assert_null(d.members);
    free(copy);
    return rc;
}

/* Offset of member i's fields in the sample body. */
static size_t member_at(const uint8_t *body, uint32_t i)
{
    size_t p = HEAD_BYTES;
    for (uint32_t j = 0; j < i; j++) {
        p += 32 + 1 + 8;
        p += 2 + load_le16(body + p);
        p += 2 + 32u * load_le16(body + p);
    }
    return p;
}

static void test_hostile(void **state)
{
    (void)state;
    sample s;
    sample_make(&s);
    size_t len;
    uint8_t *body = sample_body(&s, &len);
    assert_vault_ok(decode_try(body, len));

    /* every truncation, every extension */
    for (size_t n = 0; n < len; n++)
        assert_vault_code(decode_try(body, n), VAULT_E_CORRUPT);
    uint8_t *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, body, len);
    longer[len] = 0;
    assert_vault_code(decode_try(longer, len + 1), VAULT_E_CORRUPT);
    free(longer);
    /* every byte, a few values: never a crash */
    static const uint8_t repl[] = {0, 1, 0x7f, 0x80, 0xff, '\n'};
    for (size_t pos = 0; pos < len; pos++)
        for (size_t j = 0; j < sizeof repl; j++) {
            uint8_t old = body[pos];
            body[pos] = repl[j];
            vault_error rc = decode_try(body, len);
            assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
            body[pos] = old;
        }

    /* named lies, each refused with its reason */
    uint8_t *b = malloc(len);
    assert_non_null(b);
#define MUTATE(stmt, why)                                                    \
    do {                                                                     \
        memcpy(b, body, len);                                                \
        stmt;                                                                \
        assert_vault_code(decode_try(b, len), VAULT_E_CORRUPT);              \
        assert_detail_has(why);                                              \
    } while (0)
    size_t m0 = member_at(body, 0), m1 = member_at(body, 1);
    MUTATE(store_le32(b + HEAD_BYTES - 4, 0), "bad member count");
    MUTATE(store_le32(b + HEAD_BYTES - 4, 3), "truncated member");
    MUTATE(store_le32(b + HEAD_BYTES - 4, MEMBERS_COUNT_MAX + 1),
           "bad member count");
    MUTATE(store_le32(b + HEAD_BYTES - 4, UINT32_MAX), "bad member count");
    MUTATE(b[m0 + 32] = 0, "unknown role");
    MUTATE(b[m0 + 32] = 4, "unknown role");
    MUTATE(store_le16(b + m0 + 41, 0), "bad recipient length");
    MUTATE(store_le16(b + m0 + 41, 0xffff), "bad recipient length");
    MUTATE(b[m0 + 43] = '\n', "line end or NUL");
    MUTATE(b[m0 + 43] = 0, "line end or NUL");
    size_t env0 = m0 + 43 + load_le16(body + m0 + 41);
    MUTATE(store_le16(b + env0, MEMBER_ENVELOPES_MAX + 1),
           "bad envelope count");
    MUTATE(store_le16(b + env0, 0xffff), "bad envelope count");
    /* the members in the wrong order, or the same key twice */
    MUTATE(memcpy(b + m1, body + m0, 32), "not sorted");
    /* no owner: the owner becomes a reader */
    size_t owner_at = body[m0 + 32] == ROLE_OWNER ? m0 : m1;
    MUTATE(b[owner_at + 32] = ROLE_READER, "no owner");
    free(b);

    /* the same recipient twice (keys differ) */
    memcpy(s.r2, s.r1, sizeof s.r1 < sizeof s.r2 ? sizeof s.r1 : sizeof s.r2);
    s.m[0].recipient = s.m[1].recipient = s.r1;
    uint8_t *dup;
    size_t dup_len;
    assert_vault_ok(vlt_membership_record_sign(&s.r, s.k->vault_id,
                                               s.k->sign_sk, &dup, &dup_len));
    assert_vault_code(decode_try(dup, dup_len), VAULT_E_CORRUPT);
    assert_detail_has("listed twice");
    free(dup);

    /* a count that claims more members than the bytes could hold is
     * refused before allocating: 10000 members in a few hundred bytes */
    uint8_t small[HEAD_BYTES + 46 + 96] = {0};
    store_le32(small + HEAD_BYTES - 4, MEMBERS_COUNT_MAX);
    assert_vault_code(decode_try(small, sizeof small), VAULT_E_CORRUPT);
    assert_detail_has("bad member count");
    /* over the size limit */
    assert_vault_code(vlt_membership_record_decode(small,
                                                   MEMBERS_MAX_BYTES + 1,
                                                   &(membership_record){0}),
                      VAULT_E_CORRUPT);
    /* random bytes */
    uint8_t rnd[600];
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)randombytes_uniform(sizeof rnd);
        randombytes_buf(rnd, n);
        if (n > HEAD_BYTES && i % 2)
            store_le32(rnd + HEAD_BYTES - 4, 1 + (uint32_t)(i % 3));
        vault_error rc = decode_try(rnd, n);
        assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
    }
    free(body);
    vlt_keyring_free(s.k);
}

static void test_sign_refusals(void **state)
{
    (void)state;
    sample s;
    sample_make(&s);
    uint8_t *body = (uint8_t *)&body;
    size_t len;
    s.r.n_members = 0;
    assert_vault_code(vlt_membership_record_sign(&s.r, s.k->vault_id,
                                                 s.k->sign_sk, &body, &len),
                      VAULT_E_INVALID);
    assert_null(body);
    s.r.n_members = 2;
    s.m[1].n_envelopes = MEMBER_ENVELOPES_MAX + 1;
    assert_vault_code(vlt_membership_record_sign(&s.r, s.k->vault_id,
                                                 s.k->sign_sk, &body, &len),
                      VAULT_E_INVALID);
    vlt_keyring_free(s.k);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_sign_refusals),
    };
    return cmocka_run_group_tests_name("membership_record", tests, NULL, NULL)
               ? 1 : 0;
}
