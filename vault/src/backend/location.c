/*
 * location.c - what a vault argument names: a local folder, or storage
 * reached through a scheme ("rest:", "rclone:", "s3:").  Also the form of
 * a location that may be printed or stored (its secrets redacted).
 *
 * A word that starts like a URL scheme ("sftp:host:x", "foo:bar") is
 * never taken for a local folder: `init foo:bar` making a folder named
 * "foo:bar" would hide a typo or a scheme vault does not know until the
 * first backup that was never sent anywhere.  A local folder with a
 * colon in its name is written "./foo:bar".
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "common/internal.h"

void vault_storage_options_init(vault_storage_options *options)
{
    memset(options, 0, sizeof *options);
}

/* Length of the "scheme" before location's first ':' if it has the form
 * of one ([A-Za-z][A-Za-z0-9+.-]*), else 0. */
static size_t scheme_length(const char *location)
{
    if (!location || !isalpha((unsigned char)location[0]))
        return 0;
    size_t i = 1;
    while (isalnum((unsigned char)location[i]) || location[i] == '+' ||
           location[i] == '.' || location[i] == '-')
        i++;
    return location[i] == ':' ? i : 0;
}

int vault_location_has_scheme(const char *location)
{
    return scheme_length(location) > 0;
}

/* Appends n bytes of s to buf (of size bytes, holding *len) as far as
 * they fit, keeping it NUL-terminated. */
static void put(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
    size_t room = size - 1 - *len;
    if (n > room)
        n = room;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

/* Does an rclone connection-string parameter of this name hold a secret?
 * (":s3,access_key_id=...,secret_access_key=...:bucket", ":sftp,pass=...:")
 * Named like rclone's own options: pass, password, *secret*, *key*,
 * *token*, sas_url. */
static int secret_parameter(const char *name, size_t n)
{
    static const char *const words[] = {"pass", "secret", "key", "token",
                                        "sas", "auth"};
    char lower[64];
    if (n >= sizeof lower)
        return 1; /* odd: better hidden */
    for (size_t i = 0; i < n; i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    lower[n] = '\0';
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(lower, words[i]))
            return 1;
    return 0;
}

/* Redacts the secret parameters of an rclone location "REMOTE:PATH",
 * whose remote may be a connection string
 * "[:]backend,name=value,name='v,a:l':path". */
static void redact_rclone(const char *s, char *buf, size_t size, size_t *len)
{
    const char *p = s;
    /* The remote's name or backend: up to ',' (parameters) or ':'. */
    if (*p == ':')
        p++;
    while (*p && *p != ',' && *p != ':')
        p++;
    put(buf, size, len, s, (size_t)(p - s));
    while (*p == ',') {
        const char *name = ++p;
        while (*p && *p != '=' && *p != ',' && *p != ':')
            p++;
        size_t name_len = (size_t)(p - name);
        put(buf, size, len, name - 1, name_len + 1);
        if (*p != '=')
            continue;
        const char *value = ++p;
        if (*p == '"' || *p == '\'') {
            char quote = *p++;
            /* A doubled quote stands for one inside the value. */
            while (*p && !(*p == quote && p[1] != quote))
                p += *p == quote ? 2 : 1;
            if (*p)
                p++;
        } else {
            while (*p && *p != ',' && *p != ':')
                p++;
        }
        put(buf, size, len, "=", 1);
        if (secret_parameter(name, name_len))
            put(buf, size, len, "***", 3);
        else
            put(buf, size, len, value, (size_t)(p - value));
    }
    put(buf, size, len, p, strlen(p));
}

/* Redacts the password of a URL's "user:pass@".  The user information
 * ends at the last '@' before the path; when a password holds a raw '/'
 * (the URL is then malformed) the last '@' anywhere ends it, so that a
 * malformed URL never shows a password either. */
static void redact_url(const char *s, char *buf, size_t size, size_t *len)
{
    const char *auth = strstr(s, "://");
    if (!auth) {
        put(buf, size, len, s, strlen(s));
        return;
    }
    auth += 3;
    const char *path = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *q = auth; q < path; q++)
        if (*q == '@')
            at = q;
    if (!at)
        at = strrchr(auth, '@');
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon) {
        put(buf, size, len, s, strlen(s));
        return;
    }
    put(buf, size, len, s, (size_t)(colon + 1 - s));
    put(buf, size, len, "***", 3);
    put(buf, size, len, at, strlen(at));
}

void vault_location_redact(const char *location, char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    buf[0] = '\0';
    if (!location)
        return;
    size_t len = 0;
    size_t scheme = scheme_length(location);
    if (scheme == 6 && strncmp(location, "rclone", 6) == 0) {
        put(buf, size, &len, location, 7);
        redact_rclone(location + 7, buf, size, &len);
    } else if (scheme) {
        redact_url(location, buf, size, &len);
    } else {
        put(buf, size, &len, location, strlen(location));
    }
}

/* The error for a location whose scheme vault does not know. */
static vault_error unknown_scheme(const char *location, size_t scheme)
{
    /* Cut: the word may be long, and is only a hint; redacted, as an
     * unknown scheme may still carry a password ("sftp://u:p@host"). */
    char shown[256];
    vault_location_redact(location, shown, sizeof shown);
    return vlt_fail(VAULT_E_INVALID,
                    "unknown storage scheme '%.*s:' (vault knows rest:, "
                    "rclone:, s3:, or a path; write ./%s for a local "
                    "folder)",
                    (int)(scheme > 32 ? 32 : scheme), location, shown);
}

vault_error vlt_backend_open(const char *location,
                             const vault_storage_options *options, int create,
                             backend **out)
{
    *out = NULL;
    if (!location || !location[0])
        return vlt_fail(VAULT_E_INVALID, "no vault location given");
    vault_storage_options defaults;
    if (!options) {
        vault_storage_options_init(&defaults);
        options = &defaults;
    }
    /* REST and S3 can leave out their check of the config (the local
     * backend's costs no round trip). */
    int creating = create == 1;
    size_t scheme = scheme_length(location);
    if (scheme == 0)
        return vlt_backend_local_open(location, creating, out);
    const char *rest = location + scheme + 1;
    backend *remote = NULL;
    vault_error rc;
    if (scheme == 4 && strncmp(location, "rest", 4) == 0)
        rc = vlt_backend_rest_open(rest, options, create, &remote);
    else if (scheme == 6 && strncmp(location, "rclone", 6) == 0)
        rc = vlt_backend_rclone_open(rest, options, create, &remote);
    else if (scheme == 2 && strncmp(location, "s3", 2) == 0)
        rc = vlt_backend_s3_open(rest, options, create, &remote);
    else
        return unknown_scheme(location, scheme);
    if (rc != VAULT_OK)
        return rc;
    /* round trips of listings overlap (backend_ahead.c) */
    return vlt_backend_ahead_wrap(remote, out);
}
