/*
 * identity.h - the identity handle's layout, for modules that use its keys.
 */
#ifndef VAULT_IDENTITY_H
#define VAULT_IDENTITY_H

#include "age.h"
#include "vault.h"

typedef struct identity_key {
    uint8_t secret_key[AGE_X25519_KEY_BYTES]; /* X25519 secret scalar */
} identity_key;

struct vault_identity {
    identity_key *keys; /* sodium_malloc'ed: locked, guarded, wiped */
    size_t n_keys;      /* at least 1 */
    char recipient[AGE_RECIPIENT_STRLEN + 1]; /* public key of keys[0] */
};

#endif
