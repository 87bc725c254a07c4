/*
 * fuzz_snapshot.c - libFuzzer target for snapshot objects, loaded the way
 * a vault loads them (vlt_repo_snapshot_load, vault/src/format/snapshot.c:
 * name check, header, unsealing, then vlt_snapshot_decode), with one fixed
 * test keyring and an in-memory backend.
 *
 * The first input byte picks the mode:
 *   even: the rest is a snapshot object as stored (saved under the SHA-256
 *         of its bytes, so the name check passes).  Without this keyring's
 *         keys it exercises the header checks and the authenticate-then-
 *         reject path only.
 *   odd:  the rest is a snapshot record; the target signs and seals it
 *         as vlt_repo_snapshot_save would (author | sig | record), so
 *         vlt_snapshot_decode runs behind the authentication and the
 *         signature.  An accepted record must re-encode to exactly those
 *         bytes (canonical form) and name the keyring's key as its author.
 *   2:    the rest is a whole plaintext (author | sig | record) sealed as
 *         it is: the signature check sees fuzzer-chosen bytes.
 * The handle's membership lists the keyring's signing key as the owner;
 * the stub answers "writer" for other keys, and a snapshot whose author
 * is not a member must be refused (forged).
 *
 * Built by cmake -DVAULT_FUZZ=ON -DCMAKE_C_COMPILER=clang; replayed over
 * tests/fuzz/corpus/snapshot/ by ctest in every build (tests/fuzz/README.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "repo/repo.h"
#include "backend_testing.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static keyring *test_keys;
static member_entry test_member;
static membership test_members;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (vault_global_init() != VAULT_OK || vlt_keyring_generate(&test_keys))
        abort();
    memcpy(test_member.sign_pk, test_keys->sign_pk, SIGN_PUBLIC_BYTES);
    test_member.role = ROLE_OWNER;
    test_members.members = &test_member;
    test_members.n_members = 1;
    return 0;
}

static uint8_t *seal(const uint8_t *plain, size_t plain_len, size_t *out_len)
{
    size_t len = SNAPSHOT_HEADER_BYTES + plain_len + AEAD_TAG;
    uint8_t *p = malloc(len), key[SECRET_BYTES];
    if (!p)
        abort();
    memcpy(p, SNAPSHOT_MAGIC, 8);
    memset(p + 8, 0, 4); /* epoch 0 */
    if (vlt_seal_key_new(vlt_keyring_current(test_keys), "vault/v1 snapshot", p + 12,
                     key) != VAULT_OK)
        abort();
    randombytes_buf(p + 44, AEAD_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + SNAPSHOT_HEADER_BYTES,
                                               NULL, plain, plain_len, p,
                                               SNAPSHOT_HEADER_BYTES, NULL,
                                               p + 44, key);
    *out_len = len;
    return p;
}

/* author | Sign(author, "vault/v2 snapshot", record) | record, sealed. */
static uint8_t *sign_seal(const uint8_t *record, size_t record_len,
                          size_t *out_len)
{
    uint8_t *plain = malloc(SNAPSHOT_AUTHOR_BYTES + record_len);
    if (!plain)
        abort();
    memcpy(plain, test_keys->sign_pk, SIGN_PUBLIC_BYTES);
    if (record_len)
        memcpy(plain + SNAPSHOT_AUTHOR_BYTES, record, record_len);
    if (vlt_sign(test_keys->sign_sk, SIGN_LABEL_SNAPSHOT, test_keys->vault_id,
                 plain + SNAPSHOT_AUTHOR_BYTES, record_len,
                 plain + SIGN_PUBLIC_BYTES) != VAULT_OK)
        abort();
    uint8_t *p = seal(plain, SNAPSHOT_AUTHOR_BYTES + record_len, out_len);
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
    /* just enough of a vault handle for vlt_repo_snapshot_load */
    vault_t v;
    memset(&v, 0, sizeof v);
    v.keys = test_keys;
    v.members = &test_members;
    if (vlt_backend_memory_open(&v.be) != VAULT_OK)
        abort();
    char name[65];
    vlt_object_name(obj, len, name);
    if (backend_save(v.be, BACKEND_SNAPSHOTS, name, obj, len) != VAULT_OK)
        abort();
    free(obj);
    snapshot_record rec;
    if (vlt_repo_snapshot_load(&v, name, &rec) == VAULT_OK) {
        if (mode & 1) {
            uint8_t *enc = NULL;
            size_t enc_len = 0;
            if (vlt_snapshot_encode(&rec, &enc, &enc_len) != VAULT_OK ||
                enc_len != size || memcmp(enc, data, size) != 0 ||
                memcmp(rec.author, test_keys->sign_pk, SIGN_PUBLIC_BYTES))
                abort(); /* accepted a non-canonical record */
            free(enc);
        }
        if (vlt_membership_standing(&test_members, rec.author) ==
            AUTHOR_UNKNOWN)
            abort(); /* accepted a forged snapshot */
        vlt_snapshot_clear(&rec);
    }
    backend_close(v.be);
    return 0;
}
