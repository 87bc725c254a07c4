/*
 * keys.c - keyrings, envelope payloads, the config object, and sealing.
 * Format spec: "Keys, roles and envelopes", "Config", "Sealing".
 *
 * Envelope payload (UTF-8 text, LF line ends, exactly this order):
 *
 *   vault-envelope/v2
 *   vault-id <64 hex>
 *   member <recipient as given to init/share>
 *   signing-key <64 hex or "-">
 *   dedup-secret <64 hex or "-">
 *   epoch <n> <read_pk 64 hex> <read_sk 64 hex or "-"> <write_key 64 hex>
 *   ... one or more epoch lines, n strictly increasing
 *
 * No role: the membership log says which role a signing key has
 * (format.md §5.4-5.5), so nothing in an envelope can grant one.
 *
 * Config (88 bytes):
 *   "VAULTCF1" | version u32 = 2 | vault_id[32] | min u32 | avg u32 |
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


void vlt_kdf(uint8_t out[SECRET_BYTES], const uint8_t key[SECRET_BYTES],
             const char *label)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, SECRET_BYTES, SECRET_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)"vault/v1 ", 9);
    crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
    crypto_generichash_final(&st, out, SECRET_BYTES);
}

vault_error vlt_keyring_alloc(uint32_t n_epochs, keyring **out)
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

void vlt_keyring_derive(keyring *k)
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
    vault_error rc = vlt_keyring_alloc(1, &k);
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
    vlt_keyring_derive(k);
    *out = k;
    return VAULT_OK;
}

vault_error vlt_keyring_new_epoch(const keyring *k, keyring **out)
{
    *out = NULL;
    if (k->n_epochs >= EPOCHS_MAX)
        return vlt_fail(VAULT_E_UNSUPPORTED, "too many key epochs");
    keyring *n = NULL;
    vault_error rc = vlt_keyring_alloc(k->n_epochs + 1, &n);
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

/* Appends "<hex>" of len secret bytes, or "-" when absent. */
static void text_hex(text_buf *t, const uint8_t *bytes, size_t len, int present)
{
    char hex[2 * 32 + 1];
    if (present)
        vlt_hex_encode(bytes, len, hex);
    else
        memcpy(hex, "-", 2);
    text_add(t, "%s", hex);
    sodium_memzero(hex, sizeof hex);
}

static vault_error payload_alloc(uint32_t n_epochs, envelope_payload **out)
{
    envelope_payload *p = sodium_malloc(sizeof *p);
    if (!p)
        return vlt_fail(VAULT_E_NOMEM, "envelope: out of memory");
    memset(p, 0, sizeof *p);
    p->epochs = sodium_allocarray(n_epochs, sizeof *p->epochs);
    if (!p->epochs) {
        sodium_free(p);
        return vlt_fail(VAULT_E_NOMEM, "envelope: out of memory");
    }
    memset(p->epochs, 0, n_epochs * sizeof *p->epochs);
    p->n_epochs = n_epochs;
    *out = p;
    return VAULT_OK;
}

void vlt_envelope_payload_free(envelope_payload *p)
{
    if (!p)
        return;
    free(p->member);
    sodium_free(p->epochs);
    sodium_free(p);
}

static int member_ok(const char *member, size_t len)
{
    return len > 0 && len <= RECIPIENT_MAX && !memchr(member, '\n', len) &&
           !memchr(member, '\0', len);
}

vault_error vlt_envelope_payload_make(const keyring *k, const char *member,
                                      const uint8_t *sign_seed, int with_dedup,
                                      uint32_t first_epoch, int with_read_sk,
                                      envelope_payload **out)
{
    *out = NULL;
    if (!member_ok(member, strlen(member)))
        return vlt_fail(VAULT_E_INVALID, "envelope: bad member name");
    if (first_epoch >= k->n_epochs)
        return vlt_fail(VAULT_E_INTERNAL, "envelope: no such epoch");
    if (with_read_sk && !vlt_keyring_can_read(k))
        return vlt_fail(VAULT_E_PERMISSION,
                        "a writer cannot grant read access");
    envelope_payload *p = NULL;
    vault_error rc = payload_alloc(k->n_epochs - first_epoch, &p);
    if (rc != VAULT_OK)
        return rc;
    if (!(p->member = strdup(member))) {
        vlt_envelope_payload_free(p);
        return vlt_fail(VAULT_E_NOMEM, "envelope: out of memory");
    }
    memcpy(p->vault_id, k->vault_id, VAULT_ID_BYTES);
    if (sign_seed) {
        p->has_sign_key = 1;
        memcpy(p->sign_seed, sign_seed, SIGN_SEED_BYTES);
    }
    if (with_dedup) {
        p->has_dedup_secret = 1;
        memcpy(p->dedup_secret, k->dedup_secret, SECRET_BYTES);
    }
    for (uint32_t i = 0; i < p->n_epochs; i++) {
        p->epochs[i].number = first_epoch + i;
        p->epochs[i].keys = k->epochs[first_epoch + i];
        if (!with_read_sk) {
            sodium_memzero(p->epochs[i].keys.read_sk, X25519_BYTES);
            p->epochs[i].keys.has_read_sk = 0;
        }
    }
    *out = p;
    return VAULT_OK;
}

