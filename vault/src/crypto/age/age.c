/*
 * age.c - age v1 files (c2sp.org/age, age-encryption.org/v1): header,
 * X25519, scrypt and ssh-ed25519 stanzas, header MAC, STREAM payload.
 *
 * File layout (spec "Encrypted file format"):
 *
 *     "age-encryption.org/v1" LF                      version line
 *     1*stanza                                       one per recipient
 *     "---" SP 43base64char LF                       header MAC
 *     nonce (16 bytes)                               payload starts here
 *     chunk 0 .. chunk n-1                           STREAM
 *
 *     stanza     = "->" 1*(SP argument) LF            argument = 1*VCHAR
 *                  *(64base64char LF)                 full body lines
 *                  *63base64char LF                   final line, may be ""
 *
 * Stanzas we understand (spec "Native recipient types"):
 *
 *     -> X25519 <share: base64 of 32 bytes>           body: 32 bytes
 *     -> scrypt <salt: base64 of 16 bytes> <log2 N>   body: 32 bytes
 *     -> ssh-ed25519 <tag: base64 of 4 bytes> <share: base64 of 32 bytes>
 *                                                     body: 32 bytes
 *
 * The body is ChaCha20-Poly1305 (zero nonce) of the 16-byte file key under
 *     X25519: HKDF-SHA-256(salt = share || recipient,
 *                          ikm = X25519(secret, share),
 *                          info = "age-encryption.org/v1/X25519")
 *     scrypt: scrypt(N = 2^log2N, r = 8, p = 1, dkLen = 32,
 *                    S = "age-encryption.org/v1/scrypt" || salt)
 *     ssh-ed25519 (age's agessh package; the recipient's Ed25519 key pair
 *     converted to X25519 by the birational map, secret = clamped
 *     SHA-512(seed)[0..31]; wire = the SSH wire encoding of the Ed25519
 *     public key; tag = SHA-256(wire)[0..3]):
 *             tweak = HKDF-SHA-256(salt = wire, ikm = "",
 *                                  info = "age-encryption.org/v1/ssh-ed25519")
 *             key   = HKDF-SHA-256(salt = share || recipient,
 *                        ikm = X25519(tweak, X25519(secret, share)),
 *                        info = "age-encryption.org/v1/ssh-ed25519")
 * An scrypt stanza must be alone in its header.  Unknown stanzas are
 * parsed (arguments, canonical base64 body) and otherwise skipped.  An
 * ssh-ed25519 stanza whose tag is not our key's is not ours (no match),
 * like one whose body does not open.
 *
 * The MAC is HMAC-SHA-256 under HKDF(salt = "", ikm = file key,
 * info = "header") over the header up to and including "---".
 *
 * Payload (spec "Payload"): key = HKDF(salt = nonce, ikm = file key,
 * info = "payload"); chunk i is ChaCha20-Poly1305 of up to 64 KiB of
 * plaintext (16-byte tag appended) with nonce = i as 11 bytes big endian
 * || 0x01 for the final chunk, 0x00 otherwise.  Only the final chunk may
 * be short, and it may be empty only if it is the first chunk.
 *
 * Decryption order, which fixes the error code of every failure:
 *   armor -> header syntax -> nonce present -> unwrap (no match or a
 *   malformed stanza) -> MAC -> payload.
 */
#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/age/age.h"
#include "common/array.h"
#include "common/internal.h"

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

/* A recipient stanza we understand; unknown ones are only counted. */
typedef struct age_stanza {
    age_stanza_kind kind; /* X25519, scrypt or ssh-ed25519 */
    uint8_t share[AGE_X25519_KEY_BYTES];  /* X25519, ssh: ephemeral share */
    uint8_t tag[AGE_SSH_TAG_BYTES];       /* ssh-ed25519: whose key */
    uint8_t salt[AGE_SCRYPT_SALT_BYTES];  /* scrypt: the salt */
    int log2n;                            /* scrypt: log2 of N, 1..30 */
    uint8_t body[AGE_WRAPPED_KEY_BYTES];  /* the wrapped file key */
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

static const uint8_t zero_nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

/* --- HKDF ----------------------------------------------------------------*/

void vlt_age_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                         size_t ikm_len, const char *info, uint8_t *out,
                         size_t out_len)
{
    static const uint8_t empty[1];
    assert(out_len <= 255 * crypto_auth_hmacsha256_BYTES);
    crypto_auth_hmacsha256_state st;
    uint8_t prk[crypto_auth_hmacsha256_BYTES];
    uint8_t t[crypto_auth_hmacsha256_BYTES];
    size_t info_len = info ? strlen(info) : 0;

    /* Extract: PRK = HMAC(salt, IKM); an empty salt is HashLen zeros, which
     * HMAC's zero padding of the key makes the same as no key at all. */
    crypto_auth_hmacsha256_init(&st, salt_len ? salt : empty, salt_len);
    crypto_auth_hmacsha256_update(&st, ikm_len ? ikm : empty, ikm_len);
    crypto_auth_hmacsha256_final(&st, prk);

    /* Expand: T(i) = HMAC(PRK, T(i-1) || info || i). */
    size_t done = 0;
    for (uint8_t i = 1; done < out_len; i++) {
        crypto_auth_hmacsha256_init(&st, prk, sizeof prk);
        if (i > 1)
            crypto_auth_hmacsha256_update(&st, t, sizeof t);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)(info ? info : ""),
                                      info_len);
        crypto_auth_hmacsha256_update(&st, &i, 1);
        crypto_auth_hmacsha256_final(&st, t);
        size_t take = out_len - done < sizeof t ? out_len - done : sizeof t;
        memcpy(out + done, t, take);
        done += take;
    }
    sodium_memzero(&st, sizeof st);
    sodium_memzero(prk, sizeof prk);
    sodium_memzero(t, sizeof t);
}

