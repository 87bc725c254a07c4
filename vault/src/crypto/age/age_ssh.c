/*
 * age_ssh.c - OpenSSH Ed25519 keys for age's ssh-ed25519 recipient type
 * (age's agessh package): public key lines, unencrypted private key files,
 * the key tag and tweak, and vlt_age_parse_recipient.
 *
 * SSH wire encoding of an Ed25519 public key (RFC 4251 section 5 strings,
 * RFC 8709 section 4), 51 bytes, integers big endian:
 *
 *     0   uint32 11                     length of the key type
 *     4   "ssh-ed25519"
 *     15  uint32 32                     length of the key
 *     19  Ed25519 public key (32)
 *
 * Public key line (sshd(8) AUTHORIZED_KEYS FILE FORMAT, without options):
 *
 *     "ssh-ed25519" 1*WSP base64(wire) [1*WSP comment]     WSP = SP / HTAB
 *
 * base64 is RFC 4648 section 4 with "=" padding (none for 51 bytes), and we
 * insist on the canonical form and on the type inside matching the one
 * outside.
 *
 * Private key file (OpenSSH PROTOCOL.key):
 *
 *     "-----BEGIN OPENSSH PRIVATE KEY-----" EOL
 *     padded base64 in lines (ssh-keygen writes 70 columns) EOL
 *     "-----END OPENSSH PRIVATE KEY-----" [EOL]
 *
 * decoding to
 *
 *     "openssh-key-v1" NUL              magic, 15 bytes
 *     string ciphername                 "none" unless passphrase-protected
 *     string kdfname                    "none"
 *     string kdfoptions                 empty
 *     uint32 number of keys             1
 *     string public key                 the wire encoding above
 *     string private section            a multiple of 8 bytes (block size)
 *
 * and the private section to
 *
 *     uint32 checkint, uint32 checkint  equal (they catch a wrong passphrase)
 *     string "ssh-ed25519"
 *     string public key (32)            the same as the outer one
 *     string private key (64)           seed || public key
 *     string comment
 *     padding                           bytes 1, 2, 3, ... to the block size
 *
 * A passphrase-protected key (ciphername other than "none", kdf bcrypt) is
 * VAULT_E_NEED_PASSPHRASE without a passphrase.  With one, key and IV come
 * from bcrypt_pbkdf (crypto/bcrypt_pbkdf.c) of the passphrase, the salt
 * and the rounds of its kdf options, the private section is decrypted
 * with its cipher (aes128/192/256-ctr, aes128/256-cbc: libcrypto; the
 * AEAD ciphers of OpenSSH are refused, naming ssh-keygen -p), and its two
 * check integers must agree (else: a wrong passphrase); then it is parsed
 * as above, with the same checks.  Rounds are capped (a hostile file could
 * ask for hours of work).  Everything else that deviates is
 * VAULT_E_BAD_KEY; every length is checked before it is used.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "crypto/age/age_internal.h"
#include "crypto/bcrypt_pbkdf.h"
#include "common/internal.h"

#define SSH_ED25519_TYPE "ssh-ed25519"
#define SSH_RSA_TYPE "ssh-rsa"
#define SSH_ED25519_INFO "age-encryption.org/v1/ssh-ed25519"
#define SSH_MAGIC "openssh-key-v1" /* followed by a NUL */
#define SSH_BLOCK_NONE 8           /* cipher "none": block size 8 */

static const char pem_begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
static const char pem_end[] = "-----END OPENSSH PRIVATE KEY-----";

static const char encrypted_detail[] =
    "OpenSSH private key: protected by a passphrase";

/* --- wire encoding, tag, tweak ----------------------------------------------*/

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

void vlt_age_ssh_wire_public_key(
    const uint8_t public_key[AGE_ED25519_PUBLIC_KEY_BYTES],
    uint8_t out[AGE_SSH_WIRE_BYTES])
{
    size_t type_len = sizeof SSH_ED25519_TYPE - 1;
    store_be32(out, (uint32_t)type_len);
    memcpy(out + 4, SSH_ED25519_TYPE, type_len);
    store_be32(out + 4 + type_len, AGE_ED25519_PUBLIC_KEY_BYTES);
    memcpy(out + 8 + type_len, public_key, AGE_ED25519_PUBLIC_KEY_BYTES);
}

