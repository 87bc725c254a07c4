/*
 * aead.h - XChaCha20-Poly1305 (IETF) over bulk data (blobs, pack
 * indexes), computed with OpenSSL's libcrypto.  Private.
 *
 * XChaCha20-Poly1305 is HChaCha20 of the key and the nonce's first 16
 * bytes, then the IETF ChaCha20-Poly1305 of RFC 8439 under that subkey
 * with the nonce 0^4 || the last 8 bytes: exactly what libsodium's
 * crypto_aead_xchacha20poly1305_ietf_* compute (the format's vectors are
 * unchanged), but the second step runs in libcrypto's vectorised code
 * (AVX2/AVX-512), about three times libsodium 1.0.18's speed on bulk
 * data here (tests/bench/hash_speed.c measures both).  HChaCha20 is one
 * ChaCha block: libsodium's.  If libcrypto fails (out of memory, no
 * cipher), libsodium computes the same result.
 */
#ifndef VAULT_AEAD_H
#define VAULT_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define VLT_AEAD_KEY_BYTES 32
#define VLT_AEAD_NONCE_BYTES 24
#define VLT_AEAD_TAG_BYTES 16

/* out (len + VLT_AEAD_TAG_BYTES bytes; may be plain) = the ciphertext of
 * plain followed by its tag, over the additional data ad. */
void vlt_aead_seal(uint8_t *out, const uint8_t *plain, size_t len,
                   const uint8_t *ad, size_t ad_len,
                   const uint8_t nonce[VLT_AEAD_NONCE_BYTES],
                   const uint8_t key[VLT_AEAD_KEY_BYTES]);

/* plain (len - VLT_AEAD_TAG_BYTES bytes; may be sealed itself, to
 * decrypt in place) = the plaintext of sealed (a ciphertext and its tag,
 * len bytes) if the tag verifies: 0; else -1, and plain holds nothing
 * of it (zeroed). */
int vlt_aead_open(uint8_t *plain, const uint8_t *sealed, size_t len,
                  const uint8_t *ad, size_t ad_len,
                  const uint8_t nonce[VLT_AEAD_NONCE_BYTES],
                  const uint8_t key[VLT_AEAD_KEY_BYTES]);

#endif
