/*
 * age_base64.c - the two base64 dialects of age v1, and its ASCII armor.
 *
 * Header base64 (spec "Conventions"): RFC 4648 section 4 alphabet, no "="
 * padding, and decoders MUST reject non-canonical encodings (RFC 4648
 * section 3.5: the unused low bits of the last character are zero).
 *
 * ASCII armor (spec "ASCII armor"; RFC 7468 section 3, strict form):
 *
 *     *WSP-or-EOL
 *     "-----BEGIN AGE ENCRYPTED FILE-----" EOL
 *     *(64base64char EOL)            full lines, 48 bytes each
 *     [1*64base64char EOL]           the last line, "=" padded, not empty
 *     "-----END AGE ENCRYPTED FILE-----" [EOL]
 *     *WSP-or-EOL
 *
 * where EOL is LF or CRLF and WSP-or-EOL is SP, HTAB, CR or LF.  Anything
 * else is rejected: headers, empty lines, spaces inside the block, short
 * lines before the last, missing or non-canonical padding, PGP checksums.
 * A lax armor parser would make armored files malleable.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/age/age.h"
#include "common/internal.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char armor_begin[] = "-----BEGIN AGE ENCRYPTED FILE-----";
static const char armor_end[] = "-----END AGE ENCRYPTED FILE-----";

#define ARMOR_COLUMNS 64 /* characters per full line, 48 bytes */

/* The 6-bit value of a base64 character, or -1. */
static int b64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

void vlt_age_base64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t i = 0;
    while (len - i >= 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
                     in[i + 2];
        *out++ = b64_alphabet[v >> 18 & 63];
        *out++ = b64_alphabet[v >> 12 & 63];
        *out++ = b64_alphabet[v >> 6 & 63];
        *out++ = b64_alphabet[v & 63];
        i += 3;
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *out++ = b64_alphabet[v >> 18 & 63];
        *out++ = b64_alphabet[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *out++ = b64_alphabet[v >> 18 & 63];
        *out++ = b64_alphabet[v >> 12 & 63];
        *out++ = b64_alphabet[v >> 6 & 63];
    }
}

vault_error vlt_age_base64_decode(const char *in, size_t in_len, uint8_t *out,
                                  size_t out_cap, size_t *out_len)
{
    if (out_len)
        *out_len = 0;
    if (in_len % 4 == 1)
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "base64: impossible length %zu", in_len);
    size_t decoded = in_len / 4 * 3 + (in_len % 4 ? in_len % 4 - 1 : 0);
    if (out && decoded > out_cap)
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "base64: %zu bytes where at most %zu fit", decoded,
                        out_cap);
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < in_len; i++) {
        int v = b64_value((uint8_t)in[i]);
        if (v < 0)
            return vlt_fail(VAULT_E_AGE_HEADER,
                            "base64: invalid character 0x%02x",
                            (unsigned)(uint8_t)in[i]);
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (out)
                out[n] = (uint8_t)(acc >> bits);
            n++;
            acc &= (1u << bits) - 1;
        }
    }
    /* The 2 or 4 bits left over must be zero (canonical encoding). */
    if (acc != 0)
        return vlt_fail(VAULT_E_AGE_HEADER,
                        "base64: non-canonical encoding");
    if (out_len)
        *out_len = n;
    return VAULT_OK;
}

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int vlt_age_is_armored(const uint8_t *file, size_t file_len)
{
    static const char binary[] = "age-encryption.org/";
    if (file_len >= sizeof binary - 1 &&
        memcmp(file, binary, sizeof binary - 1) == 0)
        return 0;
    size_t i = 0;
    while (i < file_len && is_space(file[i]))
        i++;
    /* Leading dashes (even a mangled BEGIN line), or a BEGIN line after
     * leading garbage: meant as armor, so its defects are armor failures. */
    if (file_len - i >= 5 && memcmp(file + i, "-----", 5) == 0)
        return 1;
    static const char begin[] = "-----BEGIN";
    for (size_t k = 0; file_len - k >= sizeof begin - 1; k++) {
        const uint8_t *dash = memchr(file + k, '-', file_len - k);
        if (!dash)
            break;
        k = (size_t)(dash - file);
        if (file_len - k >= sizeof begin - 1 &&
            memcmp(file + k, begin, sizeof begin - 1) == 0)
            return 1;
    }
    return 0;
}

/* Decodes one 4-character group with "=" padding (only allowed in the last
 * group), appending 1 to 3 bytes.  Returns the byte count or -1. */
static int armor_group(const uint8_t *g, int last, uint8_t *out)
{
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; k++) {
        if (g[k] == '=') {
            pad++;
            v[k] = 0;
            continue;
        }
        if (pad) /* data after padding */
            return -1;
        v[k] = b64_value(g[k]);
        if (v[k] < 0)
            return -1;
    }
    if (pad > 2 || (pad && !last))
        return -1;
    uint32_t acc = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                   (uint32_t)v[2] << 6 | (uint32_t)v[3];
    /* canonical: the bits that padding cuts off are zero */
    if ((pad == 1 && (acc & 0xff)) || (pad == 2 && (acc & 0xffff)))
        return -1;
    out[0] = (uint8_t)(acc >> 16);
    out[1] = (uint8_t)(acc >> 8);
    out[2] = (uint8_t)acc;
    return 3 - pad;
}