void vlt_age_ssh_tag(const uint8_t public_key[AGE_ED25519_PUBLIC_KEY_BYTES],
                     uint8_t tag[AGE_SSH_TAG_BYTES])
{
    uint8_t wire[AGE_SSH_WIRE_BYTES];
    uint8_t hash[crypto_hash_sha256_BYTES];
    vlt_age_ssh_wire_public_key(public_key, wire);
    crypto_hash_sha256(hash, wire, sizeof wire);
    memcpy(tag, hash, AGE_SSH_TAG_BYTES);
}

void vlt_age_ssh_tweak(const uint8_t public_key[AGE_ED25519_PUBLIC_KEY_BYTES],
                       uint8_t tweak[32])
{
    uint8_t wire[AGE_SSH_WIRE_BYTES];
    vlt_age_ssh_wire_public_key(public_key, wire);
    vlt_age_hkdf_sha256(wire, sizeof wire, NULL, 0, SSH_ED25519_INFO, tweak, 32);
}

/* --- readers ----------------------------------------------------------------*/

typedef age_ssh_reader ssh_reader;

int vlt_age_ssh_read_u32(ssh_reader *r, uint32_t *v)
{
    if (r->left < 4)
        return 0;
    *v = load_be32(r->p);
    r->p += 4;
    r->left -= 4;
    return 1;
}

/* An SSH string: uint32 length, then that many bytes. */
int vlt_age_ssh_read_string(ssh_reader *r, const uint8_t **s, size_t *len)
{
    uint32_t n;
    if (!vlt_age_ssh_read_u32(r, &n) || n > r->left)
        return 0;
    *s = r->p;
    *len = n;
    r->p += n;
    r->left -= n;
    return 1;
}

static int bytes_are(const uint8_t *s, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(s, word, len) == 0;
}

/* Reads a wire-encoded public key string's content and insists that it is
 * an ssh-ed25519 key; on a different type, names it in the detail. */
static vault_error parse_wire_key(const uint8_t *blob, size_t blob_len,
                                  const char *what,
                                  uint8_t pk[AGE_ED25519_PUBLIC_KEY_BYTES])
{
    ssh_reader r = {blob, blob_len};
    const uint8_t *type, *key;
    size_t type_len, key_len;
    if (!vlt_age_ssh_read_string(&r, &type, &type_len))
        return vlt_fail(VAULT_E_BAD_KEY, "%s: truncated key type", what);
    if (!bytes_are(type, type_len, SSH_ED25519_TYPE)) {
        int printable = type_len > 0 && type_len <= 64;
        for (size_t i = 0; printable && i < type_len; i++)
            printable = type[i] > 0x20 && type[i] < 0x7f;
        if (printable)
            return vlt_fail(VAULT_E_BAD_KEY,
                            "%s: %.*s keys are not supported, only "
                            "ssh-ed25519 and ssh-rsa",
                            what, (int)type_len, (const char *)type);
        return vlt_fail(VAULT_E_BAD_KEY, "%s: not an ssh-ed25519 key",
                        what);
    }
    if (!vlt_age_ssh_read_string(&r, &key, &key_len) ||
        key_len != AGE_ED25519_PUBLIC_KEY_BYTES || r.left != 0)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: malformed ssh-ed25519 public key", what);
    memcpy(pk, key, AGE_ED25519_PUBLIC_KEY_BYTES);
    return VAULT_OK;
}

/* Padded base64 (RFC 4648 section 4) as SSH writes it: the length a
 * multiple of 4, at most two "=", canonical.  Returns 0 if malformed or
 * longer than cap. */
static int decode_padded(const char *in, size_t len, uint8_t *out, size_t cap,
                         size_t *out_len)
{
    if (len % 4 != 0)
        return 0;
    size_t pad = 0;
    while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
        pad++;
    /* With len a multiple of 4, the unpadded length is consistent with
     * pad; the decoder rejects a stray "=" and non-canonical bits. */
    return vlt_age_base64_decode(in, len - pad, out, cap, out_len) == VAULT_OK;
}

/* --- public keys ------------------------------------------------------------*/

