/*
 * age_stanza.c - the file key, wrapped in a recipient stanza per
 * recipient and unwrapped with an identity (age.c has the X25519, scrypt
 * and ssh-ed25519 constructions).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/age/age_internal.h"
#include "common/internal.h"

static const uint8_t zero_nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

/* --- unwrapping ------------------------------------------------------------*/

/* Each returns VAULT_OK with the file key, VAULT_E_AGE_NO_MATCH (no detail
 * set) if the stanza is not for this identity, or another code for a
 * stanza that must abort decryption. */

static vault_error unwrap_x25519(const age_identity *id,
                                 const uint8_t our_public[32],
                                 const age_stanza *s,
                                 uint8_t file_key[AGE_FILE_KEY_BYTES])
{
    uint8_t shared[crypto_scalarmult_BYTES];
    uint8_t salt[2 * AGE_X25519_KEY_BYTES];
    uint8_t wrap_key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
    /* libsodium refuses low-order shares and all-zero results: both are the
     * all-zero shared secret the spec says to abort on. */
    if (crypto_scalarmult(shared, id->secret_key, s->share) != 0 ||
        sodium_is_zero(shared, sizeof shared)) {
        sodium_memzero(shared, sizeof shared);
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "X25519 stanza: all-zero shared secret");
    }
    memcpy(salt, s->share, AGE_X25519_KEY_BYTES);
    memcpy(salt + AGE_X25519_KEY_BYTES, our_public, AGE_X25519_KEY_BYTES);
    vlt_age_hkdf_sha256(salt, sizeof salt, shared, sizeof shared, AGE_X25519_INFO,
                        wrap_key, sizeof wrap_key);
    int bad = crypto_aead_chacha20poly1305_ietf_decrypt(
        file_key, NULL, NULL, s->body, AGE_WRAPPED_KEY_BYTES, NULL, 0,
        zero_nonce, wrap_key);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(wrap_key, sizeof wrap_key);
    return bad ? VAULT_E_AGE_NO_MATCH : VAULT_OK;
}

/* An ssh-ed25519 identity made ready for unwrapping: its key converted to
 * X25519, and what the stanzas are checked against. */
typedef struct ssh_unwrapper {
    uint8_t secret[AGE_X25519_KEY_BYTES]; /* clamped SHA-512(seed)[0..31] */
    uint8_t our_public[AGE_X25519_KEY_BYTES]; /* X25519(secret, base) */
    uint8_t tag[AGE_SSH_TAG_BYTES];
    uint8_t tweak[32];
} ssh_unwrapper;

/* Prepares an ssh-ed25519 identity; VAULT_E_INVALID if its two halves do
 * not belong together or it does not convert. */
static vault_error ssh_unwrapper_init(const age_identity *id, size_t no,
                                      ssh_unwrapper *u)
{
    const uint8_t *pk = id->ssh_secret_key + 32;
    uint8_t check_pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t check_sk[crypto_sign_SECRETKEYBYTES];
    int bad = crypto_sign_seed_keypair(check_pk, check_sk,
                                       id->ssh_secret_key) != 0 ||
              sodium_memcmp(check_pk, pk, sizeof check_pk) != 0 ||
              crypto_sign_ed25519_sk_to_curve25519(u->secret,
                                                   id->ssh_secret_key) != 0 ||
              crypto_scalarmult_base(u->our_public, u->secret) != 0;
    sodium_memzero(check_sk, sizeof check_sk);
    if (bad) {
        sodium_memzero(u, sizeof *u);
        return vlt_fail(VAULT_E_INVALID,
                        "identity %zu: unusable ssh-ed25519 key", no);
    }
    vlt_age_ssh_tag(pk, u->tag);
    vlt_age_ssh_tweak(pk, u->tweak);
    return VAULT_OK;
}