vault_error vlt_age_armor_decode(const uint8_t *in, size_t in_len, uint8_t **out,
                                 size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    size_t pos = 0;
    while (pos < in_len && is_space(in[pos]))
        pos++;
    size_t begin_len = sizeof armor_begin - 1;
    if (in_len - pos < begin_len ||
        memcmp(in + pos, armor_begin, begin_len) != 0)
        return vlt_fail(VAULT_E_AGE_ARMOR,
                        "armor: no \"%s\" line", armor_begin);
    pos += begin_len;
    if (pos < in_len && in[pos] == '\r')
        pos++;
    if (pos >= in_len || in[pos] != '\n')
        return vlt_fail(VAULT_E_AGE_ARMOR,
                        "armor: BEGIN line not followed by a line break");
    pos++;

    /* 3 bytes per 4 characters: the decoded text is shorter than in. */
    uint8_t *buf = malloc(in_len / 4 * 3 + 3);
    if (!buf)
        return vlt_fail(VAULT_E_NOMEM, "armor: out of memory");
    size_t n = 0;
    int ended = 0; /* a last (short or padded) line was seen */
    size_t line_no = 1;
    const char *why = NULL;
    for (;;) {
        line_no++;
        if (pos >= in_len) {
            why = "no END line";
            break;
        }
        if (in[pos] == '-') {
            size_t end_len = sizeof armor_end - 1;
            if (in_len - pos < end_len ||
                memcmp(in + pos, armor_end, end_len) != 0) {
                why = "malformed END line";
                break;
            }
            pos += end_len;
            while (pos < in_len && is_space(in[pos]))
                pos++;
            if (pos != in_len)
                why = "garbage after the END line";
            break;
        }
        const uint8_t *lf = memchr(in + pos, '\n', in_len - pos);
        if (!lf) {
            why = "no END line";
            break;
        }
        size_t line_len = (size_t)(lf - (in + pos));
        size_t next = pos + line_len + 1;
        if (line_len > 0 && in[pos + line_len - 1] == '\r')
            line_len--;
        if (ended) {
            why = "data after the last base64 line";
            break;
        }
        if (line_len == 0) {
            why = "empty line";
            break;
        }
        if (line_len > ARMOR_COLUMNS) {
            why = "line longer than 64 columns";
            break;
        }
        if (line_len % 4 != 0) {
            why = "line length is not a multiple of 4";
            break;
        }
        if (line_len < ARMOR_COLUMNS)
            ended = 1;
        for (size_t g = 0; g < line_len && !why; g += 4) {
            int last_group = g + 4 == line_len;
            int got = armor_group(in + pos + g, last_group, buf + n);
            if (got < 0)
                why = "invalid or non-canonical base64";
            else {
                n += (size_t)got;
                if (got < 3)
                    ended = 1; /* padding ends the data */
            }
        }
        if (why)
            break;
        pos = next;
    }
    if (why) {
        free(buf);
        return vlt_fail(VAULT_E_AGE_ARMOR, "armor: line %zu: %s", line_no,
                        why);
    }
    *out = buf;
    *out_len = n;
    return VAULT_OK;
}

vault_error vlt_age_armor_encode(const uint8_t *in, size_t in_len, uint8_t **out,
                                 size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    size_t groups = in_len / 3 + (in_len % 3 != 0);
    if (groups > (SIZE_MAX - 256) / 5)
        return vlt_fail(VAULT_E_INVALID, "armor: input too large");
    size_t chars = groups * 4;
    size_t lines = (chars + ARMOR_COLUMNS - 1) / ARMOR_COLUMNS;
    size_t cap = sizeof armor_begin + sizeof armor_end + chars + lines + 1;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return vlt_fail(VAULT_E_NOMEM, "armor: out of memory");
    size_t n = 0;
    memcpy(buf, armor_begin, sizeof armor_begin - 1);
    n += sizeof armor_begin - 1;
    buf[n++] = '\n';
    /* 48 input bytes make one full line; the last group is padded. */
    for (size_t i = 0; i < in_len; i += 48) {
        size_t take = in_len - i < 48 ? in_len - i : 48;
        size_t whole = take / 3 * 3;
        vlt_age_base64_encode(in + i, whole, (char *)buf + n);
        n += whole / 3 * 4;
        if (take > whole) {
            size_t rest = take - whole;
            vlt_age_base64_encode(in + i + whole, rest, (char *)buf + n);
            n += rest + 1;
            for (size_t k = rest + 1; k < 4; k++)
                buf[n++] = '=';
        }
        buf[n++] = '\n';
    }
    memcpy(buf + n, armor_end, sizeof armor_end - 1);
    n += sizeof armor_end - 1;
    buf[n++] = '\n';
    *out = buf;
    *out_len = n;
    return VAULT_OK;
}
