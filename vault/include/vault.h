/*
 * vault.h - the one public header of libvault, an end-to-end encrypted,
 * deduplicating file vault.
 *
 * Conventions:
 *  - Every fallible call returns a vault_error.  VAULT_OK is 0.  On failure
 *    vault_last_error() (per thread) explains what went wrong in words fit
 *    for a user: "what: why".
 *  - Handles are opaque; every *_free / *_close accepts NULL.
 *  - Strings are NUL-terminated UTF-8 unless a length is given.
 *  - Secrets handed out by the library live in locked memory and are wiped
 *    when their handle is freed.
 */
#ifndef VAULT_H
#define VAULT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define VAULT_API __attribute__((visibility("default")))
#define VAULT_NODISCARD __attribute__((warn_unused_result))
#else
#define VAULT_API
#define VAULT_NODISCARD
#endif

#define VAULT_VERSION_STRING "0.1.0"

/*
 * Error codes.  Values are published and never change meaning; retired
 * codes stay reserved.
 */
typedef enum vault_error {
    VAULT_OK = 0,
    VAULT_E_NOMEM = 1,         /* an allocation failed */
    VAULT_E_IO = 2,            /* the operating system refused (errno) */
    VAULT_E_INVALID = 3,       /* a caller's argument is unusable */
    VAULT_E_BAD_KEY = 4,       /* a key string is malformed */
    VAULT_E_EXISTS = 5,        /* would overwrite something that exists */
    VAULT_E_NOT_FOUND = 6,     /* a file, object or snapshot is missing */
    VAULT_E_NEED_PASSPHRASE = 7, /* the identity is passphrase-protected */
    VAULT_E_BAD_PASSPHRASE = 8,  /* the passphrase does not open it */
    VAULT_E_RNG = 9,           /* the system random source failed */
    VAULT_E_AGE_HEADER = 10,   /* age: header or stanza malformed */
    VAULT_E_AGE_NO_MATCH = 11, /* age: no identity unwraps a stanza */
    VAULT_E_AGE_HMAC = 12,     /* age: header MAC mismatch */
    VAULT_E_AGE_PAYLOAD = 13,  /* age: STREAM payload damaged/truncated */
    VAULT_E_AGE_ARMOR = 14,    /* age: ASCII armor malformed */
    VAULT_E_CORRUPT = 15,      /* a vault object fails authentication/parse */
    VAULT_E_NOT_MEMBER = 16,   /* the identity opens no envelope here */
    VAULT_E_PERMISSION = 17,   /* the member's role does not allow this */
    VAULT_E_UNSUPPORTED = 18,  /* a newer format version or feature */
    VAULT_E_UNSAFE_PATH = 19,  /* extraction refused a path */
    VAULT_E_PARTIAL = 20,      /* finished, but some items failed */
    VAULT_E_INTERNAL = 21      /* a bug: an invariant did not hold */
} vault_error;

/* A short fixed description of a code ("age header failure", ...). */
VAULT_API const char *vault_strerror(vault_error code);
/* The detail of the calling thread's most recent failure. Never NULL. */
VAULT_API const char *vault_last_error(void);

/* Must be called once before anything else; safe to call again. */
VAULT_API VAULT_NODISCARD vault_error vault_global_init(void);

/* ---------------------------------------------------------------------------
 * Identities (age X25519 secret keys, "AGE-SECRET-KEY-1...") and their
 * public keys ("age1...").
 */
typedef struct vault_identity vault_identity_t;

#define VAULT_RECIPIENT_MAX 128 /* buffer size for any recipient string */

/* A new random X25519 identity. */
VAULT_API VAULT_NODISCARD vault_error
vault_identity_generate(vault_identity_t **out);

/*
 * Reads an identity file: age's identity-file format (comment lines starting
 * with '#', blank lines, and one or more AGE-SECRET-KEY-1 lines), or an age
 * file encrypted with a passphrase whose payload is such a file.  For an
 * encrypted file without a passphrase, returns VAULT_E_NEED_PASSPHRASE so the
 * caller can ask for one; with a wrong one, VAULT_E_BAD_PASSPHRASE.
 */
VAULT_API VAULT_NODISCARD vault_error
vault_identity_load(const char *path, const char *passphrase,
                    vault_identity_t **out);

/* As vault_identity_load, from a buffer. */
VAULT_API VAULT_NODISCARD vault_error
vault_identity_parse(const uint8_t *data, size_t len, const char *passphrase,
                     vault_identity_t **out);

/*
 * Writes the identity in age's identity-file format ("# created: ...",
 * "# public key: age1...", then the secret key), with mode 0600, refusing to
 * replace an existing file (VAULT_E_EXISTS).  With a passphrase the file is
 * an age scrypt file holding that text, as `age -p` would write it;
 * scrypt_log2n 0 picks age's default work factor.
 */
VAULT_API VAULT_NODISCARD vault_error
vault_identity_save(const vault_identity_t *identity, const char *path,
                    const char *passphrase, int scrypt_log2n);

/* The identity file's text (as vault_identity_save writes it without a
 * passphrase) into buf; VAULT_E_INVALID if size is below this: */
#define VAULT_IDENTITY_TEXT_MAX 256
VAULT_API VAULT_NODISCARD vault_error
vault_identity_format(const vault_identity_t *identity, char *buf,
                      size_t size);

/* The public key "age1..." of the identity's first key; never NULL. */
VAULT_API const char *vault_identity_recipient(const vault_identity_t *id);

VAULT_API void vault_identity_free(vault_identity_t *identity);

/* Checks that text is a well-formed recipient ("age1..."). */
VAULT_API VAULT_NODISCARD vault_error
vault_recipient_check(const char *text);

#ifdef __cplusplus
}
#endif

#endif /* VAULT_H */