static vault_error unwrap_ssh_ed25519(const ssh_unwrapper *u,
                                      const age_stanza *s,
                                      uint8_t file_key[AGE_FILE_KEY_BYTES])
{
    /* The tag is public; comparing it in variable time is fine. */
    if (memcmp(u->tag, s->tag, sizeof s->tag) != 0)
        return VAULT_E_AGE_NO_MATCH;
    uint8_t dh[crypto_scalarmult_BYTES];
    uint8_t shared[crypto_scalarmult_BYTES];
    uint8_t salt[2 * AGE_X25519_KEY_BYTES];
    uint8_t wrap_key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
    /* As for X25519, a low-order share gives an all-zero secret. */
    if (crypto_scalarmult(dh, u->secret, s->share) != 0 ||
        sodium_is_zero(dh, sizeof dh) ||
        crypto_scalarmult(shared, u->tweak, dh) != 0) {
        sodium_memzero(dh, sizeof dh);
        sodium_memzero(shared, sizeof shared);
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "ssh-ed25519 stanza: all-zero shared secret");
    }
    memcpy(salt, s->share, AGE_X25519_KEY_BYTES);
    memcpy(salt + AGE_X25519_KEY_BYTES, u->our_public, AGE_X25519_KEY_BYTES);
    vlt_age_hkdf_sha256(salt, sizeof salt, shared, sizeof shared,
                        AGE_SSH_ED25519_INFO, wrap_key, sizeof wrap_key);
    int bad = crypto_aead_chacha20poly1305_ietf_decrypt(
        file_key, NULL, NULL, s->body, AGE_WRAPPED_KEY_BYTES, NULL, 0,
        zero_nonce, wrap_key);
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(wrap_key, sizeof wrap_key);
    return bad ? VAULT_E_AGE_NO_MATCH : VAULT_OK;
}

static vault_error scrypt_wrap_key(const char *passphrase, size_t len,
                                   const uint8_t salt[AGE_SCRYPT_SALT_BYTES],
                                   int log2n, uint8_t key[32])
{
    uint8_t full_salt[sizeof AGE_SCRYPT_LABEL - 1 + AGE_SCRYPT_SALT_BYTES];
    memcpy(full_salt, AGE_SCRYPT_LABEL, sizeof AGE_SCRYPT_LABEL - 1);
    memcpy(full_salt + sizeof AGE_SCRYPT_LABEL - 1, salt,
           AGE_SCRYPT_SALT_BYTES);
    if (crypto_pwhash_scryptsalsa208sha256_ll(
            (const uint8_t *)(passphrase ? passphrase : ""), len, full_salt,
            sizeof full_salt, (uint64_t)1 << log2n, 8, 1, key, 32) != 0)
        return vlt_fail(VAULT_E_NOMEM,
                        "scrypt: cannot compute (2^%d needs %llu MiB)",
                        log2n, (unsigned long long)1 << log2n >> 10);
    return VAULT_OK;
}

static vault_error unwrap_scrypt(const age_identity *id, const age_stanza *s,
                                 uint8_t file_key[AGE_FILE_KEY_BYTES])
{
    int max = id->max_scrypt_log2n > 0 ? id->max_scrypt_log2n
                                       : AGE_SCRYPT_DEFAULT_MAX_LOG2N;
    if (max > AGE_SCRYPT_MAX_LOG2N)
        max = AGE_SCRYPT_MAX_LOG2N;
    if (s->log2n > max)
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "scrypt stanza: work factor 2^%d is above the "
                        "limit 2^%d", s->log2n, max);
    uint8_t wrap_key[32];
    vault_error rc = scrypt_wrap_key(id->passphrase, id->passphrase_len,
                                     s->salt, s->log2n, wrap_key);
    if (rc != VAULT_OK)
        return rc;
    int bad = crypto_aead_chacha20poly1305_ietf_decrypt(
        file_key, NULL, NULL, s->body, AGE_WRAPPED_KEY_BYTES, NULL, 0,
        zero_nonce, wrap_key);
    sodium_memzero(wrap_key, sizeof wrap_key);
    return bad ? VAULT_E_AGE_NO_MATCH : VAULT_OK;
}

