/*
 * snapshot.c - snapshot objects (snapshot.h).
 *
 * Snapshot object (format spec "Snapshots"):
 *   0   "VAULTSN1"
 *   8   epoch u32
 *   12  ephemeral X25519 public key E (32)
 *   44  nonce (24)
 *   68  XChaCha20-Poly1305(seal key "vault/v1 snapshot", nonce,
 *                          AD = bytes 0..67, snapshot record)
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/internal.h"
#include "format/pack.h"
#include "format/snapshot.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

vault_error vlt_snapshot_save(backend *be, const keyring *k,
                              const snapshot_record *rec, char id_hex[65])
{
    uint8_t *plain;
    size_t plain_len;
    vault_error rc = vlt_snapshot_encode(rec, &plain, &plain_len);
    if (rc != VAULT_OK)
        return rc;
    size_t total = SNAPSHOT_HEADER_BYTES + plain_len + AEAD_TAG;
    uint8_t *file = malloc(total);
    if (!file) {
        free(plain);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    uint8_t key[SECRET_BYTES];
    memcpy(file, SNAPSHOT_MAGIC, 8);
    store_le32(file + 8, k->n_epochs - 1);
    rc = vlt_seal_key_new(vlt_keyring_current(k), "vault/v1 snapshot",
                          file + 12, key);
    if (rc == VAULT_OK) {
        randombytes_buf(file + 44, AEAD_NONCE);
        crypto_aead_xchacha20poly1305_ietf_encrypt(
            file + SNAPSHOT_HEADER_BYTES, NULL, plain, plain_len, file,
            SNAPSHOT_HEADER_BYTES, NULL, file + 44, key);
        sodium_memzero(key, sizeof key);
        vlt_object_name(file, total, id_hex);
        rc = backend_save(be, BACKEND_SNAPSHOTS, id_hex, file, total);
    }
    free(plain);
    free(file);
    return rc;
}

/* Loads snapshots/<name> and checks what can be checked without
 * unsealing it: its name, its header, and that k holds its epoch (*epoch). */
static vault_error load_sealed(backend *be, const keyring *k, const char *name,
                               uint8_t **out, size_t *out_len,
                               const key_epoch **epoch)
{
    uint8_t *file;
    size_t len;
    vault_error rc = backend_load(be, BACKEND_SNAPSHOTS, name, 0, 0,
                                  SNAPSHOT_MAX_BYTES, &file, &len);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_object_check_name(BACKEND_SNAPSHOTS, name, file, len);
    if (rc != VAULT_OK) {
        free(file);
        return rc;
    }
    if (len < SNAPSHOT_HEADER_BYTES + AEAD_TAG ||
        memcmp(file, SNAPSHOT_MAGIC, 8) != 0) {
        free(file);
        return vlt_fail(VAULT_E_CORRUPT, "snapshots/%s: not a snapshot",
                        name);
    }
    const key_epoch *ep = vlt_keyring_epoch(k, load_le32(file + 8));
    if (!ep) {
        free(file);
        return vlt_fail(VAULT_E_PERMISSION,
                        "snapshots/%s: sealed in a key epoch this member "
                        "does not have",
                        name);
    }
    *out = file;
    *out_len = len;
    *epoch = ep;
    return VAULT_OK;
}

vault_error vlt_snapshot_check_sealed(backend *be, const keyring *k,
                                      const char *name)
{
    uint8_t *file = NULL;
    size_t len = 0;
    const key_epoch *ep = NULL;
    vault_error rc = load_sealed(be, k, name, &file, &len, &ep);
    if (rc == VAULT_OK)
        free(file);
    return rc;
}

vault_error vlt_snapshot_load(backend *be, const keyring *k, const char *name,
                              snapshot_record *rec)
{
    memset(rec, 0, sizeof *rec);
    uint8_t *file = NULL;
    size_t len = 0;
    const key_epoch *ep = NULL;
    vault_error rc = load_sealed(be, k, name, &file, &len, &ep);
    if (rc != VAULT_OK)
        return rc;
    uint8_t key[SECRET_BYTES];
    rc = vlt_seal_key_open(ep, "vault/v1 snapshot", file + 12, key);
    if (rc != VAULT_OK) {
        free(file);
        return vlt_fail_context(rc, "snapshots/%s", name);
    }
    size_t plain_len = len - SNAPSHOT_HEADER_BYTES - AEAD_TAG;
    uint8_t *plain = malloc(plain_len ? plain_len : 1);
    if (!plain) {
        free(file);
        sodium_memzero(key, sizeof key);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
        plain, NULL, NULL, file + SNAPSHOT_HEADER_BYTES,
        len - SNAPSHOT_HEADER_BYTES, file, SNAPSHOT_HEADER_BYTES, file + 44,
        key);
    sodium_memzero(key, sizeof key);
    free(file);
    if (bad) {
        free(plain);
        return vlt_fail(VAULT_E_CORRUPT,
                        "snapshots/%s: authentication failed", name);
    }
    rc = vlt_snapshot_decode(plain, plain_len, rec);
    free(plain);
    if (rc != VAULT_OK)
        return vlt_fail_context(rc, "snapshots/%s", name);
    return VAULT_OK;
}
