/*
 * age_header.c - the header of an age v1 file (age.c has its layout):
 * parsing the version line, the recipient stanzas and the MAC line, as
 * strictly as the spec's canonical encodings require; and the MAC.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/age/age_internal.h"
#include "common/array.h"
#include "common/internal.h"

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

/* Decodes argument i, canonical base64 of exactly n bytes, into out. */
static vault_error decode_arg(const stanza_args *a, size_t i, uint8_t *out,
                              size_t n, const char *stanza, const char *field)
{
    size_t got;
    if (vlt_age_base64_decode((const char *)a->arg[i], a->arg_len[i], out, n,
                              &got) != VAULT_OK ||
        got != n)
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "%s stanza: %s is not canonical base64 of %zu bytes",
                        stanza, field, n);
    return VAULT_OK;
}

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
    uint8_t body[AGE_SSH_RSA_BODY_MAX];
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
        if (decode_arg(&a, 1, s.share, sizeof s.share, "X25519",
                       "share") != VAULT_OK)
            return VAULT_E_AGE_HEADER;
    } else if (arg_is(a.arg[0], a.arg_len[0], "scrypt")) {
        s.kind = AGE_KIND_SCRYPT;
        h->has_scrypt = 1;
        if (a.n != 3)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "scrypt stanza: %zu arguments, not 3", a.n);
        if (decode_arg(&a, 1, s.salt, sizeof s.salt, "scrypt",
                       "salt") != VAULT_OK)
            return VAULT_E_AGE_HEADER;
        vault_error rc = parse_log2n(a.arg[2], a.arg_len[2], &s.log2n);
        if (rc != VAULT_OK)
            return rc;
    } else if (arg_is(a.arg[0], a.arg_len[0], "ssh-ed25519")) {
        s.kind = AGE_KIND_SSH_ED25519;
        if (a.n != 3)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "ssh-ed25519 stanza: %zu arguments, not 2",
                            a.n - 1);
        if (decode_arg(&a, 1, s.tag, sizeof s.tag, "ssh-ed25519", "tag") !=
                VAULT_OK ||
            decode_arg(&a, 2, s.share, sizeof s.share, "ssh-ed25519",
                       "share") != VAULT_OK)
            return VAULT_E_AGE_HEADER;
    } else if (arg_is(a.arg[0], a.arg_len[0], "ssh-rsa")) {
        s.kind = AGE_KIND_SSH_RSA;
        if (a.n != 2)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "ssh-rsa stanza: %zu arguments, not 1", a.n - 1);
        if (decode_arg(&a, 1, s.tag, sizeof s.tag, "ssh-rsa",
                       "tag") != VAULT_OK)
            return VAULT_E_AGE_HEADER;
        /* The body is as long as the recipient's modulus: one longer than
         * our largest is for a key we cannot hold. */
        if (body_len > AGE_SSH_RSA_BODY_MAX)
            return VAULT_OK;
    } else {
        return VAULT_OK; /* not ours: skip */
    }
    /* Checked before any decryption (partitioning oracles); an ssh-rsa
     * body is checked against the key's size when a tag matches. */
    if (s.kind != AGE_KIND_SSH_RSA && body_len != AGE_WRAPPED_KEY_BYTES)
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "%s stanza: body is %zu bytes, not %d",
                        s.kind == AGE_KIND_X25519   ? "X25519"
                        : s.kind == AGE_KIND_SCRYPT ? "scrypt"
                                                    : "ssh-ed25519",
                        body_len, AGE_WRAPPED_KEY_BYTES);
    memcpy(s.body, body, body_len);
    s.body_len = body_len;

    if (h->n_known == SIZE_MAX / sizeof *h->stanzas)
        return vlt_fail(VAULT_E_NOMEM, "age header: too many stanzas");
    if (VLT_ARRAY_GROW(&h->stanzas, &h->cap_known, h->n_known + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "age header: out of memory");
    h->stanzas[h->n_known++] = s;
    return VAULT_OK;
}

void vlt_age_header_free(age_header *h)
{
    free(h->stanzas);
    memset(h, 0, sizeof *h);
}

/* Parses the binary header at the start of f. */
vault_error vlt_age_parse_header(const uint8_t *f, size_t len, age_header *h)
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
        vlt_age_header_free(h);
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
        vlt_age_header_free(h);
        return vlt_fail(VAULT_E_AGE_HEADER, "age header: malformed MAC line");
    }
    h->header_len = eol + 1;
    return VAULT_OK;
}

/* --- MAC -------------------------------------------------------------------*/

void vlt_age_header_mac(const uint8_t file_key[AGE_FILE_KEY_BYTES],
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
