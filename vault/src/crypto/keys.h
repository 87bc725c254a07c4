/*
 * keys.h - a vault's secrets: the keyring a member's envelope holds, the
 * config object, and the sealing that packs and snapshots use.  Private.
 * Format spec: "Keys, roles and envelopes", "Sealing", "Config".
 */
#ifndef VAULT_KEYS_H
#define VAULT_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "crypto/sign.h"
#include "vault.h"

#define VAULT_ID_BYTES 32
#define SECRET_BYTES 32
#define X25519_BYTES 32
#define CONFIG_MAGIC "VAULTCF1"
#define CONFIG_BYTES 88
#define ENVELOPE_MAX_BYTES (256u * 1024)
#define EPOCHS_MAX 1024

typedef enum member_role {
    ROLE_OWNER = 1,
    ROLE_READER = 2,
    ROLE_WRITER = 3
} member_role;

/* One key epoch: data sealed in epoch e needs read_sk of e to open. */
typedef struct key_epoch {
    uint8_t read_pk[X25519_BYTES]; /* public: seals packs and snapshots */
    uint8_t read_sk[X25519_BYTES]; /* secret: readers and owners only */
    int has_read_sk;
    uint8_t write_key[SECRET_BYTES]; /* members' shared write secret */
} key_epoch;

/* What one member knows.  Lives in sodium_malloc'ed memory. */
typedef struct keyring {
    uint8_t vault_id[VAULT_ID_BYTES];
    uint8_t dedup_secret[SECRET_BYTES]; /* never rotated: keys dedup */
    member_role role;
    uint32_t n_epochs; /* >= 1; the last is the current one */
    key_epoch *epochs;
    /* derived from dedup_secret */
    uint8_t chunk_id_key[SECRET_BYTES];
    uint8_t gear_key[SECRET_BYTES];
    uint8_t config_mac_key[SECRET_BYTES];
    /* The member's own signing key (format v2): its secret is only in
     * this member's grant envelope.  has_sign_key is 0 until one is set. */
    int has_sign_key;
    uint8_t sign_seed[SIGN_SEED_BYTES];
    uint8_t sign_pk[SIGN_PUBLIC_BYTES];
    uint8_t sign_sk[SIGN_SECRET_BYTES];
} keyring;

/* KDF(key, label) = BLAKE2b-256(key = key, message = "vault/v1 " || label) */
void vlt_kdf(uint8_t out[SECRET_BYTES], const uint8_t key[SECRET_BYTES],
             const char *label);

vault_error vlt_keyring_generate(keyring **out);
void vlt_keyring_free(keyring *k);
/* A copy of k with one more epoch: fresh read key pair and write key. */
vault_error vlt_keyring_new_epoch(const keyring *k, keyring **out);
const key_epoch *vlt_keyring_current(const keyring *k);
/* The epoch numbered e, or NULL if this member does not have it. */
const key_epoch *vlt_keyring_epoch(const keyring *k, uint32_t e);
int vlt_keyring_can_read(const keyring *k);

/* The envelope's payload text for a member (spec "Envelopes"). */
vault_error vlt_envelope_payload_encode(const keyring *k, member_role role,
                                        const char *member, int64_t created,
                                        char **out, size_t *out_len);
/* Strict parse of a payload; the keyring's role is the envelope's. */
vault_error vlt_envelope_payload_decode(const uint8_t *text, size_t len,
                                        keyring **out, char **member,
                                        int64_t *created);

/* Config: public parameters, authenticated with a dedup-derived key. */
void vlt_config_encode(const keyring *k, uint8_t out[CONFIG_BYTES]);
/* Parses the public part (no key needed). */
vault_error vlt_config_parse(const uint8_t *data, size_t len,
                             uint8_t vault_id[VAULT_ID_BYTES]);
/* Checks the config MAC and that the vault IDs agree. */
vault_error vlt_config_verify(const keyring *k, const uint8_t *data, size_t len);

/*
 * Sealing to an epoch: an ephemeral X25519 agreement with the epoch's
 * read key, mixed with its write key:
 *   key = BLAKE2b-256(key = write_key,
 *                     message = label || X25519(e, read_pk) || E || read_pk)
 * Writers make keys with vlt_seal_key_new; readers recover them with
 * vlt_seal_key_open from the stored ephemeral public key E.
 */
vault_error vlt_seal_key_new(const key_epoch *ep, const char *label,
                             uint8_t ephemeral_pk[X25519_BYTES],
                             uint8_t key[SECRET_BYTES]);
vault_error vlt_seal_key_open(const key_epoch *ep, const char *label,
                              const uint8_t ephemeral_pk[X25519_BYTES],
                              uint8_t key[SECRET_BYTES]);

#endif
