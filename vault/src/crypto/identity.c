/*
 * identity.c - age identities: generating, reading and writing identity
 * files in age's format, plain or protected by a passphrase, and reading
 * OpenSSH Ed25519 private keys.
 *
 * An identity file is text: '#' comment lines, blank lines, and one
 * AGE-SECRET-KEY-1 line per key (age-keygen writes exactly one).  A
 * passphrase-protected identity file is an age file with a single scrypt
 * stanza whose payload is such a text, as `age -p` writes and `age -d -i`
 * reads.  An unencrypted OpenSSH private key file holding one ssh-ed25519
 * key is an identity too, as for `age -d -i ~/.ssh/id_ed25519`,
 * passphrase-protected or not (ssh-keygen's default), and so is one
 * holding an ssh-rsa key of 2048 to 4096 bits; it can be read but
 * not saved.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "crypto/age/age.h"
#include "crypto/identity.h"
#include "common/internal.h"

/* Identity files are tiny; anything larger is not one. */
#define IDENTITY_FILE_MAX (1u << 20)
#define IDENTITY_KEYS_MAX 64

static vault_error identity_alloc(size_t n_keys, vault_identity_t **out)
{
    vault_identity_t *id = calloc(1, sizeof *id);
    if (!id)
        return vlt_fail(VAULT_E_NOMEM, "identity: out of memory");
    id->keys = sodium_allocarray(n_keys ? n_keys : 1, sizeof *id->keys);
    if (!id->keys) {
        free(id);
        return vlt_fail(VAULT_E_NOMEM, "identity: out of memory");
    }
    sodium_memzero(id->keys, (n_keys ? n_keys : 1) * sizeof *id->keys);
    *out = id;
    return VAULT_OK;
}

void vault_identity_free(vault_identity_t *id)
{
    if (!id)
        return;
    for (size_t i = 0; i < id->n_keys; i++)
        vlt_age_ssh_rsa_key_clear(&id->keys[i].rsa);
    sodium_free(id->keys); /* wipes */
    free(id);
}

/* Computes the cached public key string of the first key. */
static vault_error identity_finish(vault_identity_t *id)
{
    if (id->keys[0].kind == AGE_KIND_SSH_ED25519) {
        char line[AGE_SSH_RECIPIENT_STRLEN + 1];
        vlt_age_ssh_encode_public_key(id->keys[0].ssh_secret_key + 32, line);
        memcpy(id->recipient, line, sizeof line);
        return VAULT_OK;
    }
    if (id->keys[0].kind == AGE_KIND_SSH_RSA) {
        _Static_assert(AGE_SSH_RSA_RECIPIENT_STRLEN < VAULT_RECIPIENT_MAX,
                       "an RSA recipient fits the identity's buffer");
        vlt_age_ssh_rsa_encode_public_key(id->keys[0].rsa.wire,
                                          id->keys[0].rsa.wire_len,
                                          id->recipient);
        return VAULT_OK;
    }
    uint8_t pk[AGE_X25519_KEY_BYTES];
    vault_error rc = vlt_age_x25519_public(id->keys[0].secret_key, pk);
    if (rc != VAULT_OK)
        return vlt_fail(VAULT_E_BAD_KEY, "identity: unusable secret key");
    vlt_age_encode_recipient(pk, id->recipient);
    return VAULT_OK;
}

vault_error vault_identity_generate(vault_identity_t **out)
{
    *out = NULL;
    vault_identity_t *id = NULL;
    vault_error rc = identity_alloc(1, &id);
    if (rc != VAULT_OK)
        return rc;
    uint8_t pk[AGE_X25519_KEY_BYTES];
    id->keys[0].kind = AGE_KIND_X25519;
    vlt_age_x25519_generate(id->keys[0].secret_key, pk);
    id->n_keys = 1;
    vlt_age_encode_recipient(pk, id->recipient);
    *out = id;
    return VAULT_OK;
}

