/*
 * fuzz_index.c - libFuzzer target for index segments, loaded the way a
 * vault loads them (vlt_index_load in vault/src/pack.c over an in-memory
 * backend), with one fixed test keyring.
 *
 * The object is saved under the SHA-256 of its bytes, so the name check
 * passes and the parser itself runs.  The first input byte picks the mode:
 *   even: the rest is a segment as stored.  Without this keyring's keys it
 *         exercises the header checks and the authenticate-then-reject
 *         path only.
 *   odd:  the rest is a segment body (packs u32 || per pack: pack ID (32)
 *         | count u32 | count × 46-byte entry); the target seals it with
 *         the keyring's real index key, so the parser behind the
 *         authentication runs.
 * What loads must be consistent: every slot is found under its own ID.
 *
 * Built by cmake -DVAULT_FUZZ=ON -DCMAKE_C_COMPILER=clang; replayed over
 * tests/fuzz/corpus/index/ by ctest in every build (tests/fuzz/README.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

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

static uint8_t *seal(const uint8_t *body, size_t body_len, size_t *out_len)
{
    size_t len = HEADER + body_len + AEAD_TAG;
    uint8_t *p = malloc(len), key[SECRET_BYTES];
    if (!p)
        abort();
    memcpy(p, INDEX_MAGIC, 8);
    memset(p + 8, 0, 4); /* epoch 0 */
    randombytes_buf(p + 12, AEAD_NONCE);
    vlt_kdf(key, vlt_keyring_current(test_keys)->write_key, "index");
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + HEADER, NULL, body,
                                               body_len, p, HEADER, NULL,
                                               p + 12, key);
    *out_len = len;
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > (1u << 20))
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    uint8_t *seg;
    size_t len;
    if (mode & 1) {
        seg = seal(data, size, &len);
    } else {
        seg = malloc(size ? size : 1);
        if (!seg)
            abort();
        memcpy(seg, data, size);
        len = size;
    }
    backend *be;
    if (vlt_backend_memory_open(&be) != VAULT_OK)
        abort();
    char name[65];
    vlt_object_name(seg, len, name);
    if (backend_save(be, BACKEND_INDEX, name, seg, len) != VAULT_OK)
        abort();
    free(seg);
    vault_index ix;
    vlt_index_init(&ix);
    if (vlt_index_load(&ix, be, test_keys) == VAULT_OK) {
        for (size_t i = 0; i < ix.n_slots; i++) {
            if (vlt_index_find(&ix, ix.slots[i].id) != &ix.slots[i] ||
                ix.slots[i].pack >= ix.n_packs)
                abort();
        }
    }
    vlt_index_free(&ix);
    backend_close(be);
    return 0;
}
