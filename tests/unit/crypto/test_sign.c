/*
 * test_sign.c - signatures over label || vault_id || message (crypto/sign.h):
 * what they bind, and that the in-place forms (which borrow the bytes
 * before the message instead of copying it) sign and verify exactly as
 * the copying ones and leave the buffer as it was.
 */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/sign.h"

static const uint8_t vault_a[32] = "vault a: thirty-two bytes long!";
static const uint8_t vault_b[32] = "vault b: thirty-two bytes long!";

/* A signature means one thing in one vault: the label and vault ID are
 * part of what is signed. */
static void test_binds_label_and_vault(void **state)
{
    (void)state;
    uint8_t seed[SIGN_SEED_BYTES], pk[SIGN_PUBLIC_BYTES], sk[SIGN_SECRET_BYTES];
    vlt_sign_keypair_generate(seed, pk, sk);
    const uint8_t msg[] = "a snapshot record";
    uint8_t sig[SIGNATURE_BYTES];
    assert_int_equal(vlt_sign(sk, SIGN_LABEL_SNAPSHOT, vault_a, msg,
                              sizeof msg, sig), VAULT_OK);
    assert_int_equal(vlt_sign_verify(pk, SIGN_LABEL_SNAPSHOT, vault_a, msg,
                                     sizeof msg, sig), VAULT_OK);
    assert_int_equal(vlt_sign_verify(pk, SIGN_LABEL_INDEX, vault_a, msg,
                                     sizeof msg, sig), VAULT_E_CORRUPT);
    assert_int_equal(vlt_sign_verify(pk, SIGN_LABEL_SNAPSHOT, vault_b, msg,
                                     sizeof msg, sig), VAULT_E_CORRUPT);
    uint8_t seed2[SIGN_SEED_BYTES], pk2[SIGN_PUBLIC_BYTES];
    uint8_t sk2[SIGN_SECRET_BYTES];
    vlt_sign_keypair_generate(seed2, pk2, sk2);
    assert_int_equal(vlt_sign_verify(pk2, SIGN_LABEL_SNAPSHOT, vault_a, msg,
                                     sizeof msg, sig), VAULT_E_CORRUPT);
    /* the seed gives back the same key pair */
    uint8_t pk3[SIGN_PUBLIC_BYTES], sk3[SIGN_SECRET_BYTES];
    vlt_sign_keypair_from_seed(seed, pk3, sk3);
    assert_memory_equal(pk3, pk, SIGN_PUBLIC_BYTES);
}

/* In place: the same signature as the copying form, the room restored,
 * the signature may be written into the room itself. */
static void test_in_place(void **state)
{
    (void)state;
    uint8_t seed[SIGN_SEED_BYTES], pk[SIGN_PUBLIC_BYTES], sk[SIGN_SECRET_BYTES];
    vlt_sign_keypair_generate(seed, pk, sk);
    enum { ROOM = 96, LEN = 100000 };
    uint8_t *buf = malloc(ROOM + LEN), *copy = malloc(ROOM + LEN);
    assert_non_null(buf);
    assert_non_null(copy);
    randombytes_buf(buf, ROOM + LEN);
    memcpy(copy, buf, ROOM + LEN);
    uint8_t want[SIGNATURE_BYTES], got[SIGNATURE_BYTES];
    assert_int_equal(vlt_sign(sk, SIGN_LABEL_INDEX, vault_a, buf + ROOM, LEN,
                              want), VAULT_OK);
    assert_int_equal(vlt_sign_in_place(sk, SIGN_LABEL_INDEX, vault_a,
                                       buf + ROOM, LEN, ROOM, got), VAULT_OK);
    assert_memory_equal(got, want, SIGNATURE_BYTES); /* Ed25519: deterministic */
    assert_memory_equal(buf, copy, ROOM + LEN);
    /* the signature written into the room it borrows */
    assert_int_equal(vlt_sign_in_place(sk, SIGN_LABEL_INDEX, vault_a,
                                       buf + ROOM, LEN, ROOM, buf + 32),
                     VAULT_OK);
    assert_memory_equal(buf + 32, want, SIGNATURE_BYTES);
    memcpy(copy + 32, want, SIGNATURE_BYTES);
    assert_int_equal(vlt_sign_verify_in_place(pk, SIGN_LABEL_INDEX, vault_a,
                                              buf + ROOM, LEN, ROOM,
                                              buf + 32), VAULT_OK);
    assert_memory_equal(buf, copy, ROOM + LEN);
    buf[ROOM + LEN - 1] ^= 1;
    assert_int_equal(vlt_sign_verify_in_place(pk, SIGN_LABEL_INDEX, vault_a,
                                              buf + ROOM, LEN, ROOM,
                                              buf + 32), VAULT_E_CORRUPT);
    /* too little room is refused, never written before the buffer */
    assert_int_equal(vlt_sign_in_place(sk, SIGN_LABEL_INDEX, vault_a,
                                       buf + 8, LEN, 8, got),
                     VAULT_E_INTERNAL);
    free(buf);
    free(copy);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binds_label_and_vault),
        cmocka_unit_test(test_in_place),
    };
    return cmocka_run_group_tests_name("signatures", tests, NULL, NULL);
}