void vlt_age_ssh_encode_public_key(
    const uint8_t public_key[AGE_ED25519_PUBLIC_KEY_BYTES],
    char out[AGE_SSH_RECIPIENT_STRLEN + 1])
{
    uint8_t wire[AGE_SSH_WIRE_BYTES];
    size_t n = sizeof SSH_ED25519_TYPE; /* the type and a space */
    vlt_age_ssh_wire_public_key(public_key, wire);
    memcpy(out, SSH_ED25519_TYPE " ", n);
    /* 51 bytes are 17 whole groups: no padding to add. */
    _Static_assert(AGE_SSH_WIRE_BYTES % 3 == 0, "wire key needs no padding");
    vlt_age_base64_encode(wire, sizeof wire, out + n);
    n += age_base64_len(sizeof wire);
    out[n] = '\0';
}

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits a public key line "type" 1*WSP base64 [1*WSP comment]: checks
 * the type word and the comment, decodes the key into wire (cap bytes). */
static vault_error decode_public_line(const char *text, size_t len,
                                      const char *type, uint8_t *wire,
                                      size_t cap, size_t *wire_len)
{
    const char *what = "ssh public key";
    if (!text)
        return vlt_fail(VAULT_E_BAD_KEY, "%s: NULL", what);
    size_t type_end = 0;
    while (type_end < len && !is_wsp(text[type_end]))
        type_end++;
    if (type_end != strlen(type) || memcmp(text, type, type_end) != 0)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: not an %s key (\"%s AAAA...\")", what, type,
                        type);
    size_t p = type_end;
    while (p < len && is_wsp(text[p]))
        p++;
    size_t b64 = p;
    while (p < len && !is_wsp(text[p]))
        p++;
    if (p == b64 || !decode_padded(text + b64, p - b64, wire, cap, wire_len))
        return vlt_fail(VAULT_E_BAD_KEY, "%s: malformed base64 key", what);
    /* The rest: white space and a comment, on this one line. */
    for (; p < len; p++) {
        unsigned char c = (unsigned char)text[p];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return vlt_fail(VAULT_E_BAD_KEY,
                            "%s: control character after the key", what);
    }
    return VAULT_OK;
}

static vault_error parse_rsa_public_key(const char *text, size_t len,
                                        age_recipient *out)
{
    vault_error rc = decode_public_line(text, len, SSH_RSA_TYPE,
                                        out->ssh_rsa_wire,
                                        sizeof out->ssh_rsa_wire,
                                        &out->ssh_rsa_wire_len);
    if (rc != VAULT_OK) {
        /* too long for the buffer: name the real reason */
        if (len > AGE_SSH_RSA_RECIPIENT_STRLEN)
            return vlt_fail(VAULT_E_BAD_KEY,
                            "ssh public key: RSA keys above %d bits are "
                            "not supported", AGE_SSH_RSA_MAX_BITS);
        return rc;
    }
    return vlt_age_ssh_rsa_check_wire(out->ssh_rsa_wire,
                                      out->ssh_rsa_wire_len,
                                      "ssh public key");
}

vault_error vlt_age_ssh_parse_public_key(
    const char *text, size_t len,
    uint8_t public_key[AGE_ED25519_PUBLIC_KEY_BYTES])
{
    const char *what = "ssh public key";
    uint8_t wire[AGE_SSH_WIRE_BYTES];
    size_t got = 0;
    vault_error rc = decode_public_line(text, len, SSH_ED25519_TYPE, wire,
                                        sizeof wire, &got);
    if (rc != VAULT_OK)
        return rc;
    rc = parse_wire_key(wire, got, what, public_key);
    if (rc != VAULT_OK)
        return rc;
    /* The key must be a point we can convert to X25519 (no low-order or
     * non-canonical encodings). */
    uint8_t x[AGE_X25519_KEY_BYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(x, public_key) != 0) {
        sodium_memzero(public_key, AGE_ED25519_PUBLIC_KEY_BYTES);
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: not a valid Ed25519 public key", what);
    }
    return VAULT_OK;
}

