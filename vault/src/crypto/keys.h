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
#define FORMAT_VERSION 2
#define CONFIG_BYTES 88
#define ENVELOPE_MAX_BYTES (256u * 1024)
#define EPOCHS_MAX 1024
#define RECIPIENT_MAX 1024 /* bytes of a member's recipient string */

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

/*
 * An envelope's payload (format v2, format.md §5.4-5.5): the secrets one
 * member holds, never a role (the membership log says that).  A grant
 * envelope has the signing seed, the dedup secret and epochs 0..current;
 * an epoch envelope has "-" for both and only the new epoch.
 */
typedef struct envelope_epoch {
    uint32_t number;
    key_epoch keys; /* has_read_sk 0: "-" (a writer's epoch) */
} envelope_epoch;

typedef struct envelope_payload {
    uint8_t vault_id[VAULT_ID_BYTES];
    char *member; /* malloc'ed: the recipient string */
    int has_sign_key;
    uint8_t sign_seed[SIGN_SEED_BYTES];
    int has_dedup_secret;
    uint8_t dedup_secret[SECRET_BYTES];
    uint32_t n_epochs; /* >= 1, numbers strictly increasing */
    envelope_epoch *epochs;
} envelope_payload;

/* Lives in sodium_malloc'ed memory; NULL is fine. */
void vlt_envelope_payload_free(envelope_payload *p);
/* The payload text (plain malloc memory: vlt_age_encrypt takes it). */
vault_error vlt_envelope_payload_encode(const envelope_payload *p, char **out,
                                        size_t *out_len);
/* Strict parse of a payload: anything but the canonical text fails. */
vault_error vlt_envelope_payload_decode(const uint8_t *text, size_t len,
                                        envelope_payload **out);
/* A payload for member from k: epochs first..current (the read secret
 * only when with_read_sk), the signing seed when sign_seed is not NULL,
 * the dedup secret when with_dedup. */
vault_error vlt_envelope_payload_make(const keyring *k, const char *member,
                                      const uint8_t *sign_seed, int with_dedup,
                                      uint32_t first_epoch, int with_read_sk,
                                      envelope_payload **out);
/* An empty keyring of n_epochs for a member's merged secrets. */
vault_error vlt_keyring_alloc(uint32_t n_epochs, keyring **out);
/* Sets the derived keys (chunk ID, gear, config MAC) from dedup_secret. */
void vlt_keyring_derive(keyring *k);

/* Config: public parameters, authenticated with a dedup-derived key.
 * A config object longer than this is refused unread. */
#define VAULT_CONFIG_MAX_BYTES 4096
void vlt_config_encode(const keyring *k, uint8_t out[CONFIG_BYTES]);
/* Parses the public part (no key needed). */
vault_error vlt_config_parse(const uint8_t *data, size_t len,
                             uint8_t vault_id[VAULT_ID_BYTES]);
/* Checks the config MAC and that the vault IDs agree. */
vault_error vlt_config_verify(const keyring *k, const uint8_t *data, size_t len);
/* The same with the MAC key (KDF(dedup secret, "config")) and vault ID. */
vault_error vlt_config_check_mac(const uint8_t mac_key[SECRET_BYTES],
                                 const uint8_t vault_id[VAULT_ID_BYTES],
                                 const uint8_t *data, size_t len);

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
