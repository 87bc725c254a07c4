/*
 * digest.c - SHA-256 and HMAC-SHA-256 with libcrypto (see digest.h).
 *
 * The digest and the MAC are fetched from the default provider once per
 * process: an explicit fetch spares the name lookup that OpenSSL 3's
 * implicit fetches do on every call.  A context per call costs a few
 * hundred bytes and two SHA-256 blocks for the HMAC key; the messages are
 * chunks of up to a few MiB, so that is lost in the noise (tests/bench/
 * hash_speed.c measures it).
 */
#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include "crypto/digest.h"

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;   /* NULL: libcrypto has none; use libsodium */
static EVP_MAC *hmac_mac;
/* Not const: OSSL_PARAM takes a char * it does not write through. */
static char sha256_name[] = "SHA256";

static void fetch_algorithms(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

void vlt_sha256(const uint8_t *data, size_t len, uint8_t out[SHA256_BYTES])
{
    pthread_once(&fetch_once, fetch_algorithms);
    if (sha256_md && EVP_Digest(data, len, out, NULL, sha256_md, NULL) == 1)
        return;
    crypto_hash_sha256(out, data, len);
}

void vlt_sha256_init(vlt_sha256_stream *s)
{
    pthread_once(&fetch_once, fetch_algorithms);
    EVP_MD_CTX *c = sha256_md ? EVP_MD_CTX_new() : NULL;
    if (c && EVP_DigestInit_ex(c, sha256_md, NULL) != 1) {
        EVP_MD_CTX_free(c);
        c = NULL;
    }
    s->md_ctx = c;
    if (!c) /* the whole message goes to libsodium: same function */
        crypto_hash_sha256_init(&s->fallback);
}

void vlt_sha256_update(vlt_sha256_stream *s, const uint8_t *data, size_t len)
{
    /* EVP_DigestUpdate of SHA-256 fails only for a context that was
     * never initialised. */
    if (s->md_ctx)
        (void)EVP_DigestUpdate(s->md_ctx, data, len);
    else
        crypto_hash_sha256_update(&s->fallback, data, len);
}

void vlt_sha256_final(vlt_sha256_stream *s, uint8_t out[SHA256_BYTES])
{
    if (s->md_ctx) {
        unsigned n = 0;
        (void)EVP_DigestFinal_ex(s->md_ctx, out, &n);
        EVP_MD_CTX_free(s->md_ctx);
        s->md_ctx = NULL;
    } else {
        crypto_hash_sha256_final(&s->fallback, out);
    }
}

static int hmac_libcrypto(const uint8_t *key, size_t key_len,
                          const uint8_t *prefix, size_t prefix_len,
                          const uint8_t *data, size_t len,
                          uint8_t out[SHA256_BYTES])
{
    if (!hmac_mac || !sha256_md)
        return 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_mac);
    if (!ctx)
        return 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, sha256_name,
                                         0),
        OSSL_PARAM_construct_end()};
    size_t out_len = 0;
    int ok = EVP_MAC_init(ctx, key, key_len, params) == 1 &&
             EVP_MAC_update(ctx, prefix, prefix_len) == 1 &&
             EVP_MAC_update(ctx, data, len) == 1 &&
             EVP_MAC_final(ctx, out, &out_len, SHA256_BYTES) == 1 &&
             out_len == SHA256_BYTES;
    EVP_MAC_CTX_free(ctx);
    return ok;
}

void vlt_hmac_sha256(const uint8_t *key, size_t key_len,
                     const uint8_t *prefix, size_t prefix_len,
                     const uint8_t *data, size_t len,
                     uint8_t out[SHA256_BYTES])
{
    pthread_once(&fetch_once, fetch_algorithms);
    if (hmac_libcrypto(key, key_len, prefix, prefix_len, data, len, out))
        return;
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, prefix, prefix_len);
    crypto_auth_hmacsha256_update(&st, data, len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}