/* Tries every identity, in order, on every stanza. */
vault_error vlt_age_find_file_key(const age_identity *ids, size_t n_ids,
                                  const age_header *h,
                                  uint8_t file_key[AGE_FILE_KEY_BYTES])
{
    for (size_t i = 0; i < n_ids; i++) {
        const age_identity *id = &ids[i];
        uint8_t our_public[AGE_X25519_KEY_BYTES];
        ssh_unwrapper ssh;
        uint8_t rsa_tag[AGE_SSH_TAG_BYTES];
        if (id->kind == AGE_KIND_X25519) {
            vault_error rc = vlt_age_x25519_public(id->secret_key, our_public);
            if (rc != VAULT_OK)
                return vlt_fail(VAULT_E_INVALID,
                                "identity %zu: unusable X25519 key", i + 1);
        } else if (id->kind == AGE_KIND_SSH_ED25519) {
            vault_error rc = ssh_unwrapper_init(id, i + 1, &ssh);
            if (rc != VAULT_OK)
                return rc;
        } else if (id->kind == AGE_KIND_SSH_RSA) {
            if (!id->ssh_rsa || !id->ssh_rsa->pkey)
                return vlt_fail(VAULT_E_INVALID,
                                "identity %zu: no RSA key", i + 1);
            vlt_age_ssh_rsa_tag(id->ssh_rsa->wire, id->ssh_rsa->wire_len,
                                rsa_tag);
        } else if (id->kind == AGE_KIND_SCRYPT) {
            if (!id->passphrase && id->passphrase_len)
                return vlt_fail(VAULT_E_INVALID,
                                "identity %zu: NULL passphrase", i + 1);
        } else {
            return vlt_fail(VAULT_E_UNSUPPORTED,
                            "identity %zu: unsupported kind %d", i + 1,
                            (int)id->kind);
        }
        vault_error rc = VAULT_E_AGE_NO_MATCH;
        for (size_t k = 0; k < h->n_known && rc == VAULT_E_AGE_NO_MATCH;
             k++) {
            const age_stanza *s = &h->stanzas[k];
            if (s->kind != id->kind)
                continue;
            if (s->kind == AGE_KIND_X25519)
                rc = unwrap_x25519(id, our_public, s, file_key);
            else if (s->kind == AGE_KIND_SSH_ED25519)
                rc = unwrap_ssh_ed25519(&ssh, s, file_key);
            else if (s->kind == AGE_KIND_SSH_RSA)
                /* the tag is public: a plain comparison will do */
                rc = memcmp(s->tag, rsa_tag, sizeof rsa_tag) != 0
                         ? VAULT_E_AGE_NO_MATCH
                         : vlt_age_ssh_rsa_unwrap(id->ssh_rsa, s->body,
                                                  s->body_len, file_key);
            else
                rc = unwrap_scrypt(id, s, file_key);
        }
        if (id->kind == AGE_KIND_SSH_ED25519)
            sodium_memzero(&ssh, sizeof ssh);
        if (rc != VAULT_E_AGE_NO_MATCH)
            return rc;
    }
    return vlt_fail(VAULT_E_AGE_NO_MATCH,
                    "age: no identity matches any of %zu recipient "
                    "stanzas", h->n_stanzas);
}

/* --- wrapping --------------------------------------------------------------*/

/* Appends an argument line's stanza body (wrapped at 64 columns, ending
 * with a short line) to buf at *n. */
static void put_body(char *buf, size_t *n, const uint8_t *body, size_t len)
{
    size_t i = 0;
    for (;;) {
        size_t take = len - i < 48 ? len - i : 48;
        vlt_age_base64_encode(body + i, take, buf + *n);
        *n += age_base64_len(take);
        buf[(*n)++] = '\n';
        i += take;
        if (take < 48)
            break;
    }
}

void vlt_age_put_str(char *buf, size_t *n, const char *s)
{
    size_t len = strlen(s);
    memcpy(buf + *n, s, len);
    *n += len;
}