/* Parses the plain text form: comments, blank lines and secret keys. */
static vault_error parse_identity_text(const uint8_t *data, size_t len,
                                       vault_identity_t **out)
{
    size_t n_keys = 0;
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n')
            n_keys++;
    n_keys++;
    if (n_keys > IDENTITY_KEYS_MAX)
        n_keys = IDENTITY_KEYS_MAX;

    vault_identity_t *id = NULL;
    vault_error rc = identity_alloc(n_keys, &id);
    if (rc != VAULT_OK)
        return rc;
    size_t pos = 0, line_no = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && data[end] != '\n')
            end++;
        line_no++;
        size_t line_len = end - pos;
        const char *line = (const char *)data + pos;
        if (line_len > 0 && line[line_len - 1] == '\r')
            line_len--; /* files edited on Windows */
        if (line_len == 0 || line[0] == '#') {
            /* comment or blank */
        } else if (id->n_keys == IDENTITY_KEYS_MAX) {
            vault_identity_free(id);
            return vlt_fail(VAULT_E_BAD_KEY, "identity: more than %d keys",
                            IDENTITY_KEYS_MAX);
        } else {
            id->keys[id->n_keys].kind = AGE_KIND_X25519;
            rc = vlt_age_decode_identity(line, line_len,
                                         id->keys[id->n_keys].secret_key);
            if (rc != VAULT_OK) {
                vault_identity_free(id);
                return vlt_fail(VAULT_E_BAD_KEY,
                                "identity: line %zu is not an age secret "
                                "key (AGE-SECRET-KEY-1...)",
                                line_no);
            }
            id->n_keys++;
        }
        pos = end + 1;
    }
    if (id->n_keys == 0) {
        vault_identity_free(id);
        return vlt_fail(VAULT_E_BAD_KEY, "identity: no secret key found");
    }
    rc = identity_finish(id);
    if (rc != VAULT_OK) {
        vault_identity_free(id);
        return rc;
    }
    *out = id;
    return VAULT_OK;
}

static int looks_like_age_file(const uint8_t *data, size_t len)
{
    static const char binary[] = "age-encryption.org/v1\n";
    static const char armored[] = "-----BEGIN AGE ENCRYPTED FILE-----";
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' ||
                       data[i] == '\n'))
        i++;
    return (len >= sizeof binary - 1 &&
            memcmp(data, binary, sizeof binary - 1) == 0) ||
           (len - i >= sizeof armored - 1 &&
            memcmp(data + i, armored, sizeof armored - 1) == 0);
}

/* An OpenSSH private key file: one ssh-ed25519 or ssh-rsa key. */
static vault_error parse_ssh_identity(const uint8_t *data, size_t len,
                                      const char *passphrase,
                                      vault_identity_t **out)
{
    vault_identity_t *id = NULL;
    vault_error rc = identity_alloc(1, &id);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_age_ssh_parse_identity(data, len, passphrase, &id->keys[0].kind,
                                    id->keys[0].ssh_secret_key,
                                    &id->keys[0].rsa);
    if (rc != VAULT_OK) {
        vault_identity_free(id);
        return rc;
    }
    id->n_keys = 1;
    rc = identity_finish(id);
    if (rc != VAULT_OK) {
        vault_identity_free(id);
        return rc;
    }
    *out = id;
    return VAULT_OK;
}

vault_error vault_identity_parse(const uint8_t *data, size_t len,
                                 const char *passphrase,
                                 vault_identity_t **out)
{
    *out = NULL;
    if (vlt_age_ssh_is_private_key(data, len))
        return parse_ssh_identity(data, len, passphrase, out);
    if (!looks_like_age_file(data, len))
        return parse_identity_text(data, len, out);

    if (!passphrase)
        return vlt_fail(VAULT_E_NEED_PASSPHRASE,
                        "identity is protected by a passphrase");
    age_identity who = {.kind = AGE_KIND_SCRYPT,
                        .passphrase = passphrase,
                        .passphrase_len = strlen(passphrase)};
    uint8_t *text = NULL;
    size_t text_len = 0;
    vault_error rc = vlt_age_decrypt(&who, 1, data, len, &text, &text_len);
    if (rc == VAULT_E_AGE_NO_MATCH || rc == VAULT_E_AGE_HMAC) {
        vlt_age_free_plaintext(text, text_len);
        return vlt_fail(VAULT_E_BAD_PASSPHRASE,
                        "identity: wrong passphrase");
    }
    if (rc != VAULT_OK) {
        vlt_age_free_plaintext(text, text_len);
        return vlt_fail_context(rc, "identity: encrypted file");
    }
    if (looks_like_age_file(text, text_len)) {
        vlt_age_free_plaintext(text, text_len);
        return vlt_fail(VAULT_E_BAD_KEY,
                        "identity: encrypted file holds another age file");
    }
    rc = parse_identity_text(text, text_len, out);
    vlt_age_free_plaintext(text, text_len);
    return rc;
}

