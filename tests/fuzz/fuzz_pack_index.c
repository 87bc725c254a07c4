/*
 * fuzz_pack_index.c - libFuzzer target for a pack's own index
 * (vlt_pack_read_index in vault/src/pack.c) and, for what it accepts,
 * vlt_blob_open on every entry, with one fixed test keyring.
 *
 * The first input byte picks the mode:
 *   even: the rest is a whole pack as stored.  Without this keyring's
 *         keys it exercises the header checks and the authenticate-then-
 *         reject path only.
 *   odd:  the rest is the plaintext of a pack index (count u32 || count ×
 *         46-byte entry); the target seals it after a real header and
 *         256 filler bytes, so the parser behind the authentication runs
 *         on fuzzer-chosen entries.
 *
 * Built by cmake -DVAULT_FUZZ=ON -DCMAKE_C_COMPILER=clang; replayed over
 * tests/fuzz/corpus/pack_index/ by ctest in every build (tests/fuzz/README.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "format/pack.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define INDEX_AD_LABEL "vault/v1 pack index"
#define FILLER 256

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

/* A pack holding FILLER bytes of blobs and plain as its sealed index. */
static uint8_t *seal(const uint8_t *plain, size_t plain_len, size_t *out_len)
{
    size_t trailer = AEAD_NONCE + plain_len + AEAD_TAG;
    size_t len = PACK_HEADER_BYTES + FILLER + trailer + 4;
    uint8_t *p = malloc(len), key[SECRET_BYTES];
    if (!p)
        abort();
    memcpy(p, PACK_MAGIC, 8);
    memset(p + 8, 0, 4); /* epoch 0 */
    if (vlt_seal_key_new(vlt_keyring_current(test_keys), "vault/v1 pack", p + 12,
                     key) != VAULT_OK)
        abort();
    memset(p + PACK_HEADER_BYTES, 0xA5, FILLER);
    uint8_t ad[sizeof INDEX_AD_LABEL - 1 + PACK_HEADER_BYTES];
    memcpy(ad, INDEX_AD_LABEL, sizeof INDEX_AD_LABEL - 1);
    memcpy(ad + sizeof INDEX_AD_LABEL - 1, p, PACK_HEADER_BYTES);
    uint8_t *t = p + PACK_HEADER_BYTES + FILLER;
    randombytes_buf(t, AEAD_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(t + AEAD_NONCE, NULL, plain,
                                               plain_len, ad, sizeof ad, NULL,
                                               t, key);
    uint32_t tl = (uint32_t)trailer;
    for (int i = 0; i < 4; i++)
        p[len - 4 + i] = (uint8_t)(tl >> (8 * i));
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
    uint8_t *pack;
    size_t len;
    if (mode & 1) {
        pack = seal(data, size, &len);
    } else {
        pack = malloc(size ? size : 1);
        if (!pack)
            abort();
        memcpy(pack, data, size);
        len = size;
    }
    pack_entry *es = NULL;
    size_t n = 0;
    if (vlt_pack_read_index(test_keys, pack, len, &es, &n) == VAULT_OK) {
        uint8_t key[SECRET_BYTES];
        if (vlt_pack_key_from_header(test_keys, pack, len, key) != VAULT_OK)
            abort(); /* the index authenticated under this very key */
        for (size_t i = 0; i < n; i++) {
            /* vlt_pack_read_index promised the entry lies inside the pack */
            if ((uint64_t)es[i].offset + es[i].length > len)
                abort();
            uint8_t *raw = NULL;
            if (vlt_blob_open(test_keys, key, &es[i], pack + es[i].offset,
                          es[i].length, NULL, &raw) == VAULT_OK)
                free(raw);
        }
        free(es);
    } else if (es || n) {
        abort();
    }
    free(pack);
    return 0;
}
