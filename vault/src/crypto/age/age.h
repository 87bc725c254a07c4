/*
 * age.h - age v1 (age-encryption.org/v1) for vault's key envelopes and
 * identity files. Private to the library.
 *
 * Implemented with libsodium alone: X25519, scrypt and ssh-ed25519
 * stanzas, the header MAC, the STREAM payload (ChaCha20-Poly1305, 64 KiB
 * chunks), bech32 keys and canonical base64, and (age_ssh.c) OpenSSH
 * Ed25519 public key lines and unencrypted private key files.  Everything is
 * in memory: envelopes and identity files are small, and the largest testkit
 * vector is a few MiB.
 *
 * Parsing is strict: every rule of the age spec that says a decoder MUST
 * reject something is enforced, so that the testkit's outcome kinds map
 * one to one onto error codes:
 *   VAULT_E_AGE_HEADER   - header malformed, or a stanza malformed
 *   VAULT_E_AGE_NO_MATCH - header fine, no stanza unwraps with our identities
 *   VAULT_E_AGE_HMAC     - a file key unwrapped, the header MAC is wrong
 *   VAULT_E_AGE_PAYLOAD  - the STREAM payload fails after a good header
 *   VAULT_E_AGE_ARMOR    - the ASCII armor is malformed
 */
#ifndef VAULT_AGE_H
#define VAULT_AGE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "vault.h"

#define AGE_FILE_KEY_BYTES 16
#define AGE_X25519_KEY_BYTES 32
/* "age1" + 52 data chars + 6 checksum chars */
#define AGE_RECIPIENT_STRLEN 62
/* "AGE-SECRET-KEY-1" + 52 data chars + 6 checksum chars */
#define AGE_IDENTITY_STRLEN 74
/* age's default work factor for passphrase files, and the highest we accept
 * when decrypting (age itself refuses more than 2^30 too). */
#define AGE_SCRYPT_DEFAULT_LOG2N 18
#define AGE_SCRYPT_MAX_LOG2N 30
/* ssh-ed25519: libsodium's Ed25519 key sizes (the secret key is the 32-byte
 * seed followed by the public key, as in OpenSSH's private key files). */
#define AGE_ED25519_PUBLIC_KEY_BYTES 32
#define AGE_ED25519_SECRET_KEY_BYTES 64
/* SSH wire encoding of an Ed25519 public key (RFC 8709 section 4):
 * string "ssh-ed25519" || string key, 4 + 11 + 4 + 32 bytes. */
#define AGE_SSH_WIRE_BYTES 51
/* The stanza's key tag: the first 4 bytes of SHA-256 of the wire key. */
#define AGE_SSH_TAG_BYTES 4
/* "ssh-ed25519 " + padded base64 of the wire key (68 characters) */
#define AGE_SSH_RECIPIENT_STRLEN 80
/* ssh-rsa: moduli of 2048 (age's minimum) to 4096 bits, so that a public
 * key line fits a member's recipient (RECIPIENT_MAX, 1024 bytes).  The
 * wire key is string "ssh-rsa" || mpint e || mpint n, e at most 4 bytes:
 * 4 + 7 + 4 + 5 + 4 + 513 bytes at most. */
#define AGE_SSH_RSA_MIN_BITS 2048
#define AGE_SSH_RSA_MAX_BITS 4096
#define AGE_SSH_RSA_WIRE_MAX 537
#define AGE_SSH_RSA_BODY_MAX (AGE_SSH_RSA_MAX_BITS / 8) /* OAEP output */
/* "ssh-rsa " + padded base64 of the longest wire key */
#define AGE_SSH_RSA_RECIPIENT_STRLEN (8 + 4 * ((AGE_SSH_RSA_WIRE_MAX + 2) / 3))

typedef enum age_stanza_kind {
    AGE_KIND_X25519 = 1,
    AGE_KIND_SCRYPT = 2,
    AGE_KIND_SSH_ED25519 = 3, /* an OpenSSH Ed25519 key (agessh) */
    AGE_KIND_SSH_RSA = 4      /* an OpenSSH RSA key (agessh) */
} age_stanza_kind;

/* An OpenSSH RSA private key: OpenSSL's key and the SSH wire encoding of
 * its public half (for the tag and the recipient line).  pkey is owned by
 * whoever filled the struct and freed with vlt_age_ssh_rsa_key_clear. */
