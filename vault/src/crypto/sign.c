/*
 * sign.c - Ed25519 signatures over label || vault_id || message.
 *
 * libsodium's multi-part Ed25519 (crypto_sign_init/update) is Ed25519ph,
 * a different scheme; pure Ed25519 needs the whole message in one
 * buffer, so the prefix goes in front of the message: in the bytes the
 * caller has before it (the in-place forms), or in a copy.  Signed
 * messages are records and segment bodies (at most 64 MiB), signed once
 * per object, never per chunk.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/internal.h"
#include "crypto/sign.h"

void vlt_sign_keypair_from_seed(const uint8_t seed[SIGN_SEED_BYTES],
                                uint8_t public_key[SIGN_PUBLIC_BYTES],
                                uint8_t secret_key[SIGN_SECRET_BYTES])
{
    crypto_sign_seed_keypair(public_key, secret_key, seed);
}

void vlt_sign_keypair_generate(uint8_t seed[SIGN_SEED_BYTES],
                               uint8_t public_key[SIGN_PUBLIC_BYTES],
                               uint8_t secret_key[SIGN_SECRET_BYTES])
{
    randombytes_buf(seed, SIGN_SEED_BYTES);
    crypto_sign_seed_keypair(public_key, secret_key, seed);
}

/* A copy of msg with SIGN_PREFIX_MAX bytes of room before it, for the
 * in-place forms below (the copying forms are for callers whose message
 * has no room before it: membership records end with their signature). */
static uint8_t *with_room(const uint8_t *msg, size_t len)
{
    if (len > SIZE_MAX - SIGN_PREFIX_MAX)
        return NULL;
    uint8_t *m = malloc(SIGN_PREFIX_MAX + len + 1);
    if (m && len)
        memcpy(m + SIGN_PREFIX_MAX, msg, len);
    return m;
}

vault_error vlt_sign(const uint8_t secret_key[SIGN_SECRET_BYTES],
                     const char *label, const uint8_t vault_id[32],
                     const uint8_t *msg, size_t len,
                     uint8_t sig[SIGNATURE_BYTES])
{
    uint8_t *m = with_room(msg, len);
    if (!m)
        return vlt_fail(VAULT_E_NOMEM, "signature: out of memory");
    vault_error rc = vlt_sign_in_place(secret_key, label, vault_id,
                                       m + SIGN_PREFIX_MAX, len,
                                       SIGN_PREFIX_MAX, sig);
    free(m);
    return rc;
}

vault_error vlt_sign_verify(const uint8_t public_key[SIGN_PUBLIC_BYTES],
                            const char *label, const uint8_t vault_id[32],
                            const uint8_t *msg, size_t len,
                            const uint8_t sig[SIGNATURE_BYTES])
{
    uint8_t *m = with_room(msg, len);
    if (!m)
        return vlt_fail(VAULT_E_NOMEM, "signature: out of memory");
    vault_error rc = vlt_sign_verify_in_place(public_key, label, vault_id,
                                              m + SIGN_PREFIX_MAX, len,
                                              SIGN_PREFIX_MAX, sig);
    free(m);
    return rc;
}

/* Writes label || vault_id into the room before msg, keeping what was
 * there in saved; the signed message's start, or NULL if the room is too
 * small. */
static uint8_t *prefix_in_place(const char *label, const uint8_t vault_id[32],
                                uint8_t *msg, size_t room,
                                uint8_t saved[SIGN_PREFIX_MAX], size_t *n)
{
    size_t label_len = strlen(label);
    *n = label_len + 32;
    if (*n > room || *n > SIGN_PREFIX_MAX)
        return NULL;
    uint8_t *start = msg - *n;
    memcpy(saved, start, *n);
    memcpy(start, label, label_len);
    memcpy(start + label_len, vault_id, 32);
    return start;
}

vault_error vlt_sign_in_place(const uint8_t secret_key[SIGN_SECRET_BYTES],
                              const char *label, const uint8_t vault_id[32],
                              uint8_t *msg, size_t len, size_t room,
                              uint8_t sig[SIGNATURE_BYTES])
{
    uint8_t saved[SIGN_PREFIX_MAX], out[SIGNATURE_BYTES];
    size_t n;
    uint8_t *start = prefix_in_place(label, vault_id, msg, room, saved, &n);
    if (!start)
        return vlt_fail(VAULT_E_INTERNAL, "signature: no room for the prefix");
    crypto_sign_detached(out, NULL, start, n + len, secret_key);
    memcpy(start, saved, n);
    memcpy(sig, out, SIGNATURE_BYTES);
    return VAULT_OK;
}

vault_error vlt_sign_verify_in_place(const uint8_t public_key[SIGN_PUBLIC_BYTES],
                                     const char *label,
                                     const uint8_t vault_id[32], uint8_t *msg,
                                     size_t len, size_t room,
                                     const uint8_t sig[SIGNATURE_BYTES])
{
    uint8_t saved[SIGN_PREFIX_MAX], s[SIGNATURE_BYTES], pk[SIGN_PUBLIC_BYTES];
    memcpy(s, sig, SIGNATURE_BYTES); /* both may lie in the room */
    memcpy(pk, public_key, SIGN_PUBLIC_BYTES);
    size_t n;
    uint8_t *start = prefix_in_place(label, vault_id, msg, room, saved, &n);
    if (!start)
        return vlt_fail(VAULT_E_INTERNAL, "signature: no room for the prefix");
    int ok = crypto_sign_verify_detached(s, start, n + len, pk) == 0;
    memcpy(start, saved, n);
    return ok ? VAULT_OK : VAULT_E_CORRUPT;
}
