/*
 * bcrypt_pbkdf.c - bcrypt_pbkdf as OpenSSH uses it (see bcrypt_pbkdf.h):
 * for each 32-byte block, SHA-512 of the passphrase and of salt || block
 * counter feed "bcrypt_hash" (Blowfish's expensive key schedule, 64
 * rounds, then 64 encryptions of "OxychromaticBlowfishSwatDynamite"),
 * iterated rounds times with the results XORed; the output bytes are
 * spread over the key with a stride of the block count.
 */
#include <string.h>

#include <sodium.h>

#include "crypto/bcrypt_pbkdf.h"

#define BCRYPT_WORDS 8
#define BCRYPT_HASH_BYTES 32
#define SHA512_BYTES 64

typedef struct blowfish {
    uint32_t p[18];
    uint32_t s[4][256];
} blowfish;

static uint32_t feistel(const blowfish *b, uint32_t x)
{
    return ((b->s[0][x >> 24] + b->s[1][(x >> 16) & 0xff]) ^
            b->s[2][(x >> 8) & 0xff]) +
           b->s[3][x & 0xff];
}

static void encipher(const blowfish *b, uint32_t *left, uint32_t *right)
{
    uint32_t l = *left, r = *right;
    l ^= b->p[0];
    for (int i = 1; i <= 16; i += 2) {
        r ^= feistel(b, l) ^ b->p[i];
        l ^= feistel(b, r) ^ b->p[i + 1];
    }
    *left = r ^ b->p[17];
    *right = l;
}

/* The next 4 bytes of data, big-endian, wrapping around at its end. */
static uint32_t stream_word(const uint8_t *data, size_t len, size_t *at)
{
    uint32_t w = 0;
    for (int i = 0; i < 4; i++) {
        if (*at >= len)
            *at = 0;
        w = (w << 8) | data[(*at)++];
    }
    return w;
}

static void init_state(blowfish *b)
{
    memcpy(b->p, vlt_blowfish_pi, sizeof b->p);
    memcpy(b->s, vlt_blowfish_pi + 18, sizeof b->s);
}

/* The key schedule with key, and (data non-NULL) salted with data. */
static void expand(blowfish *b, const uint8_t *data, size_t data_len,
                   const uint8_t *key, size_t key_len)
{
    size_t at = 0;
    for (int i = 0; i < 18; i++)
        b->p[i] ^= stream_word(key, key_len, &at);
    uint32_t l = 0, r = 0;
    at = 0;
    uint32_t *words[2] = {b->p, &b->s[0][0]};
    size_t counts[2] = {18, 4 * 256};
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < counts[t]; i += 2) {
            if (data) {
                l ^= stream_word(data, data_len, &at);
                r ^= stream_word(data, data_len, &at);
            }
            encipher(b, &l, &r);
            words[t][i] = l;
            words[t][i + 1] = r;
        }
    }
}

static void bcrypt_hash(const uint8_t sha2pass[SHA512_BYTES],
                        const uint8_t sha2salt[SHA512_BYTES],
                        uint8_t out[BCRYPT_HASH_BYTES])
{
    static const uint8_t magic[BCRYPT_HASH_BYTES + 1] =
        "OxychromaticBlowfishSwatDynamite";
    blowfish b;
    init_state(&b);
    expand(&b, sha2salt, SHA512_BYTES, sha2pass, SHA512_BYTES);
    for (int i = 0; i < 64; i++) {
        expand(&b, NULL, 0, sha2salt, SHA512_BYTES);
        expand(&b, NULL, 0, sha2pass, SHA512_BYTES);
    }
    uint32_t cdata[BCRYPT_WORDS];
    size_t at = 0;
    for (int i = 0; i < BCRYPT_WORDS; i++)
        cdata[i] = stream_word(magic, BCRYPT_HASH_BYTES, &at);
    for (int i = 0; i < 64; i++)
        for (int k = 0; k < BCRYPT_WORDS; k += 2)
            encipher(&b, &cdata[k], &cdata[k + 1]);
    for (int i = 0; i < BCRYPT_WORDS; i++) { /* little-endian words */
        out[4 * i + 0] = (uint8_t)cdata[i];
        out[4 * i + 1] = (uint8_t)(cdata[i] >> 8);
        out[4 * i + 2] = (uint8_t)(cdata[i] >> 16);
        out[4 * i + 3] = (uint8_t)(cdata[i] >> 24);
    }
    sodium_memzero(&b, sizeof b);
    sodium_memzero(cdata, sizeof cdata);
}

int vlt_bcrypt_pbkdf(const char *pass, size_t pass_len, const uint8_t *salt,
                     size_t salt_len, uint8_t *key, size_t key_len,
                     unsigned rounds)
{
    if (rounds < 1 || key_len == 0 || key_len > 1024 || salt_len == 0 ||
        salt_len > (1u << 20))
        return -1;
    size_t stride = (key_len + BCRYPT_HASH_BYTES - 1) / BCRYPT_HASH_BYTES;
    size_t amount = (key_len + stride - 1) / stride;
    uint8_t sha2pass[SHA512_BYTES], sha2salt[SHA512_BYTES];
    uint8_t tmp[BCRYPT_HASH_BYTES], out[BCRYPT_HASH_BYTES], counter[4];
    crypto_hash_sha512(sha2pass, (const uint8_t *)pass, pass_len);
    size_t left = key_len;
    for (uint32_t count = 1; left > 0; count++) {
        counter[0] = (uint8_t)(count >> 24);
        counter[1] = (uint8_t)(count >> 16);
        counter[2] = (uint8_t)(count >> 8);
        counter[3] = (uint8_t)count;
        crypto_hash_sha512_state st;
        crypto_hash_sha512_init(&st);
        crypto_hash_sha512_update(&st, salt, salt_len);
        crypto_hash_sha512_update(&st, counter, sizeof counter);
        crypto_hash_sha512_final(&st, sha2salt);
        bcrypt_hash(sha2pass, sha2salt, tmp);
        memcpy(out, tmp, sizeof out);
        for (unsigned i = 1; i < rounds; i++) {
            crypto_hash_sha512(sha2salt, tmp, sizeof tmp);
            bcrypt_hash(sha2pass, sha2salt, tmp);
            for (size_t k = 0; k < sizeof out; k++)
                out[k] ^= tmp[k];
        }
        size_t n = amount < left ? amount : left;
        size_t i;
        for (i = 0; i < n; i++) {
            size_t dest = i * stride + (count - 1);
            if (dest >= key_len)
                break;
            key[dest] = out[i];
        }
        left -= i;
    }
    sodium_memzero(sha2pass, sizeof sha2pass);
    sodium_memzero(sha2salt, sizeof sha2salt);
    sodium_memzero(tmp, sizeof tmp);
    sodium_memzero(out, sizeof out);
    return 0;
}