typedef struct age_ssh_rsa_key {
    EVP_PKEY *pkey;
    uint8_t wire[AGE_SSH_RSA_WIRE_MAX];
    size_t wire_len;
} age_ssh_rsa_key;

/* Someone a file is encrypted to. */
typedef struct age_recipient {
    age_stanza_kind kind;
    uint8_t public_key[AGE_X25519_KEY_BYTES]; /* X25519: the recipient's key */
    const char *passphrase;                   /* scrypt: not NUL-terminated */
    size_t passphrase_len;
    int scrypt_log2n; /* scrypt: work factor, 0 means the default */
    /* ssh-ed25519: the recipient's Ed25519 public key */
    uint8_t ssh_public_key[AGE_ED25519_PUBLIC_KEY_BYTES];
    /* ssh-rsa: the SSH wire encoding of the recipient's public key */
    uint8_t ssh_rsa_wire[AGE_SSH_RSA_WIRE_MAX];
    size_t ssh_rsa_wire_len;
} age_recipient;

/* Someone who tries to open a file. */
typedef struct age_identity {
    age_stanza_kind kind;
    uint8_t secret_key[AGE_X25519_KEY_BYTES]; /* X25519 */
    const char *passphrase;                   /* scrypt */
    size_t passphrase_len;
    int max_scrypt_log2n; /* scrypt: refuse more work; 0 means 22 */
    /* ssh-ed25519: libsodium's Ed25519 secret key (seed || public key) */
    uint8_t ssh_secret_key[AGE_ED25519_SECRET_KEY_BYTES];
    /* ssh-rsa: the key, borrowed (the identity's owner frees it) */
    const age_ssh_rsa_key *ssh_rsa;
} age_identity;

/* --- keys ---------------------------------------------------------------*/

/* A fresh X25519 key pair (secret clamped as X25519 expects). */
void vlt_age_x25519_generate(uint8_t secret_key[AGE_X25519_KEY_BYTES],
                             uint8_t public_key[AGE_X25519_KEY_BYTES]);
/* public = X25519(secret, basepoint); fails for an all-zero result. */
vault_error vlt_age_x25519_public(const uint8_t secret_key[AGE_X25519_KEY_BYTES],
                                  uint8_t public_key[AGE_X25519_KEY_BYTES]);

/* Bech32 (BIP 173, no length limit as age requires) encodings.
 * out must hold AGE_*_STRLEN + 1 bytes. The identity is upper case. */
void vlt_age_encode_recipient(const uint8_t public_key[AGE_X25519_KEY_BYTES],
                              char out[AGE_RECIPIENT_STRLEN + 1]);
void vlt_age_encode_identity(const uint8_t secret_key[AGE_X25519_KEY_BYTES],
                             char out[AGE_IDENTITY_STRLEN + 1]);
/* Strict decoders: right HRP, valid checksum, one case only, right length.
 * Return VAULT_E_BAD_KEY otherwise. */
vault_error vlt_age_decode_recipient(const char *text, size_t len,
                                     uint8_t public_key[AGE_X25519_KEY_BYTES]);
vault_error vlt_age_decode_identity(const char *text, size_t len,
                                    uint8_t secret_key[AGE_X25519_KEY_BYTES]);

/* Any kind of recipient string: an "age1..." X25519 recipient, or an
 * OpenSSH "ssh-ed25519 AAAA... [comment]" or "ssh-rsa AAAA... [comment]"
 * public key line.  Fills *out (zeroed first) with kind AGE_KIND_X25519,
 * AGE_KIND_SSH_ED25519 or AGE_KIND_SSH_RSA;
 * VAULT_E_BAD_KEY (with a detail) for anything else, including Ed25519
 * keys that are not a valid point of the prime-order group. */
vault_error vlt_age_parse_recipient(const char *text, size_t len,
                                    age_recipient *out);

/* Do two parsed recipients name the same key?  (Comments are not kept.) */
int vlt_age_same_recipient(const age_recipient *a, const age_recipient *b);

/* --- OpenSSH Ed25519 keys (age_ssh.c) -------------------------------------*/

/* The wire encoding of an Ed25519 public key, and its stanza tag
 * (SHA-256 of the wire encoding, first 4 bytes). */