/* --- keys ----------------------------------------------------------------*/

void vlt_age_x25519_generate(uint8_t secret_key[AGE_X25519_KEY_BYTES],
                             uint8_t public_key[AGE_X25519_KEY_BYTES])
{
    do {
        randombytes_buf(secret_key, AGE_X25519_KEY_BYTES);
        secret_key[0] &= 248;
        secret_key[31] &= 127;
        secret_key[31] |= 64;
    } while (crypto_scalarmult_base(public_key, secret_key) != 0);
}

vault_error vlt_age_x25519_public(const uint8_t secret_key[AGE_X25519_KEY_BYTES],
                                  uint8_t public_key[AGE_X25519_KEY_BYTES])
{
    if (crypto_scalarmult_base(public_key, secret_key) != 0 ||
        sodium_is_zero(public_key, AGE_X25519_KEY_BYTES))
        return vlt_fail(VAULT_E_BAD_KEY,
                        "X25519 secret key gives an all-zero public key");
    return VAULT_OK;
}

/* --- header parsing --------------------------------------------------------*/

/* The end (index of the LF) of the line starting at pos, or 0 if the file
 * ends first (a line never ends at index 0 since it follows the intro). */
static size_t line_end(const uint8_t *f, size_t len, size_t pos)
{
    const uint8_t *lf = pos < len ? memchr(f + pos, '\n', len - pos) : NULL;
    return lf ? (size_t)(lf - f) : 0;
}

static int starts_with(const uint8_t *f, size_t len, size_t pos,
                       const char *prefix)
{
    size_t n = strlen(prefix);
    return len - pos >= n && memcmp(f + pos, prefix, n) == 0;
}

static int arg_is(const uint8_t *arg, size_t arg_len, const char *word)
{
    return arg_len == strlen(word) && memcmp(arg, word, arg_len) == 0;
}

/* Parses the work factor argument: ^[1-9][0-9]*$, at most 30. */
static vault_error parse_log2n(const uint8_t *arg, size_t arg_len, int *out)
{
    if (arg_len == 0 || arg[0] < '1' || arg[0] > '9')
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "scrypt stanza: malformed work factor");
    int v = 0;
    for (size_t i = 0; i < arg_len; i++) {
        if (arg[i] < '0' || arg[i] > '9')
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "scrypt stanza: malformed work factor");
        v = v * 10 + (arg[i] - '0');
        if (v > AGE_SCRYPT_MAX_LOG2N)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "scrypt stanza: work factor above 2^%d",
                            AGE_SCRYPT_MAX_LOG2N);
    }
    *out = v;
    return VAULT_OK;
}

/* Arguments of one stanza as parsed from its first line. */
#define AGE_ARGS_KEPT 3
typedef struct stanza_args {
    const uint8_t *arg[AGE_ARGS_KEPT]; /* the first arguments */
    size_t arg_len[AGE_ARGS_KEPT];
    size_t n;                          /* all arguments */
} stanza_args;

/* Parses the stanza starting at *pos ("-> ..."), appending it to h if it is
 * of a known type, and advances *pos past its body. */
