/*
 * age_bech32.c - age's key strings: Bech32 (BIP 173) without its 90
 * character limit (spec "Conventions" and "The X25519 recipient type").
 *
 *     recipient  "age" "1" data checksum                 (lower case)
 *     identity   "AGE-SECRET-KEY-" "1" data checksum     (upper case)
 *
 *     data       52 characters: the 32-byte key, 5 bits per character,
 *                the last 4 bits zero padding
 *     checksum   6 characters, BCH code over the lower-case HRP and data
 *
 * A Bech32 string is all lower or all upper case; the checksum is always
 * computed over the lower-case form.  age writes recipients in lower case
 * and identities in upper case, and we accept exactly those forms.
 */
#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "crypto/age/age.h"
#include "common/internal.h"

static const char bech32_charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

#define BECH32_CHECKSUM_LEN 6
#define KEY_DATA_CHARS 52 /* ceil(256 / 5) */

/* BIP 173's checksum polynomial over GF(32). */
static uint32_t bech32_polymod_step(uint32_t chk, uint8_t value)
{
    static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa,
                                    0x3d4233dd, 0x2a1462b3};
    uint8_t top = (uint8_t)(chk >> 25);
    chk = (chk & 0x1ffffff) << 5 ^ value;
    for (int i = 0; i < 5; i++)
        if (top >> i & 1)
            chk ^= gen[i];
    return chk;
}

/* The checksum state after the expanded HRP (lower case). */
static uint32_t bech32_hrp_polymod(const char *hrp, size_t hrp_len)
{
    uint32_t chk = 1;
    for (size_t i = 0; i < hrp_len; i++)
        chk = bech32_polymod_step(chk, (uint8_t)hrp[i] >> 5);
    chk = bech32_polymod_step(chk, 0);
    for (size_t i = 0; i < hrp_len; i++)
        chk = bech32_polymod_step(chk, (uint8_t)hrp[i] & 31);
    return chk;
}

static char to_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static char to_upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* Encodes a 32-byte key under hrp (lower case); out holds
 * hrp_len + 1 + 52 + 6 + 1 bytes. */
static void bech32_encode_key(const char *hrp, const uint8_t key[32],
                              int upper, char *out)
{
    size_t hrp_len = strlen(hrp);
    uint8_t values[KEY_DATA_CHARS];
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < 32; i++) {
        acc = acc << 8 | key[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            values[n++] = (uint8_t)(acc >> bits & 31);
        }
        acc &= (1u << bits) - 1;
    }
    if (bits > 0)
        values[n++] = (uint8_t)(acc << (5 - bits) & 31);
    assert(n == KEY_DATA_CHARS);

    uint32_t chk = bech32_hrp_polymod(hrp, hrp_len);
    for (size_t i = 0; i < n; i++)
        chk = bech32_polymod_step(chk, values[i]);
    for (int i = 0; i < BECH32_CHECKSUM_LEN; i++)
        chk = bech32_polymod_step(chk, 0);
    chk ^= 1;

    size_t o = 0;
    for (size_t i = 0; i < hrp_len; i++)
        out[o++] = upper ? to_upper(hrp[i]) : hrp[i];
    out[o++] = '1';
    for (size_t i = 0; i < n; i++)
        out[o++] = bech32_charset[values[i]];
    for (int i = 0; i < BECH32_CHECKSUM_LEN; i++)
        out[o++] = bech32_charset[chk >> (5 * (5 - i)) & 31];
    for (size_t i = hrp_len + 1; i < o; i++)
        out[i] = upper ? to_upper(out[i]) : out[i];
    out[o] = '\0';
    sodium_memzero(values, sizeof values); /* may be a secret key */
}

/* Decodes text as a 32-byte key under hrp (lower case), demanding the case
 * `upper` and the exact length.  what names the key kind in details. */
static vault_error bech32_decode_key(const char *text, size_t len,
                                     const char *hrp, int upper,
                                     const char *what, uint8_t key[32])
{
    size_t hrp_len = strlen(hrp);
    if (!text)
        return vlt_fail(VAULT_E_BAD_KEY, "%s: missing", what);
    if (len != hrp_len + 1 + KEY_DATA_CHARS + BECH32_CHECKSUM_LEN)
        return vlt_fail(VAULT_E_BAD_KEY, "%s: wrong length (%zu characters)",
                        what, len);
    int has_lower = 0, has_upper = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c < 33 || c > 126)
            return vlt_fail(VAULT_E_BAD_KEY, "%s: invalid character", what);
        has_lower |= c >= 'a' && c <= 'z';
        has_upper |= c >= 'A' && c <= 'Z';
    }
    if (has_lower && has_upper)
        return vlt_fail(VAULT_E_BAD_KEY, "%s: mixed case", what);
    if (upper ? has_lower : has_upper)
        return vlt_fail(VAULT_E_BAD_KEY, "%s: must be in %s case", what,
                        upper ? "upper" : "lower");
    for (size_t i = 0; i < hrp_len; i++)
        if (to_lower(text[i]) != hrp[i])
            return vlt_fail(VAULT_E_BAD_KEY, "%s: not a %s key", what,
                            upper ? "AGE-SECRET-KEY-1..." : "age1...");
    if (text[hrp_len] != '1')
        return vlt_fail(VAULT_E_BAD_KEY, "%s: not a %s key", what,
                        upper ? "AGE-SECRET-KEY-1..." : "age1...");

    uint32_t chk = bech32_hrp_polymod(hrp, hrp_len);
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    const char *data = text + hrp_len + 1;
    size_t data_len = KEY_DATA_CHARS + BECH32_CHECKSUM_LEN;
    vault_error rc = VAULT_OK;
    for (size_t i = 0; i < data_len; i++) {
        const char *hit = memchr(bech32_charset, to_lower(data[i]), 32);
        if (!hit) {
            rc = vlt_fail(VAULT_E_BAD_KEY, "%s: invalid character", what);
            break;
        }
        uint8_t v = (uint8_t)(hit - bech32_charset);
        chk = bech32_polymod_step(chk, v);
        if (i >= KEY_DATA_CHARS)
            continue;
        acc = acc << 5 | v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            key[n++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (rc == VAULT_OK && chk != 1)
        rc = vlt_fail(VAULT_E_BAD_KEY, "%s: bad checksum", what);
    /* 52 * 5 = 260 bits: 4 bits of padding, which must be zero. */
    if (rc == VAULT_OK && (n != 32 || bits != 4 || acc != 0))
        rc = vlt_fail(VAULT_E_BAD_KEY, "%s: non-zero padding", what);
    if (rc != VAULT_OK)
        sodium_memzero(key, 32);
    return rc;
}

void vlt_age_encode_recipient(const uint8_t public_key[AGE_X25519_KEY_BYTES],
                              char out[AGE_RECIPIENT_STRLEN + 1])
{
    bech32_encode_key("age", public_key, 0, out);
}

void vlt_age_encode_identity(const uint8_t secret_key[AGE_X25519_KEY_BYTES],
                             char out[AGE_IDENTITY_STRLEN + 1])
{
    bech32_encode_key("age-secret-key-", secret_key, 1, out);
}

vault_error vlt_age_decode_recipient(const char *text, size_t len,
                                     uint8_t public_key[AGE_X25519_KEY_BYTES])
{
    return bech32_decode_key(text, len, "age", 0, "recipient", public_key);
}

vault_error vlt_age_decode_identity(const char *text, size_t len,
                                    uint8_t secret_key[AGE_X25519_KEY_BYTES])
{
    return bech32_decode_key(text, len, "age-secret-key-", 1, "identity",
                             secret_key);
}
