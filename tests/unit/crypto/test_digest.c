/*
 * test_digest.c - SHA-256 and HMAC-SHA-256 with libcrypto (crypto/
 * digest.c): the published test vectors (FIPS 180-2, RFC 4231), the
 * prefix split anywhere, large inputs equal to libsodium's (the other
 * implementation, and the fallback), and several threads at once.
 */
#include "test_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/internal.h"
#include "crypto/digest.h"

static void assert_hex(const uint8_t d[SHA256_BYTES], const char *hex)
{
    char got[2 * SHA256_BYTES + 1];
    vlt_hex_encode(d, SHA256_BYTES, got);
    assert_string_equal(got, hex);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    uint8_t d[SHA256_BYTES];
    vlt_sha256((const uint8_t *)"", 0, d);
    assert_hex(d, "e3b0c44298fc1c149afbf4c8996fb924"
                  "27ae41e4649b934ca495991b7852b855");
    vlt_sha256((const uint8_t *)"abc", 3, d);
    assert_hex(d, "ba7816bf8f01cfea414140de5dae2223"
                  "b00361a396177a9cb410ff61f20015ad");
}

static void test_hmac_sha256_vectors(void **state)
{
    (void)state;
    /* RFC 4231 test cases 1 and 2, the message split at every point. */
    uint8_t key1[20];
    memset(key1, 0x0b, sizeof key1);
    const char *msg1 = "Hi There", *msg2 = "what do ya want for nothing?";
    for (size_t cut = 0; cut <= strlen(msg1); cut++) {
        uint8_t d[SHA256_BYTES];
        vlt_hmac_sha256(key1, sizeof key1, (const uint8_t *)msg1, cut,
                        (const uint8_t *)msg1 + cut, strlen(msg1) - cut, d);
        assert_hex(d, "b0344c61d8db38535ca8afceaf0bf12b"
                      "881dc200c9833da726e9376c2e32cff7");
    }
    for (size_t cut = 0; cut <= strlen(msg2); cut++) {
        uint8_t d[SHA256_BYTES];
        vlt_hmac_sha256((const uint8_t *)"Jefe", 4, (const uint8_t *)msg2,
                        cut, (const uint8_t *)msg2 + cut, strlen(msg2) - cut,
                        d);
        assert_hex(d, "5bdcc146bf60754e6a042426089575c7"
                      "5a003f089d2739839dec58b964ec3843");
    }
}

/* Sizes around SHA-256's 64-byte block and a chunk's, against libsodium. */
static void test_same_as_libsodium(void **state)
{
    (void)state;
    size_t big = (size_t)3 << 20;
    uint8_t *buf = malloc(big);
    assert_non_null(buf);
    randombytes_buf(buf, big);
    uint8_t key[32];
    randombytes_buf(key, sizeof key);
    static const size_t lens[] = {0, 1, 55, 56, 63, 64, 65, 127, 128,
                                  4096, 1 << 20, (3 << 20) - 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t ours[SHA256_BYTES], theirs[SHA256_BYTES];
        vlt_sha256(buf, lens[i], ours);
        crypto_hash_sha256(theirs, buf, lens[i]);
        assert_memory_equal(ours, theirs, SHA256_BYTES);

        uint8_t type = 1;
        vlt_hmac_sha256(key, sizeof key, &type, 1, buf, lens[i], ours);
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, key, sizeof key);
        crypto_auth_hmacsha256_update(&st, &type, 1);
        crypto_auth_hmacsha256_update(&st, buf, lens[i]);
        crypto_auth_hmacsha256_final(&st, theirs);
        assert_memory_equal(ours, theirs, SHA256_BYTES);
    }
    free(buf);
}

/* A message hashed in pieces (a pack written as it is made) gets the
 * one-shot digest, wherever the pieces end; a context can be used again
 * after final. */
static void test_stream_same_as_one_shot(void **state)
{
    (void)state;
    size_t len = (1u << 20) + 77;
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    randombytes_buf(buf, len);
    uint8_t whole[SHA256_BYTES], pieces[SHA256_BYTES];
    vlt_sha256(buf, len, whole);
    static const size_t steps[] = {1, 63, 64, 65, 4096, 1u << 20, (1u << 20) + 77};
    vlt_sha256_stream st;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        vlt_sha256_init(&st);
        for (size_t off = 0; off < len; off += steps[i])
            vlt_sha256_update(&st, buf + off,
                              len - off < steps[i] ? len - off : steps[i]);
        vlt_sha256_final(&st, pieces);
        assert_memory_equal(whole, pieces, SHA256_BYTES);
    }
    vlt_sha256_init(&st);
    vlt_sha256_final(&st, pieces);
    vlt_sha256((const uint8_t *)"", 0, whole);
    assert_memory_equal(whole, pieces, SHA256_BYTES);
    free(buf);
}

/* The add pipeline hashes chunks on several threads: the first calls
 * race to fetch the algorithms, and no context is shared. */
typedef struct thread_job {
    const uint8_t *buf;
    size_t len;
    uint8_t mac[SHA256_BYTES], digest[SHA256_BYTES];
} thread_job;

static void *hash_thread(void *arg)
{
    thread_job *j = arg;
    static const uint8_t key[32] = {1, 2, 3};
    for (int round = 0; round < 20; round++) {
        uint8_t type = 2;
        vlt_hmac_sha256(key, sizeof key, &type, 1, j->buf, j->len, j->mac);
        vlt_sha256(j->buf, j->len, j->digest);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    enum { THREADS = 4 };
    size_t len = 256 << 10;
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    randombytes_buf(buf, len);
    thread_job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i].buf = buf;
        jobs[i].len = len;
        assert_int_equal(pthread_create(&th[i], NULL, hash_thread, &jobs[i]),
                         0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 1; i < THREADS; i++) {
        assert_memory_equal(jobs[i].mac, jobs[0].mac, SHA256_BYTES);
        assert_memory_equal(jobs[i].digest, jobs[0].digest, SHA256_BYTES);
    }
    uint8_t want[SHA256_BYTES];
    crypto_hash_sha256(want, buf, len);
    assert_memory_equal(jobs[0].digest, want, SHA256_BYTES);
    free(buf);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_hmac_sha256_vectors),
        cmocka_unit_test(test_same_as_libsodium),
        cmocka_unit_test(test_stream_same_as_one_shot),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests_name("digest", tests, NULL, NULL) ? 1 : 0;
}