static vault_error parse_stanza(const uint8_t *f, size_t len, size_t *pos,
                                age_header *h)
{
    size_t no = h->n_stanzas + 1;
    size_t eol = line_end(f, len, *pos);
    if (!eol)
        return vlt_fail(VAULT_E_AGE_HEADER, "stanza %zu: unterminated", no);
    /* "->", then one or more SP argument */
    stanza_args a = {0};
    size_t p = *pos + 2;
    while (p < eol) {
        if (f[p] != ' ')
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "stanza %zu: malformed argument line", no);
        size_t start = ++p;
        while (p < eol && f[p] != ' ') {
            if (f[p] < 0x21 || f[p] > 0x7e)
                return vlt_fail(VAULT_E_AGE_HEADER,
                                "stanza %zu: invalid character in "
                                "argument", no);
            p++;
        }
        if (p == start)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "stanza %zu: empty argument", no);
        if (a.n < AGE_ARGS_KEPT) {
            a.arg[a.n] = f + start;
            a.arg_len[a.n] = p - start;
        }
        a.n++;
    }
    if (a.n == 0)
        return vlt_fail(VAULT_E_AGE_HEADER, "stanza %zu: no arguments", no);
    p = eol + 1;

    /* Body: full 64-column lines, then one shorter (maybe empty) line.  A
     * full line is 48 bytes; each line decodes on its own. */
    uint8_t body[AGE_WRAPPED_KEY_BYTES];
    size_t body_len = 0;
    for (;;) {
        eol = line_end(f, len, p);
        if (!eol)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "stanza %zu: body does not end with a short "
                            "line", no);
        size_t line_len = eol - p;
        if (line_len > AGE_BODY_COLUMNS)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "stanza %zu: body line longer than 64 "
                            "columns", no);
        uint8_t chunk[48];
        size_t got;
        vault_error rc = vlt_age_base64_decode((const char *)f + p, line_len,
                                               chunk, sizeof chunk, &got);
        if (rc != VAULT_OK)
            return vlt_fail_context(rc, "stanza %zu: body", no);
        if (body_len < sizeof body) {
            size_t room = sizeof body - body_len;
            memcpy(body + body_len, chunk, got < room ? got : room);
        }
        body_len += got;
        p = eol + 1;
        if (line_len < AGE_BODY_COLUMNS)
            break;
    }
    *pos = p;
    h->n_stanzas++;

    age_stanza s = {0};
    if (arg_is(a.arg[0], a.arg_len[0], "X25519")) {
        s.kind = AGE_KIND_X25519;
        if (a.n != 2)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "X25519 stanza: %zu arguments, not 2", a.n);
        size_t got;
        if (vlt_age_base64_decode((const char *)a.arg[1], a.arg_len[1], s.share,
                              sizeof s.share, &got) != VAULT_OK ||
            got != sizeof s.share)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "X25519 stanza: share is not canonical base64 "
                            "of 32 bytes");
    } else if (arg_is(a.arg[0], a.arg_len[0], "scrypt")) {
        s.kind = AGE_KIND_SCRYPT;
        h->has_scrypt = 1;
        if (a.n != 3)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "scrypt stanza: %zu arguments, not 3", a.n);
        size_t got;
        if (vlt_age_base64_decode((const char *)a.arg[1], a.arg_len[1], s.salt,
                              sizeof s.salt, &got) != VAULT_OK ||
            got != sizeof s.salt)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "scrypt stanza: salt is not canonical base64 "
                            "of 16 bytes");
        vault_error rc = parse_log2n(a.arg[2], a.arg_len[2], &s.log2n);
        if (rc != VAULT_OK)
            return rc;
    } else if (arg_is(a.arg[0], a.arg_len[0], "ssh-ed25519")) {
        s.kind = AGE_KIND_SSH_ED25519;
        if (a.n != 3)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "ssh-ed25519 stanza: %zu arguments, not 2",
                            a.n - 1);
        size_t got;
        if (vlt_age_base64_decode((const char *)a.arg[1], a.arg_len[1], s.tag,
                              sizeof s.tag, &got) != VAULT_OK ||
            got != sizeof s.tag)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "ssh-ed25519 stanza: tag is not canonical "
                            "base64 of 4 bytes");
        if (vlt_age_base64_decode((const char *)a.arg[2], a.arg_len[2], s.share,
                              sizeof s.share, &got) != VAULT_OK ||
            got != sizeof s.share)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "ssh-ed25519 stanza: share is not canonical "
                            "base64 of 32 bytes");
    } else {
        return VAULT_OK; /* not ours: skip */
    }
    /* Checked before any decryption (partitioning oracles). */
    if (body_len != AGE_WRAPPED_KEY_BYTES)
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "%s stanza: body is %zu bytes, not %d",
                        s.kind == AGE_KIND_X25519   ? "X25519"
                        : s.kind == AGE_KIND_SCRYPT ? "scrypt"
                                                    : "ssh-ed25519",
                        body_len, AGE_WRAPPED_KEY_BYTES);
    memcpy(s.body, body, sizeof s.body);

    if (h->n_known == SIZE_MAX / sizeof *h->stanzas)
        return vlt_fail(VAULT_E_NOMEM, "age header: too many stanzas");
    if (VLT_ARRAY_GROW(&h->stanzas, &h->cap_known, h->n_known + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "age header: out of memory");
    h->stanzas[h->n_known++] = s;
    return VAULT_OK;
}

static void header_free(age_header *h)
{
    free(h->stanzas);
    memset(h, 0, sizeof *h);
}

/* Parses the binary header at the start of f. */
static vault_error parse_header(const uint8_t *f, size_t len, age_header *h)
{
    memset(h, 0, sizeof *h);
    if (!starts_with(f, len, 0, AGE_INTRO_PREFIX))
        return vlt_fail(VAULT_E_AGE_HEADER, "not an age file");
    size_t eol = line_end(f, len, 0);
    if (!eol)
        return vlt_fail(VAULT_E_AGE_HEADER, "age header: truncated");
    if (eol != strlen(AGE_VERSION_LINE) ||
        memcmp(f, AGE_VERSION_LINE, eol) != 0)
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "age header: unsupported version");
    size_t pos = eol + 1;

    vault_error rc = VAULT_OK;
    while (rc == VAULT_OK) {
        if (starts_with(f, len, pos, "->"))
            rc = parse_stanza(f, len, &pos, h);
        else if (starts_with(f, len, pos, "---"))
            break;
        else
            rc = vlt_fail(VAULT_E_AGE_HEADER,
                          "age header: expected a stanza or the MAC line");
    }
    if (rc == VAULT_OK && h->n_stanzas == 0)
        rc = vlt_fail(VAULT_E_AGE_HEADER, "age header: no stanzas");
    if (rc == VAULT_OK && h->has_scrypt && h->n_stanzas != 1)
        rc = vlt_fail(VAULT_E_AGE_HEADER,
                      "age header: an scrypt stanza must be alone");
    if (rc != VAULT_OK) {
        header_free(h);
        return rc;
    }

    /* "---" SP 43base64char LF */
    h->mac_input_len = pos + 3;
    eol = line_end(f, len, pos);
    size_t got = 0;
    if (!eol || eol - pos != 4 + AGE_MAC_B64_LEN || f[pos + 3] != ' ' ||
        vlt_age_base64_decode((const char *)f + pos + 4, AGE_MAC_B64_LEN, h->mac,
                              sizeof h->mac, &got) != VAULT_OK ||
        got != AGE_MAC_BYTES) {
        header_free(h);
        return vlt_fail(VAULT_E_AGE_HEADER, "age header: malformed MAC line");
    }
    h->header_len = eol + 1;
    return VAULT_OK;
}

/* --- unwrapping ------------------------------------------------------------*/

/* Each returns VAULT_OK with the file key, VAULT_E_AGE_NO_MATCH (no detail
 * set) if the stanza is not for this identity, or another code for a
 * stanza that must abort decryption. */