vault_error vlt_envelope_payload_encode(const envelope_payload *p, char **out,
                                        size_t *out_len)
{
    *out = NULL;
    if (!p->member || !member_ok(p->member, strlen(p->member)))
        return vlt_fail(VAULT_E_INVALID, "envelope: bad member name");
    text_buf t = {0};
    t.cap = 512 + RECIPIENT_MAX + (size_t)p->n_epochs * 220;
    t.data = sodium_malloc(t.cap);
    if (!t.data)
        return vlt_fail(VAULT_E_NOMEM, "envelope: out of memory");
    text_add(&t, "vault-envelope/v2\nvault-id ");
    text_hex(&t, p->vault_id, VAULT_ID_BYTES, 1);
    text_add(&t, "\nmember %s\nsigning-key ", p->member);
    text_hex(&t, p->sign_seed, SIGN_SEED_BYTES, p->has_sign_key);
    text_add(&t, "\ndedup-secret ");
    text_hex(&t, p->dedup_secret, SECRET_BYTES, p->has_dedup_secret);
    text_add(&t, "\n");
    for (uint32_t i = 0; i < p->n_epochs; i++) {
        const key_epoch *ep = &p->epochs[i].keys;
        text_add(&t, "epoch %" PRIu32 " ", p->epochs[i].number);
        text_hex(&t, ep->read_pk, X25519_BYTES, 1);
        text_add(&t, " ");
        text_hex(&t, ep->read_sk, X25519_BYTES, ep->has_read_sk);
        text_add(&t, " ");
        text_hex(&t, ep->write_key, SECRET_BYTES, 1);
        text_add(&t, "\n");
    }
    if (t.failed) {
        sodium_free(t.data);
        return vlt_fail(VAULT_E_INTERNAL, "envelope: payload too long");
    }
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

/* A decimal without leading zeros, at most max. */
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

/* "<64 hex>" into out (present = 1) or "-" (present = 0, if allowed). */
static int parse_secret(const char *v, size_t len, uint8_t *out,
                        int dash_ok, int *present)
{
    if (dash_ok && len == 1 && v[0] == '-') {
        *present = 0;
        return 1;
    }
    *present = 1;
    return vlt_hex_decode(v, len, out, 32) == VAULT_OK;
}

#define BAD_PAYLOAD(what)                                                    \
    do {                                                                     \
        rc = vlt_fail(VAULT_E_CORRUPT, "envelope payload: %s", what);      \
        goto fail;                                                           \
    } while (0)

vault_error vlt_envelope_payload_decode(const uint8_t *text, size_t len,
                                        envelope_payload **out)
{
    *out = NULL;
    vault_error rc;
    envelope_payload *p = NULL;
    line_reader r = {(const char *)text, (const char *)text + len};
    const char *v;
    size_t vlen;

    if (len > ENVELOPE_MAX_BYTES || memchr(text, '\0', len))
        return vlt_fail(VAULT_E_CORRUPT, "envelope payload: not text");
    /* Count epoch lines first so the payload is allocated once. */
    uint32_t n_epochs = 0;
    for (size_t i = 0; i + 6 <= len && n_epochs <= EPOCHS_MAX; i++)
        if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, "epoch ", 6) == 0)
            n_epochs++;
    if (n_epochs == 0 || n_epochs > EPOCHS_MAX)
        return vlt_fail(VAULT_E_CORRUPT, "envelope payload: bad epochs");
    rc = payload_alloc(n_epochs, &p);
    if (rc != VAULT_OK)
        return rc;

    if (!next_line(&r, "vault-envelope/v2", &v, &vlen) || vlen != 0)
        BAD_PAYLOAD("not a vault envelope (v2)");
    if (!next_line(&r, "vault-id ", &v, &vlen) ||
        vlt_hex_decode(v, vlen, p->vault_id, VAULT_ID_BYTES) != VAULT_OK)
        BAD_PAYLOAD("bad vault-id line");
    if (!next_line(&r, "member ", &v, &vlen) || !member_ok(v, vlen))
        BAD_PAYLOAD("bad member line");
    if (!(p->member = malloc(vlen + 1))) {
        rc = vlt_fail(VAULT_E_NOMEM, "envelope: out of memory");
        goto fail;
    }
    memcpy(p->member, v, vlen);
    p->member[vlen] = '\0';
    if (!next_line(&r, "signing-key ", &v, &vlen) ||
        !parse_secret(v, vlen, p->sign_seed, 1, &p->has_sign_key))
        BAD_PAYLOAD("bad signing-key line");
    if (!next_line(&r, "dedup-secret ", &v, &vlen) ||
        !parse_secret(v, vlen, p->dedup_secret, 1, &p->has_dedup_secret))
        BAD_PAYLOAD("bad dedup-secret line");
    for (uint32_t i = 0; i < n_epochs; i++) {
        envelope_epoch *ee = &p->epochs[i];
        key_epoch *ep = &ee->keys;
        /* "epoch <n> <pk> <sk or -> <wk>" */
        if (!next_line(&r, "epoch ", &v, &vlen))
            BAD_PAYLOAD("bad epoch line");
        const char *sp = memchr(v, ' ', vlen);
        uint64_t number;
        if (!sp || !parse_u64(v, (size_t)(sp - v), EPOCHS_MAX - 1, &number) ||
            (i > 0 && number <= p->epochs[i - 1].number))
            BAD_PAYLOAD("epochs out of order");
        ee->number = (uint32_t)number;
        const char *keys = sp + 1;
        size_t klen = vlen - (size_t)(keys - v);
        int present;
        if (klen < 64 + 1 + 1 + 1 + 64 || keys[64] != ' ' ||
            keys[klen - 65] != ' ' ||
            vlt_hex_decode(keys, 64, ep->read_pk, X25519_BYTES) != VAULT_OK ||
            vlt_hex_decode(keys + klen - 64, 64, ep->write_key,
                           SECRET_BYTES) != VAULT_OK ||
            !parse_secret(keys + 65, klen - 130, ep->read_sk, 1, &present))
            BAD_PAYLOAD("bad epoch keys");
        if (present) {
            uint8_t pk[X25519_BYTES];
            if (crypto_scalarmult_base(pk, ep->read_sk) != 0 ||
                sodium_memcmp(pk, ep->read_pk, X25519_BYTES) != 0)
                BAD_PAYLOAD("epoch read key does not match its public key");
            ep->has_read_sk = 1;
        }
    }
    if (r.p != r.end)
        BAD_PAYLOAD("trailing data");
    *out = p;
    return VAULT_OK;
