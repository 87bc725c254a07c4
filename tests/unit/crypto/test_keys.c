/*
 * test_keys.c - a vault's secrets (crypto/keys.c): keyrings and their key
 * epochs, envelope payloads (round trip for every role, refusals, each
 * malformed line with its exact code), the config object (its MAC, its
 * vault ID, versions) and the seal keys packs and snapshots use.
 * Random and mutated payloads are in test_keys_parse.c.
 */
#include "test_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/internal.h"
#include "crypto/keys.h"
#include "format/chunker.h"

static const char MEMBER[] =
    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* The keyring's derived keys are what the spec's KDF gives. */
static void assert_derived(const keyring *k)
{
    uint8_t want[SECRET_BYTES];
    vlt_kdf(want, k->dedup_secret, "chunk id");
    assert_memory_equal(k->chunk_id_key, want, SECRET_BYTES);
    vlt_kdf(want, k->dedup_secret, "chunker gear");
    assert_memory_equal(k->gear_key, want, SECRET_BYTES);
    vlt_kdf(want, k->dedup_secret, "config");
    assert_memory_equal(k->config_mac_key, want, SECRET_BYTES);
}

/* An epoch's read key pair belongs together. */
static void assert_pair(const key_epoch *ep)
{
    uint8_t pk[X25519_BYTES];
    assert_true(ep->has_read_sk);
    assert_int_equal(crypto_scalarmult_base(pk, ep->read_sk), 0);
    assert_memory_equal(pk, ep->read_pk, X25519_BYTES);
}

static void test_kdf(void **state)
{
    (void)state;
    /* KDF(key, label) = BLAKE2b-256(key, "vault/v1 " || label) */
    uint8_t key[SECRET_BYTES], got[SECRET_BYTES], want[SECRET_BYTES];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)i;
    vlt_kdf(got, key, "index");
    crypto_generichash(want, sizeof want, (const uint8_t *)"vault/v1 index",
                       14, key, sizeof key);
    assert_memory_equal(got, want, SECRET_BYTES);
    vlt_kdf(want, key, "locks");
    assert_memory_not_equal(got, want, SECRET_BYTES);
}

static void test_keyring_generate(void **state)
{
    (void)state;
    keyring *a = NULL, *b = NULL;
    assert_vault_ok(vlt_keyring_generate(&a));
    assert_vault_ok(vlt_keyring_generate(&b));
    assert_int_equal(a->role, ROLE_OWNER);
    assert_int_equal(a->n_epochs, 1);
    assert_true(vlt_keyring_can_read(a));
    assert_ptr_equal(vlt_keyring_current(a), &a->epochs[0]);
    assert_ptr_equal(vlt_keyring_epoch(a, 0), &a->epochs[0]);
    assert_null(vlt_keyring_epoch(a, 1));
    assert_null(vlt_keyring_epoch(a, UINT32_MAX));
    assert_pair(&a->epochs[0]);
    assert_false(all_zero(a->epochs[0].write_key, SECRET_BYTES));
    assert_derived(a);
    /* Two vaults share nothing. */
    assert_memory_not_equal(a->vault_id, b->vault_id, VAULT_ID_BYTES);
    assert_memory_not_equal(a->dedup_secret, b->dedup_secret, SECRET_BYTES);
    assert_memory_not_equal(a->epochs[0].read_pk, b->epochs[0].read_pk,
                            X25519_BYTES);
    assert_memory_not_equal(a->epochs[0].write_key, b->epochs[0].write_key,
                            SECRET_BYTES);
    vlt_keyring_free(a);
    vlt_keyring_free(b);
    vlt_keyring_free(NULL);
}

