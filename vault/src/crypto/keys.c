/*
 * keys.c - keyrings, envelope payloads, the config object, and sealing.
 * Format spec: "Keys, roles and envelopes", "Config", "Sealing".
 *
 * Envelope payload (UTF-8 text, LF line ends, exactly this order):
 *
 *   vault-envelope/v1
 *   vault-id <64 hex>
 *   role owner|reader|writer
 *   member <recipient as given to init/share>
 *   created <unix seconds>
 *   dedup-secret <64 hex>
 *   epoch <n> <read_pk 64 hex> <read_sk 64 hex or "-"> <write_key 64 hex>
 *   ... one epoch line per epoch, n = 0, 1, 2, ...
 *
 * Config (88 bytes):
 *   "VAULTCF1" | version u32 = 1 | vault_id[32] | min u32 | avg u32 |
 *   max u32 | mac[32] = BLAKE2b-256(key = KDF(dedup, "config"), bytes 0..55)
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "format/chunker.h"
#include "common/internal.h"
#include "crypto/keys.h"

#define FORMAT_VERSION 1
#define MEMBER_MAX 1024

void vlt_kdf(uint8_t out[SECRET_BYTES], const uint8_t key[SECRET_BYTES],
             const char *label)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, SECRET_BYTES, SECRET_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)"vault/v1 ", 9);
    crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
    crypto_generichash_final(&st, out, SECRET_BYTES);
}

static vault_error keyring_alloc(uint32_t n_epochs, keyring **out)
{
    keyring *k = sodium_malloc(sizeof *k);
    if (!k)
        return vlt_fail(VAULT_E_NOMEM, "keyring: out of memory");
    memset(k, 0, sizeof *k);
    k->epochs = sodium_allocarray(n_epochs, sizeof *k->epochs);
    if (!k->epochs) {
        sodium_free(k);
        return vlt_fail(VAULT_E_NOMEM, "keyring: out of memory");
    }
    memset(k->epochs, 0, n_epochs * sizeof *k->epochs);
    k->n_epochs = n_epochs;
    *out = k;
    return VAULT_OK;
}

static void keyring_derive(keyring *k)
{
    vlt_kdf(k->chunk_id_key, k->dedup_secret, "chunk id");
    vlt_kdf(k->gear_key, k->dedup_secret, "chunker gear");
    vlt_kdf(k->config_mac_key, k->dedup_secret, "config");
}

void vlt_keyring_free(keyring *k)
{
    if (!k)
        return;
    sodium_free(k->epochs);
    sodium_free(k);
}

vault_error vlt_keyring_generate(keyring **out)
{
    keyring *k = NULL;
    vault_error rc = keyring_alloc(1, &k);
    if (rc != VAULT_OK)
        return rc;
    randombytes_buf(k->vault_id, sizeof k->vault_id);
    randombytes_buf(k->dedup_secret, sizeof k->dedup_secret);
    k->role = ROLE_OWNER;
    crypto_box_keypair(k->epochs[0].read_pk, k->epochs[0].read_sk);
    k->epochs[0].has_read_sk = 1;
    randombytes_buf(k->epochs[0].write_key, SECRET_BYTES);
    vlt_sign_keypair_generate(k->sign_seed, k->sign_pk, k->sign_sk);
    k->has_sign_key = 1;
    keyring_derive(k);
    *out = k;
    return VAULT_OK;
}

vault_error vlt_keyring_new_epoch(const keyring *k, keyring **out)
{
    *out = NULL;
    if (k->n_epochs >= EPOCHS_MAX)
        return vlt_fail(VAULT_E_UNSUPPORTED, "too many key epochs");
    keyring *n = NULL;
    vault_error rc = keyring_alloc(k->n_epochs + 1, &n);
    if (rc != VAULT_OK)
        return rc;
    key_epoch *epochs = n->epochs;
    memcpy(n, k, sizeof *n);
    n->epochs = epochs;
    n->n_epochs = k->n_epochs + 1;
    memcpy(n->epochs, k->epochs, k->n_epochs * sizeof *k->epochs);
    key_epoch *ep = &n->epochs[k->n_epochs];
    crypto_box_keypair(ep->read_pk, ep->read_sk);
    ep->has_read_sk = 1;
    randombytes_buf(ep->write_key, SECRET_BYTES);
    *out = n;
    return VAULT_OK;
}

const key_epoch *vlt_keyring_current(const keyring *k)
{
    return &k->epochs[k->n_epochs - 1];
}

const key_epoch *vlt_keyring_epoch(const keyring *k, uint32_t e)
{
    return e < k->n_epochs ? &k->epochs[e] : NULL;
}

int vlt_keyring_can_read(const keyring *k)
{
    return k->role == ROLE_OWNER || k->role == ROLE_READER;
}

static const char *role_name(member_role role)
{
    switch (role) {
    case ROLE_OWNER: return "owner";
    case ROLE_READER: return "reader";
    case ROLE_WRITER: return "writer";
    }
    return "?";
}

/* A growing text buffer in locked memory: payloads hold secrets. */
typedef struct text_buf {
    char *data;
    size_t len, cap;
    int failed;
} text_buf;

