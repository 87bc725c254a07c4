/*
 * test_bcrypt_pbkdf.c - OpenSSH's bcrypt_pbkdf (crypto/bcrypt_pbkdf.c):
 * the Blowfish table is pi's fraction (known words at its ends and
 * seams); derivation is deterministic, depends on every input and
 * spreads its blocks over the key as OpenSSH does (a 48-byte key's first
 * 32 bytes are not a 32-byte key's); arguments out of range are refused.
 * That it matches OpenSSH is shown by keys ssh-keygen protected
 * (test_age_ssh: a fixed key; cli test_age_ssh_interop: fresh ones of
 * several rounds and ciphers).
 */
#include "test_util.h"

#include <string.h>

#include <sodium.h>

#include "crypto/bcrypt_pbkdf.h"

static void test_pi_table(void **state)
{
    (void)state;
    assert_int_equal(vlt_blowfish_pi[0], 0x243f6a88u);  /* P[0] */
    assert_int_equal(vlt_blowfish_pi[17], 0x8979fb1bu); /* P[17] */
    assert_int_equal(vlt_blowfish_pi[18], 0xd1310ba6u); /* S0[0] */
    assert_int_equal(vlt_blowfish_pi[18 + 255], 0x6e85076au); /* S0[255] */
    assert_int_equal(vlt_blowfish_pi[18 + 256], 0x4b7a70e9u); /* S1[0] */
    assert_int_equal(vlt_blowfish_pi[VLT_BLOWFISH_PI_WORDS - 1],
                     0x3ac372e6u); /* S3[255] */
}

static void test_derivation(void **state)
{
    (void)state;
    const uint8_t salt[16] = "0123456789abcdef";
    uint8_t a[48], b[48], c[32], d[48];
    assert_int_equal(vlt_bcrypt_pbkdf("pass", 4, salt, 16, a, 48, 4), 0);
    assert_int_equal(vlt_bcrypt_pbkdf("pass", 4, salt, 16, b, 48, 4), 0);
    assert_memory_equal(a, b, 48);
    assert_int_equal(vlt_bcrypt_pbkdf("pass", 4, salt, 16, c, 32, 4), 0);
    assert_memory_not_equal(a, c, 32); /* strided over the key length */
    assert_int_equal(vlt_bcrypt_pbkdf("pasS", 4, salt, 16, d, 48, 4), 0);
    assert_memory_not_equal(a, d, 48);
    assert_int_equal(vlt_bcrypt_pbkdf("pass", 4, salt, 15, d, 48, 4), 0);
    assert_memory_not_equal(a, d, 48);
    assert_int_equal(vlt_bcrypt_pbkdf("pass", 4, salt, 16, d, 48, 5), 0);
    assert_memory_not_equal(a, d, 48);
    assert_false(sodium_is_zero(a, sizeof a));
}

static void test_bad_arguments(void **state)
{
    (void)state;
    const uint8_t salt[16] = {1};
    uint8_t key[32];
    assert_int_equal(vlt_bcrypt_pbkdf("p", 1, salt, 16, key, 32, 0), -1);
    assert_int_equal(vlt_bcrypt_pbkdf("p", 1, salt, 0, key, 32, 1), -1);
    assert_int_equal(vlt_bcrypt_pbkdf("p", 1, salt, 16, key, 0, 1), -1);
    assert_int_equal(vlt_bcrypt_pbkdf("p", 1, salt, 16, key, 1025, 1), -1);
    assert_int_equal(vlt_bcrypt_pbkdf("", 0, salt, 16, key, 32, 1), 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pi_table),
        cmocka_unit_test(test_derivation),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
