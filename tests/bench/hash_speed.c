/*
 * hash_speed.c - throughput of the chunk ID, the object name and blob
 * sealing on one core, the format-version-2 functions (libcrypto) next
 * to the version-1 ones (libsodium) they replaced, and XChaCha20-Poly1305
 * through libcrypto (crypto/aead.c) next to libsodium's.  Not a ctest:
 * numbers, not verdicts.
 *
 *   cmake --build build --target hash_speed && build/tests/hash_speed [MiB]
 *
 * Each function hashes MiB mebibytes (default 1024) in buffers of 1 MiB
 * (chunks are 512 KiB..8 MiB, 1 MiB on average) and of 4 KiB (trees,
 * small files: where the per-call cost of a context would show).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sodium.h>

#include "crypto/aead.h"
#include "crypto/digest.h"
#include "crypto/keys.h"
#include "format/pack.h"

typedef void (*hash_fn)(const keyring *k, const uint8_t *buf, size_t len,
                        uint8_t out[32]);

static void chunk_id_v1_blake2b(const keyring *k, const uint8_t *buf,
                                size_t len, uint8_t out[32])
{
    crypto_generichash_state st;
    uint8_t t = BLOB_DATA;
    crypto_generichash_init(&st, k->chunk_id_key, SECRET_BYTES, 32);
    crypto_generichash_update(&st, &t, 1);
    crypto_generichash_update(&st, buf, len);
    crypto_generichash_final(&st, out, 32);
}

static void chunk_id_v2_hmac_libcrypto(const keyring *k, const uint8_t *buf,
                                       size_t len, uint8_t out[32])
{
    vlt_chunk_id_compute(k, BLOB_DATA, buf, len, out);
}

static void chunk_id_hmac_libsodium(const keyring *k, const uint8_t *buf,
                                    size_t len, uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    uint8_t t = BLOB_DATA;
    crypto_auth_hmacsha256_init(&st, k->chunk_id_key, SECRET_BYTES);
    crypto_auth_hmacsha256_update(&st, &t, 1);
    crypto_auth_hmacsha256_update(&st, buf, len);
    crypto_auth_hmacsha256_final(&st, out);
}

static void name_v1_libsodium(const keyring *k, const uint8_t *buf,
                              size_t len, uint8_t out[32])
{
    (void)k;
    crypto_hash_sha256(out, buf, len);
}

static void name_v2_libcrypto(const keyring *k, const uint8_t *buf,
                              size_t len, uint8_t out[32])
{
    (void)k;
    vlt_sha256(buf, len, out);
}

/* Sealing writes its ciphertext here (a blob is at most 8 MiB; the
 * buffers measured are at most 1 MiB). */
static uint8_t sealed[(1u << 20) + VLT_AEAD_TAG_BYTES];
static const uint8_t seal_nonce[VLT_AEAD_NONCE_BYTES] = {1, 2, 3};

static void seal_libsodium(const keyring *k, const uint8_t *buf, size_t len,
                           uint8_t out[32])
{
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, NULL, buf, len, out,
                                               32, NULL, seal_nonce,
                                               k->chunk_id_key);
}

static void seal_libcrypto(const keyring *k, const uint8_t *buf, size_t len,
                           uint8_t out[32])
{
    vlt_aead_seal(sealed, buf, len, out, 32, seal_nonce, k->chunk_id_key);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void measure(const char *what, hash_fn fn, const keyring *k,
                    const uint8_t *buf, size_t total, size_t len)
{
    uint8_t out[32];
    size_t calls = total / len;
    fn(k, buf, len, out); /* warm up: fetches, page faults */
    double t0 = now();
    for (size_t i = 0; i < calls; i++)
        fn(k, buf, len, out);
    double secs = now() - t0;
    printf("| %-37s | %7zu | %6.2f |\n", what, len,
           (double)calls * (double)len / secs / 1e9);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    if (sodium_init() < 0 || mib == 0)
        return 2;
    keyring *k = NULL;
    if (vlt_keyring_generate(&k) != VAULT_OK)
        return 2;
    size_t buf_len = (size_t)1 << 20;
    uint8_t *buf = malloc(buf_len);
    if (!buf)
        return 2;
    randombytes_buf(buf, buf_len);
    size_t total = mib << 20;
    static const struct {
        const char *what;
        hash_fn fn;
    } fns[] = {
        {"chunk ID v1: keyed BLAKE2b (sodium)", chunk_id_v1_blake2b},
        {"chunk ID v2: HMAC-SHA-256 (libcrypto)", chunk_id_v2_hmac_libcrypto},
        {"HMAC-SHA-256 (libsodium, fallback)", chunk_id_hmac_libsodium},
        {"object name v1: SHA-256 (libsodium)", name_v1_libsodium},
        {"object name v2: SHA-256 (libcrypto)", name_v2_libcrypto},
        {"seal: XChaCha20-Poly1305 (libsodium)", seal_libsodium},
        {"seal: XChaCha20-Poly1305 (libcrypto)", seal_libcrypto},
    };
    printf("| function                              |  buffer |   GB/s |\n");
    printf("|---------------------------------------|--------:|-------:|\n");
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        measure(fns[i].what, fns[i].fn, k, buf, total, buf_len);
        measure(fns[i].what, fns[i].fn, k, buf, total / 4, 4096);
    }
    free(buf);
    vlt_keyring_free(k);
    return 0;
}
