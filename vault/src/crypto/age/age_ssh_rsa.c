/*
 * age_ssh_rsa.c - OpenSSH RSA keys for age's ssh-rsa recipient type (age's
 * agessh package), with OpenSSL 3 for the RSA arithmetic.
 *
 * SSH wire encoding of an RSA public key (RFC 4253 section 6.6):
 *
 *     string "ssh-rsa", mpint e, mpint n
 *
 * where an mpint (RFC 4251 section 5) is a string holding a two's
 * complement big-endian number: a positive number whose top bit is set
 * gets one leading zero byte, and no other leading zero is allowed.  We
 * insist on that canonical form, as Go's x/crypto/ssh does, so that one key
 * has one wire encoding and so one tag.
 *
 * The private section of an openssh-key-v1 file (OpenSSH PROTOCOL.key and
 * sshkey.c) holds, after the key type:
 *
 *     mpint n, mpint e, mpint d, mpint iqmp, mpint p, mpint q
 *
 * iqmp = q^-1 mod p, OpenSSL's "coefficient".  OpenSSL also wants
 * d mod (p-1) and d mod (q-1), computed here.
 *
 * Stanza (age spec, agessh): "-> ssh-rsa" tag, body = RSA-OAEP with
 * SHA-256, MGF1-SHA-256 and label "age-encryption.org/v1/ssh-rsa" of the
 * 16-byte file key; tag = first 4 bytes of SHA-256(wire key).
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include "crypto/age/age_internal.h"
#include "common/internal.h"

#define SSH_RSA_TYPE "ssh-rsa"
#define SSH_RSA_LABEL "age-encryption.org/v1/ssh-rsa"
#define SSH_RSA_E_MAX_BYTES 4

/* Reads a canonical positive mpint; *mag and *mag_len: its magnitude
 * without the sign byte.  0 when truncated, zero, negative or padded. */
static int read_positive_mpint(age_ssh_reader *r, const uint8_t **mag,
                               size_t *mag_len)
{
    const uint8_t *s;
    size_t len;
    if (!vlt_age_ssh_read_string(r, &s, &len) || len == 0 || s[0] & 0x80)
        return 0;
    if (s[0] == 0) {
        if (len == 1 || !(s[1] & 0x80))
            return 0; /* a zero that is not needed */
        s++;
        len--;
    }
    *mag = s;
    *mag_len = len;
    return 1;
}

static size_t bit_length(const uint8_t *mag, size_t len)
{
    size_t bits = len * 8;
    for (uint8_t top = mag[0]; !(top & 0x80); top <<= 1)
        bits--;
    return bits;
}

/* The wire key's e and n magnitudes, checked. */
static vault_error parse_wire(const uint8_t *wire, size_t len, const char *what,
                              const uint8_t **e, size_t *e_len,
                              const uint8_t **n, size_t *n_len)
{
    age_ssh_reader r = {wire, len};
    const uint8_t *type;
    size_t type_len;
    if (!vlt_age_ssh_read_string(&r, &type, &type_len) ||
        type_len != sizeof SSH_RSA_TYPE - 1 ||
        memcmp(type, SSH_RSA_TYPE, type_len) != 0)
        return vlt_fail(VAULT_E_BAD_KEY, "%s: not an ssh-rsa key", what);
    if (!read_positive_mpint(&r, e, e_len) ||
        !read_positive_mpint(&r, n, n_len) || r.left != 0)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: malformed ssh-rsa public key", what);
    if (*e_len > SSH_RSA_E_MAX_BYTES || !((*e)[*e_len - 1] & 1) ||
        (*e_len == 1 && (*e)[0] < 3))
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: unusable RSA public exponent", what);
    size_t bits = bit_length(*n, *n_len);
    if (bits < AGE_SSH_RSA_MIN_BITS || bits > AGE_SSH_RSA_MAX_BITS)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: a %zu-bit RSA key; only %d to %d bits are "
                        "accepted", what, bits, AGE_SSH_RSA_MIN_BITS,
                        AGE_SSH_RSA_MAX_BITS);
    if (!((*n)[*n_len - 1] & 1))
        return vlt_fail(VAULT_E_BAD_KEY, "%s: RSA modulus is even", what);
    return VAULT_OK;
}

