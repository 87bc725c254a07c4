/*
 * codec.h - the primitives of the canonical byte encodings of trees
 * (tree.c) and snapshot records (snapshot.c).  Private to format/.
 *
 * All integers little-endian; i64 is two's complement;
 * str8 = len:u8 || bytes, str16 = len:u16 || bytes.  Writers put into a
 * buffer sized beforehand and return the next byte; readers return 0
 * when too few bytes remain.
 */
#ifndef VAULT_CODEC_H
#define VAULT_CODEC_H

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"

#define NSEC_PER_SEC 1000000000u

static inline const uint8_t *bytes_of(const char *s)
{
    return (const uint8_t *)s;
}

/* --- writing ----------------------------------------------------------- */

static inline uint8_t *put_u8(uint8_t *w, uint8_t v)
{
    *w = v;
    return w + 1;
}
static inline uint8_t *put_u16(uint8_t *w, uint16_t v)
{
    store_le16(w, v);
    return w + 2;
}
static inline uint8_t *put_u32(uint8_t *w, uint32_t v)
{
    store_le32(w, v);
    return w + 4;
}
static inline uint8_t *put_u64(uint8_t *w, uint64_t v)
{
    store_le64(w, v);
    return w + 8;
}
static inline uint8_t *put_bytes(uint8_t *w, const void *p, size_t n)
{
    if (n)
        memcpy(w, p, n);
    return w + n;
}
/* Callers have checked that len fits the length field. */
static inline uint8_t *put_str8(uint8_t *w, const char *s, size_t len)
{
    assert(len <= UINT8_MAX);
    return put_bytes(put_u8(w, (uint8_t)len), s, len);
}
static inline uint8_t *put_str16(uint8_t *w, const char *s, size_t len)
{
    assert(len <= UINT16_MAX);
    return put_bytes(put_u16(w, (uint16_t)len), s, len);
}

/* A missing owner name or non-symlink target encodes as "". */
static inline const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* --- reading ----------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p; /* next unread byte */
    size_t left;      /* bytes from p to the end of the input */
} reader;

/* Each returns 0 when too few bytes remain; any failure ends decoding,
 * so what a failed read consumed does not matter. */
static inline int rd_bytes(reader *r, size_t n, const uint8_t **out)
{
    if (r->left < n)
        return 0;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return 1;
}
static inline int rd_u8(reader *r, uint8_t *v)
{
    const uint8_t *p;
    if (!rd_bytes(r, 1, &p))
        return 0;
    *v = p[0];
    return 1;
}
static inline int rd_u16(reader *r, uint16_t *v)
{
    const uint8_t *p;
    if (!rd_bytes(r, 2, &p))
        return 0;
    *v = load_le16(p);
    return 1;
}
static inline int rd_u32(reader *r, uint32_t *v)
{
    const uint8_t *p;
    if (!rd_bytes(r, 4, &p))
        return 0;
    *v = load_le32(p);
    return 1;
}
static inline int rd_u64(reader *r, uint64_t *v)
{
    const uint8_t *p;
    if (!rd_bytes(r, 8, &p))
        return 0;
    *v = load_le64(p);
    return 1;
}
/* Two's complement without implementation-defined conversions. */
static inline int rd_i64(reader *r, int64_t *v)
{
    uint64_t u;
    if (!rd_u64(r, &u))
        return 0;
    *v = u <= INT64_MAX ? (int64_t)u : -(int64_t)(UINT64_MAX - u) - 1;
    return 1;
}
static inline int rd_str8(reader *r, const uint8_t **s, size_t *len)
{
    uint8_t n;
    if (!rd_u8(r, &n))
        return 0;
    if (!rd_bytes(r, n, s))
        return 0;
    *len = n;
    return 1;
}
static inline int rd_str16(reader *r, const uint8_t **s, size_t *len)
{
    uint16_t n;
    if (!rd_u16(r, &n))
        return 0;
    if (!rd_bytes(r, n, s))
        return 0;
    *len = n;
    return 1;
}

/* A NUL-terminated malloc'ed copy of len bytes (checked to hold no NUL). */
static inline char *dup_str(const uint8_t *s, size_t len)
{
    char *c = malloc(len + 1);
    if (c) {
        if (len)
            memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}

#endif
