/*
 * test_aead.c - XChaCha20-Poly1305 through libcrypto (crypto/aead.h) is
 * libsodium's, bit for bit: for lengths around the block and tag sizes
 * and a large one, with and without additional data, each way round
 * (sealed by one, opened by the other); a flipped bit anywhere, a wrong
 * key, nonce or additional data is refused with nothing left in the
 * output.
 */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/aead.h"

static const size_t lengths[] = {0,  1,   15,  16,   63,   64,
                                 65, 255, 256, 4096, 65537, 3u << 20};

static void test_same_as_libsodium(void **state)
{
    (void)state;
    uint8_t key[32], nonce[24], ad[40];
    randombytes_buf(key, sizeof key);
    randombytes_buf(nonce, sizeof nonce);
    randombytes_buf(ad, sizeof ad);
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        for (size_t ad_len = 0; ad_len <= sizeof ad; ad_len += sizeof ad) {
            size_t len = lengths[i];
            uint8_t *plain = malloc(len + 1);
            uint8_t *ours = malloc(len + 16);
            uint8_t *theirs = malloc(len + 16);
            uint8_t *back = malloc(len + 1);
            assert_non_null(plain);
            assert_non_null(ours);
            assert_non_null(theirs);
            assert_non_null(back);
            randombytes_buf(plain, len);
            vlt_aead_seal(ours, plain, len, ad, ad_len, nonce, key);
            crypto_aead_xchacha20poly1305_ietf_encrypt(
                theirs, NULL, plain, len, ad, ad_len, NULL, nonce, key);
            assert_memory_equal(ours, theirs, len + 16);
            assert_int_equal(vlt_aead_open(back, theirs, len + 16, ad, ad_len,
                                           nonce, key),
                             0);
            assert_memory_equal(back, plain, len);
            free(plain);
            free(ours);
            free(theirs);
            free(back);
        }
    }
}

static void test_refuses_what_does_not_verify(void **state)
{
    (void)state;
    uint8_t key[32], nonce[24], ad[8] = "header!", plain[100], sealed[116],
                                out[100];
    randombytes_buf(key, sizeof key);
    randombytes_buf(nonce, sizeof nonce);
    randombytes_buf(plain, sizeof plain);
    vlt_aead_seal(sealed, plain, sizeof plain, ad, sizeof ad, nonce, key);
    for (size_t bit = 0; bit < sizeof sealed * 8; bit += 7) {
        sealed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        memset(out, 0xaa, sizeof out);
        assert_int_equal(vlt_aead_open(out, sealed, sizeof sealed, ad,
                                       sizeof ad, nonce, key),
                         -1);
        for (size_t i = 0; i < sizeof out; i++)
            assert_int_equal(out[i], 0); /* nothing of it is left */
        sealed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    uint8_t other[32];
    memcpy(other, key, sizeof other);
    other[0] ^= 1;
    assert_int_equal(vlt_aead_open(out, sealed, sizeof sealed, ad, sizeof ad,
                                   nonce, other),
                     -1);
    memcpy(other, nonce, 24);
    other[20] ^= 1; /* the part HChaCha20 does not see */
    assert_int_equal(vlt_aead_open(out, sealed, sizeof sealed, ad, sizeof ad,
                                   other, key),
                     -1);
    assert_int_equal(vlt_aead_open(out, sealed, sizeof sealed, ad,
                                   sizeof ad - 1, nonce, key),
                     -1);
    assert_int_equal(vlt_aead_open(out, sealed, 15, ad, sizeof ad, nonce,
                                   key),
                     -1); /* shorter than a tag */
    assert_int_equal(vlt_aead_open(out, sealed, sizeof sealed, ad, sizeof ad,
                                   nonce, key),
                     0);
    assert_memory_equal(out, plain, sizeof plain);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_libsodium),
        cmocka_unit_test(test_refuses_what_does_not_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
