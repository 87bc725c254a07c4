/*
 * authored.h - the signed plaintext that snapshots, index segments and
 * locks seal (format-spec/format.md §10, §12 (authored objects)):
 *
 *   author (32: signing public key) | sig (64) | payload
 *   sig = Sign(author, label, payload)      (crypto/sign.h)
 *
 * Each object seals it its own way; signing and verifying it is here,
 * once.  Whether the author is a member is the caller's question
 * (repo/membership.h).  Private.
 */
#ifndef VAULT_AUTHORED_H
#define VAULT_AUTHORED_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"

#define AUTHORED_BYTES (SIGN_PUBLIC_BYTES + SIGNATURE_BYTES)

/* plain holds AUTHORED_BYTES of room, then the payload: fills the room
 * with k's signing key and its signature.  VAULT_E_PERMISSION, naming
 * what ("a snapshot"), when k has no signing key. */
vault_error vlt_authored_sign(const keyring *k, const char *label,
                              const char *what, uint8_t *plain,
                              size_t plain_len);
/* VAULT_OK when plain is author | sig | payload and sig is author's;
 * VAULT_E_CORRUPT naming folder/name ("truncated", "forged: its author's
 * signature does not verify") otherwise.  plain is written to during the
 * call (the signed prefix, crypto/sign.h) and left as it was. */
vault_error vlt_authored_verify(const keyring *k, const char *label,
                                const char *folder, const char *name,
                                uint8_t *plain, size_t plain_len);

#endif