vault_error vault_identity_load(const char *path, const char *passphrase,
                                vault_identity_t **out)
{
    *out = NULL;
    uint8_t *data;
    size_t len;
    vault_error rc = vlt_read_file(path, IDENTITY_FILE_MAX, &data, &len);
    if (rc != VAULT_OK)
        return rc;
    rc = vault_identity_parse(data, len, passphrase, out);
    sodium_memzero(data, len);
    free(data);
    if (rc != VAULT_OK)
        return vlt_fail_context(rc, "%s", path);
    return VAULT_OK;
}

vault_error vault_identity_format(const vault_identity_t *id, char *buf,
                                  size_t size)
{
    if (!id || !buf || size < VAULT_IDENTITY_TEXT_MAX)
        return vlt_fail(VAULT_E_INVALID, "identity_format: bad argument");
    if (id->keys[0].kind != AGE_KIND_X25519)
        return vlt_fail(VAULT_E_UNSUPPORTED,
                        "identity: an ssh key cannot be written as an age "
                        "identity file");
    /* age-keygen's layout, RFC 3339 time in UTC. */
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char secret[AGE_IDENTITY_STRLEN + 1];
    vlt_age_encode_identity(id->keys[0].secret_key, secret);
    int n = snprintf(buf, size, "# created: %s\n# public key: %s\n%s\n",
                     created, id->recipient, secret);
    sodium_memzero(secret, sizeof secret);
    if (n < 0 || (size_t)n >= size)
        return vlt_fail(VAULT_E_INTERNAL, "identity: text too long");
    return VAULT_OK;
}

vault_error vault_identity_save(const vault_identity_t *id, const char *path,
                                const char *passphrase, int scrypt_log2n)
{
    if (!id || !path)
        return vlt_fail(VAULT_E_INVALID, "identity_save: NULL argument");
    if (scrypt_log2n < 0 || scrypt_log2n > AGE_SCRYPT_MAX_LOG2N)
        return vlt_fail(VAULT_E_INVALID, "scrypt work factor out of range");

    char *text = sodium_malloc(VAULT_IDENTITY_TEXT_MAX);
    if (!text)
        return vlt_fail(VAULT_E_NOMEM, "identity: out of memory");
    vault_error rc = vault_identity_format(id, text, VAULT_IDENTITY_TEXT_MAX);
    if (rc != VAULT_OK) {
        sodium_free(text);
        return rc;
    }
    size_t n = strlen(text);
    if (passphrase) {
        age_recipient to = {.kind = AGE_KIND_SCRYPT,
                            .passphrase = passphrase,
                            .passphrase_len = strlen(passphrase),
                            .scrypt_log2n = scrypt_log2n};
        uint8_t *file;
        size_t file_len;
        rc = vlt_age_encrypt(&to, 1, (const uint8_t *)text, n, &file,
                             &file_len);
        sodium_free(text);
        if (rc != VAULT_OK)
            return vlt_fail_context(rc, "%s", path);
        rc = vlt_write_file_atomic(path, file, file_len, 0600, 1);
        free(file);
    } else {
        rc = vlt_write_file_atomic(path, (const uint8_t *)text, n,
                                   0600, 1);
        sodium_free(text);
    }
    return rc;
}

const char *vault_identity_recipient(const vault_identity_t *id)
{
    return id ? id->recipient : "";
}

vault_error vault_recipient_check(const char *text)
{
    age_recipient r;
    if (!text)
        return vlt_fail(VAULT_E_INVALID, "recipient: NULL");
    if (vlt_age_parse_recipient(text, strlen(text), &r) != VAULT_OK)
        return vlt_fail_context(VAULT_E_BAD_KEY, "%s", text);
    return VAULT_OK;
}