static void text_add(text_buf *t, const char *fmt, ...)
    VAULT_PRINTF(2, 3);
static void text_add(text_buf *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len)
        t->failed = 1;
    else
        t->len += (size_t)n;
}

vault_error vlt_envelope_payload_encode(const keyring *k, member_role role,
                                        const char *member, int64_t created,
                                        char **out, size_t *out_len)
{
    *out = NULL;
    if (strlen(member) > MEMBER_MAX || strchr(member, '\n'))
        return vlt_fail(VAULT_E_INVALID, "envelope: bad member name");
    if (role != ROLE_WRITER && !vlt_keyring_can_read(k))
        return vlt_fail(VAULT_E_PERMISSION,
                        "a writer cannot grant read access");
    text_buf t = {0};
    t.cap = 512 + MEMBER_MAX + (size_t)k->n_epochs * 220;
    t.data = sodium_malloc(t.cap);
    if (!t.data)
        return vlt_fail(VAULT_E_NOMEM, "envelope: out of memory");
    char hex[2 * SECRET_BYTES + 1], hex2[2 * SECRET_BYTES + 1],
        hex3[2 * SECRET_BYTES + 1];
    vlt_hex_encode(k->vault_id, VAULT_ID_BYTES, hex);
    text_add(&t, "vault-envelope/v1\nvault-id %s\nrole %s\nmember %s\n"
                 "created %" PRId64 "\n",
             hex, role_name(role), member, created);
    vlt_hex_encode(k->dedup_secret, SECRET_BYTES, hex);
    text_add(&t, "dedup-secret %s\n", hex);
    for (uint32_t e = 0; e < k->n_epochs; e++) {
        const key_epoch *ep = &k->epochs[e];
        vlt_hex_encode(ep->read_pk, X25519_BYTES, hex);
        if (role == ROLE_WRITER)
            memcpy(hex2, "-", 2);
        else
            vlt_hex_encode(ep->read_sk, X25519_BYTES, hex2);
        vlt_hex_encode(ep->write_key, SECRET_BYTES, hex3);
        text_add(&t, "epoch %" PRIu32 " %s %s %s\n", e, hex, hex2, hex3);
    }
    sodium_memzero(hex2, sizeof hex2);
    sodium_memzero(hex3, sizeof hex3);
    if (t.failed) {
        sodium_free(t.data);
        return vlt_fail(VAULT_E_INTERNAL, "envelope: payload too long");
    }
    /* Hand out plain malloc memory: vlt_age_encrypt takes it from here. */
    char *copy = malloc(t.len + 1);
    if (!copy) {
        sodium_free(t.data);
        return vlt_fail(VAULT_E_NOMEM, "envelope: out of memory");
    }
    memcpy(copy, t.data, t.len + 1);
    *out_len = t.len;
    sodium_free(t.data);
    *out = copy;
    return VAULT_OK;
}

/* A cursor over the payload's lines. */
typedef struct line_reader {
    const char *p, *end;
} line_reader;

/* The next line must start with prefix; its rest goes to rest and len. */
static int next_line(line_reader *r, const char *prefix, const char **rest,
                     size_t *len)
{
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    if (!nl)
        return 0;
    size_t plen = strlen(prefix);
    size_t line_len = (size_t)(nl - r->p);
    if (line_len < plen || memcmp(r->p, prefix, plen) != 0)
        return 0;
    *rest = r->p + plen;
    *len = line_len - plen;
    r->p = nl + 1;
    return 1;
}

