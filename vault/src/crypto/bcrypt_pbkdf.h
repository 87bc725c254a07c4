/*
 * bcrypt_pbkdf.h - OpenSSH's key derivation for passphrase-protected
 * private keys (PROTOCOL.key: kdf "bcrypt"), and the Blowfish it is built
 * on.  Private.
 *
 * OpenSSL and libsodium have neither (OpenSSL's Blowfish has no
 * expensive key schedule), and the library that opens such keys here,
 * libssh 0.10, cannot hand an RSA key back once opened; the function is
 * small and fully specified by OpenBSD's bcrypt_pbkdf(3), so it lives
 * here, tested against keys ssh-keygen protected (test_age_ssh,
 * test_age_ssh_interop) and the table's known words (test_bcrypt_pbkdf).
 */
#ifndef VAULT_BCRYPT_PBKDF_H
#define VAULT_BCRYPT_PBKDF_H

#include <stddef.h>
#include <stdint.h>

#define VLT_BLOWFISH_PI_WORDS (18 + 4 * 256)
/* The fraction of pi: Blowfish's P-array and S-boxes before any key. */
extern const uint32_t vlt_blowfish_pi[VLT_BLOWFISH_PI_WORDS];

/* key (key_len bytes, 1..1024) from pass, salt (1..1<<20 bytes) and
 * rounds (>= 1): 0, or -1 for arguments out of range. */
int vlt_bcrypt_pbkdf(const char *pass, size_t pass_len, const uint8_t *salt,
                     size_t salt_len, uint8_t *key, size_t key_len,
                     unsigned rounds);

#endif