static vault_error unwrap_x25519(const age_identity *id,
                                 const uint8_t our_public[32],
                                 const age_stanza *s,
                                 uint8_t file_key[AGE_FILE_KEY_BYTES])
{
    uint8_t shared[crypto_scalarmult_BYTES];
    uint8_t salt[2 * AGE_X25519_KEY_BYTES];
    uint8_t wrap_key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
    /* libsodium refuses low-order shares and all-zero results: both are the
     * all-zero shared secret the spec says to abort on. */
    if (crypto_scalarmult(shared, id->secret_key, s->share) != 0 ||
        sodium_is_zero(shared, sizeof shared)) {
        sodium_memzero(shared, sizeof shared);
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "X25519 stanza: all-zero shared secret");
    }
    memcpy(salt, s->share, AGE_X25519_KEY_BYTES);
    memcpy(salt + AGE_X25519_KEY_BYTES, our_public, AGE_X25519_KEY_BYTES);
    vlt_age_hkdf_sha256(salt, sizeof salt, shared, sizeof shared, AGE_X25519_INFO,
                        wrap_key, sizeof wrap_key);
    int bad = crypto_aead_chacha20poly1305_ietf_decrypt(
        file_key, NULL, NULL, s->body, sizeof s->body, NULL, 0, zero_nonce,
        wrap_key);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(wrap_key, sizeof wrap_key);
    return bad ? VAULT_E_AGE_NO_MATCH : VAULT_OK;
}

/* An ssh-ed25519 identity made ready for unwrapping: its key converted to
 * X25519, and what the stanzas are checked against. */
typedef struct ssh_unwrapper {
    uint8_t secret[AGE_X25519_KEY_BYTES]; /* clamped SHA-512(seed)[0..31] */
    uint8_t our_public[AGE_X25519_KEY_BYTES]; /* X25519(secret, base) */
    uint8_t tag[AGE_SSH_TAG_BYTES];
    uint8_t tweak[32];
} ssh_unwrapper;

/* Prepares an ssh-ed25519 identity; VAULT_E_INVALID if its two halves do
 * not belong together or it does not convert. */
static vault_error ssh_unwrapper_init(const age_identity *id, size_t no,
                                      ssh_unwrapper *u)
{
    const uint8_t *pk = id->ssh_secret_key + 32;
    uint8_t check_pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t check_sk[crypto_sign_SECRETKEYBYTES];
    int bad = crypto_sign_seed_keypair(check_pk, check_sk,
                                       id->ssh_secret_key) != 0 ||
              sodium_memcmp(check_pk, pk, sizeof check_pk) != 0 ||
              crypto_sign_ed25519_sk_to_curve25519(u->secret,
                                                   id->ssh_secret_key) != 0 ||
              crypto_scalarmult_base(u->our_public, u->secret) != 0;
    sodium_memzero(check_sk, sizeof check_sk);
    if (bad) {
        sodium_memzero(u, sizeof *u);
        return vlt_fail(VAULT_E_INVALID,
                        "identity %zu: unusable ssh-ed25519 key", no);
    }
    vlt_age_ssh_tag(pk, u->tag);
    vlt_age_ssh_tweak(pk, u->tweak);
    return VAULT_OK;
}

static vault_error unwrap_ssh_ed25519(const ssh_unwrapper *u,
                                      const age_stanza *s,
                                      uint8_t file_key[AGE_FILE_KEY_BYTES])
{
    /* The tag is public; comparing it in variable time is fine. */
    if (memcmp(u->tag, s->tag, sizeof s->tag) != 0)
        return VAULT_E_AGE_NO_MATCH;
    uint8_t dh[crypto_scalarmult_BYTES];
    uint8_t shared[crypto_scalarmult_BYTES];
    uint8_t salt[2 * AGE_X25519_KEY_BYTES];
    uint8_t wrap_key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
    /* As for X25519, a low-order share gives an all-zero secret. */
    if (crypto_scalarmult(dh, u->secret, s->share) != 0 ||
        sodium_is_zero(dh, sizeof dh) ||
        crypto_scalarmult(shared, u->tweak, dh) != 0) {
        sodium_memzero(dh, sizeof dh);
        sodium_memzero(shared, sizeof shared);
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "ssh-ed25519 stanza: all-zero shared secret");
    }
    memcpy(salt, s->share, AGE_X25519_KEY_BYTES);
    memcpy(salt + AGE_X25519_KEY_BYTES, u->our_public, AGE_X25519_KEY_BYTES);
    vlt_age_hkdf_sha256(salt, sizeof salt, shared, sizeof shared,
                        AGE_SSH_ED25519_INFO, wrap_key, sizeof wrap_key);
    int bad = crypto_aead_chacha20poly1305_ietf_decrypt(
        file_key, NULL, NULL, s->body, sizeof s->body, NULL, 0, zero_nonce,
        wrap_key);
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(wrap_key, sizeof wrap_key);
    return bad ? VAULT_E_AGE_NO_MATCH : VAULT_OK;
}

static vault_error scrypt_wrap_key(const char *passphrase, size_t len,
                                   const uint8_t salt[AGE_SCRYPT_SALT_BYTES],
                                   int log2n, uint8_t key[32])
{
    uint8_t full_salt[sizeof AGE_SCRYPT_LABEL - 1 + AGE_SCRYPT_SALT_BYTES];
    memcpy(full_salt, AGE_SCRYPT_LABEL, sizeof AGE_SCRYPT_LABEL - 1);
    memcpy(full_salt + sizeof AGE_SCRYPT_LABEL - 1, salt,
           AGE_SCRYPT_SALT_BYTES);
    if (crypto_pwhash_scryptsalsa208sha256_ll(
            (const uint8_t *)(passphrase ? passphrase : ""), len, full_salt,
            sizeof full_salt, (uint64_t)1 << log2n, 8, 1, key, 32) != 0)
        return vlt_fail(VAULT_E_NOMEM,
                        "scrypt: cannot compute (2^%d needs %llu MiB)",
                        log2n, (unsigned long long)1 << log2n >> 10);
    return VAULT_OK;
}