static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (max - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

#define BAD_PAYLOAD(what)                                                    \
    do {                                                                     \
        rc = vlt_fail(VAULT_E_CORRUPT, "envelope payload: %s", what);      \
        goto fail;                                                           \
    } while (0)

vault_error vlt_envelope_payload_decode(const uint8_t *text, size_t len,
                                        keyring **out, char **member_out,
                                        int64_t *created_out)
{
    *out = NULL;
    if (member_out)
        *member_out = NULL;
    vault_error rc;
    keyring *k = NULL;
    char *member = NULL;
    line_reader r = {(const char *)text, (const char *)text + len};
    const char *v;
    size_t vlen;

    if (len > ENVELOPE_MAX_BYTES || memchr(text, '\0', len))
        return vlt_fail(VAULT_E_CORRUPT, "envelope payload: not text");
    /* Count epoch lines first so the keyring is allocated once. */
    uint32_t n_epochs = 0;
    for (size_t i = 0; i + 6 <= len; i++)
        if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, "epoch ", 6) == 0)
            n_epochs++;
    if (n_epochs == 0 || n_epochs > EPOCHS_MAX)
        return vlt_fail(VAULT_E_CORRUPT, "envelope payload: bad epochs");
    rc = keyring_alloc(n_epochs, &k);
    if (rc != VAULT_OK)
        return rc;

    if (!next_line(&r, "vault-envelope/v1", &v, &vlen) || vlen != 0)
        BAD_PAYLOAD("not a vault envelope (v1)");
    if (!next_line(&r, "vault-id ", &v, &vlen) ||
        vlt_hex_decode(v, vlen, k->vault_id, VAULT_ID_BYTES) != VAULT_OK)
        BAD_PAYLOAD("bad vault-id line");
    if (!next_line(&r, "role ", &v, &vlen))
        BAD_PAYLOAD("no role line");
    if (vlen == 5 && memcmp(v, "owner", 5) == 0)
        k->role = ROLE_OWNER;
    else if (vlen == 6 && memcmp(v, "reader", 6) == 0)
        k->role = ROLE_READER;
    else if (vlen == 6 && memcmp(v, "writer", 6) == 0)
        k->role = ROLE_WRITER;
    else
        BAD_PAYLOAD("unknown role");
    if (!next_line(&r, "member ", &v, &vlen) || vlen == 0 || vlen > MEMBER_MAX)
        BAD_PAYLOAD("bad member line");
    member = malloc(vlen + 1);
    if (!member) {
        rc = vlt_fail(VAULT_E_NOMEM, "envelope: out of memory");
        goto fail;
    }
    memcpy(member, v, vlen);
    member[vlen] = '\0';
    uint64_t created;
    if (!next_line(&r, "created ", &v, &vlen) ||
        !parse_u64(v, vlen, INT64_MAX, &created))
        BAD_PAYLOAD("bad created line");
    if (!next_line(&r, "dedup-secret ", &v, &vlen) ||
        vlt_hex_decode(v, vlen, k->dedup_secret, SECRET_BYTES) != VAULT_OK)
        BAD_PAYLOAD("bad dedup-secret line");
    for (uint32_t e = 0; e < n_epochs; e++) {
        key_epoch *ep = &k->epochs[e];
        char prefix[32];
        snprintf(prefix, sizeof prefix, "epoch %" PRIu32 " ", e);
        /* "<pk> <sk or -> <wk>" */
        if (!next_line(&r, prefix, &v, &vlen))
            BAD_PAYLOAD("epochs out of order");
        int writer = k->role == ROLE_WRITER;
        size_t want = writer ? 64 + 1 + 1 + 1 + 64 : 64 * 3 + 2;
        if (vlen != want || v[64] != ' ' || v[vlen - 65] != ' ')
            BAD_PAYLOAD("bad epoch line");
        if (vlt_hex_decode(v, 64, ep->read_pk, X25519_BYTES) != VAULT_OK ||
            vlt_hex_decode(v + vlen - 64, 64, ep->write_key, SECRET_BYTES) !=
                VAULT_OK)
            BAD_PAYLOAD("bad epoch keys");
        if (writer) {
            if (v[65] != '-')
                BAD_PAYLOAD("a writer's epoch holds a read key");
        } else {
            uint8_t pk[X25519_BYTES];
            if (vlt_hex_decode(v + 65, 64, ep->read_sk, X25519_BYTES) !=
                    VAULT_OK ||
                crypto_scalarmult_base(pk, ep->read_sk) != 0 ||
                sodium_memcmp(pk, ep->read_pk, X25519_BYTES) != 0)
                BAD_PAYLOAD("epoch read key does not match its public key");
            ep->has_read_sk = 1;
        }
    }
    if (r.p != r.end)
        BAD_PAYLOAD("trailing data");
    keyring_derive(k);
    *out = k;
    if (created_out)
        *created_out = (int64_t)created;
    if (member_out)
        *member_out = member;
    else
        free(member);
    return VAULT_OK;
fail:
    vlt_keyring_free(k);
    free(member);
    return rc;
}