vault_error vlt_age_parse_recipient(const char *text, size_t len,
                                    age_recipient *out)
{
    memset(out, 0, sizeof *out);
    if (!text)
        return vlt_fail(VAULT_E_BAD_KEY, "recipient: NULL");
    static const char ssh_prefix[] = "ssh-";
    static const char rsa_prefix[] = SSH_RSA_TYPE " ";
    static const char rsa_prefix_tab[] = SSH_RSA_TYPE "\t";
    if (len >= sizeof rsa_prefix - 1 &&
        (memcmp(text, rsa_prefix, sizeof rsa_prefix - 1) == 0 ||
         memcmp(text, rsa_prefix_tab, sizeof rsa_prefix_tab - 1) == 0)) {
        out->kind = AGE_KIND_SSH_RSA;
        vault_error rc = parse_rsa_public_key(text, len, out);
        if (rc != VAULT_OK)
            memset(out, 0, sizeof *out);
        return rc;
    }
    if (len >= sizeof ssh_prefix - 1 &&
        memcmp(text, ssh_prefix, sizeof ssh_prefix - 1) == 0) {
        out->kind = AGE_KIND_SSH_ED25519;
        vault_error rc = vlt_age_ssh_parse_public_key(text, len,
                                                      out->ssh_public_key);
        if (rc != VAULT_OK)
            memset(out, 0, sizeof *out);
        return rc;
    }
    out->kind = AGE_KIND_X25519;
    if (vlt_age_decode_recipient(text, len, out->public_key) != VAULT_OK) {
        memset(out, 0, sizeof *out);
        return vlt_fail(VAULT_E_BAD_KEY,
                        "not a recipient (age1..., ssh-ed25519 ... or "
                        "ssh-rsa ...)");
    }
    return VAULT_OK;
}

int vlt_age_same_recipient(const age_recipient *a, const age_recipient *b)
{
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case AGE_KIND_X25519:
        return memcmp(a->public_key, b->public_key, AGE_X25519_KEY_BYTES) == 0;
    case AGE_KIND_SSH_ED25519:
        return memcmp(a->ssh_public_key, b->ssh_public_key,
                      AGE_ED25519_PUBLIC_KEY_BYTES) == 0;
    case AGE_KIND_SSH_RSA:
        return a->ssh_rsa_wire_len == b->ssh_rsa_wire_len &&
               a->ssh_rsa_wire_len <= sizeof a->ssh_rsa_wire &&
               memcmp(a->ssh_rsa_wire, b->ssh_rsa_wire,
                      a->ssh_rsa_wire_len) == 0;
    default:
        return 0;
    }
}

/* --- private keys -----------------------------------------------------------*/

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int vlt_age_ssh_is_private_key(const uint8_t *data, size_t len)
{
    size_t i = 0;
    if (!data)
        return 0;
    while (i < len && is_space(data[i]))
        i++;
    return len - i >= sizeof pem_begin - 1 &&
           memcmp(data + i, pem_begin, sizeof pem_begin - 1) == 0;
}

/* The line at *pos without its LF or CRLF; advances *pos past the end of
 * line.  *had_eol says whether there was one. */
static void next_line(const uint8_t *data, size_t len, size_t *pos,
                      const uint8_t **line, size_t *line_len, int *had_eol)
{
    size_t start = *pos, end = start;
    while (end < len && data[end] != '\n')
        end++;
    *had_eol = end < len;
    *pos = end < len ? end + 1 : end;
    if (end > start && data[end - 1] == '\r' && *had_eol)
        end--;
    *line = data + start;
    *line_len = end - start;
}

/* Removes the PEM framing: the base64 text of the body into b64 (room for
 * len bytes), its length into *b64_len. */
static vault_error unframe(const uint8_t *data, size_t len, char *b64,
                           size_t *b64_len)
{
    const char *what = "OpenSSH private key";
    size_t pos = 0;
    while (pos < len && is_space(data[pos]))
        pos++;
    const uint8_t *line;
    size_t line_len;
    int eol;
    next_line(data, len, &pos, &line, &line_len, &eol);
    if (!eol || !bytes_are(line, line_len, pem_begin))
        return vlt_fail(VAULT_E_BAD_KEY, "%s: malformed BEGIN line", what);
    *b64_len = 0;
    for (;;) {
        if (pos == len)
            return vlt_fail(VAULT_E_BAD_KEY, "%s: no END line", what);
        next_line(data, len, &pos, &line, &line_len, &eol);
        if (bytes_are(line, line_len, pem_end))
            break;
        if (line_len == 0 || !eol)
            return vlt_fail(VAULT_E_BAD_KEY,
                            "%s: empty or unterminated line in the "
                            "base64 body", what);
        /* The characters themselves are checked by the decoder. */
        memcpy(b64 + *b64_len, line, line_len);
        *b64_len += line_len;
    }
    for (; pos < len; pos++)
        if (!is_space(data[pos]))
            return vlt_fail(VAULT_E_BAD_KEY,
                            "%s: data after the END line", what);
    return VAULT_OK;
}