fail:
    vlt_envelope_payload_free(p);
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
    if (version == 1)
        return vlt_fail(VAULT_E_UNSUPPORTED,
                        "config: format version 1 is not supported (this "
                        "vault program reads version %d); recreate the vault",
                        FORMAT_VERSION);
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

vault_error vlt_config_check_mac(const uint8_t mac_key[SECRET_BYTES],
                                 const uint8_t vault_id[VAULT_ID_BYTES],
                                 const uint8_t *data, size_t len)
{
    uint8_t id[VAULT_ID_BYTES];
    vault_error rc = vlt_config_parse(data, len, id);
    if (rc != VAULT_OK)
        return rc;
    uint8_t mac[32];
    crypto_generichash(mac, sizeof mac, data, 56, mac_key, SECRET_BYTES);
    if (sodium_memcmp(mac, data + 56, 32) != 0)
        return vlt_fail(VAULT_E_CORRUPT,
                        "config: authentication failed (damaged or "
                        "not this vault's)");
    if (sodium_memcmp(id, vault_id, VAULT_ID_BYTES) != 0)
        return vlt_fail(VAULT_E_CORRUPT,
                        "config: envelope belongs to another vault");
    return VAULT_OK;
}

vault_error vlt_config_verify(const keyring *k, const uint8_t *data, size_t len)
{
    return vlt_config_check_mac(k->config_mac_key, k->vault_id, data, len);
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