void vlt_age_ssh_wire_public_key(
    const uint8_t public_key[AGE_ED25519_PUBLIC_KEY_BYTES],
    uint8_t out[AGE_SSH_WIRE_BYTES]);
void vlt_age_ssh_tag(const uint8_t public_key[AGE_ED25519_PUBLIC_KEY_BYTES],
                     uint8_t tag[AGE_SSH_TAG_BYTES]);
/* The ssh-ed25519 tweak: HKDF-SHA-256(salt = wire key, ikm = "",
 * info = "age-encryption.org/v1/ssh-ed25519"), 32 bytes. */
void vlt_age_ssh_tweak(const uint8_t public_key[AGE_ED25519_PUBLIC_KEY_BYTES],
                       uint8_t tweak[32]);

/* "ssh-ed25519 " and the padded base64 wire key, no comment, NUL-ended. */
void vlt_age_ssh_encode_public_key(
    const uint8_t public_key[AGE_ED25519_PUBLIC_KEY_BYTES],
    char out[AGE_SSH_RECIPIENT_STRLEN + 1]);
/* Parses an authorized_keys-style line (no options, no line end):
 *     "ssh-ed25519" 1*(SP / HTAB) base64 [1*(SP / HTAB) comment]
 * where base64 is canonical padded base64 of exactly the wire encoding of
 * an ssh-ed25519 key, and the comment has no control characters.
 * VAULT_E_BAD_KEY (with a detail) otherwise. */
vault_error vlt_age_ssh_parse_public_key(
    const char *text, size_t len,
    uint8_t public_key[AGE_ED25519_PUBLIC_KEY_BYTES]);

/* True when data (after optional white space) starts with the line
 * "-----BEGIN OPENSSH PRIVATE KEY-----": a file meant to be an OpenSSH
 * private key, to be parsed with vlt_age_ssh_parse_private_key. */
int vlt_age_ssh_is_private_key(const uint8_t *data, size_t len);
/* Parses an OpenSSH private key file (PROTOCOL.key, "openssh-key-v1")
 * holding exactly one ssh-ed25519 key into libsodium's 64-byte secret
 * key.  A passphrase-protected file is VAULT_E_NEED_PASSPHRASE without
 * passphrase (NULL), VAULT_E_BAD_PASSPHRASE when it does not open; any
 * other deviation (PEM framing, base64, magic, lengths, check integers,
 * key type, a public key that does not match the secret, padding) is
 * VAULT_E_BAD_KEY.  On failure secret_key is zeroed. */
vault_error vlt_age_ssh_parse_private_key(
    const uint8_t *data, size_t len, const char *passphrase,
    uint8_t secret_key[AGE_ED25519_SECRET_KEY_BYTES]);

/* Any OpenSSH private key we use: as vlt_age_ssh_parse_private_key, but
 * an ssh-rsa key is accepted too.  *kind says which; for Ed25519 the key
 * is in ed25519_secret_key, for RSA in *rsa (the caller frees it with
 * vlt_age_ssh_rsa_key_clear).  On failure nothing is left to free. */
vault_error vlt_age_ssh_parse_identity(
    const uint8_t *data, size_t len, const char *passphrase,
    age_stanza_kind *kind,
    uint8_t ed25519_secret_key[AGE_ED25519_SECRET_KEY_BYTES],
    age_ssh_rsa_key *rsa);

/* --- OpenSSH RSA keys (age_ssh_rsa.c) ---------------------------------------*/

/* Checks the SSH wire encoding of an ssh-rsa public key: canonical
 * positive mpints, e odd, 3 <= e < 2^32, n odd of AGE_SSH_RSA_MIN_BITS to
 * AGE_SSH_RSA_MAX_BITS bits, nothing after.  VAULT_E_BAD_KEY naming what
 * otherwise. */
vault_error vlt_age_ssh_rsa_check_wire(const uint8_t *wire, size_t len,
                                       const char *what);
/* The stanza tag of a wire key: SHA-256 of it, first 4 bytes. */
void vlt_age_ssh_rsa_tag(const uint8_t *wire, size_t len,
                         uint8_t tag[AGE_SSH_TAG_BYTES]);
/* "ssh-rsa " and the padded base64 wire key, no comment, NUL-ended; out
 * holds AGE_SSH_RSA_RECIPIENT_STRLEN + 1 bytes. */