vault_error vlt_age_ssh_rsa_check_wire(const uint8_t *wire, size_t len,
                                       const char *what)
{
    const uint8_t *e, *n;
    size_t e_len, n_len;
    if (len > AGE_SSH_RSA_WIRE_MAX)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: RSA key longer than %d bits", what,
                        AGE_SSH_RSA_MAX_BITS);
    return parse_wire(wire, len, what, &e, &e_len, &n, &n_len);
}

void vlt_age_ssh_rsa_tag(const uint8_t *wire, size_t len,
                         uint8_t tag[AGE_SSH_TAG_BYTES])
{
    uint8_t hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, wire, len);
    memcpy(tag, hash, AGE_SSH_TAG_BYTES);
}

void vlt_age_ssh_rsa_encode_public_key(const uint8_t *wire, size_t len,
                                       char *out)
{
    size_t n = sizeof SSH_RSA_TYPE; /* the type and a space */
    memcpy(out, SSH_RSA_TYPE " ", n);
    vlt_age_base64_encode(wire, len, out + n);
    n += age_base64_len(len);
    while (n % 4 != 0) /* "ssh-rsa " is 8 characters: pad the base64 */
        out[n++] = '=';
    out[n] = '\0';
}

void vlt_age_ssh_rsa_key_clear(age_ssh_rsa_key *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey);
    sodium_memzero(key, sizeof *key);
}

/* --- OpenSSL keys -----------------------------------------------------------*/

/* Builds an RSA EVP_PKEY from the parameters in bld. */
static EVP_PKEY *pkey_from_params(OSSL_PARAM_BLD *bld, int selection)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pkey = NULL;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, selection, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params); /* OpenSSL clears secret BIGNUM params */
    return pkey;
}

static EVP_PKEY *public_pkey(const uint8_t *e, size_t e_len, const uint8_t *n,
                             size_t n_len)
{
    BIGNUM *bn_e = BN_bin2bn(e, (int)e_len, NULL);
    BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bn_e && bn_n && bld &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
        pkey = pkey_from_params(bld, EVP_PKEY_PUBLIC_KEY);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_e);
    BN_free(bn_n);
    return pkey;
}

/* A context for OAEP as age uses it, encrypting or decrypting. */
static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *pkey, int decrypt)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!ctx)
        return NULL;
    int ok = (decrypt ? EVP_PKEY_decrypt_init(ctx)
                      : EVP_PKEY_encrypt_init(ctx)) > 0 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) > 0 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0;
    if (ok) {
        /* set0 takes ownership of an OPENSSL_malloc'ed label */
        void *label = OPENSSL_memdup(SSH_RSA_LABEL, sizeof SSH_RSA_LABEL - 1);
        ok = label && EVP_PKEY_CTX_set0_rsa_oaep_label(
                          ctx, label, sizeof SSH_RSA_LABEL - 1) > 0;
        if (!ok)
            OPENSSL_free(label);
    }
    if (!ok) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

vault_error vlt_age_ssh_rsa_wrap(const uint8_t *wire, size_t wire_len,
                                 const uint8_t file_key[AGE_FILE_KEY_BYTES],
                                 uint8_t *body, size_t *body_len)
{
    const char *what = "vlt_age_encrypt: ssh-rsa recipient";
    const uint8_t *e, *n;
    size_t e_len, n_len;
    vault_error rc = parse_wire(wire, wire_len, what, &e, &e_len, &n, &n_len);
    if (rc != VAULT_OK)
        return rc;
    EVP_PKEY *pkey = public_pkey(e, e_len, n, n_len);
    EVP_PKEY_CTX *ctx = pkey ? oaep_ctx(pkey, 0) : NULL;
    size_t out_len = AGE_SSH_RSA_BODY_MAX;
    int ok = ctx && EVP_PKEY_encrypt(ctx, body, &out_len, file_key,
                                     AGE_FILE_KEY_BYTES) > 0;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    if (!ok)
        return vlt_fail(VAULT_E_INTERNAL, "%s: RSA-OAEP encryption failed",
                        what);
    *body_len = out_len;
    return VAULT_OK;
}

