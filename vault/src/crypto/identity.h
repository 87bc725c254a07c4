/*
 * identity.h - the identity handle's layout, for modules that use its keys.
 */
#ifndef VAULT_IDENTITY_H
#define VAULT_IDENTITY_H

#include "crypto/age/age.h"
#include "vault.h"

typedef struct identity_key {
    age_stanza_kind kind; /* AGE_KIND_X25519, _SSH_ED25519 or _SSH_RSA */
    uint8_t secret_key[AGE_X25519_KEY_BYTES]; /* X25519 secret scalar */
    /* ssh-ed25519: libsodium's Ed25519 secret key (seed || public key);
     * secret_key is then all zero */
    uint8_t ssh_secret_key[AGE_ED25519_SECRET_KEY_BYTES];
    /* ssh-rsa: OpenSSL's key, owned (vault_identity_free frees it) */
    age_ssh_rsa_key rsa;
} identity_key;

struct vault_identity {
    identity_key *keys; /* sodium_malloc'ed: locked, guarded, wiped */
    size_t n_keys;      /* at least 1 */
    /* public key of keys[0]: "age1...", "ssh-ed25519 AAAA..." or
     * "ssh-rsa AAAA..." */
    char recipient[VAULT_RECIPIENT_MAX];
};

#endif