void vlt_age_ssh_rsa_encode_public_key(const uint8_t *wire, size_t len,
                                       char *out);
/* Frees the key and wipes the struct. */
void vlt_age_ssh_rsa_key_clear(age_ssh_rsa_key *key);
/* RSA-OAEP (SHA-256, MGF1-SHA-256, label "age-encryption.org/v1/ssh-rsa")
 * of the file key to a checked wire key; body holds AGE_SSH_RSA_BODY_MAX
 * bytes, *body_len is the modulus size. */
vault_error vlt_age_ssh_rsa_wrap(const uint8_t *wire, size_t wire_len,
                                 const uint8_t file_key[AGE_FILE_KEY_BYTES],
                                 uint8_t *body, size_t *body_len);
/* The inverse with the private key: VAULT_OK, or VAULT_E_AGE_NO_MATCH
 * for a body that does not decrypt to a 16-byte key. */
vault_error vlt_age_ssh_rsa_unwrap(const age_ssh_rsa_key *key,
                                   const uint8_t *body, size_t body_len,
                                   uint8_t file_key[AGE_FILE_KEY_BYTES]);

/* --- files --------------------------------------------------------------*/

/* Encrypts plaintext to the recipients (a scrypt recipient must be alone).
 * *out is malloc'ed; the caller frees it. */
vault_error vlt_age_encrypt(const age_recipient *recipients, size_t n_recipients,
                            const uint8_t *plaintext, size_t plaintext_len,
                            uint8_t **out, size_t *out_len);

/* Decrypts a binary or armored age file with the first identity that
 * unwraps a stanza.  On success *plaintext (malloc'ed, may be non-NULL for
 * an empty payload) holds the payload.  On VAULT_E_AGE_PAYLOAD, *plaintext
 * holds whatever plaintext was verified before the failure (the testkit
 * checks its hash); on every other error *plaintext is NULL.  The caller
 * frees *plaintext with vlt_age_free_plaintext, which wipes it first. */
vault_error vlt_age_decrypt(const age_identity *identities, size_t n_identities,
                            const uint8_t *file, size_t file_len,
                            uint8_t **plaintext, size_t *plaintext_len);
void vlt_age_free_plaintext(uint8_t *plaintext, size_t plaintext_len);

/* True when the file's header parses and its only stanza is scrypt (a
 * passphrase-protected file, e.g. an encrypted identity). */
int vlt_age_is_passphrase_file(const uint8_t *file, size_t file_len);

/* --- building blocks, exposed for tests ----------------------------------*/

/* HKDF-SHA-256 (RFC 5869) from libsodium's HMAC-SHA-256, out_len <= 255*32 */
void vlt_age_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                         size_t ikm_len, const char *info, uint8_t *out,
                         size_t out_len);

/* Unpadded standard base64 (RFC 4648 section 4) as the age header uses it.
 * The encoder writes age_base64_len(len) characters and no NUL. */
#define age_base64_len(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
void vlt_age_base64_encode(const uint8_t *in, size_t len, char *out);
/* Strict decoder: no padding, no other characters, canonical trailing bits.
 * Writes at most out_cap bytes; out may be NULL to validate only (out_cap
 * is then ignored).  *out_len (if out_len is not NULL) is the decoded size.
 * Returns
 * VAULT_E_AGE_HEADER (with a detail) when the text is not canonical base64
 * or decodes to more than out_cap bytes. */
vault_error vlt_age_base64_decode(const char *in, size_t in_len, uint8_t *out,
                                  size_t out_cap, size_t *out_len);

/* ASCII armor (spec "ASCII armor": strict RFC 7468 PEM, label "AGE
 * ENCRYPTED FILE", 64-column padded base64, LF or CRLF line ends, only
 * whitespace outside the block).  vlt_age_is_armored says whether a file is
 * meant to be armored (so that a malformed armor is VAULT_E_AGE_ARMOR rather
 * than a header failure).  The decoder returns VAULT_E_AGE_ARMOR for any
 * deviation; both allocate *out with malloc. */
int vlt_age_is_armored(const uint8_t *file, size_t file_len);
vault_error vlt_age_armor_decode(const uint8_t *in, size_t in_len, uint8_t **out,
                                 size_t *out_len);
vault_error vlt_age_armor_encode(const uint8_t *in, size_t in_len, uint8_t **out,
                                 size_t *out_len);

#endif