static vault_error unwrap_scrypt(const age_identity *id, const age_stanza *s,
                                 uint8_t file_key[AGE_FILE_KEY_BYTES])
{
    int max = id->max_scrypt_log2n > 0 ? id->max_scrypt_log2n
                                       : AGE_SCRYPT_DEFAULT_MAX_LOG2N;
    if (max > AGE_SCRYPT_MAX_LOG2N)
        max = AGE_SCRYPT_MAX_LOG2N;
    if (s->log2n > max)
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "scrypt stanza: work factor 2^%d is above the "
                        "limit 2^%d", s->log2n, max);
    uint8_t wrap_key[32];
    vault_error rc = scrypt_wrap_key(id->passphrase, id->passphrase_len,
                                     s->salt, s->log2n, wrap_key);
    if (rc != VAULT_OK)
        return rc;
    int bad = crypto_aead_chacha20poly1305_ietf_decrypt(
        file_key, NULL, NULL, s->body, sizeof s->body, NULL, 0, zero_nonce,
        wrap_key);
    sodium_memzero(wrap_key, sizeof wrap_key);
    return bad ? VAULT_E_AGE_NO_MATCH : VAULT_OK;
}

/* Tries every identity, in order, on every stanza. */
static vault_error find_file_key(const age_identity *ids, size_t n_ids,
                                 const age_header *h,
                                 uint8_t file_key[AGE_FILE_KEY_BYTES])
{
    for (size_t i = 0; i < n_ids; i++) {
        const age_identity *id = &ids[i];
        uint8_t our_public[AGE_X25519_KEY_BYTES];
        ssh_unwrapper ssh;
        if (id->kind == AGE_KIND_X25519) {
            vault_error rc = vlt_age_x25519_public(id->secret_key, our_public);
            if (rc != VAULT_OK)
                return vlt_fail(VAULT_E_INVALID,
                                "identity %zu: unusable X25519 key", i + 1);
        } else if (id->kind == AGE_KIND_SSH_ED25519) {
            vault_error rc = ssh_unwrapper_init(id, i + 1, &ssh);
            if (rc != VAULT_OK)
                return rc;
        } else if (id->kind == AGE_KIND_SCRYPT) {
            if (!id->passphrase && id->passphrase_len)
                return vlt_fail(VAULT_E_INVALID,
                                "identity %zu: NULL passphrase", i + 1);
        } else {
            return vlt_fail(VAULT_E_UNSUPPORTED,
                            "identity %zu: unsupported kind %d", i + 1,
                            (int)id->kind);
        }
        vault_error rc = VAULT_E_AGE_NO_MATCH;
        for (size_t k = 0; k < h->n_known && rc == VAULT_E_AGE_NO_MATCH;
             k++) {
            const age_stanza *s = &h->stanzas[k];
            if (s->kind != id->kind)
                continue;
            if (s->kind == AGE_KIND_X25519)
                rc = unwrap_x25519(id, our_public, s, file_key);
            else if (s->kind == AGE_KIND_SSH_ED25519)
                rc = unwrap_ssh_ed25519(&ssh, s, file_key);
            else
                rc = unwrap_scrypt(id, s, file_key);
        }
        if (id->kind == AGE_KIND_SSH_ED25519)
            sodium_memzero(&ssh, sizeof ssh);
        if (rc != VAULT_E_AGE_NO_MATCH)
            return rc;
    }
    return vlt_fail(VAULT_E_AGE_NO_MATCH,
                    "age: no identity matches any of %zu recipient "
                    "stanzas", h->n_stanzas);
}

static void header_mac(const uint8_t file_key[AGE_FILE_KEY_BYTES],
                       const uint8_t *header, size_t len,
                       uint8_t mac[AGE_MAC_BYTES])
{
    uint8_t key[32];
    vlt_age_hkdf_sha256(NULL, 0, file_key, AGE_FILE_KEY_BYTES, "header", key,
                        sizeof key);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, sizeof key);
    crypto_auth_hmacsha256_update(&st, header, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
    sodium_memzero(key, sizeof key);
}

/* --- STREAM ------------------------------------------------------------------*/

static void stream_nonce(uint8_t nonce[12], uint64_t counter, int last)
{
    memset(nonce, 0, 12);
    for (int i = 0; i < 8; i++)
        nonce[10 - i] = (uint8_t)(counter >> (8 * i));
    nonce[11] = last ? 1 : 0;
}

/* Decrypts the payload (nonce and chunks) into out (room for in_len bytes).
 * *out_len counts the verified plaintext, also on failure. */