/* Where a parsed private key goes: an Ed25519 secret key, or (if rsa is
 * not NULL) an RSA key. */
typedef struct ssh_private_out {
    age_stanza_kind kind; /* what was found */
    uint8_t *secret_key;  /* AGE_ED25519_SECRET_KEY_BYTES */
    age_ssh_rsa_key *rsa; /* NULL: RSA keys are refused */
    const char *passphrase; /* for a protected key; NULL: none given */
} ssh_private_out;

/* Checks the padding after the last field of a private section. */
static vault_error check_padding(const ssh_reader *r)
{
    for (size_t i = 0; i < r->left; i++)
        if (r->p[i] != (uint8_t)(i + 1))
            return vlt_fail(VAULT_E_BAD_KEY,
                            "OpenSSH private key: malformed padding");
    return VAULT_OK;
}

/* The RSA key of a private section, after its key type. */
static vault_error parse_rsa_private(ssh_reader *r, const uint8_t *pub,
                                     size_t pub_len, age_ssh_rsa_key *rsa)
{
    const uint8_t *comment;
    size_t comment_len;
    vault_error rc = vlt_age_ssh_rsa_parse_private(r, pub, pub_len, rsa);
    if (rc == VAULT_OK &&
        !vlt_age_ssh_read_string(r, &comment, &comment_len))
        rc = vlt_fail(VAULT_E_BAD_KEY, "OpenSSH private key: truncated");
    if (rc == VAULT_OK)
        rc = check_padding(r);
    if (rc != VAULT_OK)
        vlt_age_ssh_rsa_key_clear(rsa);
    return rc;
}

/* Parses the private section (see the top of the file). */
static vault_error parse_private_section(
    const uint8_t *sec, size_t sec_len,
    const uint8_t outer_pk[AGE_ED25519_PUBLIC_KEY_BYTES], const uint8_t *pub,
    size_t pub_len, ssh_private_out *out)
{
    uint8_t *secret_key = out->secret_key;
    const char *what = "OpenSSH private key";
    ssh_reader r = {sec, sec_len};
    if (sec_len < SSH_BLOCK_NONE || sec_len % SSH_BLOCK_NONE != 0)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: private section is %zu bytes, not a multiple "
                        "of %d", what, sec_len, SSH_BLOCK_NONE);
    uint32_t check1, check2;
    if (!vlt_age_ssh_read_u32(&r, &check1) || !vlt_age_ssh_read_u32(&r, &check2))
        return vlt_fail(VAULT_E_BAD_KEY, "%s: truncated", what);
    if (check1 != check2)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: check integers differ (damaged key)", what);
    const uint8_t *type, *pk, *sk, *comment;
    size_t type_len, pk_len, sk_len, comment_len;
    if (!vlt_age_ssh_read_string(&r, &type, &type_len))
        return vlt_fail(VAULT_E_BAD_KEY, "%s: truncated", what);
    if (out->kind == AGE_KIND_SSH_RSA) {
        if (!bytes_are(type, type_len, SSH_RSA_TYPE))
            return vlt_fail(VAULT_E_BAD_KEY,
                            "%s: private key is not ssh-rsa", what);
        return parse_rsa_private(&r, pub, pub_len, out->rsa);
    }
    if (!bytes_are(type, type_len, SSH_ED25519_TYPE))
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: private key is not ssh-ed25519", what);
    if (!vlt_age_ssh_read_string(&r, &pk, &pk_len) ||
        !vlt_age_ssh_read_string(&r, &sk, &sk_len) ||
        !vlt_age_ssh_read_string(&r, &comment, &comment_len))
        return vlt_fail(VAULT_E_BAD_KEY, "%s: truncated", what);
    (void)comment;
    if (pk_len != AGE_ED25519_PUBLIC_KEY_BYTES ||
        sk_len != AGE_ED25519_SECRET_KEY_BYTES)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: key lengths %zu and %zu, not 32 and 64", what,
                        pk_len, sk_len);
    if (sodium_memcmp(pk, outer_pk, AGE_ED25519_PUBLIC_KEY_BYTES) != 0 ||
        sodium_memcmp(sk + 32, pk, AGE_ED25519_PUBLIC_KEY_BYTES) != 0)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: public and private parts disagree", what);
    vault_error rc = check_padding(&r);
    if (rc != VAULT_OK)
        return rc;
    /* The seed must give the stored public key, or we would encrypt to one
     * key and decrypt with another. */
    uint8_t check_pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t check_sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(check_pk, check_sk, sk);
    int bad = sodium_memcmp(check_pk, pk, sizeof check_pk) != 0;
    sodium_memzero(check_sk, sizeof check_sk);
    if (bad)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: the seed does not give the public key", what);
    uint8_t x[AGE_X25519_KEY_BYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(x, pk) != 0)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: not a valid Ed25519 public key", what);
    memcpy(secret_key, sk, AGE_ED25519_SECRET_KEY_BYTES);
    return VAULT_OK;
}

