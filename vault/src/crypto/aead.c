/*
 * aead.c - XChaCha20-Poly1305 with libcrypto (see aead.h).
 */
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "crypto/aead.h"

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *chacha_poly; /* NULL: libcrypto has none */

static void fetch_cipher(void)
{
    chacha_poly = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
}

/* The subkey and the 12-byte IETF nonce of XChaCha20 (RFC draft
 * irtf-cfrg-xchacha, section 2.3). */
static void derive(const uint8_t nonce[VLT_AEAD_NONCE_BYTES],
                   const uint8_t key[VLT_AEAD_KEY_BYTES],
                   uint8_t subkey[VLT_AEAD_KEY_BYTES], uint8_t ietf[12])
{
    crypto_core_hchacha20(subkey, nonce, key, NULL);
    memset(ietf, 0, 4);
    memcpy(ietf + 4, nonce + 16, 8);
}

/* One pass of libcrypto's ChaCha20-Poly1305; 1 on success.  open: tag
 * is checked (EVP_CipherFinal fails on a wrong one), else written. */
static int run(int seal, uint8_t *out, const uint8_t *in, size_t len,
               const uint8_t *ad, size_t ad_len, const uint8_t subkey[32],
               const uint8_t ietf[12], uint8_t tag[16])
{
    pthread_once(&fetch_once, fetch_cipher);
    if (!chacha_poly || len > INT_MAX || ad_len > INT_MAX)
        return 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return 0;
    int n = 0, ready =
        EVP_CipherInit_ex2(ctx, chacha_poly, subkey, ietf, seal, NULL) == 1;
    if (ready && !seal)
        ready = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1;
    if (ready && ad_len)
        ready = EVP_CipherUpdate(ctx, NULL, &n, ad, (int)ad_len) == 1;
    int ok = ready && (!len || EVP_CipherUpdate(ctx, out, &n, in,
                                                (int)len) == 1);
    int final = ok && EVP_CipherFinal_ex(ctx, out + len, &n) == 1;
    if (final && seal)
        final = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ready)
        return 0; /* libcrypto could not run: the fallback decides */
    /* Once the data went through, in place the input may be partly
     * overwritten, so no fallback may run on it: a failure here is
     * final (-1, as for a tag that does not verify). */
    if (!ok)
        return in == out ? -1 : 0;
    return final ? 1 : -1;
}

void vlt_aead_seal(uint8_t *out, const uint8_t *plain, size_t len,
                   const uint8_t *ad, size_t ad_len,
                   const uint8_t nonce[VLT_AEAD_NONCE_BYTES],
                   const uint8_t key[VLT_AEAD_KEY_BYTES])
{
    uint8_t subkey[32], ietf[12];
    derive(nonce, key, subkey, ietf);
    int ok = run(1, out, plain, len, ad, ad_len, subkey, ietf, out + len);
    sodium_memzero(subkey, sizeof subkey);
    if (ok != 1)
        crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, plain, len, ad,
                                                   ad_len, NULL, nonce, key);
}

int vlt_aead_open(uint8_t *plain, const uint8_t *sealed, size_t len,
                  const uint8_t *ad, size_t ad_len,
                  const uint8_t nonce[VLT_AEAD_NONCE_BYTES],
                  const uint8_t key[VLT_AEAD_KEY_BYTES])
{
    if (len < VLT_AEAD_TAG_BYTES)
        return -1;
    size_t body = len - VLT_AEAD_TAG_BYTES;
    uint8_t subkey[32], ietf[12], tag[16];
    memcpy(tag, sealed + body, sizeof tag);
    derive(nonce, key, subkey, ietf);
    int ok = run(0, plain, sealed, body, ad, ad_len, subkey, ietf, tag);
    sodium_memzero(subkey, sizeof subkey);
    if (ok == 0)
        ok = crypto_aead_xchacha20poly1305_ietf_decrypt(
                 plain, NULL, NULL, sealed, len, ad, ad_len, nonce, key) == 0
                 ? 1
                 : -1;
    if (ok != 1) {
        sodium_memzero(plain, body);
        return -1;
    }
    return 0;
}