static void config_body(const uint8_t vault_id[VAULT_ID_BYTES],
                        uint8_t out[CONFIG_BYTES])
{
    memcpy(out, CONFIG_MAGIC, 8);
    store_le32(out + 8, FORMAT_VERSION);
    memcpy(out + 12, vault_id, VAULT_ID_BYTES);
    store_le32(out + 44, CHUNKER_MIN_SIZE);
    store_le32(out + 48, CHUNKER_AVG_SIZE);
    store_le32(out + 52, CHUNKER_MAX_SIZE);
}

void vlt_config_encode(const keyring *k, uint8_t out[CONFIG_BYTES])
{
    config_body(k->vault_id, out);
    crypto_generichash(out + 56, 32, out, 56, k->config_mac_key,
                       SECRET_BYTES);
}

vault_error vlt_config_parse(const uint8_t *data, size_t len,
                             uint8_t vault_id[VAULT_ID_BYTES])
{
    if (len != CONFIG_BYTES || memcmp(data, CONFIG_MAGIC, 8) != 0)
        return vlt_fail(VAULT_E_CORRUPT, "config: not a vault config");
    uint32_t version = load_le32(data + 8);
    if (version != FORMAT_VERSION)
        return vlt_fail(VAULT_E_UNSUPPORTED,
                        "config: format version %" PRIu32
                        " (this vault understands %d)",
                        version, FORMAT_VERSION);
    if (load_le32(data + 44) != CHUNKER_MIN_SIZE ||
        load_le32(data + 48) != CHUNKER_AVG_SIZE ||
        load_le32(data + 52) != CHUNKER_MAX_SIZE)
        return vlt_fail(VAULT_E_UNSUPPORTED,
                        "config: unsupported chunker parameters");
    memcpy(vault_id, data + 12, VAULT_ID_BYTES);
    return VAULT_OK;
}

vault_error vlt_config_verify(const keyring *k, const uint8_t *data, size_t len)
{
    uint8_t id[VAULT_ID_BYTES];
    vault_error rc = vlt_config_parse(data, len, id);
    if (rc != VAULT_OK)
        return rc;
    uint8_t mac[32];
    crypto_generichash(mac, sizeof mac, data, 56, k->config_mac_key,
                       SECRET_BYTES);
    if (sodium_memcmp(mac, data + 56, 32) != 0)
        return vlt_fail(VAULT_E_CORRUPT,
                        "config: authentication failed (damaged or "
                        "not this vault's)");
    if (sodium_memcmp(id, k->vault_id, VAULT_ID_BYTES) != 0)
        return vlt_fail(VAULT_E_CORRUPT,
                        "config: envelope belongs to another vault");
    return VAULT_OK;
}

static void seal_derive(const key_epoch *ep, const char *label,
                        const uint8_t shared[X25519_BYTES],
                        const uint8_t ephemeral_pk[X25519_BYTES],
                        uint8_t key[SECRET_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, ep->write_key, SECRET_BYTES, SECRET_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
    crypto_generichash_update(&st, shared, X25519_BYTES);
    crypto_generichash_update(&st, ephemeral_pk, X25519_BYTES);
    crypto_generichash_update(&st, ep->read_pk, X25519_BYTES);
    crypto_generichash_final(&st, key, SECRET_BYTES);
}

vault_error vlt_seal_key_new(const key_epoch *ep, const char *label,
                             uint8_t ephemeral_pk[X25519_BYTES],
                             uint8_t key[SECRET_BYTES])
{
    uint8_t esk[X25519_BYTES], shared[X25519_BYTES];
    crypto_box_keypair(ephemeral_pk, esk);
    int bad = crypto_scalarmult(shared, esk, ep->read_pk);
    sodium_memzero(esk, sizeof esk);
    if (bad) {
        sodium_memzero(shared, sizeof shared);
        return vlt_fail(VAULT_E_CORRUPT, "vault public key is invalid");
    }
    seal_derive(ep, label, shared, ephemeral_pk, key);
    sodium_memzero(shared, sizeof shared);
    return VAULT_OK;
}

vault_error vlt_seal_key_open(const key_epoch *ep, const char *label,
                              const uint8_t ephemeral_pk[X25519_BYTES],
                              uint8_t key[SECRET_BYTES])
{
    if (!ep->has_read_sk)
        return vlt_fail(VAULT_E_PERMISSION,
                        "this member can add but not read (writer role)");
    uint8_t shared[X25519_BYTES];
    if (crypto_scalarmult(shared, ep->read_sk, ephemeral_pk) != 0) {
        sodium_memzero(shared, sizeof shared);
        return vlt_fail(VAULT_E_CORRUPT, "bad ephemeral key");
    }
    seal_derive(ep, label, shared, ephemeral_pk, key);
    sodium_memzero(shared, sizeof shared);
    return VAULT_OK;
}