/* Passphrases ask for at most this many bcrypt rounds (ssh-keygen's
 * default is 16; -a 100 is "very slow"): a file asking more is refused,
 * not hours of work. */
#define SSH_KDF_ROUNDS_MAX 1024

/* The ciphers a protected key may use, as libcrypto names them. */
static const EVP_CIPHER *section_cipher(const uint8_t *name, size_t len)
{
    if (bytes_are(name, len, "aes256-ctr"))
        return EVP_aes_256_ctr();
    if (bytes_are(name, len, "aes192-ctr"))
        return EVP_aes_192_ctr();
    if (bytes_are(name, len, "aes128-ctr"))
        return EVP_aes_128_ctr();
    if (bytes_are(name, len, "aes256-cbc"))
        return EVP_aes_256_cbc();
    if (bytes_are(name, len, "aes128-cbc"))
        return EVP_aes_128_cbc();
    return NULL;
}

/* OpenSSH's AEAD ciphers (chacha20-poly1305@openssh.com, aes-gcm) put a
 * tag after the section; ssh-keygen can re-protect a key with its
 * default cipher. */
static vault_error unsupported_cipher(const uint8_t *name, size_t len)
{
    /* the name is the file's: shown as printable ASCII only */
    char shown[65];
    size_t n = 0;
    for (size_t i = 0; i < len && n < sizeof shown - 1; i++)
        shown[n++] = name[i] >= 0x20 && name[i] < 0x7f ? (char)name[i] : '?';
    shown[n] = '\0';
    return vlt_fail(VAULT_E_UNSUPPORTED,
                    "OpenSSH private key: protected with the cipher %s, "
                    "which vault does not read; ssh-keygen -p -Z aes256-ctr "
                    "-f KEY changes it",
                    shown);
}

/* The private section sec of a protected key, decrypted into plain
 * (sec_len bytes); VAULT_E_BAD_PASSPHRASE when its check integers do not
 * agree. */