static void test_keyring_new_epoch(void **state)
{
    (void)state;
    keyring *k = NULL, *n = NULL;
    assert_vault_ok(vlt_keyring_generate(&k));
    k->role = ROLE_READER; /* carried over as it is */
    assert_vault_ok(vlt_keyring_new_epoch(k, &n));
    assert_int_equal(k->n_epochs, 1); /* the old one is untouched */
    assert_int_equal(n->n_epochs, 2);
    assert_int_equal(n->role, ROLE_READER);
    assert_memory_equal(n->vault_id, k->vault_id, VAULT_ID_BYTES);
    /* The dedup secret never rotates: chunk IDs stay comparable. */
    assert_memory_equal(n->dedup_secret, k->dedup_secret, SECRET_BYTES);
    assert_memory_equal(n->chunk_id_key, k->chunk_id_key, SECRET_BYTES);
    assert_memory_equal(&n->epochs[0], &k->epochs[0], sizeof k->epochs[0]);
    assert_ptr_equal(vlt_keyring_current(n), &n->epochs[1]);
    assert_pair(&n->epochs[1]);
    assert_memory_not_equal(n->epochs[1].read_pk, n->epochs[0].read_pk,
                            X25519_BYTES);
    assert_memory_not_equal(n->epochs[1].write_key, n->epochs[0].write_key,
                            SECRET_BYTES);

    /* Up to EPOCHS_MAX, then VAULT_E_UNSUPPORTED and *out NULL. */
    keyring *cur = n;
    n = NULL;
    while (cur->n_epochs < EPOCHS_MAX) {
        keyring *next = NULL;
        assert_vault_ok(vlt_keyring_new_epoch(cur, &next));
        vlt_keyring_free(cur);
        cur = next;
    }
    keyring *over = (keyring *)&over;
    assert_vault_code(vlt_keyring_new_epoch(cur, &over), VAULT_E_UNSUPPORTED);
    assert_null(over);
    assert_non_null(strstr(vault_last_error(), "too many key epochs"));
    vlt_keyring_free(cur);
    vlt_keyring_free(k);
}

/* A keyring with three epochs, owner role. */
static keyring *three_epochs(void)
{
    keyring *k = NULL, *k2 = NULL, *k3 = NULL;
    assert_vault_ok(vlt_keyring_generate(&k));
    assert_vault_ok(vlt_keyring_new_epoch(k, &k2));
    assert_vault_ok(vlt_keyring_new_epoch(k2, &k3));
    vlt_keyring_free(k);
    vlt_keyring_free(k2);
    return k3;
}

/* k's payload for MEMBER: a grant (seed, dedup, epochs 0..) or an epoch
 * envelope (only the last epoch). */
static char *payload_text(const keyring *k, int grant, int read_sk,
                          size_t *len)
{
    envelope_payload *p = NULL;
    char *text = NULL;
    assert_vault_ok(vlt_envelope_payload_make(
        k, MEMBER, grant ? k->sign_seed : NULL, grant,
        grant ? 0 : k->n_epochs - 1, read_sk, &p));
    assert_vault_ok(vlt_envelope_payload_encode(p, &text, len));
    vlt_envelope_payload_free(p);
    assert_int_equal(strlen(text), *len);
    return text;
}

static void test_envelope_roundtrip(void **state)
{
    (void)state;
    keyring *k = three_epochs();
    for (int read = 0; read <= 1; read++) {
        size_t len = 0;
        char *text = payload_text(k, 1, read, &len);
        assert_true(strncmp(text, "vault-envelope/v2\nvault-id ", 27) == 0);
        assert_null(strstr(text, "role")); /* the log says, not this */
        envelope_payload *d = NULL;
        assert_vault_ok(vlt_envelope_payload_decode((const uint8_t *)text, len,
                                                    &d));
        assert_string_equal(d->member, MEMBER);
        assert_memory_equal(d->vault_id, k->vault_id, VAULT_ID_BYTES);
        assert_true(d->has_dedup_secret && d->has_sign_key);
        assert_memory_equal(d->dedup_secret, k->dedup_secret, SECRET_BYTES);
        assert_memory_equal(d->sign_seed, k->sign_seed, SIGN_SEED_BYTES);
        assert_int_equal(d->n_epochs, 3);
        for (uint32_t e = 0; e < 3; e++) {
            const key_epoch *x = &k->epochs[e], *y = &d->epochs[e].keys;
            assert_int_equal(d->epochs[e].number, e);
            assert_memory_equal(y->read_pk, x->read_pk, X25519_BYTES);
            assert_memory_equal(y->write_key, x->write_key, SECRET_BYTES);
            if (!read) {
                /* A writer's envelope holds no read key, in no form. */
                char hex[65];
                assert_false(y->has_read_sk);
                assert_true(all_zero(y->read_sk, X25519_BYTES));
                vlt_hex_encode(x->read_sk, X25519_BYTES, hex);
                assert_null(strstr(text, hex));
            } else {
                assert_pair(y);
                assert_memory_equal(y->read_sk, x->read_sk, X25519_BYTES);
            }
        }
        vlt_envelope_payload_free(d);
        sodium_memzero(text, len);
        free(text);
    }
    /* An epoch envelope: "-" for the signing key and dedup secret, and
     * only the newest epoch. */
    size_t len;
    char *text = payload_text(k, 0, 1, &len);
    assert_non_null(strstr(text, "\nsigning-key -\ndedup-secret -\nepoch 2 "));
    envelope_payload *d = NULL;
    assert_vault_ok(vlt_envelope_payload_decode((const uint8_t *)text, len,
                                                &d));
    assert_false(d->has_sign_key || d->has_dedup_secret);
    assert_int_equal(d->n_epochs, 1);
    assert_int_equal(d->epochs[0].number, 2);
    vlt_envelope_payload_free(d);
    free(text);
    vlt_keyring_free(k);
}