static vault_error stream_decrypt(const uint8_t file_key[AGE_FILE_KEY_BYTES],
                                  const uint8_t *in, size_t in_len,
                                  uint8_t *out, size_t *out_len)
{
    assert(in_len >= AGE_NONCE_BYTES);
    uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
    vlt_age_hkdf_sha256(in, AGE_NONCE_BYTES, file_key, AGE_FILE_KEY_BYTES,
                        "payload", key, sizeof key);
    const uint8_t *p = in + AGE_NONCE_BYTES;
    size_t left = in_len - AGE_NONCE_BYTES;
    uint8_t nonce[12];
    uint64_t counter = 0;
    *out_len = 0;
    vault_error rc = VAULT_OK;
    if (left == 0)
        rc = vlt_fail(VAULT_E_AGE_PAYLOAD, "age payload: no chunks");
    while (rc == VAULT_OK) {
        size_t clen = left < AGE_CHUNK_CT_BYTES ? left : AGE_CHUNK_CT_BYTES;
        int at_end = clen == left;
        unsigned long long plen = 0;
        uint8_t *dst = out + *out_len;
        if (clen < AGE_TAG_BYTES) {
            rc = vlt_fail(VAULT_E_AGE_PAYLOAD,
                          "age payload: chunk %llu truncated",
                          (unsigned long long)counter);
            break;
        }
        if (at_end && clen == AGE_TAG_BYTES && counter != 0) {
            rc = vlt_fail(VAULT_E_AGE_PAYLOAD,
                          "age payload: empty final chunk");
            break;
        }
        /* A short chunk can only be the final one; a full one is usually
         * not, but may be (the payload is a multiple of 64 KiB). */
        int last_first = clen < AGE_CHUNK_CT_BYTES;
        stream_nonce(nonce, counter, last_first);
        int last = last_first;
        int bad = crypto_aead_chacha20poly1305_ietf_decrypt(
            dst, &plen, NULL, p, clen, NULL, 0, nonce, key);
        if (bad && !last_first) {
            stream_nonce(nonce, counter, 1);
            last = 1;
            bad = crypto_aead_chacha20poly1305_ietf_decrypt(
                dst, &plen, NULL, p, clen, NULL, 0, nonce, key);
        }
        if (bad) {
            rc = vlt_fail(VAULT_E_AGE_PAYLOAD,
                          "age payload: chunk %llu fails authentication",
                          (unsigned long long)counter);
            break;
        }
        /* The chunk is authentic: release it. */
        *out_len += (size_t)plen;
        p += clen;
        left -= clen;
        counter++;
        if (last && left > 0)
            rc = vlt_fail(VAULT_E_AGE_PAYLOAD,
                          "age payload: data after the final chunk");
        else if (last)
            break;
        else if (left == 0)
            rc = vlt_fail(VAULT_E_AGE_PAYLOAD,
                          "age payload: truncated (no final chunk)");
    }
    sodium_memzero(key, sizeof key);
    sodium_memzero(nonce, sizeof nonce);
    return rc;
}

/* --- decryption --------------------------------------------------------------*/

void vlt_age_free_plaintext(uint8_t *plaintext, size_t plaintext_len)
{
    if (!plaintext)
        return;
    sodium_memzero(plaintext, plaintext_len);
    free(plaintext);
}

/* The binary file: f itself, or the armor decoded into *owned. */
static vault_error binary_file(const uint8_t *file, size_t file_len,
                               const uint8_t **f, size_t *len,
                               uint8_t **owned)
{
    *owned = NULL;
    if (!vlt_age_is_armored(file, file_len)) {
        *f = file;
        *len = file_len;
        return VAULT_OK;
    }
    vault_error rc = vlt_age_armor_decode(file, file_len, owned, len);
    *f = *owned;
    return rc;
}

vault_error vlt_age_decrypt(const age_identity *identities, size_t n_identities,
                            const uint8_t *file, size_t file_len,
                            uint8_t **plaintext, size_t *plaintext_len)
{
    if (!plaintext || !plaintext_len)
        return vlt_fail(VAULT_E_INVALID, "vlt_age_decrypt: NULL output");
    *plaintext = NULL;
    *plaintext_len = 0;
    if ((!identities && n_identities) || (!file && file_len))
        return vlt_fail(VAULT_E_INVALID, "vlt_age_decrypt: NULL argument");
    if (sodium_init() < 0)
        return vlt_fail(VAULT_E_INTERNAL, "libsodium failed to start");

    const uint8_t *f;
    size_t len;
    uint8_t *dearmored;
    vault_error rc = binary_file(file, file_len, &f, &len, &dearmored);
    if (rc != VAULT_OK)
        return rc;

    age_header h;
    uint8_t file_key[AGE_FILE_KEY_BYTES];
    uint8_t mac[AGE_MAC_BYTES];
    uint8_t *out = NULL;
    size_t out_len = 0;
    rc = parse_header(f, len, &h);
    if (rc != VAULT_OK)
        goto done_nokey;
    if (len - h.header_len < AGE_NONCE_BYTES) {
        rc = vlt_fail(VAULT_E_AGE_HEADER,
                      "age payload: missing or short nonce");
        goto done_nokey;
    }
    rc = find_file_key(identities, n_identities, &h, file_key);
    if (rc != VAULT_OK)
        goto done_nokey;

    header_mac(file_key, f, h.mac_input_len, mac);
    if (sodium_memcmp(mac, h.mac, sizeof mac) != 0) {
        rc = vlt_fail(VAULT_E_AGE_HMAC, "age header: MAC mismatch");
        goto done;
    }
    size_t payload_len = len - h.header_len;
    out = malloc(payload_len); /* >= 16: plaintext is shorter */
    if (!out) {
        rc = vlt_fail(VAULT_E_NOMEM, "age: out of memory");
        goto done;
    }
    rc = stream_decrypt(file_key, f + h.header_len, payload_len, out,
                        &out_len);
    if (rc == VAULT_OK || rc == VAULT_E_AGE_PAYLOAD) {
        *plaintext = out;
        *plaintext_len = out_len;
        out = NULL;
    }
done:
    sodium_memzero(file_key, sizeof file_key);
    sodium_memzero(mac, sizeof mac);
done_nokey:
    vlt_age_free_plaintext(out, out_len);
    header_free(&h);
    free(dearmored);
    return rc;
}

int vlt_age_is_passphrase_file(const uint8_t *file, size_t file_len)
{
    if (!file)
        return 0;
    const uint8_t *f;
    size_t len;
    uint8_t *dearmored;
    if (binary_file(file, file_len, &f, &len, &dearmored) != VAULT_OK)
        return 0;
    age_header h;
    int yes = parse_header(f, len, &h) == VAULT_OK && h.n_stanzas == 1 &&
              h.n_known == 1 && h.stanzas[0].kind == AGE_KIND_SCRYPT;
    header_free(&h);
    free(dearmored);
    return yes;
}