static vault_error decrypt_section(const uint8_t *cipher_name,
                                   size_t cipher_len, const uint8_t *kdf,
                                   size_t kdf_len, const uint8_t *options,
                                   size_t options_len,
                                   const char *passphrase, const uint8_t *sec,
                                   size_t sec_len, uint8_t *plain)
{
    const char *what = "OpenSSH private key";
    const EVP_CIPHER *cipher = section_cipher(cipher_name, cipher_len);
    if (!cipher)
        return unsupported_cipher(cipher_name, cipher_len);
    ssh_reader r = {options, options_len};
    const uint8_t *salt;
    size_t salt_len;
    uint32_t rounds;
    if (!bytes_are(kdf, kdf_len, "bcrypt") ||
        !vlt_age_ssh_read_string(&r, &salt, &salt_len) ||
        !vlt_age_ssh_read_u32(&r, &rounds) || r.left != 0 || salt_len == 0)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: a cipher without bcrypt key derivation", what);
    if (rounds == 0 || rounds > SSH_KDF_ROUNDS_MAX)
        return vlt_fail(VAULT_E_UNSUPPORTED,
                        "%s: asks for %lu bcrypt rounds (at most %d)", what,
                        (unsigned long)rounds, SSH_KDF_ROUNDS_MAX);
    int key_len = EVP_CIPHER_get_key_length(cipher);
    int iv_len = EVP_CIPHER_get_iv_length(cipher);
    int block = EVP_CIPHER_get_block_size(cipher);
    size_t step = block > 8 ? (size_t)block : 8;
    if (sec_len == 0 || sec_len % step != 0 || sec_len > INT32_MAX)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: private section not a whole number of blocks",
                        what);
    uint8_t key_iv[64];
    if (vlt_bcrypt_pbkdf(passphrase, strlen(passphrase), salt, salt_len,
                         key_iv, (size_t)(key_len + iv_len), rounds) != 0)
        return vlt_fail(VAULT_E_BAD_KEY, "%s: bad key derivation options",
                        what);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, done = 0;
    int ok = ctx &&
             EVP_DecryptInit_ex2(ctx, cipher, key_iv, key_iv + key_len,
                                 NULL) == 1 &&
             EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
             EVP_DecryptUpdate(ctx, plain, &n, sec, (int)sec_len) == 1 &&
             EVP_DecryptFinal_ex(ctx, plain + n, &done) == 1 &&
             (size_t)(n + done) == sec_len;
    EVP_CIPHER_CTX_free(ctx);
    sodium_memzero(key_iv, sizeof key_iv);
    if (!ok)
        return vlt_fail(VAULT_E_NOMEM, "%s: libcrypto could not decrypt it",
                        what);
    /* The check integers: equal when the passphrase was right. */
    if (sec_len < 8 || memcmp(plain, plain + 4, 4) != 0)
        return vlt_fail(VAULT_E_BAD_PASSPHRASE,
                        "%s: wrong passphrase", what);
    return VAULT_OK;
}

/* Parses the decoded openssh-key-v1 blob. */
static vault_error parse_blob(const uint8_t *blob, size_t blob_len,
                              ssh_private_out *out)
{
    const char *what = "OpenSSH private key";
    if (blob_len < sizeof SSH_MAGIC ||
        memcmp(blob, SSH_MAGIC, sizeof SSH_MAGIC) != 0) /* with the NUL */
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: not in openssh-key-v1 format", what);
    ssh_reader r = {blob + sizeof SSH_MAGIC, blob_len - sizeof SSH_MAGIC};
    const uint8_t *cipher, *kdf, *kdf_options, *pub, *sec;
    size_t cipher_len, kdf_len, kdf_options_len, pub_len, sec_len;
    if (!vlt_age_ssh_read_string(&r, &cipher, &cipher_len))
        return vlt_fail(VAULT_E_BAD_KEY, "%s: truncated", what);
    int encrypted = !bytes_are(cipher, cipher_len, "none");
    /* A cipher we cannot use is said before a passphrase is asked for. */
    if (encrypted && !section_cipher(cipher, cipher_len))
        return unsupported_cipher(cipher, cipher_len);
    if (encrypted && !out->passphrase)
        return vlt_fail(VAULT_E_NEED_PASSPHRASE, "%s", encrypted_detail);
    uint32_t n_keys;
    if (!vlt_age_ssh_read_string(&r, &kdf, &kdf_len) ||
        !vlt_age_ssh_read_string(&r, &kdf_options, &kdf_options_len) ||
        !vlt_age_ssh_read_u32(&r, &n_keys))
        return vlt_fail(VAULT_E_BAD_KEY, "%s: truncated", what);
    if (!encrypted &&
        (!bytes_are(kdf, kdf_len, "none") || kdf_options_len != 0))
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: a key derivation without a cipher", what);
    if (n_keys != 1)
        return vlt_fail(VAULT_E_BAD_KEY, "%s: holds %lu keys, not 1", what,
                        (unsigned long)n_keys);
    if (!vlt_age_ssh_read_string(&r, &pub, &pub_len))
        return vlt_fail(VAULT_E_BAD_KEY, "%s: truncated", what);
    uint8_t pk[AGE_ED25519_PUBLIC_KEY_BYTES] = {0};
    ssh_reader type_reader = {pub, pub_len};
    const uint8_t *type;
    size_t type_len;
    vault_error rc = VAULT_OK;
    if (out->rsa && vlt_age_ssh_read_string(&type_reader, &type, &type_len) &&
        bytes_are(type, type_len, SSH_RSA_TYPE)) {
        out->kind = AGE_KIND_SSH_RSA;
        rc = vlt_age_ssh_rsa_check_wire(pub, pub_len, what);
    } else {
        out->kind = AGE_KIND_SSH_ED25519;
        rc = parse_wire_key(pub, pub_len, what, pk);
    }
    if (rc != VAULT_OK)
        return rc;
    if (!vlt_age_ssh_read_string(&r, &sec, &sec_len))
        return vlt_fail(VAULT_E_BAD_KEY, "%s: truncated", what);
    if (r.left != 0)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "%s: data after the private section", what);
    if (!encrypted)
        return parse_private_section(sec, sec_len, pk, pub, pub_len, out);
    uint8_t *plain = malloc(sec_len ? sec_len : 1);
    if (!plain)
        return vlt_fail(VAULT_E_NOMEM, "%s: out of memory", what);
    rc = decrypt_section(cipher, cipher_len, kdf, kdf_len, kdf_options,
                         kdf_options_len, out->passphrase, sec, sec_len,
                         plain);
    if (rc == VAULT_OK)
        rc = parse_private_section(plain, sec_len, pk, pub, pub_len, out);
    sodium_memzero(plain, sec_len);
    free(plain);
    return rc;
}