static void test_envelope_encode_refusals(void **state)
{
    (void)state;
    keyring *k = three_epochs();
    envelope_payload *p = (envelope_payload *)&p;
    assert_vault_code(vlt_envelope_payload_make(k, "a\nb", NULL, 1, 0, 1, &p),
                      VAULT_E_INVALID);
    assert_null(p);
    char long_member[1026];
    memset(long_member, 'x', sizeof long_member - 1);
    long_member[sizeof long_member - 1] = '\0';
    assert_vault_code(vlt_envelope_payload_make(k, long_member, NULL, 1, 0, 1,
                                                &p),
                      VAULT_E_INVALID);
    long_member[1024] = '\0'; /* RECIPIENT_MAX is fine */
    assert_vault_ok(vlt_envelope_payload_make(k, long_member, NULL, 1, 0, 1,
                                              &p));
    vlt_envelope_payload_free(p);
    assert_vault_code(vlt_envelope_payload_make(k, MEMBER, NULL, 1, 3, 1, &p),
                      VAULT_E_INTERNAL); /* no epoch 3 */

    /* A writer can hand on write access only. */
    k->role = ROLE_WRITER;
    for (uint32_t e = 0; e < k->n_epochs; e++) {
        sodium_memzero(k->epochs[e].read_sk, X25519_BYTES);
        k->epochs[e].has_read_sk = 0;
    }
    assert_vault_code(vlt_envelope_payload_make(k, MEMBER, NULL, 1, 0, 1, &p),
                      VAULT_E_PERMISSION);
    assert_null(p);
    assert_vault_ok(vlt_envelope_payload_make(k, MEMBER, NULL, 1, 0, 0, &p));
    vlt_envelope_payload_free(p);
    vlt_keyring_free(k);
}

/* A payload text built from lines, for the malformed cases. */
static vault_error decode_text(const char *text)
{
    envelope_payload *p = (envelope_payload *)&p;
    vault_error rc = vlt_envelope_payload_decode((const uint8_t *)text,
                                                 strlen(text), &p);
    if (rc == VAULT_OK)
        vlt_envelope_payload_free(p);
    else
        assert_null(p);
    return rc;
}

/* Replaces the first occurrence of from in text with to (malloc'ed). */
static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    size_t head = (size_t)(at - text), fl = strlen(from), tl = strlen(to);
    size_t rest = strlen(at + fl);
    char *out = malloc(head + tl + rest + 1);
    assert_non_null(out);
    memcpy(out, text, head);
    memcpy(out + head, to, tl);
    memcpy(out + head + tl, at + fl, rest + 1);
    return out;
}

#define assert_decode_fails(text, why)                                       \
    do {                                                                     \
        assert_vault_code(decode_text(text), VAULT_E_CORRUPT);               \
        if (!strstr(vault_last_error(), (why)))                              \
            fail_msg("detail \"%s\" lacks \"%s\"", vault_last_error(),       \
                     (why));                                                 \
    } while (0)