/* --- encryption --------------------------------------------------------------*/

/* Appends an argument line's stanza body (wrapped at 64 columns, ending
 * with a short line) to buf at *n. */
static void put_body(char *buf, size_t *n, const uint8_t *body, size_t len)
{
    size_t i = 0;
    for (;;) {
        size_t take = len - i < 48 ? len - i : 48;
        vlt_age_base64_encode(body + i, take, buf + *n);
        *n += age_base64_len(take);
        buf[(*n)++] = '\n';
        i += take;
        if (take < 48)
            break;
    }
}

static void put_str(char *buf, size_t *n, const char *s)
{
    size_t len = strlen(s);
    memcpy(buf + *n, s, len);
    *n += len;
}

/* Longest stanza we write: "-> ssh-ed25519 " tag SP share LF body LF,
 * 15 + 6 + 1 + 43 + 1 + 43 + 1 = 110 bytes. */
#define AGE_STANZA_MAX 128

static vault_error check_recipients(const age_recipient *r, size_t n)
{
    if (!r || n == 0)
        return vlt_fail(VAULT_E_INVALID, "vlt_age_encrypt: no recipients");
    if (n > (SIZE_MAX / 2 - 256) / AGE_STANZA_MAX)
        return vlt_fail(VAULT_E_INVALID, "vlt_age_encrypt: too many recipients");
    for (size_t i = 0; i < n; i++) {
        switch (r[i].kind) {
        case AGE_KIND_X25519:
            break;
        case AGE_KIND_SCRYPT:
            if (n != 1)
                return vlt_fail(VAULT_E_INVALID,
                                "vlt_age_encrypt: a passphrase must be the "
                                "only recipient");
            if (!r[i].passphrase || r[i].passphrase_len == 0)
                return vlt_fail(VAULT_E_INVALID,
                                "vlt_age_encrypt: empty passphrase");
            if (r[i].scrypt_log2n < 0 ||
                r[i].scrypt_log2n > AGE_SCRYPT_MAX_LOG2N)
                return vlt_fail(VAULT_E_INVALID,
                                "vlt_age_encrypt: scrypt work factor 2^%d out "
                                "of range", r[i].scrypt_log2n);
            break;
        case AGE_KIND_SSH_ED25519:
            break;
        default:
            return vlt_fail(VAULT_E_INVALID,
                            "vlt_age_encrypt: recipient %zu has unknown kind %d",
                            i + 1, (int)r[i].kind);
        }
    }
    return VAULT_OK;
}

/* The ssh-ed25519 wrap key for a recipient, with a fresh ephemeral share
 * and the stanza's tag. */
static vault_error ssh_ed25519_wrap_key(const age_recipient *r,
                                        uint8_t share[AGE_X25519_KEY_BYTES],
                                        uint8_t tag[AGE_SSH_TAG_BYTES],
                                        uint8_t wrap_key[32])
{
    uint8_t their[AGE_X25519_KEY_BYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(their, r->ssh_public_key) != 0)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "vlt_age_encrypt: ssh-ed25519 recipient is not a "
                        "usable Ed25519 key");
    uint8_t eph_secret[32], dh[32], shared[32], tweak[32], salt[64];
    vlt_age_x25519_generate(eph_secret, share);
    int bad = crypto_scalarmult(dh, eph_secret, their) != 0 ||
              sodium_is_zero(dh, sizeof dh);
    sodium_memzero(eph_secret, sizeof eph_secret);
    vlt_age_ssh_tweak(r->ssh_public_key, tweak);
    if (!bad)
        bad = crypto_scalarmult(shared, tweak, dh) != 0;
    if (!bad) {
        memcpy(salt, share, 32);
        memcpy(salt + 32, their, 32);
        vlt_age_hkdf_sha256(salt, sizeof salt, shared, sizeof shared,
                            AGE_SSH_ED25519_INFO, wrap_key, 32);
        vlt_age_ssh_tag(r->ssh_public_key, tag);
    }
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(tweak, sizeof tweak);
    if (bad)
        return vlt_fail(VAULT_E_BAD_KEY,
                        "vlt_age_encrypt: ssh-ed25519 recipient key is a "
                        "low-order point");
    return VAULT_OK;
}

