/*
 * age_internal.h - what the files that implement age v1 files share
 * (age.c, age_header.c, age_stanza.c): the format's constants, the
 * parsed header, and the steps of decrypting and encrypting.  Private to
 * crypto/age/; the rest of the library uses age.h.
 */
#ifndef VAULT_AGE_INTERNAL_H
#define VAULT_AGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "crypto/age/age.h"

#define AGE_VERSION_LINE "age-encryption.org/v1"
#define AGE_INTRO_PREFIX "age-encryption.org/"
#define AGE_X25519_INFO "age-encryption.org/v1/X25519"
#define AGE_SSH_ED25519_INFO "age-encryption.org/v1/ssh-ed25519"
#define AGE_SCRYPT_LABEL "age-encryption.org/v1/scrypt"
#define AGE_SCRYPT_SALT_BYTES 16
#define AGE_WRAPPED_KEY_BYTES (AGE_FILE_KEY_BYTES + 16) /* key + tag */
#define AGE_MAC_BYTES 32
#define AGE_MAC_B64_LEN 43
#define AGE_BODY_COLUMNS 64
#define AGE_NONCE_BYTES 16
#define AGE_CHUNK_BYTES 65536
#define AGE_TAG_BYTES crypto_aead_chacha20poly1305_ietf_ABYTES
#define AGE_CHUNK_CT_BYTES (AGE_CHUNK_BYTES + AGE_TAG_BYTES)
#define AGE_SCRYPT_DEFAULT_MAX_LOG2N 22 /* age_identity: 0 means this */
/* Longest stanza we write: ssh-rsa with a 4096-bit key, "-> ssh-rsa "
 * tag LF, then 512 bytes of body in 64-column lines:
 * 11 + 6 + 1 + 10 * 65 + 43 + 1 = 712 bytes. */
#define AGE_STANZA_MAX 768

/* A recipient stanza we understand; unknown ones are only counted. */
typedef struct age_stanza {
    age_stanza_kind kind; /* X25519, scrypt or ssh-ed25519 */
    uint8_t share[AGE_X25519_KEY_BYTES];  /* X25519, ssh: ephemeral share */
    uint8_t tag[AGE_SSH_TAG_BYTES];       /* ssh-*: whose key */
    uint8_t salt[AGE_SCRYPT_SALT_BYTES];  /* scrypt: the salt */
    int log2n;                            /* scrypt: log2 of N, 1..30 */
    /* the wrapped file key: AGE_WRAPPED_KEY_BYTES, or for ssh-rsa the
     * RSA-OAEP ciphertext (body_len bytes) */
    uint8_t body[AGE_SSH_RSA_BODY_MAX];
    size_t body_len;
} age_stanza;

/* A parsed header; every pointer points into the file. */
typedef struct age_header {
    age_stanza *stanzas; /* the known stanzas, in file order */
    size_t n_known;      /* entries in stanzas */
    size_t cap_known;    /* stanzas allocated */
    size_t n_stanzas;    /* all stanzas, unknown ones included */
    int has_scrypt;      /* some stanza is of type "scrypt" */
    size_t mac_input_len;        /* bytes covered by the MAC: up to "---" */
    uint8_t mac[AGE_MAC_BYTES];  /* the MAC from the "---" line */
    size_t header_len;   /* offset of the payload (the nonce) */
} age_header;

/* --- the header (age_header.c) -------------------------------------------*/

/* Parses the binary header at the start of f into h (freed with
 * vlt_age_header_free, also on failure). */
vault_error vlt_age_parse_header(const uint8_t *f, size_t len, age_header *h);
void vlt_age_header_free(age_header *h);
/* The header MAC over header[0..len), under the file key. */
void vlt_age_header_mac(const uint8_t file_key[AGE_FILE_KEY_BYTES],
                        const uint8_t *header, size_t len,
                        uint8_t mac[AGE_MAC_BYTES]);

/* --- recipient stanzas (age_stanza.c) ------------------------------------*/

/* Tries every identity, in order, on every stanza of h: VAULT_OK with
 * the file key, VAULT_E_AGE_NO_MATCH, or the error that aborts. */
vault_error vlt_age_find_file_key(const age_identity *ids, size_t n_ids,
                                  const age_header *h,
                                  uint8_t file_key[AGE_FILE_KEY_BYTES]);
/* Refuses recipients vlt_age_encrypt cannot write. */
vault_error vlt_age_check_recipients(const age_recipient *r, size_t n);
/* Writes the stanza for one recipient to buf at *n (room for
 * AGE_STANZA_MAX bytes). */
vault_error vlt_age_wrap_file_key(const age_recipient *r,
                                  const uint8_t file_key[AGE_FILE_KEY_BYTES],
                                  char *buf, size_t *n);
/* Appends s, without its NUL, to buf at *n. */
void vlt_age_put_str(char *buf, size_t *n, const char *s);

/* --- OpenSSH keys (age_ssh.c, age_ssh_rsa.c) -------------------------------*/

/* A cursor over decoded SSH data. */
typedef struct age_ssh_reader {
    const uint8_t *p; /* next unread byte */
    size_t left;      /* bytes left */
} age_ssh_reader;

/* uint32 (big endian) and string (uint32 length, bytes) of RFC 4251;
 * 0 when truncated. */
int vlt_age_ssh_read_u32(age_ssh_reader *r, uint32_t *v);
int vlt_age_ssh_read_string(age_ssh_reader *r, const uint8_t **s,
                            size_t *len);
/* Reads the RSA numbers of a private section (after the key type),
 * checks them against the outer public key and builds out's key. */
vault_error vlt_age_ssh_rsa_parse_private(age_ssh_reader *r,
                                          const uint8_t *outer_wire,
                                          size_t outer_len,
                                          age_ssh_rsa_key *out);

#endif /* VAULT_AGE_INTERNAL_H */
