/*
 * fuzz_index.c - libFuzzer target for index segments, loaded the way a
 * vault loads them (vlt_index_load in vault/src/pack.c over an in-memory
 * backend), with one fixed test keyring.
 *
 * The object is saved under the SHA-256 of its bytes, so the name check
 * passes and the parser itself runs.  The first input byte picks the mode:
 *   odd:  the rest is a segment body (packs u32 || per pack: pack ID (32)
 *         | count u32 | count × 46-byte entry); the target signs it with
 *         the keyring's signing key (author | sig | body, format v2) and
 *         seals it with the keyring's real index key, so the parser behind
 *         the authentication and the signature runs.
 *   2:    the rest is a whole plaintext (author | sig | body) the target
 *         seals as it is: the signature check sees fuzzer-chosen bytes.
 *   other even: the rest is a segment as stored.  Without this keyring's
 *         keys it exercises the header checks and the
 *         authenticate-then-reject path only.
 * The loader is given an author standing from the author key's first
 * byte (forged, writer, trusted, own), so skipped segments and copies of
 * every rank occur.  What loads must be consistent: every slot is one of
 * the copies of its own ID, the table points at each ID's best copy, and
 * copies come in rank order.
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

static uint8_t *seal(const uint8_t *plain, size_t plain_len, size_t *out_len)
{
    size_t len = HEADER + plain_len + AEAD_TAG;
    uint8_t *p = malloc(len), key[SECRET_BYTES];
    if (!p)
        abort();
    memcpy(p, INDEX_MAGIC, 8);
    memset(p + 8, 0, 4); /* epoch 0 */
    randombytes_buf(p + 12, AEAD_NONCE);
    vlt_kdf(key, vlt_keyring_current(test_keys)->write_key, "index");
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + HEADER, NULL, plain,
                                               plain_len, p, HEADER, NULL,
                                               p + 12, key);
    *out_len = len;
    return p;
}

/* author | Sign(author, "vault/v2 index", body) | body, sealed. */
static uint8_t *sign_seal(const uint8_t *body, size_t body_len,
                          size_t *out_len)
{
    uint8_t *plain = malloc(INDEX_AUTHOR_BYTES + body_len);
    if (!plain)
        abort();
    memcpy(plain, test_keys->sign_pk, SIGN_PUBLIC_BYTES);
    if (body_len)
        memcpy(plain + INDEX_AUTHOR_BYTES, body, body_len);
    if (vlt_sign(test_keys->sign_sk, SIGN_LABEL_INDEX, test_keys->vault_id,
                 plain + INDEX_AUTHOR_BYTES, body_len,
                 plain + SIGN_PUBLIC_BYTES) != VAULT_OK)
        abort();
    uint8_t *p = seal(plain, INDEX_AUTHOR_BYTES + body_len, out_len);
    free(plain);
    return p;
}

/* A standing from the author key's first byte: the test keyring's key
 * gets one of four, and a fuzzer-chosen author in mode 2 any. */
static int standing_by_first_byte(void *ctx, const uint8_t author[32])
{
    (void)ctx;
    switch (author[0] & 3) {
    case 0: return -1;
    case 1: return 0;
    case 2: return SLOT_TRUSTED;
    }
    return SLOT_TRUSTED | SLOT_OWN;
}

static void report_nothing(void *ctx, const char *name, const char *detail)
{
    (void)ctx;
    (void)name;
    (void)detail;
}

static int rank(const vault_index *ix, const index_slot *s)
{
    return (vlt_index_slot_trusted(s) ? 4 : 0) +
           (vlt_index_slot_condemned(ix, s) ? 0 : 2) +
           (vlt_index_slot_own(s) ? 1 : 0);
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
        seg = sign_seal(data, size, &len);
    } else if (mode == 2) {
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
    if (vlt_index_load(&ix, be, test_keys, standing_by_first_byte, NULL,
                       report_nothing, NULL) == VAULT_OK) {
        for (size_t i = 0; i < ix.n_slots; i++) {
            const index_slot *c[INDEX_MAX_COPIES];
            size_t n = vlt_index_copies(&ix, ix.slots[i].id, c,
                                        INDEX_MAX_COPIES);
            if (n == 0 || n > INDEX_MAX_COPIES ||
                ix.slots[i].pack >= ix.n_packs ||
                vlt_index_find(&ix, ix.slots[i].id) != c[0])
                abort();
            int found = 0;
            for (size_t j = 0; j < n; j++) {
                found |= c[j] == &ix.slots[i];
                if (memcmp(c[j]->id, ix.slots[i].id, CHUNK_ID_BYTES) != 0 ||
                    (j && rank(&ix, c[j]) > rank(&ix, c[j - 1])))
                    abort();
            }
            if (!found)
                abort();
        }
    }
    vlt_index_free(&ix);
    backend_close(be);
    return 0;
}