static void test_envelope_decode_malformed(void **state)
{
    (void)state;
    keyring *k = three_epochs();
    size_t len;
    char *owner = payload_text(k, 1, 1, &len);
    char *writer = payload_text(k, 1, 0, &len);
    assert_vault_ok(decode_text(owner));
    assert_vault_ok(decode_text(writer));

    /* Line by line, each with its own complaint. */
    static const struct {
        const char *from, *to, *why;
    } cases[] = {
        {"vault-envelope/v2\n", "vault-envelope/v1\n", "not a vault envelope"},
        {"vault-envelope/v2\n", "vault-envelope/v2 \n",
         "not a vault envelope"},
        {"vault-id ", "vault-id 0", "bad vault-id line"},
        {"vault-id ", "vault_id ", "bad vault-id line"},
        {"member ", "member\t", "bad member line"},
        {"member ", "role owner\nmember ", "bad member line"},
        {"signing-key ", "signing-key 0", "bad signing-key line"},
        {"signing-key ", "signing_key ", "bad signing-key line"},
        {"dedup-secret ", "dedup-secret 00", "bad dedup-secret line"},
        {"epoch 1 ", "epoch 2 ", "epochs out of order"},
        {"epoch 1 ", "epoch 0 ", "epochs out of order"},
        {"epoch 0 ", "epoch 00 ", "epochs out of order"},
        {"epoch 0 ", "epoch -1 ", "epochs out of order"},
    };
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(cases); i++) {
        char *bad = replace(owner, cases[i].from, cases[i].to);
        assert_decode_fails(bad, cases[i].why);
        free(bad);
    }
    /* An empty member line. */
    char member_line[128];
    test_fmt(member_line, sizeof member_line, "member %s\n", MEMBER);
    char *bad = replace(owner, member_line, "member \n");
    assert_decode_fails(bad, "bad member line");
    free(bad);

    /* An epoch whose secret does not match its public key: swap the read
     * secrets of epochs 0 and 1. */
    char sk0[65], sk1[65];
    vlt_hex_encode(k->epochs[0].read_sk, X25519_BYTES, sk0);
    vlt_hex_encode(k->epochs[1].read_sk, X25519_BYTES, sk1);
    bad = replace(owner, sk0, sk1);
    assert_decode_fails(bad, "does not match its public key");
    free(bad);
    /* Not hex and not "-". */
    bad = replace(writer, " - ", " x ");
    assert_decode_fails(bad, "bad epoch keys");
    free(bad);
    char pk0[65];
    vlt_hex_encode(k->epochs[0].read_pk, X25519_BYTES, pk0);
    char pk_bad[65];
    memcpy(pk_bad, pk0, sizeof pk_bad);
    pk_bad[0] = 'g';
    bad = replace(owner, pk0, pk_bad);
    assert_decode_fails(bad, "bad epoch keys");
    free(bad);
    bad = replace(owner, pk0, "-");
    assert_decode_fails(bad, "bad epoch keys");
    free(bad);

    /* Trailing data, a missing final newline, a NUL, no epochs. */
    size_t n = strlen(owner);
    char *longer = malloc(n + 2);
    assert_non_null(longer);
    memcpy(longer, owner, n);
    memcpy(longer + n, "x", 2);
    assert_decode_fails(longer, "trailing data");
    longer[n - 1] = '\0'; /* the last epoch line loses its '\n' */
    assert_decode_fails(longer, "bad epoch line");
    free(longer);
    envelope_payload *d = (envelope_payload *)&d;
    assert_vault_code(vlt_envelope_payload_decode((const uint8_t *)owner,
                                                  n + 1, &d),
                      VAULT_E_CORRUPT); /* its NUL terminator included */
    assert_null(d);
    assert_decode_fails("vault-envelope/v2\n", "bad epochs");
    assert_decode_fails("", "bad epochs");

    /* Over ENVELOPE_MAX_BYTES: refused before any parsing. */
    uint8_t *huge = calloc(1, ENVELOPE_MAX_BYTES + 1);
    assert_non_null(huge);
    memcpy(huge, owner, n);
    memset(huge + n, '\n', ENVELOPE_MAX_BYTES + 1 - n);
    assert_vault_code(vlt_envelope_payload_decode(huge, ENVELOPE_MAX_BYTES + 1,
                                                  &d),
                      VAULT_E_CORRUPT);
    assert_non_null(strstr(vault_last_error(), "not text"));
    free(huge);

    free(owner);
    free(writer);
    vlt_keyring_free(k);
}