vault_error vlt_age_ssh_rsa_unwrap(const age_ssh_rsa_key *key,
                                   const uint8_t *body, size_t body_len,
                                   uint8_t file_key[AGE_FILE_KEY_BYTES])
{
    /* Checked before decrypting: the body is exactly the modulus size. */
    if (!key->pkey || body_len != (size_t)EVP_PKEY_get_size(key->pkey))
        return VAULT_E_AGE_NO_MATCH;
    EVP_PKEY_CTX *ctx = oaep_ctx(key->pkey, 1);
    if (!ctx)
        return vlt_fail(VAULT_E_INTERNAL, "ssh-rsa stanza: OpenSSL context");
    uint8_t out[AGE_SSH_RSA_BODY_MAX];
    size_t out_len = sizeof out;
    int ok = EVP_PKEY_decrypt(ctx, out, &out_len, body, body_len) > 0 &&
             out_len == AGE_FILE_KEY_BYTES;
    EVP_PKEY_CTX_free(ctx);
    if (ok)
        memcpy(file_key, out, AGE_FILE_KEY_BYTES);
    sodium_memzero(out, sizeof out);
    return ok ? VAULT_OK : VAULT_E_AGE_NO_MATCH;
}

/* --- private keys -----------------------------------------------------------*/

static BIGNUM *secret_bn(const uint8_t *mag, size_t len)
{
    BIGNUM *bn = BN_secure_new();
    if (bn && !BN_bin2bn(mag, (int)len, bn)) {
        BN_clear_free(bn);
        return NULL;
    }
    return bn;
}

/* d mod (prime - 1) */
static BIGNUM *crt_exponent(const BIGNUM *d, const BIGNUM *prime, BN_CTX *bn)
{
    BIGNUM *p1 = BN_secure_new(), *out = BN_secure_new();
    int ok = p1 && out && BN_copy(p1, prime) && BN_sub_word(p1, 1) &&
             BN_mod(out, d, p1, bn);
    BN_clear_free(p1);
    if (!ok) {
        BN_clear_free(out);
        return NULL;
    }
    return out;
}

/* The private key from its numbers; NULL when OpenSSL refuses them or
 * they are not one key pair. */
static EVP_PKEY *private_pkey(const uint8_t *mag[6], const size_t len[6])
{
    /* n, e, d, iqmp, p, q, in the file's order */
    BIGNUM *bn[6] = {0};
    BIGNUM *dmp1 = NULL, *dmq1 = NULL;
    BN_CTX *ctx = BN_CTX_secure_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    int ok = ctx && bld;
    for (int i = 0; i < 6 && ok; i++)
        ok = (bn[i] = secret_bn(mag[i], len[i])) != NULL;
    if (ok) {
        dmp1 = crt_exponent(bn[2], bn[4], ctx);
        dmq1 = crt_exponent(bn[2], bn[5], ctx);
        ok = dmp1 && dmq1 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn[0]) &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn[1]) &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, bn[2]) &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, bn[4]) &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, bn[5]) &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1,
                                    dmp1) &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2,
                                    dmq1) &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
                                    bn[3]);
    }
    if (ok)
        pkey = pkey_from_params(bld, EVP_PKEY_KEYPAIR);
    if (pkey) {
        /* n = pq, and d, dmp1, dmq1, iqmp consistent with e, p, q: a
         * damaged key must not decrypt to a wrong file key silently. */
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!check || EVP_PKEY_pairwise_check(check) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(check);
    }
    OSSL_PARAM_BLD_free(bld);
    for (int i = 0; i < 6; i++)
        BN_clear_free(bn[i]);
    BN_clear_free(dmp1);
    BN_clear_free(dmq1);
    BN_CTX_free(ctx);
    return pkey;
}

vault_error vlt_age_ssh_rsa_parse_private(age_ssh_reader *r,
                                          const uint8_t *outer_wire,
                                          size_t outer_len,
                                          age_ssh_rsa_key *out)
{
    const char *what = "OpenSSH private key";
    const uint8_t *e, *n;
    size_t e_len, n_len;
    vault_error rc = parse_wire(outer_wire, outer_len, what, &e, &e_len, &n,
                                &n_len);
    if (rc != VAULT_OK)
        return rc;
    const uint8_t *mag[6];
    size_t len[6];
    for (int i = 0; i < 6; i++)
        if (!read_positive_mpint(r, &mag[i], &len[i]))
            return vlt_fail(VAULT_E_BAD_KEY,
                            "%s: truncated or malformed RSA number", what);
    if (len[0] != n_len || memcmp(mag[0], n, n_len) != 0 ||
        len[1] != e_len || memcmp(mag[1], e, e_len) != 0)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: public and private parts disagree", what);
    EVP_PKEY *pkey = private_pkey(mag, len);
    if (!pkey)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: the RSA numbers are not one key pair", what);
    out->pkey = pkey;
    memcpy(out->wire, outer_wire, outer_len);
    out->wire_len = outer_len;
    return VAULT_OK;
}


