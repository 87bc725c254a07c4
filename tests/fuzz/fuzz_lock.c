/*
 * fuzz_lock.c - libFuzzer target for lock objects (add markers and prune
 * marks in locks/), parsed the way a vault reads them (vlt_lock_parse in
 * vault/src/format/locks.c: name check, header, unsealing, the author's
 * signature, then vlt_lock_decode), with one fixed test keyring.
 *
 * The object's name is the SHA-256 of its bytes, so the name check passes
 * and the parser itself runs.  The first input byte picks the mode:
 *   odd:  the rest is a lock record; the target signs and seals it as
 *         vlt_lock_write would (author | sig | record), so the decoder
 *         runs behind the authentication and the signature.  An accepted
 *         record must re-encode to exactly those bytes and name the
 *         keyring's key as its author.
 *   2:    the rest is a whole plaintext (author | sig | record) sealed as
 *         it is: the signature check sees fuzzer-chosen bytes.
 *   other even: the rest is a lock object as stored.
 *
 * Built by cmake -DVAULT_FUZZ=ON -DCMAKE_C_COMPILER=clang; replayed over
 * tests/fuzz/corpus/lock/ by ctest in every build (tests/fuzz/README.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "format/locks.h"
#include "format/pack.h"
#include "backend_testing.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define HEADER 36

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static keyring *test_keys;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (vault_global_init() != VAULT_OK || vlt_keyring_generate(&test_keys))
        abort();
    return 0;
}

static uint8_t *seal(const uint8_t *plain, size_t plain_len, size_t *out_len)
{
    size_t len = HEADER + plain_len + AEAD_TAG;
    uint8_t *p = malloc(len), key[SECRET_BYTES];
    if (!p)
        abort();
    memcpy(p, LOCK_MAGIC, 8);
    memset(p + 8, 0, 4); /* epoch 0 */
    randombytes_buf(p + 12, AEAD_NONCE);
    vlt_kdf(key, vlt_keyring_current(test_keys)->write_key, "locks");
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + HEADER, NULL, plain,
                                               plain_len, p, HEADER, NULL,
                                               p + 12, key);
    *out_len = len;
    return p;
}

/* author | Sign(author, "vault/v2 lock", record) | record, sealed. */
static uint8_t *sign_seal(const uint8_t *record, size_t record_len,
                          size_t *out_len)
{
    uint8_t *plain = malloc(LOCK_AUTHOR_BYTES + record_len);
    if (!plain)
        abort();
    memcpy(plain, test_keys->sign_pk, SIGN_PUBLIC_BYTES);
    if (record_len)
        memcpy(plain + LOCK_AUTHOR_BYTES, record, record_len);
    if (vlt_sign(test_keys->sign_sk, SIGN_LABEL_LOCK, test_keys->vault_id,
                 plain + LOCK_AUTHOR_BYTES, record_len,
                 plain + SIGN_PUBLIC_BYTES) != VAULT_OK)
        abort();
    uint8_t *p = seal(plain, LOCK_AUTHOR_BYTES + record_len, out_len);
    free(plain);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > (1u << 20))
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    uint8_t *obj;
    size_t len;
    if (mode & 1) {
        obj = sign_seal(data, size, &len);
    } else if (mode == 2) {
        obj = seal(data, size, &len);
    } else {
        obj = malloc(size ? size : 1);
        if (!obj)
            abort();
        memcpy(obj, data, size);
        len = size;
    }
    char name[65];
    vlt_object_name(obj, len, name);
    lock_record rec;
    if (vlt_lock_parse(test_keys, name, obj, len, &rec) == VAULT_OK) {
        if (mode & 1) {
            uint8_t *enc = NULL;
            size_t enc_len = 0;
            if (vlt_lock_encode(&rec, &enc, &enc_len) != VAULT_OK ||
                enc_len != size || memcmp(enc, data, size) != 0 ||
                memcmp(rec.author, test_keys->sign_pk, SIGN_PUBLIC_BYTES))
                abort(); /* accepted a record it would not write */
            free(enc);
        }
        if (strcmp(rec.name, name) != 0)
            abort();
        free(rec.packs);
    }
    free(obj);
    return 0;
}