static void test_config(void **state)
{
    (void)state;
    keyring *k = NULL, *other = NULL;
    assert_vault_ok(vlt_keyring_generate(&k));
    assert_vault_ok(vlt_keyring_generate(&other));
    uint8_t cfg[CONFIG_BYTES], id[VAULT_ID_BYTES];
    vlt_config_encode(k, cfg);
    assert_memory_equal(cfg, CONFIG_MAGIC, 8);
    assert_int_equal(load_le32(cfg + 8), 2);
    assert_int_equal(load_le32(cfg + 44), CHUNKER_MIN_SIZE);
    assert_int_equal(load_le32(cfg + 48), CHUNKER_AVG_SIZE);
    assert_int_equal(load_le32(cfg + 52), CHUNKER_MAX_SIZE);
    assert_vault_ok(vlt_config_parse(cfg, sizeof cfg, id));
    assert_memory_equal(id, k->vault_id, VAULT_ID_BYTES);
    assert_vault_ok(vlt_config_verify(k, cfg, sizeof cfg));

    /* The public part parses without a key; the MAC needs the vault's. */
    assert_vault_code(vlt_config_verify(other, cfg, sizeof cfg),
                      VAULT_E_CORRUPT);
    assert_non_null(strstr(vault_last_error(), "authentication failed"));
    for (size_t i = 0; i < CONFIG_BYTES; i++) {
        uint8_t bad[CONFIG_BYTES];
        memcpy(bad, cfg, sizeof bad);
        bad[i] ^= 0x01;
        vault_error rc = vlt_config_verify(k, bad, sizeof bad);
        /* bytes 8..11: the version; 44..55: the chunker; else CORRUPT */
        vault_error want = (i >= 8 && i < 12) || (i >= 44 && i < 56)
                               ? VAULT_E_UNSUPPORTED
                               : VAULT_E_CORRUPT;
        if (rc != want)
            fail_msg("byte %zu flipped: %s, expected %s", i,
                     vault_strerror(rc), vault_strerror(want));
    }
    /* An envelope of another vault with the same dedup secret (so the
     * MAC verifies): the vault IDs disagree. */
    keyring *twin = NULL;
    assert_vault_ok(vlt_keyring_new_epoch(k, &twin));
    twin->vault_id[0] ^= 1;
    assert_vault_code(vlt_config_verify(twin, cfg, sizeof cfg),
                      VAULT_E_CORRUPT);
    assert_non_null(strstr(vault_last_error(), "another vault"));
    vlt_keyring_free(twin);

    /* Lengths and the magic. */
    assert_vault_code(vlt_config_parse(cfg, sizeof cfg - 1, id),
                      VAULT_E_CORRUPT);
    uint8_t longer[CONFIG_BYTES + 1] = {0};
    memcpy(longer, cfg, sizeof cfg);
    assert_vault_code(vlt_config_parse(longer, sizeof longer, id),
                      VAULT_E_CORRUPT);
    assert_vault_code(vlt_config_parse(cfg, 0, id), VAULT_E_CORRUPT);
    uint8_t bad[CONFIG_BYTES];
    memcpy(bad, cfg, sizeof bad);
    bad[7] = '2';
    assert_vault_code(vlt_config_parse(bad, sizeof bad, id), VAULT_E_CORRUPT);
    assert_non_null(strstr(vault_last_error(), "not a vault config"));
    memcpy(bad, cfg, sizeof bad);
    store_le32(bad + 8, 3);
    assert_vault_code(vlt_config_parse(bad, sizeof bad, id),
                      VAULT_E_UNSUPPORTED);
    assert_non_null(strstr(vault_last_error(), "format version 3"));
    /* Version 1: no migration, a clear word. */
    store_le32(bad + 8, 1);
    assert_vault_code(vlt_config_parse(bad, sizeof bad, id),
                      VAULT_E_UNSUPPORTED);
    assert_non_null(strstr(vault_last_error(),
                           "format version 1 is not supported (this vault "
                           "program reads version 2); recreate the vault"));
    vlt_keyring_free(k);
    vlt_keyring_free(other);
}

