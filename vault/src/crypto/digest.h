/*
 * digest.h - SHA-256 and HMAC-SHA-256 over bulk data (object names, chunk
 * IDs), computed with OpenSSL's libcrypto.  Private.
 *
 * These run over every byte a backup stores or reads back, so they use
 * libcrypto, whose SHA-256 uses the CPU's SHA extensions (several times
 * libsodium's portable SHA-256).  Everything else stays with libsodium.
 * The functions cannot fail: if libcrypto cannot give a context (out of
 * memory), libsodium computes the same function, only slower.
 */
#ifndef VAULT_DIGEST_H
#define VAULT_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define SHA256_BYTES 32

/* out = SHA-256(data). */
void vlt_sha256(const uint8_t *data, size_t len, uint8_t out[SHA256_BYTES]);

/* SHA-256 of a message given in pieces (a pack written to storage as it
 * is made): init, any number of updates, final (which frees what init
 * took; the context may then be inited again). */
typedef struct vlt_sha256_stream {
    void *md_ctx; /* libcrypto's, or NULL: the libsodium state below */
    crypto_hash_sha256_state fallback;
} vlt_sha256_stream;

void vlt_sha256_init(vlt_sha256_stream *s);
void vlt_sha256_update(vlt_sha256_stream *s, const uint8_t *data, size_t len);
void vlt_sha256_final(vlt_sha256_stream *s, uint8_t out[SHA256_BYTES]);

/* out = HMAC-SHA-256(key, prefix || data) (RFC 2104).  The prefix spares
 * a copy of data when the message is a small header and a large body. */
void vlt_hmac_sha256(const uint8_t *key, size_t key_len,
                     const uint8_t *prefix, size_t prefix_len,
                     const uint8_t *data, size_t len,
                     uint8_t out[SHA256_BYTES]);

#endif
