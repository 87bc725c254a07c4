/*
 * error.c - error codes and the per-thread failure detail.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/internal.h"

/* One message per thread: workers of `add` fail independently. */
static _Thread_local char last_error[512];

const char *vault_strerror(vault_error code)
{
    switch (code) {
    case VAULT_OK: return "success";
    case VAULT_E_NOMEM: return "out of memory";
    case VAULT_E_IO: return "input/output error";
    case VAULT_E_INVALID: return "invalid argument";
    case VAULT_E_BAD_KEY: return "malformed key";
    case VAULT_E_EXISTS: return "already exists";
    case VAULT_E_NOT_FOUND: return "not found";
    case VAULT_E_NEED_PASSPHRASE: return "passphrase required";
    case VAULT_E_BAD_PASSPHRASE: return "wrong passphrase";
    case VAULT_E_RNG: return "random source failed";
    case VAULT_E_AGE_HEADER: return "age header failure";
    case VAULT_E_AGE_NO_MATCH: return "no identity matched";
    case VAULT_E_AGE_HMAC: return "age header MAC failure";
    case VAULT_E_AGE_PAYLOAD: return "age payload failure";
    case VAULT_E_AGE_ARMOR: return "age armor failure";
    case VAULT_E_CORRUPT: return "damaged object";
    case VAULT_E_NOT_MEMBER: return "not a member of this vault";
    case VAULT_E_PERMISSION: return "role does not allow this";
    case VAULT_E_UNSUPPORTED: return "unsupported format or feature";
    case VAULT_E_UNSAFE_PATH: return "unsafe path refused";
    case VAULT_E_PARTIAL: return "some items failed";
    case VAULT_E_INTERNAL: return "internal error";
    case VAULT_E_TIMEOUT: return "storage timed out";
    case VAULT_E_NETWORK: return "network failure";
    case VAULT_E_BUSY: return "storage busy, try again later";
    case VAULT_E_AUTH: return "storage refused access";
    case VAULT_E_INTERRUPTED: return "interrupted";
    }
    return "unknown error";
}

int vault_error_is_transient(vault_error code)
{
    switch (code) {
    case VAULT_E_TIMEOUT:
    case VAULT_E_NETWORK:
    case VAULT_E_BUSY:
        return 1;
    default:
        return 0;
    }
}

const char *vault_last_error(void)
{
    return last_error;
}

/* Appends ": " and text to msg, cutting at the buffer's end: a detail is
 * for people, and a cut one is better than none. */
static void append_detail(char *msg, size_t cap, const char *text)
{
    size_t used = strlen(msg);
    const char *parts[2] = {": ", text};
    for (int p = 0; p < 2; p++) {
        size_t n = strlen(parts[p]);
        if (n > cap - 1 - used)
            n = cap - 1 - used;
        memcpy(msg + used, parts[p], n);
        used += n;
    }
    msg[used] = '\0';
}

static vault_error vfail(vault_error code, int errno_value, int keep_context,
                         const char *fmt, va_list ap) VAULT_PRINTF(4, 0);
static vault_error vfail(vault_error code, int errno_value, int keep_context,
                         const char *fmt, va_list ap)
{
    char msg[sizeof last_error];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0)
        msg[0] = '\0';
    if (errno_value)
        append_detail(msg, sizeof msg, strerror(errno_value));
    if (keep_context && last_error[0])
        append_detail(msg, sizeof msg, last_error);
    memcpy(last_error, msg, sizeof last_error);
    return code;
}

vault_error vlt_fail(vault_error code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(code, 0, 0, fmt, ap);
    va_end(ap);
    return code;
}

vault_error vlt_fail_errno(int errno_value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vault_error code = errno_value == ENOMEM ? VAULT_E_NOMEM : VAULT_E_IO;
    vfail(code, errno_value, 0, fmt, ap);
    va_end(ap);
    return code;
}

vault_error vlt_fail_context(vault_error code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(code, 0, 1, fmt, ap);
    va_end(ap);
    return code;
}