static void test_seal_key(void **state)
{
    (void)state;
    keyring *k = three_epochs();
    const key_epoch *ep = vlt_keyring_current(k);
    uint8_t e_pk[X25519_BYTES], key[SECRET_BYTES], again[SECRET_BYTES];
    assert_vault_ok(vlt_seal_key_new(ep, "vault/v1 pack", e_pk, key));
    assert_vault_ok(vlt_seal_key_open(ep, "vault/v1 pack", e_pk, again));
    assert_memory_equal(key, again, SECRET_BYTES);
    /* The label, the epoch and the ephemeral key all matter. */
    assert_vault_ok(vlt_seal_key_open(ep, "vault/v1 snapshot", e_pk, again));
    assert_memory_not_equal(key, again, SECRET_BYTES);
    assert_vault_ok(vlt_seal_key_open(&k->epochs[0], "vault/v1 pack", e_pk,
                                      again));
    assert_memory_not_equal(key, again, SECRET_BYTES);
    uint8_t e_pk2[X25519_BYTES], key2[SECRET_BYTES];
    assert_vault_ok(vlt_seal_key_new(ep, "vault/v1 pack", e_pk2, key2));
    assert_memory_not_equal(e_pk, e_pk2, X25519_BYTES);
    assert_memory_not_equal(key, key2, SECRET_BYTES);

    /* The same write key but another read key pair: another key. */
    key_epoch forged = *ep;
    crypto_box_keypair(forged.read_pk, forged.read_sk);
    assert_vault_ok(vlt_seal_key_open(&forged, "vault/v1 pack", e_pk, again));
    assert_memory_not_equal(key, again, SECRET_BYTES);

    /* A low-order ephemeral key (all zero) gives no shared secret. */
    uint8_t zero[X25519_BYTES] = {0};
    assert_vault_code(vlt_seal_key_open(ep, "vault/v1 pack", zero, again),
                      VAULT_E_CORRUPT);
    assert_non_null(strstr(vault_last_error(), "bad ephemeral key"));
    /* ...nor a vault public key that is one. */
    key_epoch broken = *ep;
    memset(broken.read_pk, 0, X25519_BYTES);
    assert_vault_code(vlt_seal_key_new(&broken, "vault/v1 pack", e_pk, key),
                      VAULT_E_CORRUPT);

    /* A writer cannot open what it seals. */
    key_epoch writer = *ep;
    sodium_memzero(writer.read_sk, X25519_BYTES);
    writer.has_read_sk = 0;
    assert_vault_ok(vlt_seal_key_new(&writer, "vault/v1 pack", e_pk, key));
    assert_vault_code(vlt_seal_key_open(&writer, "vault/v1 pack", e_pk, again),
                      VAULT_E_PERMISSION);
    assert_vault_ok(vlt_seal_key_open(ep, "vault/v1 pack", e_pk, again));
    assert_memory_equal(key, again, SECRET_BYTES);
    sodium_memzero(&forged, sizeof forged);
    sodium_memzero(&broken, sizeof broken);
    sodium_memzero(&writer, sizeof writer);
    vlt_keyring_free(k);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kdf),
        cmocka_unit_test(test_keyring_generate),
        cmocka_unit_test(test_keyring_new_epoch),
        cmocka_unit_test(test_envelope_roundtrip),
        cmocka_unit_test(test_envelope_encode_refusals),
        cmocka_unit_test(test_envelope_decode_malformed),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_seal_key),
    };
    return cmocka_run_group_tests_name("keys", tests, NULL, NULL) ? 1 : 0;
}
