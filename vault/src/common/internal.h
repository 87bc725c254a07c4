/*
 * internal.h - helpers shared by the library's modules. Private.
 */
#ifndef VAULT_INTERNAL_H
#define VAULT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vault.h"

#if defined(__GNUC__)
#define VAULT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VAULT_PRINTF(a, b)
#endif

#define VAULT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Records the detail of a failure for vault_last_error() and returns code,
 * so that error paths read `return vlt_fail(VAULT_E_IO, "%s: %s", ...)`. */
vault_error vlt_fail(vault_error code, const char *fmt, ...)
    VAULT_PRINTF(2, 3);
/* As vlt_fail, appending ": strerror(errno_value)". */
vault_error vlt_fail_errno(int errno_value, const char *fmt, ...)
    VAULT_PRINTF(2, 3);
/* Prefixes the current detail with "what: " (context added on the way up). */
vault_error vlt_fail_context(vault_error code, const char *fmt, ...)
    VAULT_PRINTF(2, 3);

/* Reports a problem the operation goes on past (vault_set_warning_handler):
 * the message names the object. */
void vlt_warn(const char *fmt, ...) VAULT_PRINTF(1, 2);
/* 1: this thread's warnings are dropped (work done twice, whose second
 * run reports them), 0: they reach the handler again. */
void vlt_warn_mute(int mute);

/* Errors that stop a whole operation wherever they are met, where any
 * other failure would be one object's (reported, and the rest goes on):
 * memory ran out, or the caller asked it to stop (vault_interrupt). */
static inline int vlt_error_stops(vault_error rc)
{
    return rc == VAULT_E_NOMEM || rc == VAULT_E_INTERRUPTED;
}

/* Little-endian loads and stores: every integer on disk is little-endian. */
static inline void store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline void store_le64(uint8_t *p, uint64_t v)
{
    store_le32(p, (uint32_t)v);
    store_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}
static inline void store_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline uint16_t load_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Reads a whole regular file of at most max_len bytes into malloc'ed *out. */
vault_error vlt_read_file(const char *path, size_t max_len, uint8_t **out,
                          size_t *out_len);

/* Writes all len bytes to fd (retrying short writes and EINTR): 0, or
 * -1 with errno set. */
int vlt_write_all(int fd, const uint8_t *data, size_t len);
/* Reads exactly len bytes at offset at (retrying short reads and EINTR):
 * 0, or -1 (errno set on an error; a file that ends first is -1 too). */
int vlt_pread_all(int fd, void *buf, size_t len, uint64_t at);

/* A fresh temporary's name in a folder: the first dir_len bytes of dir
 * (ending in '/', or none: the current folder), then ".tmp-" and 16
 * random hex digits.  Readers skip such names (not 64 hex) and clean
 * removes stale ones by the prefix.  -1 if it does not fit in cap. */
int vlt_temp_path(char *out, size_t cap, const char *dir, size_t dir_len);

/* Writes a new file atomically: a temporary name in the same directory,
 * write, fsync, link/rename to path, fsync the directory.  With
 * exclusive, fails with VAULT_E_EXISTS if path exists (no replacement
 * ever happens in that case, even under a race). */
vault_error vlt_write_file_atomic(const char *path, const uint8_t *data,
                                  size_t len, unsigned mode, int exclusive);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void vlt_hex_encode(const uint8_t *in, size_t len, char *out);
/* Strict lower-case hex decoding of exactly 2*len characters. */
vault_error vlt_hex_decode(const char *in, size_t in_len, uint8_t *out,
                           size_t len);

/* Seconds since the epoch, UTC: the clock that goes into envelopes and
 * snapshots.  Tests and the vector generator pin it with
 * vlt_clock_pin (0 unpins), so that their output is reproducible. */
int64_t vlt_now(void);
void vlt_clock_pin(int64_t seconds);

#endif
