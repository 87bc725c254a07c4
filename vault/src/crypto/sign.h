/*
 * sign.h - Ed25519 signatures that say who wrote an object or granted a
 * role (format version 2, format-spec "Signatures").  Private.
 *
 * Every signature covers label || vault_id || message: the label says
 * what the signature means (a membership record, a snapshot, an index
 * segment, a lock), the vault ID keeps a member of two vaults from
 * replaying one vault's signed object into the other.
 */
#ifndef VAULT_SIGN_H
#define VAULT_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "vault.h"

#define SIGN_SEED_BYTES 32
#define SIGN_PUBLIC_BYTES 32
#define SIGN_SECRET_BYTES 64 /* libsodium's form: seed || public key */
#define SIGNATURE_BYTES 64

#define SIGN_LABEL_MEMBERS "vault/v2 members"
#define SIGN_LABEL_SNAPSHOT "vault/v2 snapshot"
#define SIGN_LABEL_INDEX "vault/v2 index"
#define SIGN_LABEL_LOCK "vault/v2 lock"

/* The key pair of a 32-byte seed (what envelopes store). */
void vlt_sign_keypair_from_seed(const uint8_t seed[SIGN_SEED_BYTES],
                                uint8_t public_key[SIGN_PUBLIC_BYTES],
                                uint8_t secret_key[SIGN_SECRET_BYTES]);
/* A fresh seed and its key pair. */
void vlt_sign_keypair_generate(uint8_t seed[SIGN_SEED_BYTES],
                               uint8_t public_key[SIGN_PUBLIC_BYTES],
                               uint8_t secret_key[SIGN_SECRET_BYTES]);

/* sig = Ed25519(secret_key, label || vault_id || msg). */
vault_error vlt_sign(const uint8_t secret_key[SIGN_SECRET_BYTES],
                     const char *label, const uint8_t vault_id[32],
                     const uint8_t *msg, size_t len,
                     uint8_t sig[SIGNATURE_BYTES]);
/* VAULT_OK when sig is public_key's signature of label || vault_id || msg;
 * VAULT_E_CORRUPT (no detail set: the caller names the object) when it is
 * not; VAULT_E_NOMEM (with a detail) when memory ran out. */
vault_error vlt_sign_verify(const uint8_t public_key[SIGN_PUBLIC_BYTES],
                    const char *label, const uint8_t vault_id[32],
                    const uint8_t *msg, size_t len,
                    const uint8_t sig[SIGNATURE_BYTES]);

/*
 * The same without copying the message: msg has at least room writable
 * bytes before it (room >= strlen(label) + 32, at most SIGN_PREFIX_MAX),
 * where label || vault_id is written for the duration of the call and
 * the bytes are then put back.  sig may lie in that room.  For index
 * segments (up to 64 MiB), whose copy would double the memory a load or
 * a save needs.
 */
#define SIGN_PREFIX_MAX 64
vault_error vlt_sign_in_place(const uint8_t secret_key[SIGN_SECRET_BYTES],
                              const char *label, const uint8_t vault_id[32],
                              uint8_t *msg, size_t len, size_t room,
                              uint8_t sig[SIGNATURE_BYTES]);
vault_error vlt_sign_verify_in_place(const uint8_t public_key[SIGN_PUBLIC_BYTES],
                                     const char *label,
                                     const uint8_t vault_id[32], uint8_t *msg,
                                     size_t len, size_t room,
                                     const uint8_t sig[SIGNATURE_BYTES]);

#endif
