/*
 * membership_record.h - one membership record `VAULTMB2` (format v2,
 * format.md §5.2-5.3): a signed roster with the key epoch it starts, sealed
 * with the epoch's write key so every member can read it and storage
 * cannot.  This module is bytes only; the log's rules are membership.c.
 * Private.
 */
#ifndef VAULT_MEMBERSHIP_RECORD_H
#define VAULT_MEMBERSHIP_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"

#define MEMBERS_MAGIC "VAULTMB2"
#define MEMBERS_HEADER_BYTES 36 /* magic, epoch u32, nonce (24) */
#define MEMBERS_MAX_BYTES (16u * 1024 * 1024)
#define MEMBERS_COUNT_MAX 10000
#define MEMBER_ENVELOPES_MAX 1025 /* a grant and one per later epoch */

/* One member as a record lists it. */
typedef struct member_entry {
    uint8_t sign_pk[SIGN_PUBLIC_BYTES];
    member_role role;
    int64_t added;
    char *recipient;          /* malloc'ed, NUL-terminated */
    uint8_t (*envelopes)[32]; /* names (raw SHA-256) of its envelopes */
    uint16_t n_envelopes;
} member_entry;

typedef struct membership_record {
    uint64_t seq;
    uint8_t previous[32]; /* raw name of record seq-1; seq 0: the salt */
    uint32_t epoch;
    uint8_t epoch_pk[X25519_BYTES];
    uint8_t write_key_id[32];
    uint8_t dedup_id[32];
    int64_t time;
    member_entry *members; /* sorted by sign_pk, unique */
    uint32_t n_members;
    uint8_t signer[SIGN_PUBLIC_BYTES];
    uint8_t sig[SIGNATURE_BYTES];
} membership_record;

/* Frees what a record owns (not the record); zeroes it. */
void vlt_member_entries_free(member_entry *e, size_t n);
void vlt_membership_record_clear(membership_record *r);
/* Deep copy of one entry into *dst. */
vault_error vlt_member_entry_copy(member_entry *dst, const member_entry *src);

/* The vault ID a founding record commits to: BLAKE2b-256("vault/v2 vault
 * id" || founder's signing key || salt), the salt being record 0's
 * previous field.  So a member (who holds epoch 0's write key) cannot
 * seal a founding record of its own that counts. */
void vlt_vault_id_of(const uint8_t founder_pk[SIGN_PUBLIC_BYTES],
                     const uint8_t salt[32], uint8_t vault_id[VAULT_ID_BYTES]);

/* KDF(W, "write key id") and KDF(D, "dedup id"). */
void vlt_write_key_id(const uint8_t write_key[SECRET_BYTES], uint8_t out[32]);
void vlt_dedup_id(const uint8_t dedup_secret[SECRET_BYTES], uint8_t out[32]);

/* Sorts the roster by signing key and signs the record as signer
 * (sign_sk: libsodium form), filling signer and sig; then the body bytes
 * (malloc'ed). */
vault_error vlt_membership_record_sign(membership_record *r,
                                       const uint8_t vault_id[VAULT_ID_BYTES],
                                       const uint8_t sign_sk[SIGN_SECRET_BYTES],
                                       uint8_t **body, size_t *body_len);
/* Strict parse of a body (no signature check): VAULT_E_CORRUPT with a
 * detail for anything but a canonical body. */
vault_error vlt_membership_record_decode(const uint8_t *body, size_t len,
                                         membership_record *out);
/* VAULT_OK when the body's signature is its signer's. */
vault_error vlt_membership_record_verify(const uint8_t *body, size_t len,
                                         const uint8_t vault_id[VAULT_ID_BYTES]);

/* The stored object: header | AEAD(KDF(W, "members"), nonce, header, body). */
vault_error vlt_membership_record_seal(const uint8_t write_key[SECRET_BYTES],
                                       uint32_t epoch, const uint8_t *body,
                                       size_t body_len, uint8_t **out,
                                       size_t *out_len);
/* The epoch a stored object says it is sealed in; VAULT_E_CORRUPT if it
 * is not a membership record. */
vault_error vlt_membership_record_epoch(const uint8_t *data, size_t len,
                                        uint32_t *epoch);
/* Opens a stored object with the write key of its epoch; the body is
 * malloc'ed.  VAULT_E_CORRUPT (no detail: the caller names the object)
 * when the key does not open it. */
vault_error vlt_membership_record_open(const uint8_t write_key[SECRET_BYTES],
                                       const uint8_t *data, size_t len,
                                       uint8_t **body, size_t *body_len);

#endif