static vault_error parse_key_file(const uint8_t *data, size_t len,
                                  ssh_private_out *out);

static vault_error parse_any_key(const uint8_t *data, size_t len,
                                 const char *passphrase, ssh_private_out *out)
{
    out->passphrase = passphrase;
    return parse_key_file(data, len, out);
}

vault_error vlt_age_ssh_parse_private_key(
    const uint8_t *data, size_t len, const char *passphrase,
    uint8_t secret_key[AGE_ED25519_SECRET_KEY_BYTES])
{
    ssh_private_out out = {AGE_KIND_SSH_ED25519, secret_key, NULL, NULL};
    return parse_any_key(data, len, passphrase, &out);
}

vault_error vlt_age_ssh_parse_identity(
    const uint8_t *data, size_t len, const char *passphrase,
    age_stanza_kind *kind,
    uint8_t ed25519_secret_key[AGE_ED25519_SECRET_KEY_BYTES],
    age_ssh_rsa_key *rsa)
{
    memset(rsa, 0, sizeof *rsa);
    ssh_private_out out = {AGE_KIND_SSH_ED25519, ed25519_secret_key, rsa,
                           NULL};
    vault_error rc = parse_any_key(data, len, passphrase, &out);
    *kind = rc == VAULT_OK ? out.kind : AGE_KIND_SSH_ED25519;
    return rc;
}

static vault_error parse_key_file(const uint8_t *data, size_t len,
                                  ssh_private_out *out)
{
    uint8_t *secret_key = out->secret_key;
    sodium_memzero(secret_key, AGE_ED25519_SECRET_KEY_BYTES);
    if (!data && len)
        return vlt_fail(VAULT_E_INVALID, "ssh private key: NULL");
    /* The base64 text is shorter than the file, the blob shorter still. */
    char *b64 = malloc(len ? len : 1);
    uint8_t *blob = malloc(len ? len : 1);
    size_t b64_len = 0, blob_len = 0;
    vault_error rc = VAULT_OK;
    if (!b64 || !blob)
        rc = vlt_fail(VAULT_E_NOMEM, "ssh private key: out of memory");
    if (rc == VAULT_OK)
        rc = unframe(data, len, b64, &b64_len);
    if (rc == VAULT_OK &&
        !decode_padded(b64, b64_len, blob, len, &blob_len))
        rc = vlt_fail(VAULT_E_BAD_KEY,
                      "OpenSSH private key: malformed base64");
    if (rc == VAULT_OK)
        rc = parse_blob(blob, blob_len, out);
    if (rc != VAULT_OK)
        sodium_memzero(secret_key, AGE_ED25519_SECRET_KEY_BYTES);
    if (b64) {
        sodium_memzero(b64, len ? len : 1);
        free(b64);
    }
    if (blob) {
        sodium_memzero(blob, len ? len : 1);
        free(blob);
    }
    return rc;
}