/* Writes the stanza for one recipient to buf at *n. */
static vault_error wrap_file_key(const age_recipient *r,
                                 const uint8_t file_key[AGE_FILE_KEY_BYTES],
                                 char *buf, size_t *n)
{
    uint8_t body[AGE_WRAPPED_KEY_BYTES];
    uint8_t wrap_key[32];
    if (r->kind == AGE_KIND_SSH_ED25519) {
        uint8_t share[32], tag[AGE_SSH_TAG_BYTES];
        vault_error rc = ssh_ed25519_wrap_key(r, share, tag, wrap_key);
        if (rc != VAULT_OK)
            return rc;
        put_str(buf, n, "-> ssh-ed25519 ");
        vlt_age_base64_encode(tag, sizeof tag, buf + *n);
        *n += age_base64_len(sizeof tag);
        buf[(*n)++] = ' ';
        vlt_age_base64_encode(share, sizeof share, buf + *n);
        *n += age_base64_len(sizeof share);
    } else if (r->kind == AGE_KIND_X25519) {
        uint8_t eph_secret[32], share[32], shared[32], salt[64];
        vlt_age_x25519_generate(eph_secret, share);
        int bad = crypto_scalarmult(shared, eph_secret, r->public_key);
        sodium_memzero(eph_secret, sizeof eph_secret);
        if (bad || sodium_is_zero(shared, sizeof shared)) {
            sodium_memzero(shared, sizeof shared);
            return vlt_fail(VAULT_E_BAD_KEY,
                            "vlt_age_encrypt: recipient key is a low-order "
                            "point");
        }
        memcpy(salt, share, 32);
        memcpy(salt + 32, r->public_key, 32);
        vlt_age_hkdf_sha256(salt, sizeof salt, shared, sizeof shared,
                            AGE_X25519_INFO, wrap_key, sizeof wrap_key);
        sodium_memzero(shared, sizeof shared);
        put_str(buf, n, "-> X25519 ");
        vlt_age_base64_encode(share, sizeof share, buf + *n);
        *n += age_base64_len(sizeof share);
    } else {
        int log2n = r->scrypt_log2n ? r->scrypt_log2n
                                    : AGE_SCRYPT_DEFAULT_LOG2N;
        uint8_t salt[AGE_SCRYPT_SALT_BYTES];
        randombytes_buf(salt, sizeof salt);
        vault_error rc = scrypt_wrap_key(r->passphrase, r->passphrase_len,
                                         salt, log2n, wrap_key);
        if (rc != VAULT_OK)
            return rc;
        put_str(buf, n, "-> scrypt ");
        vlt_age_base64_encode(salt, sizeof salt, buf + *n);
        *n += age_base64_len(sizeof salt);
        char digits[4];
        digits[0] = ' ';
        int d = 1;
        if (log2n >= 10)
            digits[d++] = (char)('0' + log2n / 10);
        digits[d++] = (char)('0' + log2n % 10);
        digits[d] = '\0';
        put_str(buf, n, digits);
    }
    buf[(*n)++] = '\n';
    crypto_aead_chacha20poly1305_ietf_encrypt(body, NULL, file_key,
                                              AGE_FILE_KEY_BYTES, NULL, 0,
                                              NULL, zero_nonce, wrap_key);
    sodium_memzero(wrap_key, sizeof wrap_key);
    put_body(buf, n, body, sizeof body);
    return VAULT_OK;
}

vault_error vlt_age_encrypt(const age_recipient *recipients, size_t n_recipients,
                            const uint8_t *plaintext, size_t plaintext_len,
                            uint8_t **out, size_t *out_len)
{
    if (!out || !out_len)
        return vlt_fail(VAULT_E_INVALID, "vlt_age_encrypt: NULL output");
    *out = NULL;
    *out_len = 0;
    if (!plaintext && plaintext_len)
        return vlt_fail(VAULT_E_INVALID, "vlt_age_encrypt: NULL plaintext");
    vault_error rc = check_recipients(recipients, n_recipients);
    if (rc != VAULT_OK)
        return rc;
    if (sodium_init() < 0)
        return vlt_fail(VAULT_E_INTERNAL, "libsodium failed to start");

    size_t chunks = plaintext_len / AGE_CHUNK_BYTES +
                    (plaintext_len % AGE_CHUNK_BYTES != 0 || !plaintext_len);
    size_t header_max = sizeof AGE_VERSION_LINE + 4 + AGE_MAC_B64_LEN + 1 +
                        n_recipients * AGE_STANZA_MAX;
    size_t overhead = header_max + AGE_NONCE_BYTES;
    if (chunks > (SIZE_MAX - overhead) / AGE_TAG_BYTES ||
        plaintext_len > SIZE_MAX - overhead - chunks * AGE_TAG_BYTES)
        return vlt_fail(VAULT_E_INVALID, "vlt_age_encrypt: input too large");
    uint8_t *buf = malloc(overhead + chunks * AGE_TAG_BYTES + plaintext_len);
    if (!buf)
        return vlt_fail(VAULT_E_NOMEM, "vlt_age_encrypt: out of memory");

    uint8_t file_key[AGE_FILE_KEY_BYTES];
    randombytes_buf(file_key, sizeof file_key);
    char *hdr = (char *)buf;
    size_t n = 0;
    put_str(hdr, &n, AGE_VERSION_LINE "\n");
    for (size_t i = 0; i < n_recipients && rc == VAULT_OK; i++) {
        rc = wrap_file_key(&recipients[i], file_key, hdr, &n);
        assert(n <= header_max);
    }
    if (rc != VAULT_OK) {
        sodium_memzero(file_key, sizeof file_key);
        free(buf);
        return rc;
    }
    put_str(hdr, &n, "---");
    uint8_t mac[AGE_MAC_BYTES];
    header_mac(file_key, buf, n, mac);
    hdr[n++] = ' ';
    vlt_age_base64_encode(mac, sizeof mac, hdr + n);
    n += AGE_MAC_B64_LEN;
    hdr[n++] = '\n';

    uint8_t *nonce = buf + n;
    randombytes_buf(nonce, AGE_NONCE_BYTES);
    n += AGE_NONCE_BYTES;
    uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
    vlt_age_hkdf_sha256(nonce, AGE_NONCE_BYTES, file_key, sizeof file_key,
                        "payload", key, sizeof key);
    sodium_memzero(file_key, sizeof file_key);
    uint8_t chunk_nonce[12];
    for (size_t c = 0; c < chunks; c++) {
        size_t off = c * (size_t)AGE_CHUNK_BYTES;
        size_t take = plaintext_len - off < AGE_CHUNK_BYTES
                          ? plaintext_len - off
                          : AGE_CHUNK_BYTES;
        stream_nonce(chunk_nonce, c, c + 1 == chunks);
        unsigned long long clen;
        crypto_aead_chacha20poly1305_ietf_encrypt(
            buf + n, &clen, take ? plaintext + off : NULL, take, NULL, 0,
            NULL, chunk_nonce, key);
        n += (size_t)clen;
    }
    sodium_memzero(key, sizeof key);
    *out = buf;
    *out_len = n;
    return VAULT_OK;
}