vault_error vlt_age_check_recipients(const age_recipient *r, size_t n)
{
    if (!r || n == 0)
        return vlt_fail(VAULT_E_INVALID, "vlt_age_encrypt: no recipients");
    if (n > (SIZE_MAX / 2 - 256) / AGE_STANZA_MAX)
        return vlt_fail(VAULT_E_INVALID, "vlt_age_encrypt: too many recipients");
    for (size_t i = 0; i < n; i++) {
        switch (r[i].kind) {
        case AGE_KIND_X25519:
            break;
        case AGE_KIND_SCRYPT:
            if (n != 1)
                return vlt_fail(VAULT_E_INVALID,
                                "vlt_age_encrypt: a passphrase must be the "
                                "only recipient");
            if (!r[i].passphrase || r[i].passphrase_len == 0)
                return vlt_fail(VAULT_E_INVALID,
                                "vlt_age_encrypt: empty passphrase");
            if (r[i].scrypt_log2n < 0 ||
                r[i].scrypt_log2n > AGE_SCRYPT_MAX_LOG2N)
                return vlt_fail(VAULT_E_INVALID,
                                "vlt_age_encrypt: scrypt work factor 2^%d out "
                                "of range", r[i].scrypt_log2n);
            break;
        case AGE_KIND_SSH_ED25519:
            break;
        case AGE_KIND_SSH_RSA: {
            vault_error rc = vlt_age_ssh_rsa_check_wire(
                r[i].ssh_rsa_wire, r[i].ssh_rsa_wire_len,
                "vlt_age_encrypt: ssh-rsa recipient");
            if (rc != VAULT_OK)
                return rc;
            break;
        }
        default:
            return vlt_fail(VAULT_E_INVALID,
                            "vlt_age_encrypt: recipient %zu has unknown kind %d",
                            i + 1, (int)r[i].kind);
        }
    }
    return VAULT_OK;
}

/* The ssh-ed25519 wrap key for a recipient, with a fresh ephemeral share
 * and the stanza's tag. */
static vault_error ssh_ed25519_wrap_key(const age_recipient *r,
                                        uint8_t share[AGE_X25519_KEY_BYTES],
                                        uint8_t tag[AGE_SSH_TAG_BYTES],
                                        uint8_t wrap_key[32])
{
    uint8_t their[AGE_X25519_KEY_BYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(their, r->ssh_public_key) != 0)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "vlt_age_encrypt: ssh-ed25519 recipient is not a "
                        "usable Ed25519 key");
    uint8_t eph_secret[32], dh[32], shared[32], tweak[32], salt[64];
    vlt_age_x25519_generate(eph_secret, share);
    int bad = crypto_scalarmult(dh, eph_secret, their) != 0 ||
              sodium_is_zero(dh, sizeof dh);
    sodium_memzero(eph_secret, sizeof eph_secret);
    vlt_age_ssh_tweak(r->ssh_public_key, tweak);
    if (!bad)
        bad = crypto_scalarmult(shared, tweak, dh) != 0;
    if (!bad) {
        memcpy(salt, share, 32);
        memcpy(salt + 32, their, 32);
        vlt_age_hkdf_sha256(salt, sizeof salt, shared, sizeof shared,
                            AGE_SSH_ED25519_INFO, wrap_key, 32);
        vlt_age_ssh_tag(r->ssh_public_key, tag);
    }
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(tweak, sizeof tweak);
    if (bad)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "vlt_age_encrypt: ssh-ed25519 recipient key is a "
                        "low-order point");
    return VAULT_OK;
}

/* Writes the stanza for one recipient to buf at *n. */
vault_error vlt_age_wrap_file_key(const age_recipient *r,
                                  const uint8_t file_key[AGE_FILE_KEY_BYTES],
                                  char *buf, size_t *n)
{
    uint8_t body[AGE_WRAPPED_KEY_BYTES];
    uint8_t wrap_key[32];
    if (r->kind == AGE_KIND_SSH_RSA) {
        uint8_t rsa_body[AGE_SSH_RSA_BODY_MAX], tag[AGE_SSH_TAG_BYTES];
        size_t rsa_len;
        vault_error rc = vlt_age_ssh_rsa_wrap(r->ssh_rsa_wire,
                                              r->ssh_rsa_wire_len, file_key,
                                              rsa_body, &rsa_len);
        if (rc != VAULT_OK)
            return rc;
        vlt_age_ssh_rsa_tag(r->ssh_rsa_wire, r->ssh_rsa_wire_len, tag);
        vlt_age_put_str(buf, n, "-> ssh-rsa ");
        vlt_age_base64_encode(tag, sizeof tag, buf + *n);
        *n += age_base64_len(sizeof tag);
        buf[(*n)++] = '\n';
        put_body(buf, n, rsa_body, rsa_len);
        return VAULT_OK;
    }
    if (r->kind == AGE_KIND_SSH_ED25519) {
        uint8_t share[32], tag[AGE_SSH_TAG_BYTES];
        vault_error rc = ssh_ed25519_wrap_key(r, share, tag, wrap_key);
        if (rc != VAULT_OK)
            return rc;
        vlt_age_put_str(buf, n, "-> ssh-ed25519 ");
        vlt_age_base64_encode(tag, sizeof tag, buf + *n);
        *n += age_base64_len(sizeof tag);
        buf[(*n)++] = ' ';
        vlt_age_base64_encode(share, sizeof share, buf + *n);
        *n += age_base64_len(sizeof share);
    } else if (r->kind == AGE_KIND_X25519) {
        uint8_t eph_secret[32], share[32], shared[32], salt[64];
        vlt_age_x25519_generate(eph_secret, share);
        int bad = crypto_scalarmult(shared, eph_secret, r->public_key);
        sodium_memzero(eph_secret, sizeof eph_secret);
        if (bad || sodium_is_zero(shared, sizeof shared)) {
            sodium_memzero(shared, sizeof shared);
            return vlt_fail(VAULT_E_BAD_KEY,
                            "vlt_age_encrypt: recipient key is a low-order "
                            "point");
        }
        memcpy(salt, share, 32);
        memcpy(salt + 32, r->public_key, 32);
        vlt_age_hkdf_sha256(salt, sizeof salt, shared, sizeof shared,
                            AGE_X25519_INFO, wrap_key, sizeof wrap_key);
        sodium_memzero(shared, sizeof shared);
        vlt_age_put_str(buf, n, "-> X25519 ");
        vlt_age_base64_encode(share, sizeof share, buf + *n);
        *n += age_base64_len(sizeof share);
    } else {
        int log2n = r->scrypt_log2n ? r->scrypt_log2n
                                    : AGE_SCRYPT_DEFAULT_LOG2N;
        uint8_t salt[AGE_SCRYPT_SALT_BYTES];
        randombytes_buf(salt, sizeof salt);
        vault_error rc = scrypt_wrap_key(r->passphrase, r->passphrase_len,
                                         salt, log2n, wrap_key);
        if (rc != VAULT_OK)
            return rc;
        vlt_age_put_str(buf, n, "-> scrypt ");
        vlt_age_base64_encode(salt, sizeof salt, buf + *n);
        *n += age_base64_len(sizeof salt);
        char digits[4];
        digits[0] = ' ';
        int d = 1;
        if (log2n >= 10)
            digits[d++] = (char)('0' + log2n / 10);
        digits[d++] = (char)('0' + log2n % 10);
        digits[d] = '\0';
        vlt_age_put_str(buf, n, digits);
    }
    buf[(*n)++] = '\n';
    crypto_aead_chacha20poly1305_ietf_encrypt(body, NULL, file_key,
                                              AGE_FILE_KEY_BYTES, NULL, 0,
                                              NULL, zero_nonce, wrap_key);
    sodium_memzero(wrap_key, sizeof wrap_key);
    put_body(buf, n, body, sizeof body);
    return VAULT_OK;
}
